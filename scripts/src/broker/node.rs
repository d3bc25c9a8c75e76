//! The course's own node: installed, configured, started, stopped, wiped.

use super::{code, say, shown, Broker, Config};
use crate::process::{self, is_executable, which, Ended};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The variables through which the node and rabbitmqctl find this private node and nothing
/// else; a broker you run must never see them (see [`foreign`]).
const NODE_VARIABLES: [&str; 13] = [
    "RABBITMQ_NODENAME",
    "RABBITMQ_NODE_IP_ADDRESS",
    "RABBITMQ_NODE_PORT",
    "RABBITMQ_DIST_PORT",
    "RABBITMQ_MNESIA_BASE",
    "RABBITMQ_LOG_BASE",
    "RABBITMQ_PID_FILE",
    "RABBITMQ_ENABLED_PLUGINS_FILE",
    "RABBITMQ_CONFIG_FILE",
    "RABBITMQ_CONF_ENV_FILE",
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
    "RABBITMQ_CTL_ERL_ARGS",
    "ERL_EPMD_ADDRESS",
];

/// `command` without this project's node's settings, for another broker's tools.
pub(super) fn foreign(mut command: Command) -> Command {
    for name in NODE_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// Whether dpkg says `package` is installed.
fn installed(package: &str) -> bool {
    process::succeeds(Command::new("dpkg").args(["-s", package]))
}

/// Does something accept connections on 127.0.0.1:`port` (within 2 s)?
pub(crate) fn port_open(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok()
}

/// Does an AMQP 0-9-1 broker answer on 127.0.0.1:`port`? (It answers the protocol header with
/// a frame, whose first byte is 1; within 3 s.)
pub(crate) fn amqp_answers(port: u16) -> bool {
    let answer = || -> std::io::Result<u8> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.set_write_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(b"AMQP\x00\x00\x09\x01")?;
        let mut byte = [0u8];
        stream.read_exact(&mut byte)?;
        Ok(byte[0])
    };
    answer().is_ok_and(|b| b == 1)
}

impl Config {
    /// Finds RabbitMQ's programs: in `sbin` (Debian's package), else beside rabbitmq-server on
    /// PATH (Homebrew links them into its sbin). Whether there are any.
    pub(super) fn find_rabbitmq(&mut self) -> bool {
        if is_executable(&self.sbin.join("rabbitmq-server")) {
            return true;
        }
        let Some(server) = which("rabbitmq-server") else {
            return false;
        };
        // Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user: never use that one.
        if server == Path::new("/usr/sbin/rabbitmq-server") {
            return false;
        }
        if let Some(dir) = server.parent() {
            self.sbin = dir.to_path_buf();
        }
        is_executable(&self.sbin.join("rabbitmqctl"))
    }

    fn pid_file(&self) -> PathBuf {
        self.state.join("pid")
    }

    /// The pid that the node's pid file names, if it names one.
    pub(crate) fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Is our node's process alive?
    pub fn running(&self) -> bool {
        self.pid().is_some_and(process::alive)
    }

    /// `command` with everything the node and rabbitmqctl need to find this private node and
    /// nothing else; the Erlang distribution and epmd on loopback only.
    fn for_node(&self, mut command: Command) -> Command {
        let state = |name: &str| self.state.join(name);
        command
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", state("mnesia"))
            .env("RABBITMQ_LOG_BASE", state("log"))
            .env("RABBITMQ_PID_FILE", self.pid_file())
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", state("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", state("rabbitmq.conf"))
            .env("RABBITMQ_CONF_ENV_FILE", state("rabbitmq-env.conf"))
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .env(
                "RABBITMQ_CTL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .env("ERL_EPMD_ADDRESS", "127.0.0.1");
        command
    }

    /// This node's rabbitmqctl: `rabbitmqctl -n NODE`.
    pub(crate) fn ctl(&self) -> Command {
        let mut command = self.for_node(Command::new(self.sbin.join("rabbitmqctl")));
        command.arg("-n").arg(&self.node);
        command
    }

    /// epmd listening on all interfaces was started by something else (another Erlang
    /// program, a system service): say so, and leave it alone. Our node's epmd listens on
    /// loopback.
    fn epmd_note(&self) {
        let Some(listening) =
            process::stdout_of(Command::new("ss").args(["-ltnH", "sport = :4369"]))
        else {
            return;
        };
        let elsewhere = listening
            .lines()
            .filter_map(|line| line.split_whitespace().nth(3))
            .any(|address| !(address.starts_with("127.0.0.1:") || address.starts_with("[::1]:")));
        if elsewhere {
            say("note: epmd (port 4369) listens on all interfaces; something else started it, so it is left alone");
        }
    }

    /// A local CA and a certificate for localhost / 127.0.0.1 signed by it, made once per node
    /// with openssl (the keys readable by this user only).
    fn make_certificates(&self) -> Result<()> {
        let dir = self.state.join("tls");
        if dir.join("server.pem").exists() {
            return Ok(());
        }
        if which("openssl").is_none() {
            bail!("TLS needs openssl (apt-get install openssl)");
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .context("cannot write the certificate's extensions")?;
        let log_path = self.state.join("openssl.log");
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/CN=RabbitMQ course local CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        ];
        let log = std::fs::File::create(&log_path).context("cannot write openssl.log")?;
        let made = steps.iter().all(|args| {
            let (Ok(out), Ok(err)) = (log.try_clone(), log.try_clone()) else {
                return false;
            };
            let mut openssl = Command::new("openssl");
            openssl
                .args(*args)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            process::wait_bounded(
                &mut match openssl.spawn() {
                    Ok(child) => child,
                    Err(_) => return false,
                },
                Duration::from_secs(60),
            )
            .is_ok_and(|ended| ended.success())
        });
        if !made {
            eprint!("{}", std::fs::read_to_string(&log_path).unwrap_or_default());
            bail!("could not make the TLS certificates");
        }
        // openssl writes the keys for this user only; the rest is private too, but for the
        // certificates, which clients read.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for (name, mode) in [
                ("ca.pem", 0o644),
                ("server.pem", 0o644),
                ("ca.key", 0o600),
                ("server.key", 0o600),
                ("server.csr", 0o600),
                ("server.ext", 0o600),
                ("ca.srl", 0o600),
            ] {
                let _ =
                    std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(mode));
            }
        }
        Ok(())
    }

    /// Whether the pid file holds a whole pid (a line of digits).
    fn pid_file_written(&self) -> bool {
        std::fs::read_to_string(self.pid_file()).is_ok_and(|text| {
            text.lines()
                .any(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        })
    }

    /// Why a node did not come up, on stderr, before anything can clean its state away: what
    /// starting it printed, what waiting for it printed, and the end of each of its logs.
    fn why_not_up(&self) {
        let mut files = vec![self.state.join("start.log"), self.state.join("wait.log")];
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.state.join("log"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        files.extend(logs);
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            if text.is_empty() {
                continue;
            }
            say(&format!("--- the end of {}:", shown(&self.root, &file)));
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }

    fn write_config(&self) -> Result<()> {
        let write = |name: &str, text: &str| {
            let path = self.state.join(name);
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
        };
        std::fs::create_dir_all(&self.state)
            .with_context(|| format!("cannot make {}", self.state.display()))?;
        write("rabbitmq-env.conf", "")?;
        write(
            "enabled_plugins",
            if self.stream_port.is_some() {
                "[rabbitmq_management,rabbitmq_stream].\n"
            } else {
                "[rabbitmq_management].\n"
            },
        )?;
        let mut conf = format!(
            "# Written by scripts/broker: the course's private node.\n\
             management.tcp.ip = 127.0.0.1\n\
             management.tcp.port = {}\n\
             # The default user guest may log in over loopback only (RabbitMQ's default, kept on purpose).\n\
             loopback_users.guest = true\n\
             # Queue figures in the management UI and API every second instead of every five.\n\
             collect_statistics_interval = 1000\n",
            self.http_port
        );
        if let Some(stream) = self.stream_port {
            // Chapter 8: the stream protocol on loopback, announcing this address to its clients.
            conf.push_str(&format!(
                "stream.listeners.tcp.1 = 127.0.0.1:{stream}\n\
                 stream.advertised_host = localhost\n\
                 stream.advertised_port = {stream}\n"
            ));
        }
        if !self.conf.is_empty() {
            conf.push_str(&format!("# From BROKER_CONF:\n{}\n", self.conf));
        }
        if let Some(tls) = self.tls_port {
            self.make_certificates()?;
            let tls_dir = self.state.join("tls");
            conf.push_str(&format!(
                "listeners.ssl.1 = 127.0.0.1:{tls}\n\
                 ssl_options.cacertfile = {}\n\
                 ssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\n\
                 ssl_options.verify = verify_none\n\
                 ssl_options.fail_if_no_peer_cert = false\n",
                tls_dir.join("ca.pem").display(),
                tls_dir.join("server.pem").display(),
                tls_dir.join("server.key").display(),
            ));
        }
        write("rabbitmq.conf", &conf)
    }
}

impl Broker {
    /// Installs what the course needs on Debian/Ubuntu: the broker, and OpenSSL's headers with
    /// pkg-config, which the programs' TLS support (native-tls) builds against.
    pub fn install(&mut self) -> Result<()> {
        let mut missing = Vec::new();
        if !self.config.find_rabbitmq() {
            missing.push("rabbitmq-server");
        }
        if which("dpkg").is_some() {
            if !installed("libssl-dev") {
                missing.push("libssl-dev");
            }
            if !installed("pkg-config") && which("pkg-config").is_none() {
                missing.push("pkg-config");
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if which("apt-get").is_none() {
            let windows = if cfg!(windows) {
                "\n  On Windows: RabbitMQ's installer (a service on 5672) or Docker Desktop \
                 (docker run -d --name rabbitmq -p 5672:5672 -p 15672:15672 rabbitmq:4-management); \
                 the programs and scripts/demo use it as it is."
            } else {
                ""
            };
            bail!(
                "RabbitMQ is not installed, and this is not Debian or Ubuntu, so I cannot install it.\n  \
                 On macOS: brew install rabbitmq (scripts/broker then runs its own node; or brew services start rabbitmq and use that).\n  \
                 Elsewhere: install RabbitMQ (https://www.rabbitmq.com/download.html) and point AMQP_URL at it.{windows}"
            );
        }
        let list = missing.join(" ");
        if !process::is_root() && which("sudo").is_none() {
            bail!("missing {list}; run as root: apt-get install {list}");
        }
        // What the package's service would take over, known before installing.
        let had_epmd = installed("erlang-base");
        let systemd = self
            .config
            .settings
            .non_empty("BROKER_SYSTEMD_DIR")
            .map_or_else(|| PathBuf::from("/run/systemd/system"), PathBuf::from);
        say(&format!("installing {list}..."));
        let updated = process::status(process::as_root("apt-get").args(["update", "-qq"]))?;
        if !updated.success() {
            bail!("apt-get update failed (exit status {})", code(updated));
        }
        let installing = process::status(
            process::as_root("env")
                .args([
                    "DEBIAN_FRONTEND=noninteractive",
                    "apt-get",
                    "install",
                    "-y",
                    "-qq",
                ])
                .args(&missing)
                .stdout(Stdio::null()),
        )?;
        if !installing.success() {
            bail!(
                "apt-get install {list} failed (exit status {})",
                code(installing)
            );
        }
        if !self.config.find_rabbitmq() {
            bail!(
                "installing rabbitmq-server did not provide {}",
                self.config.sbin.join("rabbitmq-server").display()
            );
        }
        // On a machine with systemd, installing the package started its service: a node on
        // *:5672 (the course's port) and epmd on all interfaces. We installed it, so we stop
        // and disable it; a RabbitMQ that was there before we came is never touched.
        if !missing.contains(&"rabbitmq-server") || !systemd.is_dir() {
            return Ok(());
        }
        let mut units = vec!["rabbitmq-server.service"];
        if !had_epmd {
            units.extend(["epmd.socket", "epmd.service"]);
        }
        for unit in &units {
            process::succeeds(
                process::as_root("systemctl").args(["disable", "--now", "--quiet", unit]),
            );
        }
        say(&format!(
            "stopped and disabled what installing rabbitmq-server started ({}): the course runs its own node, on loopback",
            units.join(" ")
        ));
        Ok(())
    }

    /// Starts the node (installing RabbitMQ first if need be) and waits until it answers
    /// AMQP; or uses the broker that already answers on the port.
    pub fn start(&mut self) -> Result<()> {
        // On Windows there is nothing to install: a broker runs there or not.
        if !cfg!(windows) {
            self.install()?;
        }
        let config = self.config.clone();
        let port = config.port;
        if config.running() {
            say(&format!(
                "node {} is already running: AMQP on 127.0.0.1:{port}",
                config.node
            ));
            return Ok(());
        }
        if port_open(port) {
            if amqp_answers(port) {
                say(&format!(
                    "an AMQP broker already listens on 127.0.0.1:{port} (not this project's node); using it as it is"
                ));
                match self.choose_admin() {
                    Ok(admin) => {
                        let name = admin.name(&config);
                        say(&format!("scripts/broker queues|exchanges|bindings: {name}"));
                    }
                    Err(error) => say(&format!("{error:#}")),
                }
                return Ok(());
            }
            bail!("port {port} is in use by something that is not an AMQP broker; choose another with BROKER_PORT");
        }
        if cfg!(windows) {
            bail!(
                "no broker answers on 127.0.0.1:{port}: on Windows, start RabbitMQ (its Windows \
                 service, or Docker: docker run -d --name rabbitmq -p 5672:5672 -p 15672:15672 \
                 rabbitmq:4-management); scripts/broker runs a node of its own on Linux and macOS only"
            );
        }
        if let Some(why) = &config.unplaced {
            bail!("{why}");
        }
        // Another node of this name (its state folder gone: a deleted checkout's, a killed
        // run's) would make ours fail without a word: say so now.
        let name = config.node.split('@').next().unwrap_or_default();
        let registered =
            process::stdout_of(Command::new("epmd").arg("-names")).is_some_and(|names| {
                names
                    .lines()
                    .any(|l| l.starts_with(&format!("name {name} at port ")))
            });
        if registered {
            bail!(
                "another Erlang node named {name} already runs (epmd -names lists it; its state is not in {}): stop it, or choose another name with BROKER_NODE",
                shown(&config.root, &config.state)
            );
        }
        config.write_config()?;
        config.epmd_note();
        say(&format!(
            "starting RabbitMQ node {} (state in {})...",
            config.node,
            shown(&config.root, &config.state)
        ));
        let log_base = config.state.join("log");
        let start_log = config.state.join("start.log");
        let mut server = config.for_node(Command::new(config.sbin.join("rabbitmq-server")));
        server.arg("-detached");
        // A pid file left by a node that was killed names a process long gone; rabbitmqctl
        // wait would read it, or read the new one half-written (garbage_in_pid_file): wait for
        // a whole one.
        let _ = std::fs::remove_file(config.pid_file());
        if !run_logged(&mut server, &start_log, Duration::from_secs(120))? {
            config.why_not_up();
            bail!("the node did not start; see {}", log_base.display());
        }
        let mut tries = 0;
        while !config.pid_file_written() {
            tries += 1;
            if tries >= 900 {
                config.why_not_up();
                bail!(
                    "the node wrote no pid file within 90 s; see the logs in {}",
                    log_base.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let wait_log = config.state.join("wait.log");
        let mut wait = config.ctl();
        wait.arg("wait")
            .arg(config.pid_file())
            .args(["--timeout", "90"]);
        if !run_logged(&mut wait, &wait_log, Duration::from_secs(100))? {
            config.why_not_up();
            bail!(
                "the node did not come up; see the logs in {}",
                log_base.display()
            );
        }
        tries = 0;
        while !amqp_answers(port) {
            tries += 1;
            if tries >= 300 {
                config.why_not_up();
                bail!("the node runs but does not answer AMQP on 127.0.0.1:{port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        say(&format!(
            "RabbitMQ is up: AMQP on 127.0.0.1:{port}, management http://127.0.0.1:{}/ (login guest / guest, loopback only)",
            config.http_port
        ));
        if let Some(stream) = config.stream_port {
            say(&format!(
                "stream protocol (chapter 8's official programs) on 127.0.0.1:{stream}"
            ));
        }
        if let Some(tls) = config.tls_port {
            say(&format!(
                "TLS on 127.0.0.1:{tls}: AMQP_URL=amqps://localhost:{tls} RABBITMQ_CACERTFILE={}",
                config.state.join("tls/ca.pem").display()
            ));
        }
        Ok(())
    }

    /// Stops the node. `rabbitmqctl stop` returns once the node's process has ended. When it
    /// cannot (the node does not answer): SIGTERM, and wait until the process is gone (SIGKILL
    /// after 30 s), so that reset never deletes the state of a node that still writes it.
    pub fn stop(&mut self) -> Result<()> {
        let node = self.config.node.clone();
        if self.stop_node()? {
            say(&format!("node {node} stopped"));
        } else {
            say(&format!("node {node} is not running"));
        }
        Ok(())
    }

    /// Stops the node as [`stop`](Self::stop) does, saying nothing.
    pub fn stop_quietly(&mut self) -> Result<()> {
        self.stop_node().map(|_| ())
    }

    /// Stops the node as [`stop`](Self::stop) does, quietly; whether it was running.
    fn stop_node(&mut self) -> Result<bool> {
        let config = &self.config;
        let Some(pid) = config.pid().filter(|pid| process::alive(*pid)) else {
            return Ok(false);
        };
        let mut stop = config.ctl();
        stop.arg("stop").arg(config.pid_file());
        if !process::quietly_bounded(&mut stop, Duration::from_secs(120)).success() {
            process::signal(pid, "TERM");
            let mut tries = 0;
            // (A zombie counts as gone: in a container without init, nobody reaps it.)
            while process::alive(pid) && !process::zombie(pid) {
                tries += 1;
                if tries == 300 {
                    process::signal(pid, "KILL");
                }
                if tries >= 400 {
                    bail!(
                        "node {} (pid {pid}) does not end; its state is left as it is",
                        config.node
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(true)
    }

    fn wipe(&self) -> Result<()> {
        let state = &self.config.state;
        if state.exists() {
            std::fs::remove_dir_all(state)
                .with_context(|| format!("cannot delete {}", state.display()))?;
        }
        Ok(())
    }

    /// Stops the node and wipes its state folder.
    pub fn reset(&mut self) -> Result<()> {
        self.stop()?;
        self.wipe()?;
        say(&format!("state of {} wiped", self.config.node));
        Ok(())
    }

    /// Stops the node and wipes its state, saying nothing (`reset >/dev/null`): for a fresh
    /// node, or after a run.
    pub fn reset_quietly(&mut self) -> Result<()> {
        self.stop_node()?;
        self.wipe()
    }

    /// Is it running, and what it listens on; exit status 3 when no broker runs.
    pub(super) fn status(&mut self) -> Result<u8> {
        let config = self.config.clone();
        if let Some(pid) = config.pid().filter(|pid| process::alive(*pid)) {
            say(&format!(
                "node {} is running (pid {pid}), listening on:",
                config.node
            ));
            let mut addresses: Vec<String> =
                match process::stdout_of(Command::new("ss").arg("-ltnp")) {
                    Some(sockets) => sockets
                        .lines()
                        .skip(1)
                        .filter_map(|line| {
                            let address = line.split_whitespace().nth(3)?;
                            (line.contains(&format!("pid={pid},")) || address.ends_with(":4369"))
                                .then(|| address.to_string())
                        })
                        .collect(),
                    None => process::stdout_of(Command::new("lsof").args([
                        "-nP",
                        "-a",
                        "-p",
                        &pid.to_string(),
                        "-iTCP",
                        "-sTCP:LISTEN",
                    ]))
                    .unwrap_or_default()
                    .lines()
                    .skip(1)
                    .filter_map(|line| line.split_whitespace().nth(8).map(String::from))
                    .collect(),
                };
            addresses.sort();
            addresses.dedup();
            for address in addresses {
                eprintln!("  {address}");
            }
            return Ok(0);
        }
        if port_open(config.port) && amqp_answers(config.port) {
            let admin = self.choose_admin()?;
            say(&format!(
                "node {} is not running, but another AMQP broker answers on 127.0.0.1:{}: {}",
                config.node,
                config.port,
                admin.name(&config)
            ));
            return Ok(0);
        }
        say(&format!(
            "node {} is not running (start it with scripts/broker start)",
            config.node
        ));
        Ok(3)
    }
}

/// Runs `command` with its output into `log`, at most `limit`; whether it succeeded.
fn run_logged(command: &mut Command, log: &Path, limit: Duration) -> Result<bool> {
    let file =
        std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("cannot run {}", command.get_program().to_string_lossy()))?;
    Ok(matches!(process::wait_bounded(&mut child, limit)?, Ended::Exited(s) if s.success()))
}
