//! `scripts/broker cluster ...`: three private nodes joined into one cluster. Node N (1 to 3)
//! is this command's node under another name (`cluster<N>@localhost`) on its own ports,
//! without TLS or stream listeners (the cluster runs chapter 2).

use super::{say, Broker, Config, Settings};
use crate::nodes;
use anyhow::{anyhow, bail, Result};

const USAGE: &str =
    "usage: scripts/broker cluster start|stop|status|url|queues|kill N|restart N|reset";

/// The cluster's settings: its name and node 1's port.
struct Cluster {
    settings: Settings,
    name: String,
    port: u16,
}

impl Cluster {
    fn from(settings: &Settings) -> Result<Cluster> {
        Ok(Cluster {
            name: settings
                .non_empty("BROKER_CLUSTER_NAME")
                .unwrap_or_else(|| nodes::CLUSTER_NAME.into()),
            port: settings
                .port("BROKER_CLUSTER_PORT", Some(nodes::CLUSTER_PORT))?
                .unwrap_or(nodes::CLUSTER_PORT),
            settings: settings.clone(),
        })
    }

    fn node_name(&self, n: u16) -> String {
        nodes::cluster_node(&self.name, n)
    }

    fn port_of(&self, n: u16) -> Result<u16> {
        nodes::cluster_node_port(self.port, n).ok_or_else(|| {
            anyhow!(
                "BROKER_CLUSTER_PORT={} leaves no room for node {n}",
                self.port
            )
        })
    }

    /// Node `n`: this command with the node's name and ports.
    fn node(&self, n: u16) -> Result<Broker> {
        let port = self.port_of(n)?;
        let port_of = |p: Option<u16>| {
            p.map(|p| p.to_string()).ok_or_else(|| {
                anyhow!(
                    "BROKER_CLUSTER_PORT={} leaves no room for node {n}'s ports",
                    self.port
                )
            })
        };
        let settings = self
            .settings
            .clone()
            .with("BROKER_NODE", self.node_name(n))
            .with("BROKER_PORT", port.to_string())
            .with("BROKER_HTTP_PORT", port_of(nodes::management_port(port))?)
            .with("BROKER_DIST_PORT", port_of(nodes::distribution_port(port))?)
            .with("BROKER_TLS_PORT", "")
            .with("BROKER_STREAM_PORT", "")
            .with("BROKER_CONF", "");
        Ok(Broker::new(Config::load(settings)?))
    }

    /// The nodes that node `n`'s cluster_status lists under `key` (running_nodes, disk_nodes);
    /// `None` if node `n` does not answer.
    fn members(&self, n: u16, key: &str) -> Option<Vec<String>> {
        let mut node = self.node(n).ok()?;
        let json = node.admin_ctl_output(&["-q", "cluster_status", "--formatter", "json"])?;
        let status: serde_json::Value = serde_json::from_str(&json).ok()?;
        Some(
            status
                .get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        )
    }

    fn url(&self) -> Result<String> {
        let urls: Vec<String> = (1..=nodes::CLUSTER_NODES)
            .map(|n| Ok(format!("amqp://localhost:{}/cluster", self.port_of(n)?)))
            .collect::<Result<_>>()?;
        Ok(urls.join(","))
    }

    /// How many of the nodes run (their process is alive).
    fn running(&self) -> usize {
        (1..=nodes::CLUSTER_NODES)
            .filter(|n| self.node(*n).is_ok_and(|node| node.config.running()))
            .count()
    }
}

/// Node `N` of `kill N` or `restart N`: 1, 2 or 3.
fn which_node(action: &str, arg: Option<&String>) -> Result<u16> {
    arg.and_then(|n| n.parse().ok())
        .filter(|n| (1..=nodes::CLUSTER_NODES).contains(n))
        .ok_or_else(|| anyhow!("usage: scripts/broker cluster {action} 1|2|3"))
}

impl Broker {
    /// `cluster start|stop|status|url|queues|kill N|restart N|reset`; its exit status.
    pub(super) fn cluster(&mut self, args: &[String]) -> Result<u8> {
        let cluster = Cluster::from(&self.config.settings)?;
        let action = args.first().map_or("status", String::as_str);
        let first = cluster.node_name(1);
        match action {
            "start" => {
                for n in 1..=nodes::CLUSTER_NODES {
                    cluster.node(n)?.start()?;
                }
                for n in 2..=nodes::CLUSTER_NODES {
                    let joined = cluster
                        .members(n, "disk_nodes")
                        .is_some_and(|m| m.contains(&first));
                    if joined {
                        continue;
                    }
                    let mut node = cluster.node(n)?;
                    let log = node.config.state.join("join.log");
                    let mut text = String::new();
                    let mut ok = true;
                    for step in [
                        vec!["-q", "stop_app"],
                        vec!["-q", "join_cluster", &first],
                        vec!["-q", "start_app"],
                    ] {
                        let args: Vec<String> = step.iter().map(|s| s.to_string()).collect();
                        let mut command = node.ctl_command(&args)?;
                        let output = crate::process::output_bounded(
                            &mut command,
                            std::time::Duration::from_secs(120),
                        );
                        match output {
                            Some(o) => {
                                text.push_str(&String::from_utf8_lossy(&o.stdout));
                                text.push_str(&String::from_utf8_lossy(&o.stderr));
                                if !o.status.success() {
                                    ok = false;
                                }
                            }
                            None => {
                                text.push_str(&format!(
                                    "rabbitmqctl {} did not end within 120 s\n",
                                    step[1]
                                ));
                                ok = false;
                            }
                        }
                        if !ok {
                            break;
                        }
                    }
                    let _ = std::fs::write(&log, &text);
                    if !ok {
                        eprint!("{text}");
                        bail!("node {} could not join {first}", cluster.node_name(n));
                    }
                    say(&format!("node {} joined {first}", cluster.node_name(n)));
                }
                let mut one = cluster.node(1)?;
                let has_vhost = one
                    .admin_ctl_output(&["-q", "list_vhosts"])
                    .is_some_and(|v| v.lines().any(|l| l == "cluster"));
                if !has_vhost {
                    let run = |one: &mut Broker, words: &[&str]| -> Result<()> {
                        let args: Vec<String> = words.iter().map(|s| s.to_string()).collect();
                        match one.admin_ctl(&args)? {
                            0 => Ok(()),
                            status => {
                                bail!("rabbitmqctl {} failed (exit status {status})", words[1])
                            }
                        }
                    };
                    run(
                        &mut one,
                        &[
                            "-q",
                            "add_vhost",
                            "cluster",
                            "--default-queue-type",
                            "quorum",
                        ],
                    )?;
                    run(
                        &mut one,
                        &[
                            "-q",
                            "set_permissions",
                            "-p",
                            "cluster",
                            "guest",
                            ".*",
                            ".*",
                            ".*",
                        ],
                    )?;
                }
                let management = nodes::management_port(cluster.port).ok_or_else(|| {
                    anyhow!(
                        "BROKER_CLUSTER_PORT={} leaves no room for its management port",
                        cluster.port
                    )
                })?;
                say(&format!(
                    "cluster up: 3 nodes, vhost 'cluster' (default queue type quorum), management http://127.0.0.1:{management}/"
                ));
                say(&format!("AMQP_URL={}", cluster.url()?));
                Ok(0)
            }
            "stop" => {
                for n in (1..=nodes::CLUSTER_NODES).rev() {
                    cluster.node(n)?.stop()?;
                }
                Ok(0)
            }
            "reset" => {
                for n in (1..=nodes::CLUSTER_NODES).rev() {
                    cluster.node(n)?.reset()?;
                }
                Ok(0)
            }
            "url" => {
                println!("{}", cluster.url()?);
                Ok(0)
            }
            "queues" => {
                // The first node that answers lists the vhost's queues: type, leader, members.
                // Where rabbitmqctl lists nothing (it then prints nothing at all, not even a
                // header), say why.
                for n in 1..=nodes::CLUSTER_NODES {
                    let listed = cluster.node(n)?.admin_ctl_output(&[
                        "-q",
                        "list_queues",
                        "-p",
                        "cluster",
                        "name",
                        "type",
                        "leader",
                        "members",
                        "messages",
                    ]);
                    let Some(listed) = listed else { continue };
                    if !listed.trim().is_empty() {
                        print!("{listed}");
                        if !listed.ends_with('\n') {
                            println!();
                        }
                        return Ok(0);
                    }
                    // Counted after listing, which takes a second: a node just killed is gone by then.
                    let up = cluster.running();
                    if up < 2 {
                        bail!(
                            "no queue listed: {up} of 3 nodes run, and a quorum queue answers only while a majority (2) of its nodes run (scripts/broker cluster status)"
                        );
                    }
                    say("no queue in vhost 'cluster' yet: a program declares task_queue when it starts");
                    return Ok(0);
                }
                bail!("no node of the cluster answers (scripts/broker cluster status)")
            }
            "status" => {
                for n in 1..=nodes::CLUSTER_NODES {
                    let node = cluster.node(n)?;
                    if node.config.running() {
                        say(&format!(
                            "{}: running, AMQP on 127.0.0.1:{}",
                            node.config.node, node.config.port
                        ));
                    } else {
                        say(&format!("{}: not running", node.config.node));
                    }
                }
                for n in 1..=nodes::CLUSTER_NODES {
                    if let Some(running) = cluster
                        .members(n, "running_nodes")
                        .filter(|r| !r.is_empty())
                    {
                        for member in running {
                            say(&format!("the cluster sees running: {member}"));
                        }
                        return Ok(0);
                    }
                }
                say("no node of the cluster is running (scripts/broker cluster start)");
                Ok(3)
            }
            "kill" => {
                let n = which_node("kill", args.get(1))?;
                let node = cluster.node(n)?;
                let killed = node
                    .config
                    .pid()
                    .is_some_and(|pid| crate::process::signal(pid, "KILL"));
                if !killed {
                    bail!("node {} is not running", node.config.node);
                }
                say(&format!("node {} killed (SIGKILL)", node.config.node));
                Ok(0)
            }
            "restart" => {
                let n = which_node("restart", args.get(1))?;
                cluster.node(n)?.start()?;
                Ok(0)
            }
            _ => bail!("{USAGE}"),
        }
    }
}
