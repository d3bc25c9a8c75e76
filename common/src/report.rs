//! Turning a failure into the one line a learner reads on stderr.

use crate::{hint, Failure};
use std::fmt;

/// The command line was wrong: printed as it is (a usage line), exit status 1.
#[derive(Debug)]
pub struct Usage(pub String);

/// `--help` was asked for: the text goes to stdout, exit status 0.
#[derive(Debug)]
pub(crate) struct Help(pub String);

/// Ctrl+C or SIGTERM ended the program: it prints `Interrupted` and exits 0, as the course's
/// consumers do.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Help {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Interrupted")
    }
}

impl std::error::Error for Usage {}
impl std::error::Error for Help {}
impl std::error::Error for Interrupted {}

/// Describes an error as one line: our own [`Failure`]s as they are, amiquip's errors
/// explained, anything else as its chain of causes. Never a backtrace, never a secret, never a
/// control character (a broker's text may hold escape sequences, CR, NUL).
pub fn describe(error: &anyhow::Error) -> String {
    let line = if let Some(failure) = error.chain().find_map(|e| e.downcast_ref::<Failure>()) {
        failure.to_string()
    } else if let Some(amqp) = error
        .chain()
        .find_map(|e| e.downcast_ref::<amiquip::Error>())
    {
        explain(amqp).to_string()
    } else {
        format!("{error:#}")
    };
    guard::secrets::redact(&guard::printable(&line))
}

/// A refused declaration explained as [`describe`] explains it, with `more` after its hint
/// when it is a 406 (the queue or exchange exists with other properties): the program's own
/// way to agree with what exists.
pub fn refused(error: amiquip::Error, more: &str) -> anyhow::Error {
    let failure = explain(&error);
    match error {
        amiquip::Error::ServerClosedChannel { code: 406, .. } => failure.and_hint(more).into(),
        _ => failure.into(),
    }
}

/// An amiquip error explained as [`describe`] explains it, but a 404 (what a passive declare
/// asked for does not exist) as `missing` says it: the program knows what that means.
pub fn not_found(error: amiquip::Error, missing: Failure) -> anyhow::Error {
    match error {
        amiquip::Error::ServerClosedChannel { code: 404, .. } => missing.into(),
        other => explain(&other).into(),
    }
}

/// The connection was lost without a word from amiquip (a consumer's deliveries simply end):
/// the guard's reason if it ended an open session's connection, else `lost`.
pub(crate) fn lost_connection(lost: Failure) -> Failure {
    match guard::registry::tripped_session() {
        Some(reason) => Failure::new(reason),
        None => lost,
    }
}

/// What a learner should read for an amiquip error met after the connection was open.
/// (Errors while connecting are explained where we connect, knowing the address.)
pub(crate) fn explain(error: &amiquip::Error) -> Failure {
    use amiquip::Error as E;
    // Unless the broker itself closed, an error after the guard ended an open session's
    // connection (a broken frame, a deadline) only says that its socket failed: the guard
    // knows why.
    if !matches!(
        error,
        E::ServerClosedConnection { .. } | E::ServerClosedChannel { .. }
    ) {
        if let Some(reason) = guard::registry::tripped_session() {
            return Failure::new(reason);
        }
    }
    let refused = |message: &str| Failure::new(format!("the broker refused: {message}"));
    match error {
        E::ServerClosedConnection { message, .. } | E::ServerClosedChannel { message, .. }
            if message.contains("transient_nonexcl_queues") =>
        {
            transient_queues_denied(message)
        }
        E::ServerClosedChannel { code: 406, message, .. } => refused(message).hint(precondition_hint(message)),
        E::ServerClosedChannel { code: 404, message, .. } => refused(message)
            .hint("declare it first (start the program that declares it, or check the name)"),
        E::ServerClosedChannel { code: 403, message, .. } => refused(message).hint(format!(
            "the user lacks permission in this vhost: {}",
            hint::broker("rabbitmqctl set_permissions -p VHOST USER '.*' '.*' '.*'")
        )),
        E::ServerClosedChannel { message, .. } => Failure::new(format!("the broker closed the channel: {message}")),
        E::ServerClosedConnection { code: 320, message } => Failure::new(format!("the broker closed the connection: {message}"))
            .hint(match cfg!(windows) {
                true => "it is shutting down or restarting; start it again (its Windows service, or its Docker container), then rerun",
                false => "it is shutting down or restarting; start it again with scripts/broker start, then rerun",
            }),
        E::ServerClosedConnection { message, .. } => Failure::new(format!("the broker closed the connection: {message}")),
        E::MissedServerHeartbeats => Failure::new("lost the connection to the broker: it stopped answering heartbeats")
            .hint(format!("is the broker running and reachable? {}", hint::status())),
        E::IoErrorReadingSocket { .. } | E::IoErrorWritingSocket { .. } | E::UnexpectedSocketClose | E::EventLoopDropped => {
            Failure::new(format!("lost the connection to the broker ({error})"))
                .hint(format!("is the broker running? {}", hint::status()))
        }
        other => Failure::new(format!("AMQP error: {other}")),
    }
}

/// RabbitMQ 4 deprecates queues that are neither durable nor exclusive, such as chapter 1's
/// `hello` declared as the original course declares it: permitted by default, with a warning in
/// the broker's log, unless its configuration denies them. Then say what to do.
fn transient_queues_denied(message: &str) -> Failure {
    Failure::new(format!(
        "the broker refuses queues that are neither durable nor exclusive, as chapter 1 declares \
         'hello' (RabbitMQ 4 deprecates them): {message}"
    ))
    .hint(
        "permit them in the broker's rabbitmq.conf with deprecated_features.permit.transient_nonexcl_queues = true \
         and restart it, or declare the queue durable as today's official tutorial does",
    )
}

/// For `PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'hello' in vhost '/': ...`:
/// the thing already exists with other properties, which never change; say how to delete it,
/// and, for a queue argument that a policy can set instead (a TTL, a length limit,
/// dead-lettering), that a policy changes a live queue.
fn precondition_hint(message: &str) -> String {
    let quoted = |after: &str| -> Option<String> {
        let rest = &message[message.find(after)? + after.len()..];
        Some(rest[..rest.find('\'')?].to_string())
    };
    let vhost = match quoted("in vhost '") {
        Some(vhost) if vhost != "/" => format!("-p '{vhost}' "),
        _ => String::new(),
    };
    if let Some(queue) = quoted("for queue '") {
        let policy = match quoted("inequivalent arg '") {
            Some(arg) if arg.starts_with("x-") && arg != "x-queue-type" => format!(
                "; a policy ({}) sets a live queue's TTL, limits or dead-lettering without redeclaring it",
                hint::broker("set_policy")
            ),
            _ => String::new(),
        };
        format!(
            "the queue '{queue}' already exists with other properties; declare it as it is, or delete it: {}{policy}",
            hint::broker(&format!("delete_queue {vhost}'{queue}'"))
        )
    } else if let Some(exchange) = quoted("for exchange '") {
        format!(
            "the exchange '{exchange}' already exists with another type or other properties; delete it: {}",
            hint::broker(&format!("delete_exchange {vhost}'{exchange}'"))
        )
    } else {
        "an existing queue or exchange has other properties than this program declares".to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_precondition_failure_names_the_queue_and_how_to_delete_it() {
        let error = anyhow::Error::new(amiquip::Error::ServerClosedChannel {
            channel_id: 1,
            code: 406,
            message: "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'hello' in vhost '/': received 'false' but current is 'true'".into(),
        });
        let line = describe(&error);
        assert!(
            line.starts_with(
                "the broker refused: PRECONDITION_FAILED - inequivalent arg 'durable'"
            ),
            "{line}"
        );
        assert!(
            line.contains(&hint::broker("delete_queue 'hello'")),
            "{line}"
        );
        assert!(!line.contains("set_policy"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_precondition_failure_in_another_vhost_names_it() {
        let line = precondition_hint("PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'task_queue' in vhost 'course': x");
        assert!(
            line.contains("delete_queue -p 'course' 'task_queue'"),
            "{line}"
        );
    }

    #[test]
    fn a_queue_argument_a_policy_can_set_points_at_policies() {
        let line = precondition_hint("PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue 'jobs' in vhost '/': received 'jobs.dead' but current is 'other'");
        assert!(line.contains("delete_queue 'jobs'"), "{line}");
        assert!(
            line.contains("a policy (") && line.contains("set_policy)"),
            "{line}"
        );
        let line = precondition_hint("PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'hello-stream' in vhost '/': received 'stream' but current is 'classic'");
        assert!(
            !line.contains("policy"),
            "a queue's type is no policy's: {line}"
        );
    }

    #[test]
    fn a_denied_transient_queue_says_how_to_permit_it_or_declare_it_durable() {
        // As RabbitMQ 4.3.6 closes the connection with deprecated_features.permit.transient_nonexcl_queues = false.
        let error = anyhow::Error::new(amiquip::Error::ServerClosedConnection {
            code: 541,
            message: "INTERNAL_ERROR - Feature `transient_nonexcl_queues` is deprecated. Its use is not permitted per the configuration (overriding the default, which is permitted): deprecated_features.permit.transient_nonexcl_queues = false".into(),
        });
        let line = describe(&error);
        assert!(
            line.starts_with("the broker refuses queues that are neither durable nor exclusive"),
            "{line}"
        );
        assert!(
            line.contains("deprecated_features.permit.transient_nonexcl_queues = true"),
            "{line}"
        );
        assert!(line.contains("declare the queue durable"), "{line}");
    }

    #[test]
    fn secrets_are_redacted_in_every_described_line() {
        guard::secrets::remember("hunter2hunter2");
        let error = anyhow::anyhow!("failed to connect to amqp://u:hunter2hunter2@h");
        assert_eq!(describe(&error), "failed to connect to amqp://u:***@h");
    }

    #[test]
    fn a_failure_prints_its_hint_on_the_same_line() {
        let error = anyhow::Error::new(Failure::new("cannot reach the broker").hint("start it"));
        assert_eq!(describe(&error), "cannot reach the broker (hint: start it)");
    }
}
