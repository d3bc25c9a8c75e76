//! The commands that hints name, chosen where a hint is made: the course's `scripts/broker` (a
//! bash script) on Linux and macOS; on Windows what a learner has there instead: `rabbitmqctl`
//! and `rabbitmq-diagnostics` (the installer's "RabbitMQ Command Prompt", or `docker exec
//! rabbitmq ...`), the service or container to start, the management UI for what `rabbitmqctl`
//! cannot do. Given several brokers (a cluster's nodes), the cluster's status.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether `AMQP_URL` lists several brokers (a cluster's nodes).
static SEVERAL_BROKERS: AtomicBool = AtomicBool::new(false);

/// Says that the program was given several brokers: hints then name the cluster's status.
pub fn several_brokers() {
    SEVERAL_BROKERS.store(true, Ordering::Relaxed);
}

/// The command `scripts/broker ARGS` as a hint names it on this system, e.g.
/// `broker("delete_queue 'hello'")`; on Windows, what does the same there.
pub fn broker(args: &str) -> String {
    broker_on(cfg!(windows), args)
}

/// The command that shows the broker's state: `scripts/broker status`, or `scripts/broker
/// cluster status` when the program was given a cluster's nodes.
pub fn status() -> String {
    broker(status_args(SEVERAL_BROKERS.load(Ordering::Relaxed)))
}

/// What [`status`] asks `scripts/broker`, given `several` brokers or one.
fn status_args(several: bool) -> &'static str {
    match several {
        true => "cluster status",
        false => "status",
    }
}

/// How to start the broker, as a hint's sentence.
pub fn start() -> &'static str {
    match cfg!(windows) {
        true => "Start RabbitMQ (its Windows service, or its Docker container)",
        false => "Start the course's broker with scripts/broker start",
    }
}

/// [`broker`] for Windows (`windows`) or for Linux and macOS.
fn broker_on(windows: bool, args: &str) -> String {
    if !windows {
        return format!("scripts/broker {args}");
    }
    let (command, rest) = args.split_once(' ').unwrap_or((args, ""));
    match command {
        "status" => "rabbitmq-diagnostics status".to_string(),
        "cluster" => "rabbitmqctl cluster_status".to_string(),
        "queues" => "rabbitmqctl list_queues".to_string(),
        "rabbitmqctl" => format!("rabbitmqctl {rest}"),
        "delete_exchange" => "the management UI, at http://localhost:15672/#/exchanges".to_string(),
        _ => format!("rabbitmqctl {args}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_linux_and_macos_hints_name_scripts_broker() {
        assert_eq!(broker_on(false, "status"), "scripts/broker status");
        assert_eq!(
            broker_on(false, "delete_queue -p 'v' 'hello'"),
            "scripts/broker delete_queue -p 'v' 'hello'"
        );
    }

    #[test]
    fn given_several_brokers_the_status_hint_names_the_clusters_status() {
        assert_eq!(
            broker_on(false, status_args(false)),
            "scripts/broker status"
        );
        assert_eq!(
            broker_on(false, status_args(true)),
            "scripts/broker cluster status"
        );
        assert_eq!(
            broker_on(true, status_args(true)),
            "rabbitmqctl cluster_status"
        );
    }

    #[test]
    fn on_windows_hints_name_rabbitmqctl_and_the_management_ui_not_the_bash_script() {
        for (args, windows) in [
            ("status", "rabbitmq-diagnostics status"),
            ("cluster status", "rabbitmqctl cluster_status"),
            ("queues", "rabbitmqctl list_queues"),
            ("list_policies", "rabbitmqctl list_policies"),
            (
                "delete_queue -p 'v' 'hello'",
                "rabbitmqctl delete_queue -p 'v' 'hello'",
            ),
            ("rabbitmqctl add_vhost 'v'", "rabbitmqctl add_vhost 'v'"),
            (
                "delete_exchange 'logs'",
                "the management UI, at http://localhost:15672/#/exchanges",
            ),
        ] {
            assert_eq!(broker_on(true, args), windows, "{args}");
        }
    }
}
