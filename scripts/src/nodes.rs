//! Where the course's RabbitMQ nodes live: their names and their ports. The one place that
//! says how a node's other ports follow from its AMQP port, for `scripts/broker`,
//! `scripts/test`, `scripts/bench`, the test harness and the tests.
//!
//! A node on AMQP port `p` has its management HTTP API on `p + 10000`, its Erlang distribution
//! on `p + 20000` and the stream protocol on `p - 120`: 5672, 15672, 25672 and 5552 for the
//! course's node, as RabbitMQ's own defaults are. The test node adds a TLS listener on `p + 1`.
//! A cluster's node `n` (1 to 3) is on the cluster's port `+ n - 1`, each with its own ports
//! derived the same way.

/// The course's node, where the programs connect by default (`course@localhost`).
pub const NODE: &str = "course@localhost";
/// The course's node's AMQP port: RabbitMQ's default, where the programs connect.
pub const PORT: u16 = 5672;

/// `scripts/test`'s node (`COURSE_TEST_NODE` moves it).
pub const TEST_NODE: &str = "course-test@localhost";
/// `scripts/test`'s node's AMQP port (`COURSE_TEST_PORT` moves it).
pub const TEST_PORT: u16 = 5673;

/// `scripts/bench`'s node.
pub const BENCH_NODE: &str = "course-bench@localhost";
/// `scripts/bench`'s node's AMQP port (`COURSE_BENCH_PORT` moves it).
pub const BENCH_PORT: u16 = 5680;

/// The cluster's name: its nodes are `cluster1@localhost` to `cluster3@localhost`
/// (`BROKER_CLUSTER_NAME` changes it).
pub const CLUSTER_NAME: &str = "cluster";
/// The AMQP port of the cluster's node 1; nodes 2 and 3 have the next two
/// (`BROKER_CLUSTER_PORT` moves them).
pub const CLUSTER_PORT: u16 = 5681;
/// How many nodes a cluster has.
pub const CLUSTER_NODES: u16 = 3;

/// The management HTTP API's port of the node on AMQP port `amqp` (`None` past 65535).
pub fn management_port(amqp: u16) -> Option<u16> {
    amqp.checked_add(10000)
}

/// The Erlang distribution's port of the node on AMQP port `amqp` (`None` past 65535).
pub fn distribution_port(amqp: u16) -> Option<u16> {
    amqp.checked_add(20000)
}

/// The stream protocol's port of the node on AMQP port `amqp` (`None` below 1).
pub fn stream_port(amqp: u16) -> Option<u16> {
    amqp.checked_sub(120).filter(|p| *p > 0)
}

/// The TLS listener's port of the test node on AMQP port `amqp`.
pub fn test_tls_port(amqp: u16) -> Option<u16> {
    amqp.checked_add(1)
}

/// Every port that a node on AMQP port `amqp` listens on, the stream protocol and TLS aside:
/// AMQP, management, distribution (`None` if one would be past 65535).
pub fn ports(amqp: u16) -> Option<[u16; 3]> {
    Some([amqp, management_port(amqp)?, distribution_port(amqp)?])
}

/// The name of node `n` (1 to 3) of the cluster `cluster`: `cluster1@localhost`.
pub fn cluster_node(cluster: &str, n: u16) -> String {
    format!("{cluster}{n}@localhost")
}

/// The AMQP port of node `n` (1 to 3) of a cluster whose node 1 is on `first`.
pub fn cluster_node_port(first: u16, n: u16) -> Option<u16> {
    first.checked_add(n.checked_sub(1)?)
}

/// A node's state folder's name: its name before the `@`. It must be one plain folder name
/// (letters, digits, `.`, `_`, `-`; not empty, not starting with `.` or `-`), since
/// `scripts/broker reset` deletes that folder: `None` otherwise.
pub fn state_folder(node: &str) -> Option<&str> {
    let name = node.split('@').next().unwrap_or_default();
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    (plain && !name.is_empty() && !name.starts_with(['.', '-'])).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_course_nodes_ports_are_rabbitmqs_defaults() {
        assert_eq!(ports(PORT), Some([5672, 15672, 25672]));
        assert_eq!(stream_port(PORT), Some(5552));
        assert_eq!(management_port(60000), None);
        assert_eq!(stream_port(100), None);
    }

    #[test]
    fn a_clusters_nodes_are_numbered_from_its_first_port() {
        assert_eq!(cluster_node(CLUSTER_NAME, 2), "cluster2@localhost");
        assert_eq!(cluster_node_port(CLUSTER_PORT, 3), Some(5683));
    }

    #[test]
    fn a_state_folder_is_one_plain_name() {
        assert_eq!(state_folder("course@localhost"), Some("course"));
        assert_eq!(
            state_folder("cluster-test1@localhost"),
            Some("cluster-test1")
        );
        for bad in [
            "@x",
            ".@x",
            "..@x",
            "../other@x",
            "course/..@x",
            "-rf@x",
            "a b@x",
        ] {
            assert_eq!(state_folder(bad), None, "{bad}");
        }
    }
}
