//! Opening a connection to a broker: our own socket, with TCP_NODELAY and a connect timeout
//! (amiquip has neither); TLS on it if asked, with the CA file given; amiquip's AMQP handshake
//! through the [`Guarded`](crate::Guarded) stream, within the connect timeout; and every way that
//! can fail, explained in one line (amiquip calls any failure during the login "invalid
//! credentials", and some of its errors print the URL, password included: it is never given one).

use crate::{hint, lock, BrokerAddress, Failure, Shared, Stream, Watchdog, PORTS};
use amiquip::{Auth, Connection, ConnectionOptions, ConnectionTuning};
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Opens a connection to `address` and runs amiquip's AMQP handshake through the guard: the
/// connection and its watchdog, which watches it until the watchdog is dropped. The handshake
/// deadline still runs: the caller opens its channel, then sets `handshake_done`. `name` is
/// the connection's name for the broker (its management UI shows it).
pub fn open(address: &BrokerAddress, name: &str) -> Result<(Connection, Watchdog), Failure> {
    crate::secrets::remember(address.password());
    // Checked before connecting: a CA file that cannot be read is the learner's to fix.
    let connector = match address.tls {
        true => Some(tls_connector(address)?),
        false => None,
    };
    let socket = open_socket(address)?;
    let cannot_use = |e: io::Error| {
        Failure::new(format!(
            "cannot use the socket to {}: {e}",
            address.host_port()
        ))
    };
    // The whole handshake (TLS's too), to the channel open, within the connect timeout:
    // amiquip's own timeout counts only silence, which a peer sending heartbeats never leaves.
    // The watchdog ends when `watchdog` is dropped: on every way out of this function but the
    // connection it returns, and then with that connection's session.
    let deadline = Instant::now() + address.connection_timeout;
    let watchdog = Watchdog::start(
        socket.try_clone().map_err(cannot_use)?,
        deadline,
        address.connection_timeout,
        address.request_timeout,
        address.host_port(),
    );
    let watch = watchdog.shared();
    let stream = match &connector {
        None => Stream::Plain(mio::net::TcpStream::from_stream(socket).map_err(cannot_use)?),
        Some(connector) => Stream::Tls(
            crate::tls_handshake(connector, &address.host, socket, deadline)
                .map_err(|e| explain_tls_failure(address, e, watch))?,
        ),
    };
    let options = ConnectionOptions::default()
        .auth(Auth::Plain {
            username: address.user.clone(),
            password: address.password().to_string(),
        })
        .virtual_host(address.vhost.clone())
        .heartbeat(address.heartbeat)
        .frame_max(crate::FRAME_MAX)
        .connection_timeout(Some(address.connection_timeout))
        .information(Some(name.to_string()));
    // amiquip reads and writes through the guard, over TLS as over plain TCP: "insecure" only
    // means that amiquip adds no encryption of its own.
    let guarded = crate::Guarded::new(stream, address.heartbeat, Arc::clone(watch));
    let connection =
        Connection::insecure_open_stream(guarded, options, ConnectionTuning::default())
            .map_err(|e| explain_open_error(address, &e, watch))?;
    Ok((connection, watchdog))
}

/// Opens the TCP connection to the broker ourselves, for what amiquip does not do: a connect
/// timeout, a clear "cannot reach" error, and TCP_NODELAY. Without TCP_NODELAY each
/// request/response step of AMQP (declare, confirm, close) can stall ~40 ms while Nagle's
/// algorithm waits for a delayed ACK.
fn open_socket(address: &BrokerAddress) -> Result<TcpStream, Failure> {
    let where_ = address.host_port();
    let cannot_reach = |reason: String| {
        Failure::new(format!("cannot reach the broker at {where_}: {reason}")).hint(format!(
            "is it running? {}, or set {}",
            hint::start(),
            address.location_variables()
        ))
    };
    let addrs: Vec<SocketAddr> = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .map_err(|e| {
            cannot_reach(format!(
                "cannot resolve the host name '{}' ({e})",
                address.host
            ))
        })?
        .collect();
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, address.connection_timeout) {
            Ok(socket) => {
                socket
                    .set_nodelay(true)
                    .map_err(|e| cannot_reach(format!("cannot set TCP_NODELAY ({e})")))?;
                return Ok(socket);
            }
            Err(e) => last_error = e,
        }
    }
    let reason = match last_error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!(
                "no answer within {} ms",
                address.connection_timeout.as_millis()
            )
        }
        _ => last_error.to_string(),
    };
    Err(cannot_reach(reason))
}

/// A TLS connector that verifies the broker's certificate against the system's CAs and, when
/// given, the CA file of the address.
fn tls_connector(address: &BrokerAddress) -> Result<native_tls::TlsConnector, Failure> {
    let mut builder = native_tls::TlsConnector::builder();
    if let Some(file) = &address.cacertfile {
        let hint = "give a PEM file of CA certificates with cacertfile= in AMQP_URL or RABBITMQ_CACERTFILE";
        let pem = std::fs::read(file).map_err(|e| {
            Failure::new(format!("cannot read the CA file {}: {e}", file.display())).hint(hint)
        })?;
        let ca = native_tls::Certificate::from_pem(&pem).map_err(|e| {
            Failure::new(format!(
                "the CA file {} is not a PEM certificate: {e}",
                file.display()
            ))
            .hint(hint)
        })?;
        builder.add_root_certificate(ca);
    }
    builder
        .build()
        .map_err(|e| Failure::new(format!("cannot set up TLS: {e}")))
}

/// Explains a TLS handshake that did not complete.
fn explain_tls_failure(
    address: &BrokerAddress,
    failure: crate::TlsFailure,
    watch: &Shared,
) -> Failure {
    let at = address.host_port();
    if let Some(reason) = lock(watch).tripped.clone() {
        return Failure::new(reason);
    }
    match failure {
        crate::TlsFailure::Tls(source) => {
            let failure = Failure::new(format!("the TLS handshake with {at} failed: {source}"));
            if source.contains("wrong version number") || source.contains("packet length too long")
            {
                failure.hint("is it the broker's TLS port? This one seems to speak plain AMQP: use amqp:// for it")
            } else {
                failure.hint(format!(
                    "trust the broker's CA with cacertfile= in AMQP_URL or RABBITMQ_CACERTFILE{}, and connect \
                     with a host name its certificate names",
                    if cfg!(windows) { "" } else { " (scripts/broker prints its CA file)" }
                ))
            }
        }
        crate::TlsFailure::TimedOut => Failure::new(format!(
            "the broker at {at} did not complete the TLS handshake within {} ms",
            address.connection_timeout.as_millis()
        ))
        .hint("is it the broker's TLS port? amqps:// needs its TLS listener (5671 by default)"),
        crate::TlsFailure::Io(e) => Failure::new(format!("cannot use the socket to {at}: {e}")),
    }
}

/// Explains a failure of the AMQP handshake, knowing where we tried to log in and what the
/// guard saw of it.
fn explain_open_error(address: &BrokerAddress, error: &amiquip::Error, watch: &Shared) -> Failure {
    use amiquip::Error as E;
    let at = address.host_port();
    let (tripped, closed_by_broker, peer_closed, received) = {
        let watch = lock(watch);
        (
            watch.tripped.clone(),
            watch.closed_by_broker.clone(),
            watch.peer_closed,
            watch.received,
        )
    };
    // A peer that said nothing at all to our protocol header, then closed or let the deadline
    // pass: a web server waiting for a request (RabbitMQ's management listener closes after 5 s
    // without a word). Ask it in HTTP to be sure.
    if !received && !address.tls {
        if let Some(failure) = web_server_at(address) {
            return failure;
        }
    }
    if let Some(reason) = tripped {
        return Failure::new(reason);
    }
    let refused = || {
        Failure::new(format!(
            "the broker at {at} refused the login of user '{}' (wrong user or password)",
            address.user
        ))
        .hint(format!(
            "check {}; the user 'guest' may log in over loopback only",
            address.credential_variables()
        ))
    };
    // What the broker said when it closed the handshake, whatever amiquip made of it (it
    // reports a Close during the login as an unexpected frame).
    match closed_by_broker {
        Some((403, _)) => return refused(),
        Some((530, _)) => {} // a refused vhost: explained below
        Some((code, text)) => {
            return Failure::new(format!(
                "the broker at {at} closed the connection during the handshake: {code} {text}"
            ))
        }
        None => {}
    }
    match error {
        // amiquip calls any failure after our login "invalid credentials". RabbitMQ refuses a
        // login by closing the socket (or with ACCESS_REFUSED, above); silence is not that.
        E::InvalidCredentials if peer_closed => refused(),
        E::InvalidCredentials => Failure::new(format!(
            "the broker at {at} did not answer our login within {} ms",
            address.connection_timeout.as_millis()
        ))
        .hint(format!(
            "is it a RabbitMQ broker, healthy? {}",
            hint::status()
        )),
        E::ServerClosedConnection { code: 403, .. } => refused(),
        E::ServerClosedConnection { code: 530, message } => Failure::new(format!(
            "the broker at {at} refused the vhost '{}': {message}",
            address.vhost
        ))
        .hint(format!(
            "create it with {} and grant access with {}, or set {}",
            hint::broker(&format!("rabbitmqctl add_vhost '{}'", address.vhost)),
            hint::broker(&format!(
                "rabbitmqctl set_permissions -p '{}' '{}' '.*' '.*' '.*'",
                address.vhost, address.user
            )),
            if address.from_url {
                "the vhost in AMQP_URL"
            } else {
                "RABBITMQ_VHOST"
            }
        )),
        E::ConnectionTimeout => Failure::new(format!(
            "the broker at {at} did not complete the AMQP handshake within {} ms",
            address.connection_timeout.as_millis()
        ))
        .hint(if address.tls {
            "is it a TLS port? (amqps:// needs the broker's TLS listener)".to_string()
        } else {
            format!("is it an AMQP port? {}; a TLS port needs amqps://", PORTS)
        }),
        E::UnexpectedSocketClose
        | E::IoErrorReadingSocket { .. }
        | E::IoErrorWritingSocket { .. } => Failure::new(format!(
            "the broker at {at} closed the connection during the handshake ({error})"
        ))
        .hint(if address.tls {
            "is it the broker's TLS port? amqps:// needs its TLS listener"
        } else {
            "is it the broker's AMQP port? (a TLS port needs amqps://)"
        }),
        other => Failure::new(format!("cannot open an AMQP connection to {at}: {other}")),
    }
}

/// Whether `address` is a web server, asked with one HTTP request (1 s at most): the line that
/// says so, naming RabbitMQ's management listener when it is one.
fn web_server_at(address: &BrokerAddress) -> Option<Failure> {
    use std::io::{Read, Write};
    let limit = Duration::from_secs(1);
    let addr = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .ok()?
        .next()?;
    let mut socket = TcpStream::connect_timeout(&addr, limit).ok()?;
    socket.set_read_timeout(Some(limit)).ok()?;
    socket.set_write_timeout(Some(limit)).ok()?;
    let host = address.host_port();
    socket
        .write_all(format!("GET /api/overview HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .ok()?;
    let mut answer = Vec::new();
    let _ = socket.take(4096).read_to_end(&mut answer);
    if !answer.starts_with(b"HTTP/") {
        return None;
    }
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let at = address.host_port();
    Some(if answer.contains("rabbitmq management") {
        Failure::new(format!(
            "{at} is RabbitMQ's management listener (its web UI and HTTP API), not its AMQP port: \
             it does not answer AMQP"
        ))
        .hint(format!(
            "{}; point AMQP_URL or RABBITMQ_PORT at the AMQP port (5672, or 5671 with amqps://)",
            PORTS
        ))
    } else {
        Failure::new(format!(
            "{at} is a web server (it answers HTTP), not an AMQP broker: it does not answer AMQP"
        ))
        .hint(format!("is it the broker's AMQP port? {}", PORTS))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn address_of(port: u16) -> BrokerAddress {
        BrokerAddress::from_lookup(|name| match name {
            "RABBITMQ_HOST" => Some("127.0.0.1".into()),
            "RABBITMQ_PORT" => Some(port.to_string()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn the_socket_we_open_has_tcp_nodelay_set() {
        // Without it amiquip's request/response steps stall ~40 ms (Nagle meets delayed ACK).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = open_socket(&address_of(listener.local_addr().unwrap().port())).unwrap();
        assert!(socket.nodelay().unwrap());
    }

    #[test]
    fn a_refused_connection_names_the_address_and_how_to_start_the_broker() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = open_socket(&address_of(port)).unwrap_err();
        let line = error.to_string();
        assert!(
            line.starts_with(&format!(
                "cannot reach the broker at 127.0.0.1:{port}: connection refused"
            )),
            "{line}"
        );
        assert!(
            line.contains("scripts/broker start")
                && line.contains("RABBITMQ_HOST and RABBITMQ_PORT"),
            "{line}"
        );
    }

    #[test]
    fn an_ipv6_address_is_printed_in_brackets() {
        let mut address = address_of(5672);
        address.host = "::1".into();
        assert_eq!(address.host_port(), "[::1]:5672");
        assert_eq!(address_of(5672).host_port(), "127.0.0.1:5672");
        assert!(address.to_string().contains("@[::1]:5672/"), "{address}");
    }

    #[test]
    fn an_unknown_host_name_is_named() {
        let mut address = address_of(5672);
        address.host = "no-such-host.invalid".into();
        let line = open_socket(&address).unwrap_err().to_string();
        assert!(
            line.contains("cannot resolve the host name 'no-such-host.invalid'"),
            "{line}"
        );
    }
}
