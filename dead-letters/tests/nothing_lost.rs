//! Nothing lost, counted: 1,000 jobs, some failing for good, some for now, while workers are
//! SIGKILLed at random. Every job must end done or dead, as its words say, exactly once once
//! the doubles that redelivery makes are recognised by job id. The figures are printed (see
//! them with `--nocapture`).

#![allow(clippy::unwrap_used)] // a test fails loudly on what it did not expect

use amiquip::{AmqpProperties, Confirm, ConfirmSmoother, Publish};
use harness::{broker_version, Running, Vhost, PATIENCE};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const JOB_WORKER: &str = env!("CARGO_BIN_EXE_job_worker");
const RECEIVE_DEAD: &str = env!("CARGO_BIN_EXE_receive_dead");
/// How long a retry waits here (JOBS_RETRY_SECONDS, given to every program): the default, 5 s,
/// is a unit test of the chapter's library.
const RETRY_DELAY: Duration = Duration::from_secs(2);

/// One of the chapter's consumers in `vhost`, with the test's retry delay, once it is ready.
fn consumer(vhost: &Vhost, program: &str) -> Running {
    let mut command = vhost.command(program, &[]);
    command.env("JOBS_RETRY_SECONDS", RETRY_DELAY.as_secs_f64().to_string());
    let consumer = Running::spawn(command);
    consumer.wait_for_lines(1, harness::is_ready);
    consumer
}

/// What the words of job `n` say: 10% fail for good, 10% flaky, 5% busy, the rest plain.
fn words(n: usize) -> String {
    match n % 20 {
        0 | 10 => format!("fail {n}"),
        1 | 11 => format!("flaky {n}"),
        2 => format!("busy {n}"),
        _ => format!("plain {n}"),
    }
}

/// Publishes the jobs as emit_job does (declared topology, persistent, an id each), with a
/// confirm for every one; returns id -> words.
fn publish(vhost: &Vhost, count: usize) -> HashMap<String, String> {
    let session = common::connect_to(&vhost.address()).unwrap();
    let channel = session.channel();
    let settings = dead_letters::Settings {
        by_policy: false,
        retry_delay: RETRY_DELAY,
    };
    dead_letters::declare(channel, settings).unwrap();
    let confirms = channel.listen_for_publisher_confirms().unwrap();
    channel.enable_publisher_confirms().unwrap();
    let mut jobs = HashMap::new();
    for n in 0..count {
        // An id of its own (emit_job's ids are unique by its unit test), persistent.
        let id = format!("job-{n}");
        let properties = AmqpProperties::default().with_delivery_mode(2);
        let properties = properties.with_message_id(id.clone());
        let words = words(n);
        channel
            .basic_publish(
                dead_letters::JOBS_EXCHANGE,
                Publish::with_properties(words.as_bytes(), dead_letters::JOBS, properties),
            )
            .unwrap();
        jobs.insert(id, words);
    }
    let (mut smoother, mut confirmed) = (ConfirmSmoother::new(), 0);
    while confirmed < count {
        for confirm in smoother.process(confirms.recv_timeout(PATIENCE).unwrap()) {
            assert!(
                matches!(confirm, Confirm::Ack(_)),
                "the broker refused a job"
            );
            confirmed += 1;
        }
    }
    session.close().unwrap();
    jobs
}

/// The outcomes in the programs' lines: id -> times done, id -> dead lines' reasons.
fn outcomes(
    workers: &[Vec<String>],
    dead: &[String],
) -> (HashMap<String, usize>, HashMap<String, Vec<String>>) {
    let mut done = HashMap::new();
    for lines in workers {
        let mut current = None;
        for line in lines {
            if let Some(rest) = line.strip_prefix(" [x] Job ") {
                current = rest.split(':').next().map(String::from);
            } else if line == " [x] Done" {
                if let Some(id) = current.take() {
                    *done.entry(id).or_insert(0) += 1;
                }
            }
        }
    }
    let mut died: HashMap<String, Vec<String>> = HashMap::new();
    for line in dead {
        if let Some(rest) = line.strip_prefix(" [x] Dead ") {
            let id = rest.split(':').next().unwrap().to_string();
            let reason = rest.rsplit("(reason ").next().unwrap().to_string();
            died.entry(id).or_default().push(reason);
        }
    }
    (done, died)
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_thousand_jobs_each_end_done_or_dead_exactly_once_while_workers_are_killed() {
    let vhost = Vhost::new("nothing-lost");
    let started = Instant::now();
    let jobs = publish(&vhost, 1000);
    let dead = consumer(&vhost, RECEIVE_DEAD);
    let mut workers: Vec<Running> = (0..3).map(|_| consumer(&vhost, JOB_WORKER)).collect();
    let mut finished: Vec<Vec<String>> = Vec::new();
    let mut kills = 0;
    let mut seed = 0x2545_f491_u32;
    let deadline = Instant::now() + Duration::from_secs(150);
    let ended = |workers: &[Running], finished: &[Vec<String>]| {
        let mut outputs = finished.to_vec();
        outputs.extend(workers.iter().map(Running::lines));
        let (done, died) = outcomes(&outputs, &dead.lines());
        jobs.keys()
            .all(|id| done.contains_key(id) || died.contains_key(id))
    };
    // Kill one worker every 300 ms until every job has ended: through the retries too (two per
    // flaky or busy job).
    while !ended(&workers, &finished) {
        assert!(
            Instant::now() < deadline,
            "the jobs did not all end within 150 s"
        );
        std::thread::sleep(Duration::from_millis(300));
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let victim = workers.remove(seed as usize % workers.len());
        victim.signal("KILL");
        finished.push(victim.wait().1);
        kills += 1;
        workers.push(consumer(&vhost, JOB_WORKER));
    }
    // Quiet for a moment: a copy of a job doubled by a kill may still be on its way.
    std::thread::sleep(Duration::from_secs(1));
    for worker in workers {
        finished.push(worker.interrupt());
    }
    let dead_lines = dead.interrupt();
    let (done, died) = outcomes(&finished, &dead_lines);

    let mut lost = Vec::new();
    let mut wrong = Vec::new();
    for (id, words) in &jobs {
        let should_die = words.starts_with("fail") || words.starts_with("busy");
        match (done.get(id), died.get(id)) {
            (None, None) => lost.push(words.clone()),
            (Some(_), Some(_)) => wrong.push(format!("{words}: both done and dead")),
            (Some(_), None) if should_die => wrong.push(format!("{words}: done")),
            (None, Some(_)) if !should_die => wrong.push(format!("{words}: dead {:?}", died[id])),
            (None, Some(reasons)) if reasons.iter().any(|r| r != "rejected, from jobs)") => {
                wrong.push(format!("{words}: dead {reasons:?}"));
            }
            _ => {}
        }
    }
    assert!(lost.is_empty(), "{} jobs lost: {lost:?}", lost.len());
    assert!(
        wrong.is_empty(),
        "jobs that ended otherwise than their words say: {wrong:?}"
    );
    let unknown = done
        .keys()
        .chain(died.keys())
        .filter(|id| !jobs.contains_key(*id))
        .count();
    assert_eq!(unknown, 0, "outcomes of jobs nobody published");
    for queue in ["jobs", "jobs.retry", "jobs.dead"] {
        harness::eventually(&format!("{queue} empty, nothing unacked"), || {
            (vhost.queue_counts(queue) == Some((0, 0))).then_some(())
        });
    }

    let ended_done = done.len();
    let ended_dead = died.len();
    let done_twice = done.values().filter(|n| **n > 1).count();
    let dead_twice = died.values().filter(|r| r.len() > 1).count();
    assert!(kills >= 10, "only {kills} workers killed");
    println!(
        "RabbitMQ {:?}: {} jobs, {kills} workers SIGKILLed: {ended_done} done + {ended_dead} dead = {}, 0 lost; doubles recognised by id: {done_twice} done twice, {dead_twice} dead twice; {:.1} s",
        broker_version(),
        jobs.len(),
        ended_done + ended_dead,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(ended_done + ended_dead, jobs.len());
}
