//! `scripts/broker` and `scripts/demo` where learners run them, not only on CI's machine: RabbitMQ
//! installed the Homebrew way (its tools on PATH, no `/usr/lib/rabbitmq/bin`) with neither GNU
//! `timeout` nor `ss`, bash 3.2's limits for the shims, and a machine with systemd where
//! installing the package starts its service. Run with scripts/test.
//!
//! The tests run the programs that cargo built for them (`CARGO_BIN_EXE_broker`, `..._demo`),
//! never the shims in `scripts/`, whose `cargo run` would wait for the cargo that runs the tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use harness::{broker_ports, free_ports, programs_dir, text, workspace_root};
use scripts::nodes;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A folder of the test's own, emptied first and removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("course-scripts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A subfolder, made.
    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes an executable shell script `name` into `dir`.
fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A folder that links every program of `/usr/bin` and `/bin` but `missing`: a PATH without
/// them, to show that the scripts do not need them.
fn path_without(scratch: &Scratch, missing: &[&str]) -> PathBuf {
    let dir = scratch.dir("bin");
    for system in ["/usr/bin", "/bin"] {
        for entry in std::fs::read_dir(system).unwrap().flatten() {
            let name = entry.file_name();
            let link = dir.join(&name);
            if !missing.contains(&name.to_string_lossy().as_ref()) && !link.exists() {
                let _ = symlink(entry.path(), link);
            }
        }
    }
    dir
}

/// scripts/broker's program.
const BROKER: &str = env!("CARGO_BIN_EXE_broker");
/// scripts/demo's program.
const DEMO: &str = env!("CARGO_BIN_EXE_demo");

fn broker(env: &[(&str, String)], args: &[&str]) -> Output {
    Command::new(BROKER)
        .args(args)
        .env_remove("BROKER_TLS_PORT")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn with_rabbitmq_on_path_as_homebrew_installs_it_and_no_gnu_timeout_or_ss_the_scripts_run_a_node_and_the_demo(
) {
    broker_ports(); // outside scripts/test, say how to run this
    let scratch = Scratch::new("homebrew");
    // Homebrew links RabbitMQ's programs into its own bin folder.
    let homebrew = scratch.dir("homebrew-sbin");
    for entry in std::fs::read_dir("/usr/lib/rabbitmq/bin")
        .unwrap()
        .flatten()
    {
        symlink(entry.path(), homebrew.join(entry.file_name())).unwrap();
    }
    let system = path_without(&scratch, &["timeout", "gtimeout", "ss"]);
    // The demo builds the course with cargo first; scripts/test has built it already.
    let programs = programs_dir();
    assert!(
        programs.join("send").exists() && programs.join("receive").exists(),
        "build the course first: scripts/test does"
    );
    let cargo = scratch.dir("cargo");
    script(&cargo, "cargo", "exit 0");
    let path = format!(
        "{}:{}:{}",
        homebrew.display(),
        cargo.display(),
        system.display()
    );
    let port = free_ports();
    let env = [
        ("PATH", path),
        (
            "BROKER_RABBITMQ_BIN",
            "/nonexistent/rabbitmq/bin".to_string(),
        ),
        ("BROKER_NODE", "course-homebrew@localhost".to_string()),
        ("BROKER_PORT", port.to_string()),
        // Its own, not those of scripts/test's node in the environment.
        (
            "BROKER_HTTP_PORT",
            nodes::management_port(port).unwrap().to_string(),
        ),
        (
            "BROKER_DIST_PORT",
            nodes::distribution_port(port).unwrap().to_string(),
        ),
        ("RABBITMQ_PORT", port.to_string()),
        ("WORKER_SECONDS_PER_DOT", "0.01".to_string()),
        // Where cargo built the programs (the demo's stub cargo builds nothing).
        (
            "CARGO_TARGET_DIR",
            programs.parent().unwrap().display().to_string(),
        ),
    ];
    broker(&env, &["reset"]);
    let started = broker(&env, &["start"]);
    assert!(started.status.success(), "{:?}", text(&started));

    let demo = Command::new(DEMO)
        .args(["--headless", "hello"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let listed = broker(&env, &["queues", "-p", "demo"]);
    let status = broker(&env, &["status"]);
    broker(&env, &["reset"]);

    let (out, err) = text(&demo);
    assert!(demo.status.success(), "{out}\n{err}");
    assert!(
        out.contains("the course ran as it says: hello"),
        "{out}\n{err}"
    );
    let (listing, err) = text(&listed);
    assert!(listed.status.success(), "{err}");
    assert!(listing.lines().any(|l| l == "hello\t0\t0"), "{listing}");
    // Without ss, the listening sockets come from lsof where there is one (macOS has it).
    assert!(status.status.success(), "{:?}", text(&status));
    let both = format!("{out}{err}");
    assert!(
        !both.contains("command not found") && !both.contains("No such file"),
        "{both}"
    );
}

/// The shell left in `scripts/`: shims that run the `scripts` package's programs.
const SHIMS: [&str; 4] = [
    "scripts/broker",
    "scripts/demo",
    "scripts/test",
    "scripts/bench",
];

#[test]
fn the_learners_scripts_use_nothing_that_bash_3_2_or_bsd_tools_lack() {
    // macOS ships bash 3.2: no associative arrays, namerefs, case changes, mapfile, `|&`, `&>>`;
    // its sed has no -u. (That the scripts run without GNU timeout and ss is tested above.)
    let forbidden = [
        "declare -A",
        "local -A",
        "declare -n",
        "local -n",
        "mapfile",
        "readarray",
        ",,}",
        "^^}",
        "|&",
        "&>>",
        "coproc",
        "sed -u",
    ];
    for name in SHIMS {
        let source = std::fs::read_to_string(workspace_root().join(name)).unwrap();
        for (number, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with('#') {
                continue;
            }
            for word in forbidden {
                assert!(
                    !line.contains(word),
                    "{name}:{}: '{word}' is not in bash 3.2 or macOS: {line}",
                    number + 1
                );
            }
        }
    }
}

#[test]
fn the_shell_left_in_scripts_is_thin_shims_that_run_the_rust_programs() {
    // Comments and blank lines aside, as issue 28 counted them (1,077 lines before).
    let mut lines = 0;
    for name in SHIMS {
        let source = std::fs::read_to_string(workspace_root().join(name)).unwrap();
        lines += source
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .count();
        let bin = name.trim_start_matches("scripts/");
        assert!(
            source.contains(&format!("-p scripts --bin {bin} -- \"$@\"")),
            "{name} does not run the scripts package's {bin}"
        );
        for other in ["python", "perl"] {
            assert!(!source.contains(other), "{name} runs {other}");
        }
    }
    assert!(lines <= 150, "{lines} lines of shell in scripts/");
}

/// A machine where `scripts/broker install` finds no RabbitMQ: fake `apt-get` (it "installs"
/// rabbitmq-server into `rabbitmq_bin`), `dpkg` (what is installed), `systemctl` and `sudo`
/// that log their calls. Returns the scratch folder's log of calls and the script's output.
fn install_on_a_fake_machine(systemd: bool, erlang_installed: bool) -> (String, Output) {
    let scratch = Scratch::new(&format!("install-{systemd}-{erlang_installed}"));
    let stubs = scratch.dir("stubs");
    let rabbitmq_bin = scratch.0.join("rabbitmq-bin");
    let log = scratch.0.join("calls.log");
    let log = log.display();
    script(
        &stubs,
        "apt-get",
        &format!(
            "echo \"apt-get $*\" >>{log}\ncase \"$*\" in *rabbitmq-server*) mkdir -p {bin} && printf '#!/bin/sh\\n' >{bin}/rabbitmq-server && chmod +x {bin}/rabbitmq-server ;; esac",
            bin = rabbitmq_bin.display()
        ),
    );
    let erlang = if erlang_installed { "0" } else { "1" };
    script(
        &stubs,
        "dpkg",
        &format!("case \"$*\" in *erlang-base*) exit {erlang} ;; *) exit 0 ;; esac"),
    );
    script(
        &stubs,
        "systemctl",
        &format!("echo \"systemctl $*\" >>{log}"),
    );
    script(&stubs, "sudo", "exec \"$@\"");
    let systemd_dir = if systemd {
        scratch.dir("run-systemd-system")
    } else {
        scratch.0.join("no-systemd")
    };
    let output = broker(
        &[
            ("PATH", format!("{}:/usr/bin:/bin", stubs.display())),
            ("BROKER_RABBITMQ_BIN", rabbitmq_bin.display().to_string()),
            ("BROKER_SYSTEMD_DIR", systemd_dir.display().to_string()),
        ],
        &["install"],
    );
    let calls = std::fs::read_to_string(scratch.0.join("calls.log")).unwrap_or_default();
    (calls, output)
}

#[test]
fn installing_rabbitmq_under_systemd_stops_and_disables_the_service_and_epmd_it_started() {
    let (calls, output) = install_on_a_fake_machine(true, false);
    let (_, err) = text(&output);
    assert!(output.status.success(), "{err}");
    assert!(calls.contains("apt-get install"), "{calls}");
    for unit in ["rabbitmq-server.service", "epmd.socket", "epmd.service"] {
        assert!(
            calls.contains(&format!("systemctl disable --now --quiet {unit}")),
            "{unit} left running: {calls}"
        );
    }
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("stopped and disabled"))
            .count(),
        1,
        "{err}"
    );
}

#[test]
fn installing_rabbitmq_leaves_an_epmd_that_was_there_before_alone() {
    let (calls, output) = install_on_a_fake_machine(true, true);
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(calls.contains("rabbitmq-server.service"), "{calls}");
    assert!(!calls.contains("epmd"), "{calls}");
}

#[test]
fn installing_rabbitmq_without_systemd_touches_no_service() {
    let (calls, output) = install_on_a_fake_machine(false, false);
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(calls.contains("apt-get install"), "{calls}");
    assert!(!calls.contains("systemctl"), "{calls}");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_rabbitmq_that_was_installed_before_is_never_stopped_or_disabled() {
    // The real machine's RabbitMQ is installed: install has nothing to do, and touches nothing.
    let scratch = Scratch::new("installed");
    let stubs = scratch.dir("stubs");
    let log = scratch.0.join("calls.log");
    for tool in ["apt-get", "systemctl"] {
        script(
            &stubs,
            tool,
            &format!("echo \"{tool} $*\" >>{}", log.display()),
        );
    }
    let output = broker(
        &[
            ("PATH", format!("{}:/usr/bin:/bin", stubs.display())),
            (
                "BROKER_SYSTEMD_DIR",
                scratch.dir("systemd").display().to_string(),
            ),
        ],
        &["install"],
    );
    assert!(output.status.success(), "{:?}", text(&output));
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!calls.contains("systemctl"), "{calls}");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_test_broker_listens_on_loopback_only() {
    // scripts/test's node: BROKER_NODE, from COURSE_TEST_NODE.
    let node = std::env::var("BROKER_NODE").unwrap_or_else(|_| "course-test@localhost".into());
    let pid_file = workspace_root()
        .join(".broker")
        .join(node.split('@').next().unwrap())
        .join("pid");
    let pid =
        std::fs::read_to_string(&pid_file).expect("the test node's pid file: run scripts/test");
    let sockets = Command::new("ss").args(["-ltnpH"]).output().unwrap();
    let sockets = String::from_utf8_lossy(&sockets.stdout).into_owned();
    let ours: Vec<&str> = sockets
        .lines()
        .filter(|l| l.contains(&format!("pid={},", pid.trim())) || l.contains("\"epmd\""))
        .map(|l| l.split_whitespace().nth(3).unwrap())
        .collect();
    // AMQP, TLS, management, Erlang distribution, and epmd.
    assert!(ours.len() >= 5, "{sockets}");
    for address in &ours {
        assert!(
            address.starts_with("127.0.0.1:") || address.starts_with("[::1]:"),
            "{address} is not loopback: {ours:?}"
        );
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_default_guest_user_may_log_in_over_loopback_only() {
    let output = Command::new(BROKER)
        .args(["eval", "application:get_env(rabbit, loopback_users)."])
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(text(&output).0.trim(), "{ok,[<<\"guest\">>]}");
}

#[test]
fn a_node_name_that_would_reach_beyond_its_own_state_folder_is_refused_before_anything_is_deleted()
{
    let scratch = Scratch::new("names");
    let state = scratch.dir("state");
    // Another node's state, and a folder beside the state folder.
    std::fs::write(scratch.dir("state/course").join("keep"), "").unwrap();
    std::fs::write(scratch.dir("other").join("keep"), "").unwrap();
    for name in [
        "@x",
        ".@x",
        "..@x",
        "../other@x",
        "course/..@x",
        "-rf@x",
        "a b@x",
    ] {
        let output = broker(
            &[
                ("BROKER_NODE", name.to_string()),
                ("BROKER_DIR", state.display().to_string()),
                ("BROKER_RABBITMQ_BIN", "/nonexistent".to_string()),
            ],
            &["reset"],
        );
        let (_, err) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.starts_with(&format!("broker: refusing the node name '{name}'")),
            "{name}: {err}"
        );
        assert!(state.join("course/keep").exists(), "{name} wiped the state");
        assert!(
            scratch.0.join("other/keep").exists(),
            "{name} wiped ../other"
        );
    }
}

#[test]
fn reset_waits_until_a_node_that_rabbitmqctl_cannot_stop_is_gone_before_deleting_its_state() {
    let scratch = Scratch::new("dying");
    // A RabbitMQ whose rabbitmqctl cannot reach the node.
    let bin = scratch.dir("rabbitmq-bin");
    script(&bin, "rabbitmq-server", "exit 1");
    script(&bin, "rabbitmqctl", "exit 69");
    // A "node" that takes a second to end after SIGTERM and writes its state meanwhile, as an
    // Erlang VM flushing its files does. A parent shell reaps it (no init reaps here).
    let state = scratch.0.join("fake");
    std::fs::create_dir_all(&state).unwrap();
    let node = format!(
        "trap 'sleep 1; mkdir -p {state}/mnesia; echo late >{state}/mnesia/written; exit 0' TERM; while :; do sleep 0.05; done",
        state = state.display()
    );
    let mut parent = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "sh -c \"$0\" & echo $! >{}/pid; wait",
            state.display()
        ))
        .arg(&node)
        .spawn()
        .unwrap();
    let pid_file = state.join("pid");
    while std::fs::read_to_string(&pid_file).map_or(true, |p| p.trim().is_empty()) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let output = broker(
        &[
            ("BROKER_NODE", "fake@localhost".to_string()),
            ("BROKER_DIR", scratch.0.display().to_string()),
            ("BROKER_RABBITMQ_BIN", bin.display().to_string()),
        ],
        &["reset"],
    );
    assert!(output.status.success(), "{:?}", text(&output));
    // The node's last writes came before the wipe, not after it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = parent.kill();
    let _ = parent.wait();
    assert!(
        !state.exists(),
        "the dying node wrote its state after reset wiped it: {:?}",
        std::fs::read_dir(&state).map(|d| d.count())
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_demo_runs_the_programs_that_cargo_built_in_cargo_target_dir() {
    let scratch = Scratch::new("target-dir");
    // CARGO_TARGET_DIR's programs: the course's, each noting in a log that it ran.
    let debug = scratch.dir("elsewhere/debug");
    let log = scratch.0.join("ran.log");
    for name in ["send", "receive"] {
        script(
            &debug,
            name,
            &format!(
                "echo {name} >>{}\nexec {} \"$@\"",
                log.display(),
                harness::program(name)
            ),
        );
    }
    let cargo = scratch.dir("cargo");
    script(&cargo, "cargo", "exit 0"); // built already
    let vhost = harness::Vhost::new("demo-target-dir");
    let demo = Command::new(DEMO)
        .args(["--headless", "hello"])
        .envs(vhost.env())
        .env("CARGO_TARGET_DIR", scratch.0.join("elsewhere"))
        .env(
            "PATH",
            format!("{}:{}", cargo.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    let (out, err) = text(&demo);
    assert!(demo.status.success(), "{out}\n{err}");
    let ran = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        ran.contains("send") && ran.contains("receive"),
        "the demo did not run CARGO_TARGET_DIR's programs: {ran:?}\n{out}"
    );
}

/// A machine where the broker on the port runs as another user (the distribution's service)
/// with its management plugin off: its rabbitmqctl works through sudo only, and sudo wants the
/// password `secret` (stubs of `id`, `sudo` and `rabbitmqctl`). Runs `scripts/broker queues`
/// with stdin a terminal (through script(1)) that types the password, or with no terminal.
fn queues_through_sudo(terminal: bool) -> (Option<i32>, String, std::time::Duration) {
    use std::io::Write;
    let scratch = Scratch::new(&format!("sudo-{terminal}"));
    let stubs = scratch.dir("stubs");
    let mark = scratch.0.join("authenticated");
    let mark = mark.display();
    script(&stubs, "id", "echo 1000");
    script(
        &stubs,
        "sudo",
        &format!(
            r#"ask() {{ printf '[sudo] password: ' >/dev/tty; read -r pw </dev/tty; [ "$pw" = secret ] && touch {mark}; }}
case "$1" in
  -n) shift; [ -f {mark} ] || {{ echo 'sudo: a password is required' >&2; exit 1; }}
      [ "$1" = true ] && exit 0; SUDO_STUB=1 exec "$@" ;;
  -v) ask ;;
  *) ask && SUDO_STUB=1 exec "$@" ;;
esac"#
        ),
    );
    script(
        &stubs,
        "rabbitmqctl",
        r#"[ "$SUDO_STUB" = 1 ] || exit 1
case "$*" in *list_queues*) printf 'name\tmessages_ready\tmessages_unacknowledged\nhello\t2\t0\n' ;; esac"#,
    );
    // The broker on the port: it answers AMQP's protocol header with a frame's first byte.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.write_all(&[1]);
        }
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = closed.local_addr().unwrap().port();
    drop(closed); // no management API
    let mut command = if terminal {
        let mut command = Command::new("script");
        command.args(["-qec", &format!("{BROKER} queues"), "/dev/null"]);
        command
    } else {
        let mut command = Command::new(BROKER);
        command.arg("queues");
        command
    };
    command
        .env("PATH", format!("{}:/usr/bin:/bin", stubs.display()))
        .env("BROKER_NODE", "not-ours@localhost")
        .env("BROKER_PORT", port.to_string())
        .env("BROKER_HTTP_PORT", http_port.to_string())
        .env_remove("RABBITMQ_VHOST")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let started = std::time::Instant::now();
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"secret\n");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let (out, err) = text(&output);
    (status, format!("{out}{err}"), started.elapsed())
}

#[test]
fn sudo_asks_for_its_password_in_the_terminal_instead_of_hanging_under_a_time_limit() {
    let (status, printed, took) = queues_through_sudo(true);
    assert_eq!(status, Some(0), "after {took:?}: {printed}");
    assert!(printed.contains("[sudo] password: "), "{printed}");
    assert!(printed.contains("hello\t2\t0"), "{printed}");
}

#[test]
fn without_a_terminal_it_says_at_once_that_sudo_would_need_a_password() {
    let (status, printed, took) = queues_through_sudo(false);
    assert_eq!(status, Some(1), "{printed}");
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert!(
        printed.contains("sudo would need your password"),
        "{printed}"
    );
}
