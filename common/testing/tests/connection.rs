//! Connecting as `common` does, through chapter 1's `send` and `receive` against the test broker:
//! TLS with verification, credentials that never show (a password full of URL-special
//! characters, an unknown user, a malformed URL). Run with scripts/test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use harness::{program, text, Vhost};
use std::process::Command;

const WAITING: &str = " [*] Waiting for messages. To exit press CTRL+C";

fn send() -> String {
    program("send")
}

fn receive() -> String {
    program("receive")
}

fn tls_port() -> u16 {
    std::env::var("COURSE_TEST_TLS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .expect("COURSE_TEST_TLS_PORT: run scripts/test")
}

fn ca_file() -> String {
    std::env::var("COURSE_TEST_CACERTFILE").expect("COURSE_TEST_CACERTFILE: run scripts/test")
}

/// Percent-encodes every byte but letters and digits, as an AMQP URI part may need.
fn encode(part: &str) -> String {
    part.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn hello_works_over_tls_with_the_brokers_ca() {
    let vhost = Vhost::new("tls");
    let url = format!(
        "amqps://localhost:{}/{}?cacertfile={}",
        tls_port(),
        encode(&vhost.name),
        encode(&ca_file())
    );
    let mut command = vhost.command(&receive(), &[]);
    command.env("AMQP_URL", &url);
    let receive = harness::Running::spawn(command);
    receive.wait_for(WAITING);

    // The CA may come from RABBITMQ_CACERTFILE too.
    let url = format!("amqps://localhost:{}/{}", tls_port(), encode(&vhost.name));
    let output = vhost
        .command(&send(), &[])
        .env("AMQP_URL", &url)
        .env("RABBITMQ_CACERTFILE", ca_file())
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    receive.wait_for(" [x] Received Hello World!");
    receive.interrupt();
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_server_certificate_from_an_untrusted_ca_is_refused() {
    let vhost = Vhost::new("tls-untrusted");
    let url = format!("amqps://localhost:{}/{}", tls_port(), encode(&vhost.name));
    let output = vhost
        .command(&send(), &[])
        .env("AMQP_URL", &url)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("the TLS handshake with localhost:")
            && stderr.contains("certificate verify failed"),
        "{stderr}"
    );
    assert!(stderr.contains("cacertfile="), "{stderr}");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn plain_amqp_to_the_tls_port_and_tls_to_the_plain_port_fail_clearly() {
    let vhost = Vhost::new("tls-mismatch");
    let plain_to_tls = format!("amqp://localhost:{}/{}", tls_port(), encode(&vhost.name));
    let output = vhost
        .command(&send(), &[])
        .env("AMQP_URL", &plain_to_tls)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("closed the connection during the handshake")
            && stderr.contains("amqps://"),
        "{stderr}"
    );

    let tls_to_plain = format!(
        "amqps://localhost:{}/{}?cacertfile={}",
        vhost.port,
        encode(&vhost.name),
        encode(&ca_file())
    );
    let output = vhost
        .command(&send(), &[])
        .env("AMQP_URL", &tls_to_plain)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("TLS handshake") && stderr.contains("use amqp://"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_password_full_of_url_special_characters_works_raw_and_percent_encoded_and_never_shows() {
    let vhost = Vhost::new("special-password");
    let user = format!("learner-{}", std::process::id());
    let password = "p@ss:w/o%rd#?&=+ ;[]~";
    vhost.http(
        "PUT",
        &format!("/api/users/{user}"),
        &format!(r#"{{"password":"{password}","tags":""}}"#),
    );
    vhost.http(
        "PUT",
        &format!("/api/permissions/{}/{user}", vhost.encoded()),
        r#"{"configure":".*","write":".*","read":".*"}"#,
    );

    let raw = vhost
        .command(&send(), &[])
        .env("RABBITMQ_USER", &user)
        .env("RABBITMQ_PASSWORD", password)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let url = format!(
        "amqp://{user}:{}@127.0.0.1:{}/{}",
        encode(password),
        vhost.port,
        encode(&vhost.name)
    );
    let encoded = vhost
        .command(&send(), &[])
        .env("AMQP_URL", &url)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let _ = vhost.http("DELETE", &format!("/api/users/{user}"), "");

    for output in [raw, encoded] {
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stderr}");
        assert_eq!(stdout, " [x] Sent 'Hello World!'\n");
        assert!(
            stderr.contains("sending handshake"),
            "RUST_LOG=trace logs the login"
        );
        for shown in [password, &encode(password), "o%rd", "w/o"] {
            assert!(
                !stderr.contains(shown),
                "the password shows in the log: {stderr}"
            );
        }
    }
}

/// The login of `nobody-here` refused in one line, exit 1, its password never printed.
fn assert_refused_without_the_password(output: &std::process::Output) {
    let (_, stderr) = text(output);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("refused the login of user 'nobody-here'")
            && !stderr.contains("whatever-it-is"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_user_that_does_not_exist_is_refused_clearly() {
    let vhost = Vhost::new("no-such-user");
    let output = vhost
        .command(&send(), &[])
        .env("RABBITMQ_USER", "nobody-here")
        .env("RABBITMQ_PASSWORD", "whatever-it-is")
        .output()
        .unwrap();
    assert_refused_without_the_password(&output);
}

#[test]
fn a_malformed_amqp_url_is_one_clear_line_without_the_password() {
    for (url, expected) in [
        (
            "http://guest:hunter2@localhost:5672/",
            "the scheme must be amqp:// or amqps://",
        ),
        (
            "amqp://guest:hunter2@localhost:56x2/",
            "the port must be a number",
        ),
        (
            "amqp://guest:hunter2@localhost:99999/",
            "the port must be a number",
        ),
        (
            "amqp://guest:hun%2Xter2@localhost/",
            "the password has a bad percent-escape",
        ),
        ("amqp://guest:hun/ter2@localhost/", "single path segment"),
    ] {
        // Checked before connecting: RABBITMQ_PORT=1 would fail otherwise.
        let output = Command::new(send()).env("AMQP_URL", url).output().unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{url}");
        assert_eq!(stdout, "");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: AMQP_URL is not a valid AMQP URI: ")
                && stderr.contains(expected),
            "{url}: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("hun"),
            "{url}: {stderr}"
        );
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_user_that_does_not_exist_is_refused_clearly_over_tls_too() {
    // Over TLS the guard sees the broker end the login as it does over TCP.
    let vhost = Vhost::new("no-such-user-tls");
    let url = format!(
        "amqps://nobody-here:whatever-it-is@localhost:{}/{}",
        tls_port(),
        encode(&vhost.name)
    );
    let output = vhost
        .command(&send(), &[])
        .env("AMQP_URL", &url)
        .env("RABBITMQ_CACERTFILE", ca_file())
        .output()
        .unwrap();
    assert_refused_without_the_password(&output);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_failed_tls_connect_leaves_no_verdict_behind_for_a_later_error() {
    // Several amqps:// brokers: the first refuses our CA (its certificate is not signed by the
    // fake broker's CA), the second is the test broker. The first attempt's watchdog must end
    // with it: before, it tripped at its deadline (300 ms) and its "did not complete the AMQP
    // handshake" became the line of rpc_client's own, later, error.
    let vhost = Vhost::new("stale-verdict");
    vhost.consumer(&program("rpc_server"), &[]).interrupt(); // rpc_queue, and nobody answers
    let broker = |ca: &str| {
        format!(
            "amqps://localhost:{}/{}?connection_timeout=300&cacertfile={}",
            tls_port(),
            encode(&vhost.name),
            encode(ca)
        )
    };
    let wrong_ca = harness::FakeBroker::ca_file().display().to_string();
    let url = format!("{},{}", broker(&wrong_ca), broker(&ca_file()));
    let output = vhost
        .command(&program("rpc_client"), &["3"])
        .env("AMQP_URL", &url)
        .env("RPC_TIMEOUT_SECONDS", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stdout, " [x] Requesting fib(3)\n");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("connected to localhost:"), "{stderr}");
    assert!(
        lines[1].starts_with("error: no reply within 1 s (hint: is an rpc_server running?"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_management_listener_is_named_as_such_though_it_never_answers_amqp() {
    // RabbitMQ's management server reads our AMQP protocol header as the start of an HTTP
    // request, sends nothing, and closes after a while: the guard then asks it in HTTP.
    let (_, http_port) = harness::broker_ports();
    let started = std::time::Instant::now();
    let output = harness::Vhost::new("management-port")
        .command(&send(), &[])
        .env("AMQP_URL", format!("amqp://127.0.0.1:{http_port}/"))
        .output()
        .unwrap();
    let took = started.elapsed();
    let (stdout, stderr) = text(&output);
    eprintln!("AMQP_URL at the management listener: {took:?}: {stderr}");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: 127.0.0.1:{http_port} is RabbitMQ's management listener"
        )) && stderr.contains("not its AMQP port")
            && stderr.contains("5672"),
        "{stderr}"
    );
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_program_given_several_brokers_says_which_one_it_reached_when_not_the_first() {
    let vhost = Vhost::new("reached");
    let url = format!(
        "amqp://127.0.0.1:1/{0},amqp://127.0.0.1:{1}/{0}",
        encode(&vhost.name),
        vhost.port
    );
    let reached = format!(
        "connected to 127.0.0.1:{} (broker 2 of 2 in AMQP_URL; 127.0.0.1:1 did not answer)",
        vhost.port
    );
    // A consumer: on stderr, before its waiting line.
    let mut command = vhost.command(&receive(), &[]);
    command.env("AMQP_URL", &url);
    let receive = harness::Running::spawn(command);
    receive.wait_for(WAITING);
    assert_eq!(
        receive.interrupt(),
        [reached.as_str(), WAITING, "Interrupted"]
    );

    // A producer too; given its first broker, nothing.
    let output = vhost
        .command(&send(), &[])
        .env("AMQP_URL", &url)
        .output()
        .unwrap();
    assert_eq!(
        text(&output),
        (" [x] Sent 'Hello World!'\n".into(), format!("{reached}\n"))
    );
    let first = format!(
        "amqp://127.0.0.1:{1}/{0},amqp://127.0.0.1:1/{0}",
        encode(&vhost.name),
        vhost.port
    );
    let output = vhost
        .command(&send(), &[])
        .env("AMQP_URL", &first)
        .output()
        .unwrap();
    assert_eq!(
        text(&output),
        (" [x] Sent 'Hello World!'\n".into(), String::new())
    );
}
