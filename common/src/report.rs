//! Turning a failure into the one line a learner reads on stderr.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A failure explained for a learner: what went wrong and, where we know it, what to do.
#[derive(Debug)]
pub struct Failure {
    message: String,
    hint: Option<String>,
}

impl Failure {
    /// A failure with its message; add a hint with [`hint`](Self::hint).
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
        }
    }

    /// Adds what the learner can do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.hint {
            Some(hint) => write!(f, "{} (hint: {hint})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Failure {}

/// The command line was wrong: printed as it is (a usage line), exit status 1.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// `--help` was asked for: the text goes to stdout, exit status 0.
#[derive(Debug)]
pub(crate) struct Help(pub String);

impl fmt::Display for Help {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Help {}

/// Ctrl+C or SIGTERM ended the program: it prints `Interrupted` and exits 0, as the course's
/// consumers do.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Secrets (the password) that must never reach stderr or the log, whatever prints them.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret so that [`redact`] hides it from every line we print or log.
pub(crate) fn add_secret(secret: &str) {
    // A short password such as `guest` is also a common word: hiding it everywhere would
    // garble messages and protect nothing.
    if secret.len() < 6 {
        return;
    }
    if let Ok(mut secrets) = SECRETS.lock() {
        for form in [
            secret.to_string(),
            format!("{secret:?}").trim_matches('"').to_string(),
        ] {
            if !secrets.contains(&form) {
                secrets.push(form);
            }
        }
    }
}

/// Whether `AMQP_URL` lists several brokers (a cluster's nodes): hints then point at the
/// cluster's status rather than the single broker's.
static SEVERAL_BROKERS: AtomicBool = AtomicBool::new(false);

/// Says that the program was given several brokers (a cluster's nodes).
pub(crate) fn several_brokers() {
    SEVERAL_BROKERS.store(true, Ordering::Relaxed);
}

/// The command that shows the broker's state: the cluster's when several brokers were given.
fn for_the_brokers(line: String) -> String {
    if !SEVERAL_BROKERS.load(Ordering::Relaxed) {
        return line;
    }
    line.replace(
        "scripts/broker status (scripts/broker cluster status)",
        "scripts/broker cluster status",
    )
    .replace("scripts/broker status", "scripts/broker cluster status")
}

/// The hints name `scripts/broker`, a bash script. On Windows they name what a learner has
/// there instead: `rabbitmqctl` and `rabbitmq-diagnostics` (the installer's "RabbitMQ Command
/// Prompt", or `docker exec rabbitmq ...`), the service or container to start, and the
/// management UI for what `rabbitmqctl` cannot do (delete an exchange).
fn for_windows(line: String) -> String {
    if let Some((before, _)) = line.split_once("scripts/broker delete_exchange") {
        return format!("{before}in the management UI, at http://localhost:15672/#/exchanges)");
    }
    [
        (
            "Start the course's broker with scripts/broker start",
            "Start RabbitMQ (its Windows service, or its Docker container)",
        ),
        (
            "with scripts/broker start",
            "(its Windows service, or its Docker container)",
        ),
        (" (scripts/broker prints its CA file)", ""),
        (
            "scripts/broker cluster status",
            "rabbitmqctl cluster_status",
        ),
        ("scripts/broker status", "rabbitmq-diagnostics status"),
        ("scripts/broker rabbitmqctl", "rabbitmqctl"),
        ("scripts/broker queues", "rabbitmqctl list_queues"),
        ("scripts/broker ", "rabbitmqctl "),
    ]
    .iter()
    .fold(line, |line, (unix, windows)| line.replace(unix, windows))
}

/// Replaces every remembered secret in `text` with `***`.
pub(crate) fn redact(text: &str) -> String {
    let mut text = text.to_string();
    if let Ok(secrets) = SECRETS.lock() {
        for secret in secrets.iter() {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

/// `text` with every control character (an escape sequence's ESC, CR, NUL...) made a blank, so
/// that text from the broker or a panic cannot act on the learner's terminal.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Describes an error as one line: our own [`Failure`]s as they are, amiquip's errors
/// explained, anything else as its chain of causes. Never a backtrace, never a secret.
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
    let line = for_the_brokers(line);
    let line = if cfg!(windows) {
        for_windows(line)
    } else {
        line
    };
    // Text from the broker (a close's reply text) may hold escape sequences, CR, NUL.
    redact(&printable(&line))
}

/// The connection was lost without a word from amiquip (a consumer's deliveries simply end):
/// the guard's reason if it ended an open session's connection, else `lost`.
pub(crate) fn lost_connection(lost: Failure) -> Failure {
    match crate::guard::tripped_session() {
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
        if let Some(reason) = crate::guard::tripped_session() {
            return Failure::new(reason);
        }
    }
    match error {
        E::ServerClosedConnection { message, .. } | E::ServerClosedChannel { message, .. }
            if message.contains("transient_nonexcl_queues") =>
        {
            transient_queues_denied(message)
        }
        E::ServerClosedChannel { code: 406, message, .. } => {
            Failure::new(format!("the broker refused: {message}")).hint(precondition_hint(message))
        }
        E::ServerClosedChannel { code: 404, message, .. } => Failure::new(format!("the broker refused: {message}"))
            .hint("declare it first (start the program that declares it, or check the name)"),
        E::ServerClosedChannel { code: 403, message, .. } => Failure::new(format!("the broker refused: {message}"))
            .hint("the user lacks permission in this vhost: scripts/broker rabbitmqctl set_permissions -p VHOST USER '.*' '.*' '.*'"),
        E::ServerClosedChannel { message, .. } => Failure::new(format!("the broker closed the channel: {message}")),
        E::ServerClosedConnection { code: 320, message } => Failure::new(format!("the broker closed the connection: {message}"))
            .hint("it is shutting down or restarting; start it again with scripts/broker start, then rerun"),
        E::ServerClosedConnection { message, .. } => Failure::new(format!("the broker closed the connection: {message}")),
        E::MissedServerHeartbeats => Failure::new("lost the connection to the broker: it stopped answering heartbeats")
            .hint("is the broker running and reachable? scripts/broker status"),
        E::IoErrorReadingSocket { .. } | E::IoErrorWritingSocket { .. } | E::UnexpectedSocketClose | E::EventLoopDropped => {
            Failure::new(format!("lost the connection to the broker ({error})"))
                .hint("is the broker running? scripts/broker status")
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
/// the thing already exists with other properties; say how to delete it.
fn precondition_hint(message: &str) -> String {
    let quoted = |after: &str| -> Option<String> {
        let rest = &message[message.find(after)? + after.len()..];
        Some(rest[..rest.find('\'')?].to_string())
    };
    let vhost = match quoted("in vhost '") {
        Some(vhost) if vhost != "/" => format!(" -p '{vhost}'"),
        _ => String::new(),
    };
    if let Some(queue) = quoted("for queue '") {
        format!(
            "the queue '{queue}' already exists with other properties; declare it as it is, or delete it: \
             scripts/broker delete_queue{vhost} '{queue}'"
        )
    } else if let Some(exchange) = quoted("for exchange '") {
        format!(
            "the exchange '{exchange}' already exists with another type or other properties; delete it: \
             scripts/broker delete_exchange{vhost} '{exchange}'"
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
            line.contains("scripts/broker delete_queue 'hello'"),
            "{line}"
        );
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
        add_secret("hunter2hunter2");
        let error = anyhow::anyhow!("failed to connect to amqp://u:hunter2hunter2@h");
        assert_eq!(describe(&error), "failed to connect to amqp://u:***@h");
    }

    #[test]
    fn given_several_brokers_the_hints_point_at_the_clusters_status() {
        let line = for_the_brokers("x (hint: is the broker running? scripts/broker status)".into());
        assert_eq!(
            line,
            "x (hint: is the broker running? scripts/broker status)"
        );
        several_brokers();
        for hint in [
            "is the broker running? scripts/broker status",
            "a cluster without the majority of its nodes? scripts/broker status (scripts/broker cluster status)",
        ] {
            let line = for_the_brokers(format!("x (hint: {hint})"));
            assert!(line.ends_with("scripts/broker cluster status)"), "{line}");
            assert_eq!(line.matches("scripts/broker").count(), 1, "{line}");
        }
        SEVERAL_BROKERS.store(false, Ordering::Relaxed);
    }

    #[test]
    fn on_windows_the_hints_name_rabbitmqctl_and_the_service_not_the_bash_script() {
        let hints = [
            "is it running? Start the course's broker with scripts/broker start, or set RABBITMQ_HOST",
            "it is shutting down or restarting; start it again with scripts/broker start, then rerun",
            "trust the broker's CA with cacertfile= in AMQP_URL or RABBITMQ_CACERTFILE (scripts/broker \
             prints its CA file), and connect with a host name its certificate names",
            "is the broker running? scripts/broker status",
            "a cluster without the majority of its nodes? scripts/broker status (scripts/broker cluster status)",
            "the user lacks permission in this vhost: scripts/broker rabbitmqctl set_permissions -p VHOST USER '.*' '.*' '.*'",
            "is the queue jobs.retry there? scripts/broker queues",
            "a policy may limit the queue; scripts/broker list_policies",
            &precondition_hint("PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'hello' in vhost 'v': x"),
            &precondition_hint("PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'logs' in vhost '/': x"),
        ];
        let expected = [
            "Start RabbitMQ (its Windows service, or its Docker container), or set RABBITMQ_HOST",
            "start it again (its Windows service, or its Docker container), then rerun",
            "RABBITMQ_CACERTFILE, and connect",
            "is the broker running? rabbitmq-diagnostics status",
            "rabbitmq-diagnostics status (rabbitmqctl cluster_status)",
            "in this vhost: rabbitmqctl set_permissions -p VHOST USER",
            "there? rabbitmqctl list_queues",
            "rabbitmqctl list_policies",
            "delete it: rabbitmqctl delete_queue -p 'v' 'hello'",
            "delete it: in the management UI, at http://localhost:15672/#/exchanges)",
        ];
        for (hint, expected) in hints.iter().zip(expected) {
            let line = for_windows(format!("x (hint: {hint})"));
            assert!(line.contains(expected), "{line}");
            assert!(!line.contains("scripts/"), "{line}");
        }
    }

    #[test]
    fn a_failure_prints_its_hint_on_the_same_line() {
        let error = anyhow::Error::new(Failure::new("cannot reach the broker").hint("start it"));
        assert_eq!(describe(&error), "cannot reach the broker (hint: start it)");
    }
}
