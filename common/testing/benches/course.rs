//! The course's benchmark: run it with `scripts/bench`, which builds in release, starts a
//! private broker node for it and passes its port (`RABBITMQ_PORT`) and the folder of the
//! release binaries (`BENCH_BIN_DIR`). Prints a Markdown table; exits non-zero if a run failed
//! (a missed target is for people to read, not a failure).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot run says so loudly

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BACKLOG: usize = 50_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; there is nothing to list apart.
    }
    let bin_dir =
        PathBuf::from(std::env::var("BENCH_BIN_DIR").expect("BENCH_BIN_DIR: run scripts/bench"));
    let address = common::BrokerAddress::from_env().unwrap();
    let mut rows: Vec<(String, String, String)> = Vec::new();

    for (producer, args) in [
        ("send", vec![]),
        ("new_task", vec!["A", "task"]),
        ("emit_log", vec![]),
        ("emit_log_direct", vec!["info", "bench"]),
        ("emit_log_topic", vec!["kern.info", "bench"]),
    ] {
        let (median, p90) = one_shot(&bin_dir.join(producer), &args, 30);
        rows.push((
            format!("one-shot `{producer}`, whole process (median / p90, 30 runs)"),
            format!("{median:.1} ms / {p90:.1} ms"),
            "≤ 8 ms / ≤ 10 ms".into(),
        ));
    }
    purge(&address, "task_queue");
    purge(&address, "hello");

    for workers in [1, 2, 4] {
        let (rate, shares, peak_kib, cpu) = drain(&address, &bin_dir.join("worker"), workers);
        rows.push((
            format!("`worker` ×{workers} draining {BACKLOG} tasks (manual ack, prefetch 1)"),
            format!("{rate:.0} msg/s, shares {shares:?}; {cpu}"),
            if workers == 1 {
                "≥ 6,000 msg/s".into()
            } else {
                "".into()
            },
        ));
        if workers == 1 {
            rows.push((
                "`worker` peak RSS (VmHWM) after the drain".into(),
                format!("{:.1} MiB", peak_kib as f64 / 1024.0),
                "≤ 6 MiB".into(),
            ));
        }
    }

    let per_message = confirmed_publishes(&address, 5_000, 1);
    rows.push((
        "persistent publishes, a confirm awaited per message".into(),
        format!("{per_message:.0} msg/s"),
        "≥ 1,500 msg/s".into(),
    ));
    let batched = confirmed_publishes(&address, 50_000, 100);
    rows.push((
        "persistent publishes, confirms awaited per batch of 100".into(),
        format!("{batched:.0} msg/s"),
        "≥ 20,000 msg/s".into(),
    ));
    purge(&address, "task_queue");

    let ((median, p90), (whole_median, whole_p90), send_median) = rpc_round_trip(&bin_dir);
    rows.push((
        "RPC round trip: `rpc_client 30`, process start to its answer (median / p90, 30 runs)"
            .into(),
        format!("{median:.1} ms / {p90:.1} ms"),
        "≤ 10 ms median".into(),
    ));
    rows.push((
        "`rpc_client 30`, whole process, connection closed (median / p90, 30 runs)".into(),
        format!("{whole_median:.1} ms / {whole_p90:.1} ms"),
        "".into(),
    ));
    rows.push((
        "`rpc_client 30` whole process against a one-shot `send`, each run between two calls (medians)"
            .into(),
        format!(
            "{:.2}× ({whole_median:.1} ms / {send_median:.1} ms)",
            whole_median / send_median
        ),
        "≤ 1.3×".into(),
    ));
    for (strategy, rate, target) in publisher_confirms(&bin_dir) {
        rows.push((
            format!("`publisher_confirms` 50,000 messages, {strategy}"),
            format!("{rate:.0} msg/s"),
            target.into(),
        ));
    }

    for (figure, measured) in streams(&address, &bin_dir) {
        rows.push((figure, measured, "".into()));
    }

    println!("| figure | measured | target |\n|---|---|---|");
    for (figure, measured, target) in rows {
        println!("| {figure} | {measured} | {target} |");
    }
}

/// Runs `rpc_client 30` against one `rpc_server` (both release builds), 30 times after a
/// warm-up; returns the medians and p90s in ms from the client's start to its answer line
/// (what a caller waits for), and to its exit (after closing its connection), and the median of
/// a one-shot `send` run between the calls, so that both see the broker in the same state.
fn rpc_round_trip(bin_dir: &std::path::Path) -> ((f64, f64), (f64, f64), f64) {
    use std::io::{BufRead, BufReader};
    let mut server = Command::new(bin_dir.join("rpc_server"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert_eq!(ready, " [x] Awaiting RPC requests");
    // Keep reading what the server prints, or its next line would meet a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let call = || {
        let started = Instant::now();
        let mut client = Command::new(bin_dir.join("rpc_client"))
            .arg("30")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let answered = BufReader::new(client.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .find(|l| l == " [.] Got 832040")
            .map(|_| started.elapsed().as_secs_f64() * 1000.0)
            .expect("rpc_client printed its answer");
        assert!(client.wait().unwrap().success());
        (answered, started.elapsed().as_secs_f64() * 1000.0)
    };
    for _ in 0..3 {
        call();
    }
    let send = || {
        let started = Instant::now();
        let output = Command::new(bin_dir.join("send")).output().unwrap();
        assert!(output.status.success(), "{output:?}");
        started.elapsed().as_secs_f64() * 1000.0
    };
    // Each run starts with the broker idle (a call leaves its quorum queue's log writes behind
    // for a few milliseconds), so that neither program is measured in the other's wake.
    let settle = || std::thread::sleep(Duration::from_millis(100));
    let (mut answered, mut ended, mut sent) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..30 {
        settle();
        let (answer, end) = call();
        answered.push(answer);
        ended.push(end);
        settle();
        sent.push(send());
    }
    let _ = server.kill();
    let _ = server.wait();
    (median_p90(answered), median_p90(ended), median_p90(sent).0)
}

/// Runs `publisher_confirms` (50,000 messages); returns each strategy's rate and its target.
fn publisher_confirms(bin_dir: &std::path::Path) -> Vec<(String, f64, &'static str)> {
    let output = Command::new(bin_dir.join("publisher_confirms"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "publisher_confirms: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let targets = [
        "≥ 1,500 msg/s",
        "≥ 20,000 msg/s",
        "≥ 35,000 msg/s",
        "≥ 30,000 msg/s",
    ];
    stdout
        .lines()
        .zip(targets)
        .map(|(line, target)| {
            // "Published 50,000 messages individually in 9,450 ms"
            let (head, millis) = line.rsplit_once(" in ").unwrap();
            let millis: f64 = millis
                .trim_end_matches(" ms")
                .replace(',', "")
                .parse()
                .unwrap();
            let strategy = head.split_once(" messages ").unwrap().1.to_string();
            (strategy, 50_000.0 / (millis.max(1.0) / 1000.0), target)
        })
        .collect()
}

/// Runs a producer `runs` times after a warm-up; returns the median and p90 wall time in ms.
fn one_shot(program: &PathBuf, args: &[&str], runs: usize) -> (f64, f64) {
    let run = || {
        let started = Instant::now();
        let output = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        assert!(
            output.status.success(),
            "{}: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        elapsed
    };
    for _ in 0..3 {
        run();
    }
    median_p90((0..runs).map(|_| run()).collect())
}

/// The median and the 90th percentile of `times`.
fn median_p90(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    (
        times[times.len() / 2],
        times[(times.len() * 9).div_ceil(10) - 1],
    )
}

/// Fills task_queue with `BACKLOG` no-dot tasks, then lets `workers` real workers drain it.
/// Their output goes to files, whose growth tells the progress: a reader of pipes would take
/// CPU from the workers on a 2-core machine. Returns messages per second, each worker's
/// share, the first worker's peak RSS in KiB, and the CPU the workers and the broker used.
fn drain(
    address: &common::BrokerAddress,
    worker: &PathBuf,
    workers: usize,
) -> (f64, Vec<usize>, u64, String) {
    const WAITING: &str = " [*] Waiting for messages. To exit press CTRL+C\n";
    const PER_TASK: &str = " [x] Received A task\n [x] Done\n";
    publish(address, BACKLOG, 1000);
    let dir = std::env::temp_dir().join(format!("course-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let outputs: Vec<PathBuf> = (0..workers)
        .map(|n| dir.join(format!("worker-{n}.out")))
        .collect();
    let broker_pid: Option<u32> = std::env::var("BENCH_BROKER_PID")
        .ok()
        .and_then(|p| p.trim().parse().ok());
    let broker_cpu_before = broker_pid.map_or(0.0, cpu_seconds);
    let started = Instant::now();
    let mut children: Vec<_> = outputs
        .iter()
        .map(|output| {
            Command::new(worker)
                .stdout(std::fs::File::create(output).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    let expected = (WAITING.len() * workers + PER_TASK.len() * BACKLOG) as u64;
    let written = || {
        outputs
            .iter()
            .map(|o| std::fs::metadata(o).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    let deadline = started + Duration::from_secs(120);
    while written() < expected {
        assert!(
            Instant::now() < deadline,
            "the workers did not drain the backlog within 120 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let workers_cpu: f64 = children.iter().map(|c| cpu_seconds(c.id())).sum();
    let broker_cpu = broker_pid.map_or(0.0, cpu_seconds) - broker_cpu_before;
    let cpu = format!(
        "CPU: workers {:.0}%, broker {:.0}% of one core",
        100.0 * workers_cpu / elapsed,
        100.0 * broker_cpu / elapsed
    );
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", children[0].id())).unwrap_or_default();
    let peak_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    for child in &mut children {
        Command::new("kill")
            .arg("-INT")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(
            child.wait().unwrap().success(),
            "a worker did not end cleanly"
        );
    }
    let shares = outputs
        .iter()
        .map(|o| {
            std::fs::read_to_string(o)
                .unwrap()
                .lines()
                .filter(|l| *l == " [x] Done")
                .count()
        })
        .collect::<Vec<_>>();
    assert_eq!(
        shares.iter().sum::<usize>(),
        BACKLOG,
        "every task done once"
    );
    let _ = std::fs::remove_dir_all(&dir);
    (BACKLOG as f64 / elapsed, shares, peak_kib, cpu)
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|t| t.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

/// Publishes `count` persistent tasks to task_queue with publisher confirms awaited every
/// `batch` messages (1: each one); returns messages per second.
fn confirmed_publishes(address: &common::BrokerAddress, count: usize, batch: usize) -> f64 {
    purge(address, "task_queue");
    let started = Instant::now();
    publish(address, count, batch);
    let rate = count as f64 / started.elapsed().as_secs_f64();
    purge(address, "task_queue");
    rate
}

/// Publishes `count` tasks with the harness's fast publisher.
fn publish(address: &common::BrokerAddress, count: usize, batch: usize) {
    harness::queue_tasks(address, &vec!["A task".to_string(); count], batch);
}

fn purge(address: &common::BrokerAddress, queue: &str) {
    let session = common::connect_to(address).unwrap();
    // A queue that does not exist yet has nothing to purge (and closes the channel: ignored).
    let _ = session.channel().queue_purge(queue);
    let _ = session.close();
}

/// Chapter 8: a stream against a classic queue doing the same work. Publishing `STREAM_COUNT`
/// messages with confirms (asynchronous, awaited at the end; persistent for the classic queue,
/// since a stream always writes to disk), then reading them all with receive_stream's settings
/// (prefetch 1,000, an ack per message): the stream replayed from `first`, the classic queue
/// drained. And the real `receive_stream` replaying the stream, printing a line per message.
fn streams(address: &common::BrokerAddress, bin_dir: &std::path::Path) -> Vec<(String, String)> {
    const STREAM_COUNT: usize = 50_000;
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    for (kind, queue) in [
        ("stream", "bench-stream"),
        ("classic queue", "bench-classic"),
    ] {
        let session = common::connect_to(address).unwrap();
        let channel = session.channel();
        let _ = channel.queue_delete(queue, Default::default());
        drop(session);
        let session = common::connect_to(address).unwrap();
        let channel = session.channel();
        let mut arguments = amiquip::FieldTable::new();
        if kind == "stream" {
            arguments.insert(
                "x-queue-type".into(),
                amiquip::AmqpValue::LongString("stream".into()),
            );
        }
        channel
            .queue_declare(
                queue,
                amiquip::QueueDeclareOptions {
                    durable: true,
                    arguments,
                    ..Default::default()
                },
            )
            .unwrap();
        let confirms = channel.listen_for_publisher_confirms().unwrap();
        channel.enable_publisher_confirms().unwrap();
        let started = Instant::now();
        for i in 0..STREAM_COUNT {
            let properties = amiquip::AmqpProperties::default().with_delivery_mode(2);
            channel
                .basic_publish(
                    "",
                    amiquip::Publish::with_properties(
                        format!("hello: {i}").as_bytes(),
                        queue,
                        properties,
                    ),
                )
                .unwrap();
        }
        let mut confirmed = 0;
        while confirmed < STREAM_COUNT as u64 {
            match confirms.recv_timeout(Duration::from_secs(30)).unwrap() {
                amiquip::Confirm::Ack(p) => confirmed = confirmed.max(p.delivery_tag),
                amiquip::Confirm::Nack(_) => panic!("nack"),
            }
        }
        let publish_rate = STREAM_COUNT as f64 / started.elapsed().as_secs_f64();

        channel.qos(0, 1_000, false).unwrap();
        let mut arguments = amiquip::FieldTable::new();
        if kind == "stream" {
            arguments.insert(
                "x-stream-offset".into(),
                amiquip::AmqpValue::LongString("first".into()),
            );
        }
        let started = Instant::now();
        let consumer = channel
            .basic_consume(
                queue,
                amiquip::ConsumerOptions {
                    arguments,
                    ..Default::default()
                },
            )
            .unwrap();
        for _ in 0..STREAM_COUNT {
            match consumer
                .receiver()
                .recv_timeout(Duration::from_secs(30))
                .unwrap()
            {
                amiquip::ConsumerMessage::Delivery(d) => consumer.ack(d).unwrap(),
                other => panic!("{other:?}"),
            }
        }
        let read_rate = STREAM_COUNT as f64 / started.elapsed().as_secs_f64();
        drop(consumer);
        rates.push((kind, publish_rate, read_rate));
    }
    for (kind, publish_rate, _) in &rates {
        rows.push((
            format!("publishing {STREAM_COUNT} messages into a {kind}, confirms asynchronous"),
            format!("{publish_rate:.0} msg/s"),
        ));
    }
    for (kind, _, read_rate) in &rates {
        let how = if *kind == "stream" {
            "replayed from `first`"
        } else {
            "drained"
        };
        rows.push((
            format!("{STREAM_COUNT} messages {how} from a {kind} (prefetch 1,000, an ack each)"),
            format!("{read_rate:.0} msg/s"),
        ));
    }

    // The real receive_stream, replaying hello-stream from first, its lines into a file.
    let session = common::connect_to(address).unwrap();
    let _ = session
        .channel()
        .queue_delete("hello-stream", Default::default());
    drop(session);
    let session = common::connect_to(address).unwrap();
    let channel = session.channel();
    let mut arguments = amiquip::FieldTable::new();
    arguments.insert(
        "x-queue-type".into(),
        amiquip::AmqpValue::LongString("stream".into()),
    );
    arguments.insert(
        "x-max-length-bytes".into(),
        amiquip::AmqpValue::LongLongInt(5_000_000_000),
    );
    channel
        .queue_declare(
            "hello-stream",
            amiquip::QueueDeclareOptions {
                durable: true,
                arguments,
                ..Default::default()
            },
        )
        .unwrap();
    let confirms = channel.listen_for_publisher_confirms().unwrap();
    channel.enable_publisher_confirms().unwrap();
    for _ in 0..STREAM_COUNT {
        channel
            .basic_publish("", amiquip::Publish::new(b"Hello, World!", "hello-stream"))
            .unwrap();
    }
    let mut confirmed = 0;
    while confirmed < STREAM_COUNT as u64 {
        if let amiquip::Confirm::Ack(p) = confirms.recv_timeout(Duration::from_secs(30)).unwrap() {
            confirmed = confirmed.max(p.delivery_tag);
        }
    }
    let _ = session.close();
    let output = std::env::temp_dir().join(format!("course-bench-stream-{}", std::process::id()));
    const READY: &str = "Press control + C to close\n";
    // "Got message: Hello, World! from stream hello-stream with offset: 0", 1, 2...
    const LINE: &str = "Got message: Hello, World! from stream hello-stream with offset: ";
    let started = Instant::now();
    let mut child = Command::new(bin_dir.join("receive_stream"))
        .stdout(std::fs::File::create(&output).unwrap())
        .spawn()
        .unwrap();
    let lines: usize = (0..STREAM_COUNT)
        .map(|offset| LINE.len() + offset.to_string().len() + 1)
        .sum();
    let expected = (READY.len() + lines) as u64;
    let deadline = started + Duration::from_secs(120);
    while std::fs::metadata(&output).map_or(0, |m| m.len()) < expected {
        assert!(
            Instant::now() < deadline,
            "receive_stream did not replay within 120 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let rate = STREAM_COUNT as f64 / started.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&output);
    rows.push((
        format!("`receive_stream` replaying {STREAM_COUNT} messages from `first`, whole process"),
        format!("{rate:.0} msg/s"),
    ));
    rows
}
