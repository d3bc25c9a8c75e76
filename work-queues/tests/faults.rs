//! Nothing lost: chapter 2's promises (acks, durability, confirms) under faults, counted.
//! Workers are killed while they work, interrupted, and the broker restarted or lost under
//! them; every test counts the tasks and prints its figures (see them with `--nocapture`).

#![allow(clippy::unwrap_used)] // a test fails loudly on what it did not expect

use harness::{eventually_within, tally, text, PrivateNode, Running, Vhost, PATIENCE};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const WORKER: &str = env!("CARGO_BIN_EXE_worker");
const WAITING: &str = " [*] Waiting for messages. To exit press CTRL+C";

/// Queues `count` tasks `task-NNNN` with `dots` dots, a confirm awaited for each.
fn queue_tasks(vhost: &Vhost, count: usize, dots: usize) -> Vec<String> {
    let tasks: Vec<String> = (0..count)
        .map(|n| format!("task-{n:04}{}", ".".repeat(dots)))
        .collect();
    harness::queue_tasks(&vhost.address(), &tasks, 1);
    tasks
}

/// Runs three workers on `tasks` while a chaos loop stops a random one with `signal` every
/// `every` and starts a new one; returns (kills, received, done per task) once all are done.
fn chaos(
    vhost: &Vhost,
    tasks: &[String],
    signal: &str,
    every: Duration,
) -> (usize, usize, HashMap<String, usize>) {
    let mut workers: Vec<Running> = (0..3).map(|_| vhost.worker(WORKER, "0.02")).collect();
    let mut finished: Vec<Vec<String>> = Vec::new();
    let mut kills = 0;
    let mut seed = 0x9e37_79b9_u32;
    let deadline = Instant::now() + Duration::from_secs(120);
    let all_done = |workers: &[Running], finished: &[Vec<String>]| {
        let mut outputs = finished.to_vec();
        outputs.extend(workers.iter().map(Running::lines));
        let (done, received) = tally(&outputs);
        (done.len() == tasks.len(), received, done)
    };
    loop {
        std::thread::sleep(every);
        if all_done(&workers, &finished).0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tasks were not all done within 120 s"
        );
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let victim = workers.remove(seed as usize % workers.len());
        victim.signal(signal);
        let (status, lines) = victim.wait();
        if signal == "INT" {
            assert!(status.success(), "an interrupted worker exits 0: {status}");
            assert_eq!(lines.last().map(String::as_str), Some("Interrupted"));
        }
        kills += 1;
        finished.push(lines);
        workers.push(vhost.worker(WORKER, "0.02"));
    }
    for worker in workers {
        finished.push(worker.interrupt());
    }
    let (_, received, done) = all_done(&[], &finished);
    (kills, received, done)
}

fn assert_nothing_lost(vhost: &Vhost, tasks: &[String], done: &HashMap<String, usize>) {
    let lost: Vec<&String> = tasks.iter().filter(|t| !done.contains_key(*t)).collect();
    assert!(lost.is_empty(), "{} tasks lost: {lost:?}", lost.len());
    let unknown: HashSet<&String> = done.keys().filter(|t| !tasks.contains(t)).collect();
    assert!(unknown.is_empty(), "tasks nobody queued: {unknown:?}");
    // A worker prints ` [x] Done` just before its ack reaches the broker: the queue is empty
    // a moment later, not at once.
    eventually_within(PATIENCE, "task_queue empty, nothing unacked", || {
        (vhost.list_queues() == [("task_queue".to_string(), 0, 0)]).then_some(())
    });
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_thousand_tasks_all_get_done_while_workers_are_killed_at_random() {
    let vhost = Vhost::new("chaos-kill");
    let tasks = queue_tasks(&vhost, 1000, 1);
    let started = Instant::now();
    let (kills, received, done) = chaos(&vhost, &tasks, "KILL", Duration::from_millis(300));
    assert_nothing_lost(&vhost, &tasks, &done);
    assert!(kills >= 5, "the chaos loop killed only {kills} workers");
    let twice = done.values().filter(|n| **n > 1).count();
    println!(
        "SIGKILL chaos: {} tasks, {kills} workers killed, {} deliveries ({} redelivered), {twice} done twice, 0 lost, {:.1} s",
        tasks.len(),
        received,
        received - tasks.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_thousand_tasks_all_get_done_while_workers_are_interrupted_at_random() {
    let vhost = Vhost::new("chaos-int");
    let tasks = queue_tasks(&vhost, 1000, 1);
    let started = Instant::now();
    let (kills, received, done) = chaos(&vhost, &tasks, "INT", Duration::from_millis(300));
    assert_nothing_lost(&vhost, &tasks, &done);
    // An interrupted worker leaves its task unacked, so it is received again elsewhere.
    assert!(received > tasks.len(), "interrupted tasks were redelivered");
    println!(
        "SIGINT chaos: {} tasks, {kills} workers interrupted (all exit 0), {} deliveries ({} redelivered), 0 lost, {:.1} s",
        tasks.len(),
        received,
        received - tasks.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Starts a consumer on a private node and checks how it ends when the broker goes away.
fn consumer_on(node: &PrivateNode, url_query: &str) -> Running {
    let vhost = node.vhost();
    let mut command = vhost.command(WORKER, &[]);
    command.env(
        "AMQP_URL",
        format!("amqp://127.0.0.1:{}/%2f{url_query}", node.port),
    );
    let worker = Running::spawn(command);
    worker.wait_for(WAITING);
    worker
}

fn assert_ends_with_one_clear_line(worker: Running, expected: &str, within: Duration) {
    let started = Instant::now();
    let (status, lines) = worker.wait();
    assert!(
        started.elapsed() < within,
        "noticed after {:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(1), "{lines:?}");
    let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{lines:?}");
    assert!(errors[0].contains(expected), "{lines:?}");
    assert_eq!(
        lines.last(),
        Some(errors[0]),
        "the error is the last line: {lines:?}"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_consumer_whose_broker_freezes_or_stops_says_so_and_exits_1_and_a_producer_then_fails_fast() {
    // One node, gone in turn each way that leaves it able to come back: frozen, then stopped.
    let node = PrivateNode::start("lost");

    // Frozen (SIGSTOP): heartbeat=1, so the broker is declared lost after two silent seconds
    // (the default, 10 s, is a unit test of common's).
    let worker = consumer_on(&node, "?heartbeat=1");
    node.signal("STOP");
    let started = Instant::now();
    let (status, lines) = worker.wait();
    node.signal("CONT");
    println!(
        "frozen broker noticed after {:.1} s with heartbeat=1",
        started.elapsed().as_secs_f64()
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "noticed after {:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(1), "{lines:?}");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("error: lost the connection to the broker"),
        "{lines:?}"
    );

    // Stopped: the broker closes its connections, saying so.
    let worker = consumer_on(&node, "");
    node.stop();
    assert_ends_with_one_clear_line(
        worker,
        "the broker closed the connection: CONNECTION_FORCED",
        Duration::from_secs(15),
    );

    // Down: a producer started now fails at once.
    let started = Instant::now();
    let output = node.vhost().run(env!("CARGO_BIN_EXE_new_task"), &["lost?"]);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(output.status.code(), Some(1));
    let expected = format!(
        "error: cannot reach the broker at 127.0.0.1:{}: connection refused",
        node.port
    );
    assert!(text(&output).1.starts_with(&expected), "{output:?}");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_consumer_whose_broker_dies_says_so_and_exits_1() {
    let node = PrivateNode::start("lost-kill");
    let worker = consumer_on(&node, "");
    node.signal("KILL");
    assert_ends_with_one_clear_line(
        worker,
        "lost the connection to the broker",
        Duration::from_secs(5),
    );
}
