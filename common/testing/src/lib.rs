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

use std::io::{BufRead, BufReader, Read};
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
        let output = Command::new(workspace_root().join("scripts/broker"))
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

/// A port `p` for a private node such that `p` (AMQP), `p + 10000` (management) and `p + 20000`
/// (Erlang distribution) are free, and that no other node of this process was given.
pub fn free_ports() -> u16 {
    free_port_run(1)
}

/// A port `p` for `nodes` private nodes on `p`, `p + 1`, ... (a cluster), each with its
/// management and distribution ports free, and none of them given to another node of this
/// process: all of them are reserved.
pub fn free_port_run(nodes: u16) -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Below the ephemeral range (32768 and up), where the system hands out client ports.
    let start = 20000 + (std::process::id() % 400) as u16 * 10;
    let free = |p: u16| {
        !given.contains(&p)
            && [p, p + 10000, p + 20000]
                .iter()
                .all(|q| std::net::TcpListener::bind(("127.0.0.1", *q)).is_ok())
    };
    for port in (start..25000).chain(20000..start) {
        if (port..port + nodes).all(&free) {
            given.extend(port..port + nodes);
            return port;
        }
    }
    panic!("no free ports for {nodes} private node(s) between 20000 and 25000");
}

/// A RabbitMQ node of a test's own, for tests that restart the broker: restarting the shared
/// test node would disturb the tests running beside them. Stopped and wiped when dropped.
pub struct PrivateNode {
    /// The node's AMQP port (its management port is 10000 higher).
    pub port: u16,
    name: String,
    env: Vec<(String, String)>,
}

impl PrivateNode {
    /// Starts a fresh node `<name>@localhost` on free ports (state in `.broker/<name>`).
    pub fn start(name: &str) -> PrivateNode {
        Self::start_with_config(name, "")
    }

    /// As [`start`](Self::start), with more lines for the node's `rabbitmq.conf`.
    pub fn start_with_config(name: &str, config: &str) -> PrivateNode {
        broker_ports(); // fail early, with the hint, outside scripts/test
        let port = free_ports();
        let node = PrivateNode {
            port,
            name: name.to_string(),
            env: vec![
                ("BROKER_NODE".into(), format!("{name}@localhost")),
                ("BROKER_PORT".into(), port.to_string()),
                ("BROKER_HTTP_PORT".into(), (port + 10000).to_string()),
                ("BROKER_DIST_PORT".into(), (port + 20000).to_string()),
                ("BROKER_CONF".into(), config.to_string()),
                // No TLS listener: scripts/test's BROKER_TLS_PORT is the shared node's.
                ("BROKER_TLS_PORT".into(), String::new()),
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
            http_port: self.port + 10000,
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

/// Runs `scripts/broker ARGS` with `env` added to the environment.
fn scripts_broker(env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(workspace_root().join("scripts/broker"))
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

/// A program running in the background; its stdout and stderr lines are collected as they come.
pub struct Running {
    child: Child,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Spawns `command` with piped output.
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let mut readers = Vec::new();
        let outputs: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for output in outputs {
            let lines = Arc::clone(&lines);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    lines.0.lock().unwrap().push(line);
                    lines.1.notify_all();
                }
            }));
        }
        Running {
            child,
            lines,
            readers,
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// All lines printed so far (stdout and stderr, in arrival order).
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

/// Whether a consumer's line says it is ready: its queue, bindings and consumer are in place
/// (` [*] Waiting for messages...` in chapters 1-5, ` [x] Awaiting RPC requests` in chapter 6,
/// `Press control + C to close` in chapter 8).
pub fn is_ready(line: &str) -> bool {
    line.starts_with(" [*] Waiting for ")
        || line == " [x] Awaiting RPC requests"
        || line == "Press control + C to close"
}

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

/// A three-node cluster of the test's own (`scripts/broker cluster` with the node names
/// `cluster-test1..3`), on free ports, its vhost `cluster` making plain durable queues quorum
/// queues. Reset when dropped. One at a time: the node names are fixed.
pub struct Cluster {
    /// The AMQP port of node 1; nodes 2 and 3 have the next two.
    pub port: u16,
    env: Vec<(String, String)>,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    /// Starts the three nodes and joins them (about 20 s on 2 cores).
    pub fn start() -> Cluster {
        let cluster = Cluster::reserve();
        cluster.broker(&["start"]);
        cluster
    }

    /// The cluster's ports and node names, its nodes reset but not started (for a guide that
    /// starts them with `scripts/broker cluster start`).
    pub fn reserve() -> Cluster {
        static ONE: Mutex<()> = Mutex::new(());
        broker_ports(); // fail early, with the hint, outside scripts/test
        let guard = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let port = free_port_run(3);
        let cluster = Cluster {
            port,
            env: vec![
                ("BROKER_CLUSTER_NAME".into(), "cluster-test".into()),
                ("BROKER_CLUSTER_PORT".into(), port.to_string()),
            ],
            _one_at_a_time: guard,
        };
        cluster.broker(&["reset"]);
        cluster
    }

    /// `AMQP_URL` with the three nodes, `first` first (1, 2 or 3), in vhost `cluster`.
    pub fn url(&self, first: u16) -> String {
        let mut nodes = vec![first];
        nodes.extend((1..=3).filter(|n| *n != first));
        nodes
            .iter()
            .map(|n| format!("amqp://localhost:{}/cluster", self.port + n - 1))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A command for `program` (a path) pointed at the cluster through `url`.
    pub fn command(&self, program: &str, args: &[&str], url: &str) -> Command {
        let mut command = program_command(program, args);
        command.env("AMQP_URL", url);
        command
    }

    /// The address of node `n` alone, in vhost `cluster`.
    pub fn address(&self, n: u16) -> common::BrokerAddress {
        common::BrokerAddress::parse_url(&format!("amqp://localhost:{}/cluster", self.port + n - 1))
            .unwrap()
    }

    /// SIGKILLs node `n`'s Erlang VM.
    pub fn kill(&self, n: u16) {
        self.broker(&["kill", &n.to_string()]);
    }

    /// Starts node `n` again; it rejoins the cluster.
    pub fn restart(&self, n: u16) {
        self.broker(&["restart", &n.to_string()]);
    }

    /// `rabbitmqctl ARGS` on node `n`: its output.
    pub fn rabbitmqctl(&self, n: u16, args: &[&str]) -> String {
        let node = [
            ("BROKER_NODE".into(), format!("cluster-test{n}@localhost")),
            ("BROKER_PORT".into(), (self.port + n - 1).to_string()),
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
}

impl Drop for Cluster {
    fn drop(&mut self) {
        scripts_broker(&self.env, &["cluster", "reset"]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ports_of_a_cluster_are_never_given_to_another_node() {
        let cluster = super::free_port_run(3);
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
