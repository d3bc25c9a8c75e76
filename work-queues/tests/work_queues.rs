//! Chapter 2 against the real test broker (run with scripts/test): the real `new_task` and
//! `worker` binaries, each test in a vhost of its own (a node of its own to restart it).
//! Workers run with `WORKER_SECONDS_PER_DOT` shortened, so that a dot costs milliseconds.

#![allow(clippy::unwrap_used)] // a test fails loudly on what it did not expect

use harness::{eventually, text, PrivateNode, Running, Vhost};

const NEW_TASK: &str = env!("CARGO_BIN_EXE_new_task");
const WORKER: &str = env!("CARGO_BIN_EXE_worker");
const WAITING: &str = " [*] Waiting for messages. To exit press CTRL+C";

fn new_task(vhost: &Vhost, task: &str) {
    let output = vhost.run(NEW_TASK, &[task]);
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(text(&output).0, format!(" [x] Sent {task}\n"));
}

fn received(worker: &Running) -> Vec<String> {
    worker
        .lines()
        .into_iter()
        .filter(|l| l.starts_with(" [x] Received "))
        .collect()
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_courses_five_tasks_go_to_two_workers_in_turn() {
    // The course's scenario: both workers running, five tasks sent one after another. With 0.3 s
    // per dot each worker is still busy when the next-but-one task comes, so the order is
    // fixed: worker 1 gets the 1st, 3rd and 5th, worker 2 the 2nd and 4th.
    let vhost = Vhost::new("round-robin");
    let (w1, w2) = (vhost.worker(WORKER, "0.3"), vhost.worker(WORKER, "0.3"));
    for task in [
        "First message.",
        "Second message..",
        "Third message...",
        "Fourth message....",
        "Fifth message.....",
    ] {
        new_task(&vhost, task);
    }
    w1.wait_for_lines(3, |l| l == " [x] Done");
    w2.wait_for_lines(2, |l| l == " [x] Done");
    assert_eq!(
        w1.interrupt(),
        [
            WAITING,
            " [x] Received First message.",
            " [x] Done",
            " [x] Received Third message...",
            " [x] Done",
            " [x] Received Fifth message.....",
            " [x] Done",
            "Interrupted"
        ]
    );
    assert_eq!(
        w2.interrupt(),
        [
            WAITING,
            " [x] Received Second message..",
            " [x] Done",
            " [x] Received Fourth message....",
            " [x] Done",
            "Interrupted"
        ]
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn two_workers_share_equal_tasks_half_each_in_alternation() {
    let vhost = Vhost::new("equal-tasks");
    let workers = [vhost.worker(WORKER, "0.01"), vhost.worker(WORKER, "0.01")];
    let mut takers = Vec::new();
    for n in 1..=6 {
        let task = format!("Task {n}.");
        new_task(&vhost, &task);
        let line = format!(" [x] Received {task}");
        let taker = eventually(&format!("a worker to take {task}"), || {
            workers.iter().position(|w| w.lines().contains(&line))
        });
        // One task at a time: the next is sent once this one is done and acked.
        workers[taker].wait_for_lines(takers.iter().filter(|t| **t == taker).count() + 1, |l| {
            l == " [x] Done"
        });
        takers.push(taker);
    }
    assert_eq!(takers, [0, 1, 0, 1, 0, 1]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_busy_worker_gets_no_new_task_until_it_acks_fair_dispatch() {
    let vhost = Vhost::new("fair-dispatch");
    let workers = [vhost.worker(WORKER, "0.1"), vhost.worker(WORKER, "0.1")];
    // 100 dots: ten seconds of work for whoever takes it, far more than the other worker needs
    // for the four short tasks even on a loaded machine. The test ends before it does.
    let long = format!("First message{}", ".".repeat(100));
    new_task(&vhost, &long);
    let busy = eventually("a worker to take the long task", || {
        workers
            .iter()
            .position(|w| w.lines().contains(&format!(" [x] Received {long}")))
    });
    let idle = 1 - busy;
    for task in [
        "Second message..",
        "Third message...",
        "Fourth message.",
        "Fifth message.",
    ] {
        new_task(&vhost, task);
    }
    workers[idle].wait_for_lines(4, |l| l == " [x] Done");
    assert_eq!(
        received(&workers[idle]),
        [
            " [x] Received Second message..",
            " [x] Received Third message...",
            " [x] Received Fourth message.",
            " [x] Received Fifth message."
        ]
    );
    assert_eq!(
        received(&workers[busy]),
        [format!(" [x] Received {long}")],
        "the busy worker got nothing else"
    );
    assert!(
        !workers[busy].lines().contains(&" [x] Done".to_string()),
        "it is still on the long task"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_task_of_a_worker_killed_mid_task_goes_to_another_worker() {
    let vhost = Vhost::new("redelivery");
    let first = vhost.worker(WORKER, "1");
    new_task(&vhost, "Resize the pictures..........");
    first.wait_for(" [x] Received Resize the pictures..........");
    let second = vhost.worker(WORKER, "0.01");

    first.signal("KILL");
    let (_, lines) = first.wait();
    assert!(!lines.contains(&" [x] Done".to_string()));

    second.wait_for(" [x] Done");
    assert_eq!(
        second.lines(),
        [
            WAITING,
            " [x] Received Resize the pictures..........",
            " [x] Done"
        ]
    );
    assert_eq!(
        eventually("the queue to be empty", || vhost
            .queue_counts("task_queue")
            .filter(|c| *c == (0, 0))),
        (0, 0)
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn ctrl_c_mid_task_exits_0_at_once_and_leaves_the_task_to_another_worker() {
    let vhost = Vhost::new("interrupted-task");
    let first = vhost.worker(WORKER, "1");
    new_task(&vhost, "Long task..........");
    first.wait_for(" [x] Received Long task..........");
    let started = std::time::Instant::now();
    let lines = first.interrupt();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        lines,
        [WAITING, " [x] Received Long task..........", "Interrupted"]
    );

    let second = vhost.worker(WORKER, "0.01");
    second.wait_for(" [x] Done");
    assert_eq!(received(&second), [" [x] Received Long task.........."]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn tasks_a_worker_holds_show_as_messages_unacknowledged() {
    let vhost = Vhost::new("unacked");
    for n in 1..=3 {
        new_task(&vhost, &format!("Task {n}.........."));
    }
    assert_eq!(vhost.list_queues(), [("task_queue".to_string(), 3, 0)]);

    let worker = vhost.worker(WORKER, "1");
    worker.wait_for(" [x] Received Task 1..........");
    // rabbitmqctl list_queues name messages_ready messages_unacknowledged, as the course says.
    let counts = eventually("one task unacked", || {
        let queues = vhost.list_queues();
        (queues == [("task_queue".to_string(), 2, 1)]).then_some(queues)
    });
    assert_eq!(counts.len(), 1);
    worker.interrupt();
    assert_eq!(
        vhost.list_queues(),
        [("task_queue".to_string(), 3, 0)],
        "the unacked task is back"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn new_task_reports_a_task_the_broker_refuses_and_fails() {
    let vhost = Vhost::new("nack");
    // A policy that makes the broker refuse (nack) every publish to task_queue.
    vhost.http(
        "PUT",
        &format!("/api/policies/{}/refuse-all", vhost.encoded()),
        r#"{"pattern":"^task_queue$","definition":{"max-length":0,"overflow":"reject-publish"},"apply-to":"queues"}"#,
    );
    let output = eventually("the policy to apply", || {
        // --confirm: new_task waits for the broker's confirm (chapter 7), which says nack.
        let output = vhost.run(NEW_TASK, &["--confirm", "Lost?"]);
        (!output.status.success()).then_some(output)
    });
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout, "", "no ' [x] Sent' for a refused task");
    assert!(
        stderr.starts_with("error: the broker refused the task (nack)"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn new_task_joins_its_words_or_sends_hello_world() {
    let vhost = Vhost::new("new-task-args");
    assert_eq!(
        text(&vhost.run(NEW_TASK, &[])).0,
        " [x] Sent Hello World!\n"
    );
    assert_eq!(
        text(&vhost.run(NEW_TASK, &["A", "task", "with", "dots..."])).0,
        " [x] Sent A task with dots...\n"
    );
    assert_eq!(
        text(&vhost.run(NEW_TASK, &["--", "-v", "task"])).0,
        " [x] Sent -v task\n"
    );
    assert_eq!(vhost.list_queues(), [("task_queue".to_string(), 3, 0)]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_task_queue_declared_otherwise_is_a_clear_precondition_error() {
    let vhost = Vhost::new("task-queue-not-durable");
    let session = common::connect_to(&vhost.address()).unwrap();
    session
        .channel()
        .queue_declare("task_queue", amiquip::QueueDeclareOptions::default())
        .unwrap();
    session.close().unwrap();
    for program in [NEW_TASK, WORKER] {
        let output = vhost.run(program, &[]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1));
        assert!(
            stderr.contains("inequivalent arg 'durable' for queue 'task_queue'")
                && stderr.contains("delete_queue"),
            "{stderr}"
        );
    }
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let output = std::process::Command::new(NEW_TASK)
        .arg(std::ffi::OsStr::from_bytes(b"caf\xe9"))
        .env("RABBITMQ_PORT", "1")
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.starts_with(
            "Usage: new_task [words...]\nerror: the argument 'caf\u{fffd}' is not UTF-8 text"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_bad_seconds_per_dot_is_refused_before_connecting() {
    let output = std::process::Command::new(WORKER)
        .env("WORKER_SECONDS_PER_DOT", "fast")
        .env("RABBITMQ_PORT", "1")
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.starts_with(
            "error: WORKER_SECONDS_PER_DOT is not a number of seconds between 0 and 86400: 'fast'"
        ),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn durable_tasks_survive_a_broker_restart_and_are_then_all_done() {
    let node = PrivateNode::start("durability");
    let vhost = node.vhost();
    let tasks: Vec<String> = (1..=5).map(|n| format!("Task {n}.")).collect();
    for task in &tasks {
        new_task(&vhost, task);
    }
    // As the course shows: a queue that is not durable, with a message in it, for contrast.
    let session = common::connect_to(&vhost.address()).unwrap();
    session
        .channel()
        .queue_declare("hello", amiquip::QueueDeclareOptions::default())
        .unwrap();
    session
        .channel()
        .basic_publish("", amiquip::Publish::new(b"Hello World!", "hello"))
        .unwrap();
    session.close().unwrap();
    assert_eq!(vhost.list_queues().len(), 2);
    // And a thousand tasks, each confirmed by the broker, in a vhost of their own.
    let confirmed = node.new_vhost("confirmed");
    let many: Vec<String> = (0..1000).map(|n| format!("task-{n:04}")).collect();
    harness::queue_tasks(&confirmed.address(), &many, 1);

    node.restart();

    assert_eq!(
        vhost.list_queues(),
        [("task_queue".to_string(), 5, 0)],
        "hello and its message are gone"
    );
    assert_eq!(
        confirmed.list_queues(),
        [("task_queue".to_string(), 1000, 0)]
    );
    let worker = vhost.worker(WORKER, "0.01");
    worker.wait_for_lines(5, |l| l == " [x] Done");
    let expected: Vec<String> = tasks.iter().map(|t| format!(" [x] Received {t}")).collect();
    assert_eq!(received(&worker), expected);
    worker.interrupt();

    let worker = confirmed.worker(WORKER, "0");
    worker.wait_for_lines(1000, |l| l == " [x] Done");
    let (done, received) = harness::tally(&[worker.interrupt()]);
    let lost = many.iter().filter(|t| !done.contains_key(*t)).count();
    println!(
        "restart: 1000 confirmed tasks, 1 restart, {received} delivered after it, {lost} lost"
    );
    assert_eq!((done.len(), lost), (1000, 0));
    harness::eventually("task_queue empty, nothing unacked", || {
        (confirmed.list_queues() == [("task_queue".to_string(), 0, 0)]).then_some(())
    });
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_original_python_new_task_feeds_our_worker_and_declares_task_queue_alike() {
    let vhost = Vhost::new("python-tasks");
    new_task(&vhost, "Rust first.");
    // The course's worker.py and new_task.py declare task_queue durable, as ours do.
    vhost.python("declare", &[]);
    assert_eq!(
        vhost.python("new_task", &["From", "Python."]),
        " [x] Sent From Python.\n"
    );
    let worker = vhost.worker(WORKER, "0.01");
    worker.wait_for_lines(2, |l| l == " [x] Done");
    assert_eq!(
        received(&worker),
        [" [x] Received Rust first.", " [x] Received From Python."]
    );
}
