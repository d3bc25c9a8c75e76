//! The course's test harness, for the chapters' integration tests: a vhost of its own per test
//! on the real test broker that `scripts/test` starts, and the real binaries spawned into it,
//! their output read line by line as it comes.
//!
//! A test that finds no broker fails and says to run `scripts/test`: it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_broker;
mod guide;
pub use fake_broker::{FakeBroker, Misbehaviour};
pub use guide::{assert_same_commands, run_cluster_guide, run_guide};

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for something it expects before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

const NO_BROKER: &str =
    "no test broker: run the tests with scripts/test, which installs RabbitMQ if needed, \
     starts a private node and sets COURSE_TEST_PORT and COURSE_TEST_HTTP_PORT";

/// The test broker's AMQP port and management (HTTP API) port, from the environment that
/// `scripts/test` sets. Panics with how to get a broker when they are missing or closed.
pub fn broker_ports() -> (u16, u16) {
    let port = |name: &str| -> u16 {
        std::env::var(name)
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{name} is not set: {NO_BROKER}"))
    };
    let (amqp, http) = (port("COURSE_TEST_PORT"), port("COURSE_TEST_HTTP_PORT"));
    if TcpStream::connect(("127.0.0.1", amqp)).is_err() {
        panic!("nothing listens on 127.0.0.1:{amqp}: {NO_BROKER}");
    }
    (amqp, http)
}

/// The test broker's RabbitMQ version, as (major, minor), from its management API.
pub fn broker_version() -> (u32, u32) {
    let (amqp, http) = broker_ports();
    let vhost = Vhost {
        name: "/".into(),
        port: amqp,
        http_port: http,
        owned: false,
        broker_env: Vec::new(),
    };
    let overview = vhost
        .api("/api/overview")
        .expect("the management API's overview");
    let version = overview["rabbitmq_version"]
        .as_str()
        .expect("rabbitmq_version in the overview");
    let mut parts = version.split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A command for `program` (a path) with none of the environment's broker address or logging:
/// the caller says where it connects.
fn program_command(program: &str, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.args(args);
    for name in [
        "AMQP_URL",
        "RABBITMQ_HOST",
        "RABBITMQ_PORT",
        "RABBITMQ_USER",
        "RABBITMQ_PASSWORD",
        "RABBITMQ_VHOST",
        "RABBITMQ_CACERTFILE",
        "RUST_LOG",
    ] {
        command.env_remove(name);
    }
    command
}

/// The folder where cargo built this test and the course's programs: the test binary's
/// `<target>/<profile>/deps/..`, so that `CARGO_TARGET_DIR` and the profile are honoured.
pub fn programs_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| workspace_root().join("target/debug"))
}

/// The path of one of the course's programs, built beside this test (see [`programs_dir`]; for
/// tests that run programs of several chapters; `scripts/test` builds them all first).
pub fn program(name: &str) -> String {
    let path = programs_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the course first (scripts/test does)",
        path.display()
    );
    path.display().to_string()
}

/// The workspace's root folder (where `scripts/` is).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// A virtual host made for one test and deleted when dropped, so that tests running in
/// parallel never see each other's queues, exchanges or messages.
pub struct Vhost {
    /// The vhost's name.
    pub name: String,
    /// The broker's AMQP port.
    pub port: u16,
    http_port: u16,
    /// Made (and so deleted) by us; false for a private node's default vhost.
    owned: bool,
    /// What `scripts/broker` needs to find the node (empty: the test node of scripts/test).
    broker_env: Vec<(String, String)>,
}

impl Vhost {
    /// Creates the vhost `test-<name>-<pid>` and lets the default user use it.
    pub fn new(name: &str) -> Vhost {
        let (port, http_port) = broker_ports();
        let vhost = Vhost {
            name: format!("test-{name}-{}", std::process::id()),
            port,
            http_port,
            owned: true,
            broker_env: Vec::new(),
        };
        let _ = vhost.http("DELETE", &format!("/api/vhosts/{}", vhost.name), "");
        vhost.http("PUT", &format!("/api/vhosts/{}", vhost.name), "{}");
        vhost.http(
            "PUT",
            &format!("/api/permissions/{}/guest", vhost.name),
            r#"{"configure":".*","write":".*","read":".*"}"#,
        );
        vhost
    }

    /// The environment that points a program at this vhost.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("RABBITMQ_HOST".into(), "127.0.0.1".into()),
            ("RABBITMQ_PORT".into(), self.port.to_string()),
            ("RABBITMQ_VHOST".into(), self.name.clone()),
        ]
    }

    /// The address of this vhost, for connecting from the test itself.
    pub fn address(&self) -> common::BrokerAddress {
        let env = self.env();
        common::BrokerAddress::from_lookup(|name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    /// Publishes `body` as another client would: through `common`'s connection, no confirm.
    pub fn publish(&self, exchange: &str, routing_key: &str, body: &[u8]) {
        let session = common::connect_to(&self.address()).unwrap();
        session
            .channel()
            .basic_publish(exchange, amiquip::Publish::new(body, routing_key))
            .unwrap();
        session.close().unwrap();
    }

    /// Runs the original course's Python program (`course.py` beside this file, with pika)
    /// in this vhost, asserting it succeeded; returns what it printed.
    pub fn python(&self, program: &str, args: &[&str]) -> String {
        let output = self.python_command(program, args).output();
        let output = output.unwrap_or_else(|e| {
            panic!("python3: {e}: run the tests with scripts/test, which makes .venv with pika")
        });
        let (stdout, stderr) = text(&output);
        if stderr.contains("No module named 'pika'") {
            panic!(
                "pika is missing: run the tests with scripts/test, which installs it into .venv"
            );
        }
        assert!(
            output.status.success(),
            "course.py {program} {args:?}: {stderr}"
        );
        stdout
    }

    /// The command that runs the original course's Python `program` in this vhost, to spawn
    /// (a consumer such as `rpc_server`) or to run.
    pub fn python_command(&self, program: &str, args: &[&str]) -> Command {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/course.py");
        // scripts/test points COURSE_PYTHON at the project's virtual environment, with pika.
        let python = std::env::var_os("COURSE_PYTHON").unwrap_or_else(|| "python3".into());
        let mut command = Command::new(python);
        command.arg(script).arg(program).args(args).envs(self.env());
        command
    }

    /// A command for `program` (a path from `env!("CARGO_BIN_EXE_...")`) aimed at this vhost,
    /// with a clean environment for the broker's address.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = program_command(program, args);
        command.envs(self.env());
        command
    }

    /// Runs `program` to its end and returns what it printed.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program, args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Starts `program`, reading its output as it comes.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Running {
        Running::spawn(self.command(program, args))
    }

    /// Starts a consumer and waits until it says it waits (its queue and bindings are ready).
    pub fn consumer(&self, program: &str, args: &[&str]) -> Running {
        let consumer = self.spawn(program, args);
        consumer.wait_for_lines(1, is_ready);
        consumer
    }

    /// A worker of chapter 2 (`program`, its path) that spends `seconds_per_dot` per dot,
    /// started as a consumer: it has declared its queue when this returns.
    pub fn worker(&self, program: &str, seconds_per_dot: &str) -> Running {
        let mut command = self.command(program, &[]);
        command.env("WORKER_SECONDS_PER_DOT", seconds_per_dot);
        let worker = Running::spawn(command);
        worker.wait_for_lines(1, is_ready);
        worker
    }

    /// Runs a producer to its end, asserting it succeeded; returns its stdout.
    pub fn produce(&self, program: &str, args: &[&str]) -> String {
        let output = self.run(program, args);
        assert!(
            output.status.success(),
            "{program} {args:?}: {:?}",
            text(&output)
        );
        text(&output).0
    }

    /// A queue's `(messages_ready, messages_unacknowledged)`, as the management API sees it
    /// (its figures lag the broker by up to a few seconds: poll with [`eventually`]).
    pub fn queue_counts(&self, queue: &str) -> Option<(u64, u64)> {
        let queue = self.api(&format!(
            "/api/queues/{}/{queue}?columns=messages_ready,messages_unacknowledged",
            self.encoded()
        ))?;
        Some((
            queue["messages_ready"].as_u64()?,
            queue["messages_unacknowledged"].as_u64()?,
        ))
    }

    /// The course's `rabbitmqctl list_queues name messages_ready messages_unacknowledged` for
    /// this vhost, through `scripts/broker queues`: `(name, ready, unacked)` per queue.
    pub fn list_queues(&self) -> Vec<(String, u64, u64)> {
        let output = broker_command()
            .args(["queues", "-p", &self.name, "--quiet", "--no-table-headers"])
            .envs(self.broker_env.clone())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "scripts/broker queues: {:?}",
            text(&output)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                Some((
                    fields.next()?.to_string(),
                    fields.next()?.parse().ok()?,
                    fields.next()?.parse().ok()?,
                ))
            })
            .collect()
    }

    /// The names of this vhost's queues.
    pub fn queue_names(&self) -> Vec<String> {
        let queues = self
            .api(&format!("/api/queues/{}?columns=name", self.encoded()))
            .unwrap_or_default();
        queues
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|queue| Some(queue["name"].as_str()?.to_string()))
            .collect()
    }

    /// The vhost's name as a path segment of the management API.
    pub fn encoded(&self) -> String {
        self.name.replace('%', "%25").replace('/', "%2F")
    }

    /// GET on the management API, its JSON answer for 200; `None` otherwise.
    pub fn api(&self, path: &str) -> Option<serde_json::Value> {
        let (status, body) = self.http("GET", path, "");
        if status != 200 {
            return None;
        }
        Some(serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}")))
    }

    /// A request to the management API, as the user guest: the status and the body. Panics if a
    /// change (PUT, POST) fails.
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        use base64::Engine;
        let url = format!("http://127.0.0.1:{}{path}", self.http_port);
        let login = base64::engine::general_purpose::STANDARD.encode("guest:guest");
        let request = ureq::request(method, &url)
            .timeout(PATIENCE)
            .set("Authorization", &format!("Basic {login}"))
            .set("Content-Type", "application/json");
        let answer = if body.is_empty() && method != "PUT" {
            request.call()
        } else {
            request.send_string(body)
        };
        let (status, body) = match answer {
            Ok(answer) => (answer.status(), answer.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(status, answer)) => {
                (status, answer.into_string().unwrap_or_default())
            }
            Err(e) => panic!(
                "management API on 127.0.0.1:{}: {e}: {NO_BROKER}",
                self.http_port
            ),
        };
        if method != "GET" && method != "DELETE" && !(200..300).contains(&status) {
            panic!("{method} {path} answered {status}: {body}");
        }
        (status, body)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let _ = self.http("DELETE", &format!("/api/vhosts/{}", self.name), "");
    }
}

/// The test slot: the name of `scripts/test`'s node before its `@` (`course-test`, or what
/// `COURSE_TEST_NODE` says). Every node a test starts is named after it (`course-test-alarms`,
/// `course-test-cluster1`), so that nodes of two checkouts never meet, and `scripts/test` stops
/// every node of its slot when it ends, or finds them at its start, left by a run that was
/// stopped: a test killed on its way leaves no node behind for long.
pub fn slot() -> String {
    std::env::var("COURSE_TEST_NODE")
        .ok()
        .and_then(|node| node.split('@').next().map(str::to_string))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "course-test".into())
}

/// A port `p` for a private node such that its AMQP, management and Erlang distribution ports
/// ([`scripts::nodes::ports`]) are free, and that no other node of this run was given.
pub fn free_ports() -> u16 {
    free_port_run(1, &slot())
}

/// A port `p` for `nodes` private nodes on `p`, `p + 1`, ... (a cluster), each with its
/// management and distribution ports free, and none of them given to another node of this
/// run. `name` (the node's) spreads the nodes of concurrent runs over the range.
///
/// Each port is claimed by a file `.broker/ports/<port>`, made atomically: cargo-nextest runs
/// every test in a process of its own, and two tests starting nodes at once must not pick the
/// same free port before either node binds it. `scripts/test` clears the claims when it starts.
fn free_port_run(nodes: u16, name: &str) -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let claims = workspace_root().join(".broker").join("ports");
    let _ = std::fs::create_dir_all(&claims);
    let claim = |p: u16| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(claims.join(p.to_string()))
            .is_ok()
    };
    // All three below the ephemeral range (32768 and up), where the system hands out the
    // ports of outgoing connections, which would take a node's ports as it starts.
    let start = FIRST_PORT + (hash(name) % 270) as u16 * 10;
    let free = |p: u16| {
        !given.contains(&p)
            && scripts::nodes::ports(p).is_some_and(|ports| {
                ports
                    .iter()
                    .all(|q| std::net::TcpListener::bind(("127.0.0.1", *q)).is_ok())
            })
    };
    // The nodes' AMQP ports, as a cluster numbers them from its first.
    let run =
        |first: u16| (1..=nodes).filter_map(move |n| scripts::nodes::cluster_node_port(first, n));
    for port in (start..LAST_PORT).chain(FIRST_PORT..start) {
        if run(port).all(&free) && run(port).all(claim) {
            given.extend(run(port));
            return port;
        }
    }
    panic!("no free ports for {nodes} private node(s) between {FIRST_PORT} and {LAST_PORT}");
}

/// The range of private nodes' AMQP ports: their management and Erlang distribution ports
/// (10000 and 20000 higher, see [`scripts::nodes`]) stay below 32768.
const FIRST_PORT: u16 = 10000;
const LAST_PORT: u16 = 12700;

/// A hash of `text` that is the same in every process (unlike std's random one).
fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The management port of the node on AMQP port `port`.
fn management_port(port: u16) -> u16 {
    scripts::nodes::management_port(port)
        .expect("a private node's port leaves room for its management port")
}

/// A RabbitMQ node of a test's own, for tests that restart the broker: restarting the shared
/// test node would disturb the tests running beside them. Stopped and wiped when dropped.
pub struct PrivateNode {
    /// The node's AMQP port (its other ports follow from it: [`scripts::nodes`]).
    pub port: u16,
    name: String,
    env: Vec<(String, String)>,
}

impl PrivateNode {
    /// Starts a fresh node `<slot>-<name>@localhost` on free ports (state in
    /// `.broker/<slot>-<name>`; see [`slot`]).
    pub fn start(name: &str) -> PrivateNode {
        Self::start_with_config(name, "")
    }

    /// As [`start`](Self::start), with more lines for the node's `rabbitmq.conf`.
    pub fn start_with_config(name: &str, config: &str) -> PrivateNode {
        broker_ports(); // fail early, with the hint, outside scripts/test
        let name = format!("{}-{name}", slot());
        let port = free_port_run(1, &name);
        let node = PrivateNode {
            port,
            name: name.clone(),
            env: vec![
                ("BROKER_NODE".into(), format!("{name}@localhost")),
                ("BROKER_PORT".into(), port.to_string()),
                // Its own, not those of scripts/test's node in the environment.
                ("BROKER_HTTP_PORT".into(), management_port(port).to_string()),
                (
                    "BROKER_DIST_PORT".into(),
                    scripts::nodes::distribution_port(port)
                        .expect("a private node's port leaves room for its distribution port")
                        .to_string(),
                ),
                ("BROKER_CONF".into(), config.to_string()),
                // No TLS listener (scripts/test's BROKER_TLS_PORT is the shared node's), and no
                // stream listener (port - 120 is nobody's to take): no test needs them here.
                ("BROKER_TLS_PORT".into(), String::new()),
                ("BROKER_STREAM_PORT".into(), String::new()),
            ],
        };
        node.broker(&["reset"]);
        node.broker(&["start"]);
        node
    }

    /// Stops the node and starts it again, as `systemctl restart rabbitmq-server` would.
    pub fn restart(&self) {
        self.broker(&["stop"]);
        self.broker(&["start"]);
    }

    /// Stops the node.
    pub fn stop(&self) {
        self.broker(&["stop"]);
    }

    /// Starts the node again after [`stop`](Self::stop), with its state.
    pub fn start_again(&self) {
        self.broker(&["start"]);
    }

    /// A vhost of its own on this node (deleted when dropped), beside its default vhost `/`.
    pub fn new_vhost(&self, name: &str) -> Vhost {
        let vhost = Vhost {
            name: name.to_string(),
            port: self.port,
            http_port: management_port(self.port),
            owned: true,
            broker_env: self.env.clone(),
        };
        vhost.http("PUT", &format!("/api/vhosts/{}", vhost.encoded()), "{}");
        vhost.http(
            "PUT",
            &format!("/api/permissions/{}/guest", vhost.encoded()),
            r#"{"configure":".*","write":".*","read":".*"}"#,
        );
        vhost
    }

    /// Sends a signal (`"KILL"`, `"STOP"`, `"CONT"`) to the node's Erlang VM.
    pub fn signal(&self, signal: &str) {
        let pid = std::fs::read_to_string(
            workspace_root()
                .join(".broker")
                .join(&self.name)
                .join("pid"),
        )
        .unwrap();
        kill(signal, pid.trim());
    }

    /// The node's default vhost `/`.
    pub fn vhost(&self) -> Vhost {
        Vhost {
            name: "/".into(),
            port: self.port,
            http_port: management_port(self.port),
            owned: false,
            broker_env: self.env.clone(),
        }
    }

    /// Runs `scripts/broker ARGS` for this node (e.g. a rabbitmqctl command such as
    /// `set_vm_memory_high_watermark`), asserting it succeeded.
    pub fn broker(&self, args: &[&str]) {
        broker_succeeds(&self.env, args);
    }
}

impl Drop for PrivateNode {
    fn drop(&mut self) {
        scripts_broker(&self.env, &["reset"]);
    }
}

/// `scripts/broker`'s program, built beside the tests (never through the shim's `cargo run`,
/// which would wait for the cargo that runs the tests).
pub fn broker_command() -> Command {
    Command::new(program("broker"))
}

/// Runs `scripts/broker ARGS` with `env` added to the environment.
fn scripts_broker(env: &[(String, String)], args: &[&str]) -> Output {
    broker_command()
        .args(args)
        .envs(env.iter().cloned())
        .output()
        .unwrap()
}

/// Runs `scripts/broker ARGS`, asserting it succeeded; returns its stdout.
fn broker_succeeds(env: &[(String, String)], args: &[&str]) -> String {
    let output = scripts_broker(env, args);
    assert!(
        output.status.success(),
        "scripts/broker {args:?}: {:?}",
        text(&output)
    );
    text(&output).0
}

/// A program running in the background; its stdout and stderr lines are collected as they come,
/// in the order it printed them.
pub struct Running {
    child: Child,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Spawns `command` with its stdout and stderr in one pipe, as a terminal shows them: a
    /// line on stderr right before one on stdout (`connected to ...`, then the waiting line)
    /// comes first. Two pipes read by two threads would give either order. (`sh` points its
    /// stderr at its stdout, then execs the program: its pid is the program's.)
    pub fn spawn(command: Command) -> Running {
        let mut merged = Command::new("sh");
        merged
            .arg("-c")
            .arg("exec 2>&1; exec \"$0\" \"$@\"")
            .arg(command.get_program())
            .args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => merged.env(key, value),
                None => merged.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            merged.current_dir(dir);
        }
        let mut child = merged
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let output = child.stdout.take().unwrap();
        let reader = {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    lines.0.lock().unwrap().push(line);
                    lines.1.notify_all();
                }
            })
        };
        Running {
            child,
            lines,
            readers: vec![reader],
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// All lines printed so far (stdout and stderr, in the order printed).
    pub fn lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().clone()
    }

    /// Waits until the output has `count` lines that satisfy `matches`; panics after [`PATIENCE`].
    pub fn wait_for_lines(&self, count: usize, matches: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut lines = self.lines.0.lock().unwrap();
        loop {
            let found: Vec<String> = lines.iter().filter(|l| matches(l)).cloned().collect();
            if found.len() >= count {
                return found;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "waited {PATIENCE:?} for {count} matching line(s); the program printed: {:#?}",
                    *lines
                );
            }
            lines = self.lines.1.wait_timeout(lines, deadline - now).unwrap().0;
        }
    }

    /// The message lines printed so far (those that start with ` [x] `).
    pub fn received(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with(" [x] "))
            .collect()
    }

    /// Waits until a line equal to `line` appears.
    pub fn wait_for(&self, line: &str) {
        self.wait_for_lines(1, |l| l == line);
    }

    /// Sends a signal (`"INT"`, `"TERM"`, `"KILL"`) to the process.
    pub fn signal(&self, signal: &str) {
        kill(signal, &self.id().to_string());
    }

    /// Waits for the process to end (panics after [`PATIENCE`]); returns its status and all
    /// its lines.
    pub fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "the program did not end within {PATIENCE:?}; it printed: {:#?}",
                    self.lines()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        (status, self.lines())
    }

    /// Ends the process (SIGINT, as Ctrl+C would) and returns all its lines.
    pub fn interrupt(self) -> Vec<String> {
        self.signal("INT");
        let (status, lines) = self.wait();
        assert!(
            status.success(),
            "the interrupted program exited with {status}: {lines:#?}"
        );
        lines
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` to process `pid` with kill(1).
fn kill(signal: &str, pid: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid)
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Whether a consumer's line says it is ready (its queue, bindings and consumer are in place):
/// the guides' reader says, for the guide tests and scripts/demo alike.
pub use scripts::guide::is_ready;

/// Polls `check` until it returns `Some`, for at most [`PATIENCE`].
pub fn eventually<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    eventually_within(PATIENCE, what, check)
}

/// As [`eventually`], waiting `limit` at most (for what takes longer, as a cluster's recovery).
pub fn eventually_within<T>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("waited {limit:?} for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What workers' lines show: how many times each task was done (` [x] Received t`, then
/// ` [x] Done`), and how many deliveries there were in all.
pub fn tally(outputs: &[Vec<String>]) -> (std::collections::HashMap<String, usize>, usize) {
    let (mut done, mut received) = (std::collections::HashMap::new(), 0);
    for lines in outputs {
        let mut current = None;
        for line in lines {
            if let Some(task) = line.strip_prefix(" [x] Received ") {
                received += 1;
                current = Some(task.to_string());
            } else if line == " [x] Done" {
                if let Some(task) = current.take() {
                    *done.entry(task).or_insert(0) += 1;
                }
            }
        }
    }
    (done, received)
}

/// The fast publisher of tasks, for tests and the benchmark: queues `tasks` as `new_task`
/// does (durable `task_queue`, persistent, publisher confirms) through one connection of
/// `common`, publishing `batch` at a time and waiting until the broker confirmed each batch.
pub fn queue_tasks(address: &common::BrokerAddress, tasks: &[String], batch: usize) {
    use amiquip::{AmqpProperties, Confirm, ConfirmSmoother, Publish, QueueDeclareOptions};
    let session = common::connect_to(address).unwrap();
    let channel = session.channel();
    channel
        .queue_declare(
            "task_queue",
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
        )
        .unwrap();
    let confirms = channel.listen_for_publisher_confirms().unwrap();
    channel.enable_publisher_confirms().unwrap();
    let mut smoother = ConfirmSmoother::new();
    let mut confirmed = 0;
    for chunk in tasks.chunks(batch.max(1)) {
        for task in chunk {
            let properties = AmqpProperties::default().with_delivery_mode(2);
            channel
                .basic_publish(
                    "",
                    Publish::with_properties(task.as_bytes(), "task_queue", properties),
                )
                .unwrap();
        }
        let end = confirmed + chunk.len();
        while confirmed < end {
            for confirm in smoother.process(confirms.recv_timeout(PATIENCE).expect("a confirm")) {
                assert!(
                    matches!(confirm, Confirm::Ack(_)),
                    "the broker refused a task"
                );
                confirmed += 1;
            }
        }
    }
    session.close().unwrap();
}

/// The text a program wrote to stdout and stderr.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The test slot's three-node cluster (`scripts/broker cluster` with the node names
/// `<slot>-cluster1..3`, see [`slot`]), on free ports, with a vhost of the test's own making
/// plain durable queues quorum queues. One test at a time uses it: in this process a lock says
/// so, and between processes (cargo-nextest runs each test in a process of its own) the test group
/// `cluster` of `scripts/nextest.toml` does. A guide gets a cluster of its own ([`reserve`]).
///
/// [`reserve`]: Cluster::reserve
pub struct Cluster {
    /// The AMQP port of node 1; nodes 2 and 3 have the next two.
    pub port: u16,
    name: String,
    /// The vhost the test works in: `cluster` (a guide's, as the guide uses it), or
    /// `cluster-<pid>` (the shared cluster's, see [`Cluster::shared`]).
    vhost: String,
    env: Vec<(String, String)>,
    /// Reset when dropped (a guide's cluster), or left running for the next test (shared).
    reset_when_dropped: bool,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    /// The slot's cluster, running, with all three nodes up and a vhost of this test's own: the
    /// one an earlier test left (its nodes that a test killed started again), or a new one
    /// (about 20 s on 2 cores). It stays up for the next test; `scripts/test` stops it at its end.
    pub fn shared() -> Cluster {
        static ONE: Mutex<()> = Mutex::new(());
        let mut cluster = Cluster::claim(&ONE, "cluster");
        cluster.reset_when_dropped = false;
        if !cluster.reuse() {
            cluster.broker(&["reset"]);
            cluster.broker(&["start"]);
        }
        cluster.vhost = cluster.fresh_vhost();
        cluster
    }

    /// A vhost named after this test's process (`cluster-<pid>`), making plain durable queues
    /// quorum queues; the vhosts of earlier tests are deleted. Never the same name twice: on
    /// RabbitMQ 3.10.8, nodes killed a second after a vhost's deletion and the re-declaration of
    /// its quorum queue under the same names restarted with neither member ("quorum queue
    /// cluster_task_queue could not be restarted {error,enoent}"), and the queue had no majority
    /// ever after (seen once in CI, in
    /// `with_two_of_three_nodes_down_new_task_fails_clearly_and_no_confirmed_task_is_lost`).
    fn fresh_vhost(&self) -> String {
        let vhost = format!("cluster-{}", std::process::id());
        let listed = self.rabbitmqctl(1, &["list_vhosts", "--silent"]);
        for old in listed.lines().map(str::trim) {
            if old == "cluster" || old.starts_with("cluster-") {
                let _ = self.rabbitmqctl(1, &["delete_vhost", old]);
            }
        }
        self.rabbitmqctl(1, &["add_vhost", &vhost, "--default-queue-type", "quorum"]);
        self.rabbitmqctl(
            1,
            &["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"],
        );
        vhost
    }

    /// Makes the cluster an earlier test left whole again: false if there is none, or it
    /// cannot be made whole within a minute.
    fn reuse(&self) -> bool {
        let up = |n: u16| self.pid_of(n).is_some();
        if !(1..=3).any(up) {
            return false;
        }
        for n in (1..=3).filter(|n| !up(*n)) {
            if !self
                .broker_output(&["restart", &n.to_string()])
                .status
                .success()
            {
                return false;
            }
        }
        // A node started again rejoins: wait until the cluster sees all three running.
        let deadline = Instant::now() + Duration::from_secs(60);
        while text(&self.broker_output(&["status"]))
            .1
            .matches("the cluster sees running: ")
            .count()
            < 3
        {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        true
    }

    /// A second cluster, `<slot>-guide1..3`, for a guide that starts and stops it itself
    /// (`scripts/broker cluster start`): its ports and node names, its nodes reset but not
    /// started; reset when dropped. It runs beside the shared one.
    pub fn reserve() -> Cluster {
        static ONE: Mutex<()> = Mutex::new(());
        let cluster = Cluster::claim(&ONE, "guide");
        cluster.broker(&["reset"]);
        cluster
    }

    /// The slot's cluster `<slot>-<what>`, one test at a time, on the ports an earlier test of
    /// this run chose (`.broker/<slot>-<what>.port`), or free ones.
    fn claim(one: &'static Mutex<()>, what: &str) -> Cluster {
        broker_ports(); // fail early, with the hint, outside scripts/test
        let guard = one.lock().unwrap_or_else(|e| e.into_inner());
        let name = format!("{}-{what}", slot());
        let file = workspace_root()
            .join(".broker")
            .join(format!("{name}.port"));
        let port = match std::fs::read_to_string(&file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            Some(port) => port,
            None => {
                let port = free_port_run(3, &name);
                std::fs::write(&file, port.to_string()).unwrap();
                port
            }
        };
        Cluster {
            port,
            env: vec![
                ("BROKER_CLUSTER_NAME".into(), name.clone()),
                ("BROKER_CLUSTER_PORT".into(), port.to_string()),
            ],
            name,
            vhost: "cluster".into(),
            reset_when_dropped: true,
            _one_at_a_time: guard,
        }
    }

    /// The node names' stem: `<slot>-cluster` (node N is `<slot>-clusterN@localhost`), or
    /// `<slot>-guide` for a guide's.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The vhost the test works in ([`Cluster::shared`]'s own, or a guide's `cluster`).
    pub fn vhost(&self) -> &str {
        &self.vhost
    }

    /// `AMQP_URL` with the three nodes, `first` first (1, 2 or 3), in the test's vhost.
    pub fn url(&self, first: u16) -> String {
        let mut nodes = vec![first];
        nodes.extend((1..=3).filter(|n| *n != first));
        nodes
            .iter()
            .map(|n| format!("amqp://localhost:{}/{}", self.node_port(*n), self.vhost))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A command for `program` (a path) pointed at the cluster through `url`.
    pub fn command(&self, program: &str, args: &[&str], url: &str) -> Command {
        let mut command = program_command(program, args);
        command.env("AMQP_URL", url);
        command
    }

    /// The address of node `n` alone, in the test's vhost.
    pub fn address(&self, n: u16) -> common::BrokerAddress {
        common::BrokerAddress::parse_url(&format!(
            "amqp://localhost:{}/{}",
            self.node_port(n),
            self.vhost
        ))
        .unwrap()
    }

    /// Node `n`'s AMQP port (1, 2 or 3).
    pub fn node_port(&self, n: u16) -> u16 {
        scripts::nodes::cluster_node_port(self.port, n).expect("a cluster's ports")
    }

    /// Node `n`'s name (`<slot>-cluster2@localhost`).
    fn node_name(&self, n: u16) -> String {
        scripts::nodes::cluster_node(&self.name, n)
    }

    /// SIGKILLs node `n`'s Erlang VM.
    pub fn kill(&self, n: u16) {
        self.broker(&["kill", &n.to_string()]);
    }

    /// Starts node `n` again; it rejoins the cluster.
    pub fn restart(&self, n: u16) {
        self.broker(&["restart", &n.to_string()]);
    }

    /// The pid of node `n`'s Erlang VM, if it runs.
    fn pid_of(&self, n: u16) -> Option<String> {
        let pid_file = workspace_root()
            .join(".broker")
            .join(scripts::nodes::state_folder(&self.node_name(n))?)
            .join("pid");
        let pid = std::fs::read_to_string(pid_file).ok()?.trim().to_string();
        let alive = Command::new("kill")
            .args(["-0", &pid])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        alive.then_some(pid)
    }

    /// `rabbitmqctl ARGS` on node `n`: its output.
    pub fn rabbitmqctl(&self, n: u16, args: &[&str]) -> String {
        let node = [
            ("BROKER_NODE".into(), self.node_name(n)),
            ("BROKER_PORT".into(), self.node_port(n).to_string()),
            ("BROKER_TLS_PORT".into(), String::new()),
        ];
        let args: Vec<&str> = ["rabbitmqctl"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        text(&scripts_broker(&node, &args)).0
    }

    fn broker(&self, args: &[&str]) {
        let args: Vec<&str> = ["cluster"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        broker_succeeds(&self.env, &args);
    }

    fn broker_output(&self, args: &[&str]) -> Output {
        let args: Vec<&str> = ["cluster"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        scripts_broker(&self.env, &args)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.reset_when_dropped {
            scripts_broker(&self.env, &["cluster", "reset"]);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ports_of_a_cluster_are_never_given_to_another_node() {
        let cluster = super::free_port_run(3, "a-cluster");
        for _ in 0..10 {
            let node = super::free_ports();
            assert!(
                !(cluster..cluster + 3).contains(&node),
                "node port {node} is one of the cluster's {cluster}..={}",
                cluster + 2
            );
        }
    }
}
