//! Who answers the listings and admin commands, and the commands themselves: the course's node
//! through its rabbitmqctl, or a broker you already run, through its management API or its own
//! rabbitmqctl.

use super::node::{amqp_answers, foreign, port_open};
use super::{code, say, Broker, Config};
use crate::api::{encoded, Listing};
use crate::process::{self, which};
use anyhow::{anyhow, bail, Result};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Who answers the listings and admin commands.
#[derive(Clone, Debug)]
pub enum Admin {
    /// This project's node, through its rabbitmqctl -n.
    Node,
    /// Another broker's management API on 127.0.0.1, as the programs' user.
    Api,
    /// Another broker's own rabbitmqctl: as root or through `sudo -n` (the distribution's
    /// service runs as the rabbitmq user), or as you (Homebrew's). The command line.
    Ctl(Vec<OsString>),
}

impl Admin {
    /// What it is, for people.
    pub fn name(&self, config: &Config) -> String {
        match self {
            Admin::Node => format!("this project's node {}", config.node),
            Admin::Api => format!(
                "listings through its management API on 127.0.0.1:{}",
                config.http_port
            ),
            Admin::Ctl(ctl) => format!(
                "listings through its own rabbitmqctl ({})",
                ctl.iter()
                    .map(|w| w.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }
}

/// `words` as a command (its first word the program).
fn command_of(words: &[OsString]) -> Command {
    let mut command = Command::new(&words[0]);
    command.args(&words[1..]);
    command
}

/// `value` of an option that needs one (`-p VHOST`): the next argument.
fn needs<'a>(option: &str, what: &str, value: Option<&'a String>) -> Result<&'a String> {
    value.ok_or_else(|| anyhow!("{option} needs {what}"))
}

impl Broker {
    /// Who answers the listings and admin commands (asked once).
    pub fn choose_admin(&mut self) -> Result<Admin> {
        if let Some(admin) = &self.admin {
            return Ok(admin.clone());
        }
        let admin = self.find_admin()?;
        self.admin = Some(admin.clone());
        Ok(admin)
    }

    fn find_admin(&self) -> Result<Admin> {
        let config = &self.config;
        let port = config.port;
        if config.running() {
            return Ok(Admin::Node);
        }
        if !(port_open(port) && amqp_answers(port)) {
            bail!(
                "no broker answers on 127.0.0.1:{port} (start the course's node with scripts/broker start)"
            );
        }
        if config.api().answers() {
            return Ok(Admin::Api);
        }
        let sbin_ctl = Path::new("/usr/sbin/rabbitmqctl");
        let tool = which("rabbitmqctl")
            .or_else(|| process::is_executable(sbin_ctl).then(|| sbin_ctl.to_path_buf()));
        if let Some(tool) = tool {
            let status_of = |words: &[OsString], seconds: u64| {
                let mut command = foreign(command_of(words));
                command.args(["-q", "status"]);
                process::quietly_bounded(&mut command, Duration::from_secs(seconds)).success()
            };
            let alone = vec![tool.clone().into_os_string()];
            let through_sudo = vec!["sudo".into(), "-n".into(), tool.into_os_string()];
            let mut ctl = None;
            if process::is_root() || status_of(&alone, 30) {
                ctl = Some(alone);
            } else if which("sudo").is_some() {
                // The rabbitmqctl calls below run under a time limit, where sudo cannot ask
                // for a password: it asks here, unbounded, in the terminal; the calls then use
                // sudo -n.
                if process::succeeds(Command::new("sudo").args(["-n", "true"])) {
                    ctl = Some(through_sudo);
                } else if std::io::stdin().is_terminal() {
                    say(&format!(
                        "the broker on 127.0.0.1:{port} runs as another user: sudo asks for your password to use its rabbitmqctl"
                    ));
                    if Command::new("sudo")
                        .arg("-v")
                        .status()
                        .is_ok_and(|s| s.success())
                    {
                        ctl = Some(through_sudo);
                    }
                } else {
                    say(&format!(
                        "the broker on 127.0.0.1:{port} runs as another user, and sudo would need your password to use its rabbitmqctl: run this in a terminal"
                    ));
                }
            }
            if let Some(ctl) = ctl.filter(|ctl| status_of(ctl, 60)) {
                return Ok(Admin::Ctl(ctl));
            }
        }
        bail!(
            "the broker on 127.0.0.1:{port} is not this project's node, and neither its management \
             API (http://127.0.0.1:{}/, user {}) nor its rabbitmqctl answers me: enable its \
             management plugin (sudo rabbitmq-plugins enable rabbitmq_management; Docker: the \
             rabbitmq:4-management image), or stop it and use the course's own node (scripts/broker start)",
            config.http_port,
            config.user
        )
    }

    /// The rabbitmqctl command of whichever broker answers, with `args`.
    pub(super) fn ctl_command(&mut self, args: &[String]) -> Result<Command> {
        let mut command = match self.choose_admin()? {
            Admin::Node => self.config.ctl(),
            Admin::Ctl(ctl) => foreign(command_of(&ctl)),
            Admin::Api => bail!(
                "'{}' needs rabbitmqctl, and the broker on 127.0.0.1:{} is not this project's node: \
                 run its own rabbitmqctl (Docker: docker exec CONTAINER rabbitmqctl {} ...)",
                args.first().map_or("", String::as_str),
                self.config.port,
                args.first().map_or("", String::as_str)
            ),
        };
        command.args(args);
        Ok(command)
    }

    /// rabbitmqctl `args` for whichever broker answers; its exit status.
    pub(super) fn admin_ctl(&mut self, args: &[String]) -> Result<u8> {
        let mut command = self.ctl_command(args)?;
        Ok(code(process::status(&mut command)?))
    }

    /// What rabbitmqctl `args` prints on stdout if it succeeds (its stderr thrown away).
    pub(super) fn admin_ctl_output(&mut self, args: &[&str]) -> Option<String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let mut command = self.ctl_command(&args).ok()?;
        process::stdout_of(&mut command)
    }

    /// rabbitmqctl's `list_queues|list_exchanges|list_bindings [-p VHOST] [-q]
    /// [--no-table-headers] [COLUMN...]` of `what`, of the programs' vhost unless `-p` names
    /// another; through the management API when that is what answers.
    pub(super) fn list(&mut self, what: &str, args: &[String]) -> Result<u8> {
        let mut vhost = self.config.vhost.clone();
        let (mut quiet, mut headers) = (false, true);
        let (mut columns, mut options) = (Vec::new(), Vec::new());
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-p" | "--vhost" => vhost = needs(arg, "a vhost", args.next())?.clone(),
                "-q" | "--quiet" | "-s" | "--silent" => {
                    quiet = true;
                    options.push(arg.clone());
                }
                "--no-table-headers" => {
                    headers = false;
                    options.push(arg.clone());
                }
                "--formatter" | "-t" | "--timeout" => {
                    options.push(arg.clone());
                    options.push(needs(arg, "a value", args.next())?.clone());
                }
                _ if arg.starts_with("--vhost=") => vhost = arg["--vhost=".len()..].to_string(),
                _ if arg.starts_with('-') => options.push(arg.clone()),
                _ => columns.push(arg.clone()),
            }
        }
        if columns.is_empty() {
            let defaults: &[&str] = match what {
                "queues" => &["name", "messages"],
                "exchanges" => &["name", "type"],
                _ => &[
                    "source_name",
                    "source_kind",
                    "destination_name",
                    "destination_kind",
                    "routing_key",
                    "arguments",
                ],
            };
            columns = defaults.iter().map(|c| c.to_string()).collect();
        }
        if let Admin::Api = self.choose_admin()? {
            let listing = Listing {
                what,
                vhost: &vhost,
                columns: &columns,
                quiet,
                headers,
                settle: self.config.settle,
            };
            // Bounded: each reading by the API client's 15 s, the readings by 2 x settle + 1 s.
            print!("{}", listing.print(&self.config.api())?);
            return Ok(0);
        }
        let mut ctl = vec![format!("list_{what}"), "-p".into(), vhost];
        ctl.extend(options);
        ctl.extend(columns);
        self.admin_ctl(&ctl)
    }

    /// `delete_queue|delete_exchange [-p VHOST] [--if-empty] [--if-unused] NAME` in the
    /// programs' vhost. Exchanges through the management API, since rabbitmqctl has no command
    /// to delete one.
    pub(super) fn delete(&mut self, kind: &str, args: &[String]) -> Result<u8> {
        let mut vhost = self.config.vhost.clone();
        let (mut name, mut conditions, mut query) = (None, Vec::new(), Vec::new());
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-p" | "--vhost" => vhost = needs(arg, "a vhost", args.next())?.clone(),
                "--if-empty" | "-e" => {
                    conditions.push("--if-empty".to_string());
                    query.push("if-empty=true");
                }
                "--if-unused" | "-u" => {
                    conditions.push("--if-unused".to_string());
                    query.push("if-unused=true");
                }
                _ if name.is_some() => {
                    bail!("usage: scripts/broker delete_{kind} [-p VHOST] NAME")
                }
                _ => name = Some(arg.clone()),
            }
        }
        let Some(name) = name else {
            bail!("usage: scripts/broker delete_{kind} [-p VHOST] [--if-empty] [--if-unused] NAME");
        };
        let admin = self.choose_admin()?;
        if matches!(admin, Admin::Api) || (kind == "exchange" && matches!(admin, Admin::Node)) {
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            self.config.api().request(
                "DELETE",
                &format!("/api/{kind}s/{}/{}{query}", encoded(&vhost), encoded(&name)),
                None,
            )?;
            say(&format!("deleted the {kind} '{name}' in vhost '{vhost}'"));
            return Ok(0);
        }
        if kind != "queue" {
            bail!(
                "rabbitmqctl cannot delete an exchange: enable the broker's management plugin \
                 (sudo rabbitmq-plugins enable rabbitmq_management) and run this again"
            );
        }
        let mut ctl = vec!["delete_queue".to_string(), "-p".into(), vhost];
        ctl.extend(conditions);
        ctl.push(name);
        self.admin_ctl(&ctl)
    }

    /// rabbitmqctl's `set_policy [-p VHOST] [--priority N] [--apply-to queues|exchanges|all]
    /// NAME PATTERN DEFINITION`, `clear_policy [-p VHOST] NAME`, `list_policies [-p VHOST]`, in
    /// the programs' vhost unless -p names another; DEFINITION is JSON (dead-letter-exchange,
    /// message-ttl, max-length, delivery-limit...). Through the management API when that is
    /// what answers.
    pub(super) fn policy(&mut self, command: &str, args: &[String]) -> Result<u8> {
        let mut vhost = self.config.vhost.clone();
        let (mut priority, mut apply_to, mut quiet) = ("0".to_string(), "all".to_string(), false);
        let (mut words, mut options) = (Vec::new(), Vec::new());
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-p" | "--vhost" => vhost = needs(arg, "a vhost", args.next())?.clone(),
                "--priority" => {
                    priority = needs(arg, "a number", args.next())?.clone();
                    options.extend([arg.clone(), priority.clone()]);
                }
                "--apply-to" => {
                    apply_to = needs(arg, "queues, exchanges or all", args.next())?.clone();
                    options.extend([arg.clone(), apply_to.clone()]);
                }
                "-q" | "--quiet" | "-s" | "--silent" => {
                    quiet = true;
                    options.push(arg.clone());
                }
                _ if arg.starts_with("--vhost=") => vhost = arg["--vhost=".len()..].to_string(),
                _ if arg.starts_with("--priority=") => {
                    priority = arg["--priority=".len()..].to_string();
                    options.push(arg.clone());
                }
                _ if arg.starts_with("--apply-to=") => {
                    apply_to = arg["--apply-to=".len()..].to_string();
                    options.push(arg.clone());
                }
                _ => words.push(arg.clone()),
            }
        }
        match (command, words.len()) {
            ("set_policy", 3) | ("clear_policy", 1) | ("list_policies", 0) => {}
            ("set_policy", _) => bail!(
                "usage: scripts/broker set_policy [-p VHOST] [--priority N] [--apply-to queues|exchanges|all] NAME PATTERN DEFINITION"
            ),
            ("clear_policy", _) => bail!("usage: scripts/broker clear_policy [-p VHOST] NAME"),
            _ => bail!("usage: scripts/broker list_policies [-p VHOST]"),
        }
        if !matches!(self.choose_admin()?, Admin::Api) {
            let mut ctl = vec![command.to_string(), "-p".into(), vhost];
            ctl.extend(options);
            ctl.extend(words);
            return self.admin_ctl(&ctl);
        }
        let api = self.config.api();
        match command {
            "set_policy" => {
                let definition: serde_json::Value = serde_json::from_str(&words[2])
                    .ok()
                    .filter(serde_json::Value::is_object)
                    .ok_or_else(|| {
                        anyhow!("the policy definition is not a JSON object: {}", words[2])
                    })?;
                let number: i64 = priority
                    .parse()
                    .map_err(|_| anyhow!("the priority is not a whole number: {priority}"))?;
                let body = serde_json::json!({
                    "pattern": words[1],
                    "definition": definition,
                    "priority": number,
                    "apply-to": apply_to,
                });
                if !quiet {
                    println!(
                        "Setting policy \"{}\" for pattern \"{}\" to \"{}\" with priority \"{priority}\" for vhost \"{vhost}\" ...",
                        words[0], words[1], words[2]
                    );
                }
                api.request(
                    "PUT",
                    &format!("/api/policies/{}/{}", encoded(&vhost), encoded(&words[0])),
                    Some(&body.to_string()),
                )?;
            }
            "clear_policy" => {
                if !quiet {
                    println!("Clearing policy \"{}\" on vhost \"{vhost}\" ...", words[0]);
                }
                api.request(
                    "DELETE",
                    &format!("/api/policies/{}/{}", encoded(&vhost), encoded(&words[0])),
                    None,
                )?;
            }
            _ => {
                if !quiet {
                    println!("Listing policies for vhost \"{vhost}\" ...");
                }
                let policies = api.get(&format!("/api/policies/{}", encoded(&vhost)))?;
                println!("vhost\tname\tpattern\tapply-to\tdefinition\tpriority");
                for p in policies.as_array().into_iter().flatten() {
                    let text = |field: &str| match &p[field] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        text("vhost"),
                        text("name"),
                        text("pattern"),
                        text("apply-to"),
                        p["definition"],
                        text("priority")
                    );
                }
            }
        }
        Ok(0)
    }

    /// `add_vhost NAME`, `delete_vhost NAME`, `set_permissions -p VHOST USER CONF WRITE READ`.
    pub(super) fn vhost_admin(&mut self, command: &str, args: &[String]) -> Result<u8> {
        if !matches!(self.choose_admin()?, Admin::Api) {
            let ctl: Vec<String> = std::iter::once(command.to_string())
                .chain(args.iter().cloned())
                .collect();
            return self.admin_ctl(&ctl);
        }
        self.vhost_api(command, args)?;
        Ok(0)
    }

    fn vhost_api(&self, command: &str, args: &[String]) -> Result<()> {
        let api = self.config.api();
        match (command, args) {
            ("add_vhost", [name]) => {
                api.request("PUT", &format!("/api/vhosts/{}", encoded(name)), Some("{}"))?;
            }
            ("delete_vhost", [name]) => {
                api.request("DELETE", &format!("/api/vhosts/{}", encoded(name)), None)?;
            }
            ("set_permissions", [p, vhost, user, configure, write, read]) if p == "-p" => {
                let body =
                    serde_json::json!({"configure": configure, "write": write, "read": read});
                api.request(
                    "PUT",
                    &format!("/api/permissions/{}/{}", encoded(vhost), encoded(user)),
                    Some(&body.to_string()),
                )?;
            }
            ("set_permissions", _) => {
                bail!("usage: scripts/broker set_permissions -p VHOST USER CONFIGURE WRITE READ")
            }
            _ => bail!("usage: scripts/broker {command} NAME"),
        }
        Ok(())
    }

    /// `purge_queue [-p VHOST] NAME`: empties a queue of the programs' vhost, quietly.
    pub(super) fn purge(&mut self, args: &[String]) -> Result<u8> {
        if let Admin::Api = self.choose_admin()? {
            let (vhost, rest) = match args {
                [p, rest @ ..] if p == "-p" => match rest {
                    [vhost, rest @ ..] => (vhost.clone(), rest),
                    [] => bail!("-p needs a vhost"),
                },
                _ => (self.config.vhost.clone(), args),
            };
            let [name] = rest else {
                bail!("usage: scripts/broker purge_queue [-p VHOST] NAME");
            };
            self.config.api().request(
                "DELETE",
                &format!("/api/queues/{}/{}/contents", encoded(&vhost), encoded(name)),
                None,
            )?;
            return Ok(0);
        }
        let mut ctl = vec!["purge_queue".to_string(), "-q".into()];
        if !args.iter().any(|a| a == "-p") {
            ctl.extend(["-p".into(), self.config.vhost.clone()]);
        }
        ctl.extend(args.iter().cloned());
        self.admin_ctl(&ctl)
    }

    /// A fresh vhost `name` that `user` may use (an old one of that name deleted first), made
    /// quietly; the error is the line that says why not.
    pub fn fresh_vhost(&mut self, name: &str, user: &str) -> Result<(), String> {
        let _ = self.vhost_quietly(&["delete_vhost", name]);
        self.vhost_quietly(&["add_vhost", name])?;
        self.vhost_quietly(&["set_permissions", "-p", name, user, ".*", ".*", ".*"])
    }

    fn vhost_quietly(&mut self, words: &[&str]) -> Result<(), String> {
        let said = |e: anyhow::Error| format!("broker: {e:#}");
        let args: Vec<String> = words[1..].iter().map(|w| w.to_string()).collect();
        // The course's node has its management API too: a vhost is made there in
        // milliseconds, where each rabbitmqctl call takes a second.
        let admin = self.choose_admin().map_err(said)?;
        if matches!(admin, Admin::Api)
            || matches!(admin, Admin::Node) && self.config.api().answers()
        {
            return self.vhost_api(words[0], &args).map_err(said);
        }
        let all: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let mut command = self.ctl_command(&all).map_err(said)?;
        let output = process::output_bounded(&mut command, Duration::from_secs(60))
            .ok_or_else(|| format!("rabbitmqctl {} did not end within 60 s", words[0]))?;
        if output.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        Err(text
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("rabbitmqctl failed")
            .to_string())
    }
}
