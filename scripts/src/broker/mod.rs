//! `scripts/broker`: the course's RabbitMQ node, and the listings and admin commands for
//! whichever broker answers on the course's port. [`HELP`] says what it does; `node.rs` runs the
//! node, `admin.rs` finds who answers the listings, `cluster.rs` runs three nodes as one.

mod admin;
mod cluster;
mod node;

pub use admin::Admin;

use crate::nodes;
use anyhow::{anyhow, bail, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// What `scripts/broker --help` prints.
pub const HELP: &str = "\
The course's RabbitMQ broker: a private node of Debian's rabbitmq-server, run as the current
user, with its state in .broker/ of this project, listening on loopback only.

  scripts/broker start        install RabbitMQ if missing, start the node, wait until it is up
  scripts/broker stop         stop the node
  scripts/broker restart      stop it and start it again (queued persistent messages stay)
  scripts/broker status       is it running, and what it listens on
  scripts/broker reset        stop it and wipe its state (queues, messages, users)
  scripts/broker queues|exchanges|bindings [-p VHOST]   the course's listings (of
                              RABBITMQ_VHOST, the programs' vhost, when set; else of /)
  scripts/broker delete_queue|delete_exchange [-p VHOST] NAME
  scripts/broker list_queues|list_exchanges|list_bindings [-p VHOST] [-q] [COLUMN...]
  scripts/broker set_policy [-p VHOST] [--priority N] [--apply-to queues|exchanges|all]
                              NAME PATTERN DEFINITION   (DEFINITION: JSON, e.g. '{\"max-length\":10}')
  scripts/broker clear_policy|list_policies [-p VHOST] [NAME]
                              (these default to RABBITMQ_VHOST's vhost, else /)
  scripts/broker purge_queue [-p VHOST] NAME            empty a queue (RABBITMQ_VHOST's, else /)
  scripts/broker add_vhost|delete_vhost NAME, set_permissions -p VHOST USER CONF WRITE READ
  scripts/broker rabbitmqctl ARGS...                    rabbitmqctl for this node
  scripts/broker ARGS...      anything else goes to rabbitmqctl too
  scripts/broker install      only install RabbitMQ (and OpenSSL's headers, to build the course)
  scripts/broker cluster start|stop|status|url|queues|kill N|restart N|reset
                              three private nodes cluster1..3@localhost joined into one cluster
                              on BROKER_CLUSTER_PORT (5681) and the next two ports, management
                              on node 1 (BROKER_CLUSTER_PORT+10000), a vhost `cluster` whose
                              default queue type is quorum; `url` prints AMQP_URL for all three
                              (BROKER_CLUSTER_NAME, default cluster, names the nodes)

A broker you already run on the port (the distribution's service, Docker's rabbitmq image,
Homebrew's service, the Windows installer's service) is used as it is, never stopped or
reconfigured. The listings, the vhost and policy commands, delete_queue and delete_exchange then
go to its management API on BROKER_HTTP_PORT (the listings wait until its message counts settle,
~6 s: BROKER_API_SETTLE), with the programs' user (RABBITMQ_USER / RABBITMQ_PASSWORD, default
guest), when its management plugin is on; else to its own rabbitmqctl (as root, through sudo, or
as you).

Environment: BROKER_PORT (AMQP port, 5672), BROKER_NODE (node name, course@localhost),
BROKER_HTTP_PORT (management, BROKER_PORT+10000), BROKER_DIST_PORT (Erlang distribution,
BROKER_PORT+20000), BROKER_DIR (state folder, .broker in the project), BROKER_TLS_PORT (if set,
also a TLS listener there, with a local CA and server certificate made with openssl; the CA is
tls/ca.pem in the node's state folder), BROKER_RABBITMQ_BIN (RabbitMQ's programs: Debian's
/usr/lib/rabbitmq/bin, else rabbitmq-server's folder on PATH, as with Homebrew), BROKER_CONF
(more lines for the node's rabbitmq.conf, e.g. a deprecated feature denied), BROKER_STREAM_PORT
(the stream protocol's port, for chapter 8's official programs: BROKER_PORT-120, so 5552 beside
5672 as RabbitMQ's defaults; empty: no stream plugin).

Runs on Linux and macOS (Homebrew; no GNU timeout or ss needed). On Windows (cargo run -p scripts
--bin broker -- ARGS) the listings, vhost and policy commands work through your broker's
management API; the node itself is for Linux and macOS.
";

/// Prints `message` on stderr as the broker's own line.
pub(crate) fn say(message: &str) {
    eprintln!("broker: {message}");
}

/// The environment the settings are read from, with some variables overridden (a cluster's
/// node is this command run with other settings).
#[derive(Clone, Default)]
pub struct Settings {
    overrides: Vec<(String, String)>,
}

impl Settings {
    /// The process's environment as it is.
    pub fn from_env() -> Settings {
        Settings::default()
    }

    /// These settings with `name` set to `value`.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Settings {
        self.overrides.retain(|(n, _)| n != name);
        self.overrides.push((name.to_string(), value.into()));
        self
    }

    /// The variable's value, `None` if unset (as a shell's `${NAME-default}` reads it).
    fn get(&self, name: &str) -> Option<String> {
        match self.overrides.iter().find(|(n, _)| n == name) {
            Some((_, value)) => Some(value.clone()),
            None => std::env::var(name).ok(),
        }
    }

    /// The value, `None` if unset or empty (as `${NAME:-default}` reads it).
    fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// A port number from `name`, `default` if unset or empty.
    fn port(&self, name: &str, default: Option<u16>) -> Result<Option<u16>> {
        match self.non_empty(name) {
            Some(value) => value
                .parse()
                .map(Some)
                .map_err(|_| anyhow!("{name}={value} is not a port number (1 to 65535)")),
            None => Ok(default),
        }
    }
}

/// Everything `scripts/broker` knows about the node and the broker on its port.
#[derive(Clone)]
pub struct Config {
    /// The settings it was read from.
    pub settings: Settings,
    /// The project's folder.
    pub root: PathBuf,
    /// The node's name (`course@localhost`).
    pub node: String,
    /// AMQP on 127.0.0.1.
    pub port: u16,
    /// The management HTTP API.
    pub http_port: u16,
    /// The Erlang distribution.
    pub dist_port: u16,
    /// A TLS listener, if any.
    pub tls_port: Option<u16>,
    /// The stream protocol, if any.
    pub stream_port: Option<u16>,
    /// Where the nodes' state folders are (`.broker`).
    pub dir: PathBuf,
    /// This node's state folder.
    pub state: PathBuf,
    /// RabbitMQ's programs.
    pub sbin: PathBuf,
    /// More lines for rabbitmq.conf.
    pub conf: String,
    /// The programs' user and password, for the management API.
    pub user: String,
    password: String,
    /// The programs' vhost (`RABBITMQ_VHOST`, else `/`).
    pub vhost: String,
    /// How long a listing's counts must stay the same to count as settled.
    pub settle: Duration,
    /// Why a node cannot start on these ports, if it cannot.
    pub unplaced: Option<String>,
}

impl Config {
    /// The settings, checked: the node name first, before anything is done.
    pub fn load(settings: Settings) -> Result<Config> {
        let root = crate::workspace::root();
        let node = settings
            .non_empty("BROKER_NODE")
            .unwrap_or_else(|| nodes::NODE.into());
        let Some(folder) = nodes::state_folder(&node) else {
            bail!(
                "refusing the node name '{node}' (BROKER_NODE): before the @ it needs a plain name \
                 such as course (letters, digits, . _ -), which also names its state folder"
            );
        };
        let port = settings
            .port("BROKER_PORT", Some(nodes::PORT))?
            .unwrap_or(nodes::PORT);
        // A port derived from BROKER_PORT that would be past 65535 (or below 1) matters only
        // for starting a node there (a broker already on a high port, as a test's fake, is
        // still listed): it is 0 here, and `start` says why.
        let mut unplaced = None;
        let mut derived = |what: &str, p: Option<u16>| {
            p.unwrap_or_else(|| {
                unplaced = Some(format!(
                    "BROKER_PORT={port} leaves no room for its {what} port"
                ));
                0
            })
        };
        let http_port = match settings.port("BROKER_HTTP_PORT", None)? {
            Some(p) => p,
            None => derived("management", nodes::management_port(port)),
        };
        let dist_port = match settings.port("BROKER_DIST_PORT", None)? {
            Some(p) => p,
            None => derived("distribution", nodes::distribution_port(port)),
        };
        // Unset: beside the AMQP port; set but empty: no stream plugin.
        let stream_port = match settings.get("BROKER_STREAM_PORT") {
            None => Some(derived("stream", nodes::stream_port(port))),
            Some(_) => settings.port("BROKER_STREAM_PORT", None)?,
        };
        let dir = settings
            .non_empty("BROKER_DIR")
            .map_or_else(|| root.join(".broker"), PathBuf::from);
        let settle = match settings.non_empty("BROKER_API_SETTLE") {
            Some(value) => value
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| anyhow!("BROKER_API_SETTLE={value} is not a number of seconds"))?,
            None => Duration::from_secs(6),
        };
        let mut config = Config {
            root,
            port,
            http_port,
            dist_port,
            tls_port: settings.port("BROKER_TLS_PORT", None)?,
            stream_port,
            state: dir.join(folder),
            dir,
            sbin: settings
                .non_empty("BROKER_RABBITMQ_BIN")
                .map_or_else(|| PathBuf::from("/usr/lib/rabbitmq/bin"), PathBuf::from),
            conf: settings.non_empty("BROKER_CONF").unwrap_or_default(),
            user: settings
                .non_empty("RABBITMQ_USER")
                .unwrap_or_else(|| "guest".into()),
            password: settings
                .non_empty("RABBITMQ_PASSWORD")
                .unwrap_or_else(|| "guest".into()),
            vhost: settings
                .non_empty("RABBITMQ_VHOST")
                .unwrap_or_else(|| "/".into()),
            settle,
            unplaced,
            node,
            settings,
        };
        config.find_rabbitmq();
        Ok(config)
    }

    /// The management API of the broker on the port, as the programs' user.
    pub fn api(&self) -> crate::api::Api {
        crate::api::Api::new(self.http_port, &self.user, &self.password)
    }
}

/// The broker command for one node: its settings, and (once asked) who answers the listings.
pub struct Broker {
    /// The node's settings.
    pub config: Config,
    admin: Option<Admin>,
}

impl Broker {
    /// The broker command for the settings.
    pub fn new(config: Config) -> Broker {
        Broker {
            config,
            admin: None,
        }
    }

    /// The broker command for the process's environment.
    pub fn from_env() -> Result<Broker> {
        Ok(Broker::new(Config::load(Settings::from_env())?))
    }

    /// Runs `scripts/broker ARGS`; its exit status.
    pub fn run(&mut self, args: &[String]) -> Result<u8> {
        let (command, rest) = match args.split_first() {
            Some((command, rest)) => (command.as_str(), rest),
            None => ("", &[][..]),
        };
        let words = |defaults: &[&str]| -> Vec<String> {
            rest.iter()
                .cloned()
                .chain(defaults.iter().map(|d| d.to_string()))
                .collect()
        };
        match command {
            "start" => self.start().map(|()| 0),
            "stop" => self.stop().map(|()| 0),
            "status" => self.status(),
            "restart" => {
                self.stop()?;
                self.start().map(|()| 0)
            }
            "reset" => self.reset().map(|()| 0),
            "install" => self.install().map(|()| 0),
            "cluster" => self.cluster(rest),
            // The course's listings: rabbitmqctl's list_* with the columns the guides show.
            "queues" => self.list(
                "queues",
                &words(&["name", "messages_ready", "messages_unacknowledged"]),
            ),
            "exchanges" => self.list("exchanges", &words(&["name", "type"])),
            "bindings" => self.list(
                "bindings",
                &words(&["source_name", "destination_name", "routing_key"]),
            ),
            "list_queues" | "list_exchanges" | "list_bindings" => {
                self.list(&command["list_".len()..], rest)
            }
            "set_policy" | "clear_policy" | "list_policies" => self.policy(command, rest),
            "delete_queue" => self.delete("queue", rest),
            "delete_exchange" => self.delete("exchange", rest),
            "add_vhost" | "delete_vhost" | "set_permissions" => self.vhost_admin(command, rest),
            "purge_queue" => self.purge(rest),
            "rabbitmqctl" => self.admin_ctl(rest),
            "" | "-h" | "--help" | "help" => {
                print!("{HELP}");
                Ok(0)
            }
            _ => self.admin_ctl(args),
        }
    }
}

/// `scripts/broker`'s main: one line on stderr for any failure, exit status 1.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ran = Broker::from_env().and_then(|mut broker| broker.run(&args));
    match ran {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            say(&format!("{error:#}"));
            ExitCode::from(1)
        }
    }
}

/// The exit status of a program that ran, as a command's (1 if it had none: a signal).
pub fn code(status: std::process::ExitStatus) -> u8 {
    status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1)
}

/// `path` as the project's folder shows it (relative, when it is inside).
pub(crate) fn shown(root: &std::path::Path, path: &std::path::Path) -> String {
    path.strip_prefix(root)
        .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_broker_on_a_high_port_is_still_listed_but_no_node_starts_there() {
        // A learner's broker (or a test's fake) on port 60000: its distribution port would be
        // 80000. Only starting a node there needs it.
        let settings = Settings::from_env()
            .with("BROKER_PORT", "60000")
            .with("BROKER_HTTP_PORT", "15999")
            .with("BROKER_DIST_PORT", "");
        let config = Config::load(settings).unwrap();
        assert_eq!((config.port, config.http_port), (60000, 15999));
        assert_eq!(
            config.unplaced.as_deref(),
            Some("BROKER_PORT=60000 leaves no room for its distribution port")
        );
        let low = Config::load(Settings::from_env().with("BROKER_PORT", "5672")).unwrap();
        assert_eq!(low.unplaced, None);
    }
}
