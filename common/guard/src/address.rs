//! Where the broker is and who we are: read from the environment, never from the source.

use crate::Failure;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The hint given with every malformed `AMQP_URL`.
const URL_HINT: &str = "write it as amqp://USER:PASSWORD@HOST:PORT/VHOST and percent-encode \
     special characters in each part ('@' as %40, ':' as %3A, '/' as %2F, '%' as %25; the vhost '/' is %2f)";

/// Heartbeat we ask for, in seconds. amiquip declares the broker lost after two silent
/// intervals, so a consumer whose broker vanishes without closing the socket (a network
/// partition, a frozen VM) notices within 20 seconds instead of hanging for ever.
const DEFAULT_HEARTBEAT_SECS: u16 = 10;

/// How long we wait for the TCP connection and then for the AMQP handshake.
const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request (declare, bind, qos, consume...) may wait for the broker's answer: a
/// broker that takes a request and never answers it ends the program then, naming the request.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a publisher waits for the broker's confirm of a message (chapter 7's idea, used by
/// `new_task --confirm`, chapter 8's `send_stream` and chapter 9): a broker that cannot store it
/// (a quorum queue without the majority of its nodes) may never answer.
const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// The broker's address and the credentials to log in with.
///
/// Read it with [`BrokerAddress::from_env`]: `AMQP_URL` when set, else the `RABBITMQ_*`
/// variables with their defaults. Its `Debug` and `Display` forms never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// `true` for `amqps://`: TLS with certificate verification.
    pub tls: bool,
    /// Host name or IP address of the broker.
    pub host: String,
    /// TCP port of the broker's AMQP listener.
    pub port: u16,
    /// User to log in as.
    pub user: String,
    password: String,
    /// Virtual host to open (`/` is the default one).
    pub vhost: String,
    /// Heartbeat interval to ask the broker for, in seconds (0 turns heartbeats off).
    pub heartbeat: u16,
    /// Limit for the TCP connect and for the AMQP handshake each.
    pub connection_timeout: Duration,
    /// Limit for the broker's answer to each request once connected (a declare, a consume).
    pub request_timeout: Duration,
    /// Limit for the broker's confirm of a published message, where the program waits for one.
    pub confirm_timeout: Duration,
    /// A PEM file of CA certificates to trust for `amqps://`, besides the system's.
    pub cacertfile: Option<PathBuf>,
    /// Whether the address came from `AMQP_URL` (for hints that name the right variables).
    pub from_url: bool,
}

impl BrokerAddress {
    /// Reads the address from the process environment, as the course says: `AMQP_URL` if set,
    /// otherwise `RABBITMQ_HOST` (localhost), `RABBITMQ_PORT` (5672), `RABBITMQ_USER` (guest),
    /// `RABBITMQ_PASSWORD` (guest), `RABBITMQ_VHOST` (`/`), raw values needing no encoding.
    /// `RABBITMQ_CACERTFILE` names a CA file for `amqps://` in either case.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Every broker that `AMQP_URL` lists, separated by commas (the nodes of a cluster, as
    /// Spring's `addresses` and PerfTest's `--uris` take them), in order; otherwise the one
    /// address of [`from_env`](Self::from_env).
    pub fn all_from_env() -> anyhow::Result<Vec<Self>> {
        Self::all_from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`all_from_env`](Self::all_from_env), reading variables through `lookup`.
    pub fn all_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Vec<Self>> {
        let urls = lookup("AMQP_URL").unwrap_or_default();
        if !urls.contains(',') {
            return Ok(vec![Self::from_lookup(lookup)?]);
        }
        urls.split(',')
            .map(|url| {
                let url = url.trim().to_string();
                Self::from_lookup(|name| match name {
                    "AMQP_URL" => Some(url.clone()),
                    other => lookup(other),
                })
            })
            .collect()
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (for tests). With
    /// several URIs in `AMQP_URL`, the first.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let mut address = match get("AMQP_URL") {
            Some(url) => Self::parse_url(url.split(',').next().unwrap_or_default().trim())?,
            None => {
                let port = match get("RABBITMQ_PORT") {
                    None => 5672,
                    Some(port) => parse_port(&port).ok_or_else(|| {
                        Failure::new(format!("RABBITMQ_PORT is not a port number: '{port}'"))
                            .hint("give a number from 1 to 65535, e.g. RABBITMQ_PORT=5672")
                    })?,
                };
                BrokerAddress {
                    tls: false,
                    host: get("RABBITMQ_HOST").unwrap_or_else(|| "localhost".into()),
                    port,
                    user: get("RABBITMQ_USER").unwrap_or_else(|| "guest".into()),
                    password: get("RABBITMQ_PASSWORD").unwrap_or_else(|| "guest".into()),
                    vhost: get("RABBITMQ_VHOST").unwrap_or_else(|| "/".into()),
                    heartbeat: DEFAULT_HEARTBEAT_SECS,
                    connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
                    request_timeout: DEFAULT_REQUEST_TIMEOUT,
                    confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
                    cacertfile: None,
                    from_url: false,
                }
            }
        };
        if let Some(file) = get("RABBITMQ_CACERTFILE") {
            address.cacertfile.get_or_insert_with(|| file.into());
        }
        Ok(address)
    }

    /// Parses an AMQP URI (`amqp://user:pass@host:port/vhost?heartbeat=10`) as RabbitMQ's URI
    /// specification says: each part percent-decoded, `amqps` for TLS (port 5671 by default).
    /// Query parameters understood: `heartbeat` (seconds), `connection_timeout`,
    /// `request_timeout` and `confirm_timeout` (milliseconds), `cacertfile` (a PEM file of CAs
    /// to trust). No error message repeats the URL, since it may hold the password.
    pub fn parse_url(url: &str) -> anyhow::Result<Self> {
        let bad = |what: &str| {
            Failure::new(format!("AMQP_URL is not a valid AMQP URI: {what}")).hint(URL_HINT)
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it must start with amqp:// or amqps://"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "amqp" => false,
            "amqps" => true,
            _ => return Err(bad("the scheme must be amqp:// or amqps://").into()),
        };
        if rest.contains('#') {
            return Err(bad("it contains a raw '#' (write it as %23)").into());
        }
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if path.contains('/') || path.contains('@') {
            return Err(bad("the vhost must be a single path segment (a raw '/' in the password or vhost must be written %2F)").into());
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| {
            bad("the port must be a number from 1 to 65535 (a raw '/', '?' or '#' in the password must be written %2F, %3F, %23)")
        })?;
        let (user, password) = match userinfo {
            None => ("guest".to_string(), "guest".to_string()),
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let user = decode(user).ok_or_else(|| bad("the user has a bad percent-escape"))?;
                let password =
                    decode(password).ok_or_else(|| bad("the password has a bad percent-escape"))?;
                (user, password)
            }
        };
        let vhost = match path {
            "" => "/".to_string(),
            path => decode(path).ok_or_else(|| bad("the vhost has a bad percent-escape"))?,
        };
        let mut address = BrokerAddress {
            tls,
            host: match host {
                "" => "localhost".to_string(),
                host => decode(host).ok_or_else(|| bad("the host has a bad percent-escape"))?,
            },
            port: port.unwrap_or(if tls { 5671 } else { 5672 }),
            user,
            password,
            vhost,
            heartbeat: DEFAULT_HEARTBEAT_SECS,
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            cacertfile: None,
            from_url: true,
        };
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)
                .ok_or_else(|| bad(&format!("the parameter '{key}' has a bad percent-escape")))?;
            match key {
                "heartbeat" => {
                    address.heartbeat = value.parse().map_err(|_| bad("heartbeat must be a number of seconds (0 to 65535)"))?;
                }
                "connection_timeout" => {
                    let millis: u64 = value.parse().map_err(|_| bad("connection_timeout must be a number of milliseconds"))?;
                    address.connection_timeout = Duration::from_millis(millis.max(1));
                }
                "request_timeout" => {
                    let millis: u64 = value.parse().map_err(|_| bad("request_timeout must be a number of milliseconds"))?;
                    address.request_timeout = Duration::from_millis(millis.max(1));
                }
                "confirm_timeout" => {
                    let millis: u64 = value.parse().map_err(|_| bad("confirm_timeout must be a number of milliseconds"))?;
                    address.confirm_timeout = Duration::from_millis(millis.max(1));
                }
                "cacertfile" => address.cacertfile = Some(value.into()),
                _ => {
                    return Err(bad(&format!(
                        "the parameter '{key}' is not supported (supported: heartbeat, connection_timeout, request_timeout, confirm_timeout, cacertfile)"
                    ))
                    .into())
                }
            }
        }
        Ok(address)
    }

    /// The password, for the login only. Print the address with `{}` instead: it leaves it out.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Names the variables that hold the credentials, for hints.
    pub fn credential_variables(&self) -> &'static str {
        if self.from_url {
            "the user and password in AMQP_URL"
        } else {
            "RABBITMQ_USER and RABBITMQ_PASSWORD"
        }
    }

    /// Names the variables that hold the host and port, for hints.
    pub fn location_variables(&self) -> &'static str {
        if self.from_url {
            "the host and port in AMQP_URL"
        } else {
            "RABBITMQ_HOST and RABBITMQ_PORT"
        }
    }

    /// `host:port`, with an IPv6 address in brackets (`[::1]:5672`), as a URL writes it.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Shows where we connect, without the password: `amqp://guest@localhost:5672/%2f`.
impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "amqps" } else { "amqp" };
        let vhost = self.vhost.replace('%', "%25").replace('/', "%2f");
        write!(f, "{scheme}://{}@{}/{vhost}", self.user, self.host_port())
    }
}

impl fmt::Debug for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerAddress")
            .field("tls", &self.tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("vhost", &self.vhost)
            .field("heartbeat", &self.heartbeat)
            .field("connection_timeout", &self.connection_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("cacertfile", &self.cacertfile)
            .finish()
    }
}

fn parse_port(text: &str) -> Option<u16> {
    text.parse().ok().filter(|port| *port != 0)
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`. `None` for a bad port.
fn split_host_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            after => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    match port {
        None | Some("") => Some((host, None)),
        Some(port) => Some((host, Some(parse_port(port)?))),
    }
}

/// Strict percent-decoding: every `%` must start a two-digit hex escape, and the result must
/// be UTF-8. `None` otherwise.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn from(vars: &[(&str, &str)]) -> anyhow::Result<BrokerAddress> {
        BrokerAddress::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn message(result: anyhow::Result<BrokerAddress>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn several_uris_separated_by_commas_are_the_nodes_of_a_cluster_in_order() {
        let lookup = |name: &str| match name {
            "AMQP_URL" => {
                Some("amqp://localhost:5681/cluster, amqp://u:p%2Cw@localhost:5682/cluster".into())
            }
            _ => None,
        };
        let all = BrokerAddress::all_from_lookup(lookup).unwrap();
        let parts: Vec<_> = all
            .iter()
            .map(|a| (a.port, a.user.as_str(), a.password(), a.vhost.as_str()))
            .collect();
        assert_eq!(
            parts,
            [
                (5681, "guest", "guest", "cluster"),
                (5682, "u", "p,w", "cluster")
            ]
        );
        assert_eq!(
            BrokerAddress::from_lookup(lookup).unwrap().port,
            5681,
            "the first"
        );
        let one = BrokerAddress::all_from_lookup(|_| None).unwrap();
        assert_eq!(
            one.len(),
            1,
            "without AMQP_URL: the one address of RABBITMQ_*"
        );
    }

    #[test]
    fn defaults_to_guest_on_localhost_5672_and_the_default_vhost() {
        let a = from(&[]).unwrap();
        assert_eq!(
            (
                a.host.as_str(),
                a.port,
                a.user.as_str(),
                a.password(),
                a.vhost.as_str()
            ),
            ("localhost", 5672, "guest", "guest", "/")
        );
        assert!(!a.tls && !a.from_url);
        assert_eq!(a.heartbeat, DEFAULT_HEARTBEAT_SECS);
    }

    #[test]
    fn the_waits_default_to_a_10_s_heartbeat_5_s_to_connect_20_s_per_request_30_s_per_confirm() {
        // The tests set them short (?heartbeat=1, ?connection_timeout=, ?request_timeout=,
        // ?confirm_timeout=) and prove the behaviour at the bound; these are the bounds a
        // learner gets.
        for a in [
            from(&[]).unwrap(),
            BrokerAddress::parse_url("amqp://h").unwrap(),
        ] {
            assert_eq!(a.heartbeat, 10);
            assert_eq!(a.connection_timeout, Duration::from_secs(5));
            assert_eq!(a.request_timeout, Duration::from_secs(20));
            assert_eq!(a.confirm_timeout, Duration::from_secs(30));
        }
    }

    #[test]
    fn rabbitmq_variables_are_taken_raw_even_with_url_special_characters() {
        let a = from(&[
            ("RABBITMQ_HOST", "broker.example"),
            ("RABBITMQ_PORT", "5673"),
            ("RABBITMQ_USER", "admin"),
            ("RABBITMQ_PASSWORD", "p@ss:w/o%rd#?"),
            ("RABBITMQ_VHOST", "course/1"),
        ])
        .unwrap();
        assert_eq!(a.password(), "p@ss:w/o%rd#?");
        assert_eq!(
            (a.host.as_str(), a.port, a.user.as_str(), a.vhost.as_str()),
            ("broker.example", 5673, "admin", "course/1")
        );
    }

    #[test]
    fn a_bad_rabbitmq_port_is_a_clear_error() {
        assert!(message(from(&[("RABBITMQ_PORT", "amqp")]))
            .contains("RABBITMQ_PORT is not a port number"));
        assert!(from(&[("RABBITMQ_PORT", "0")]).is_err());
        assert!(from(&[("RABBITMQ_PORT", "70000")]).is_err());
    }

    #[test]
    fn amqp_url_wins_over_the_rabbitmq_variables() {
        let a = from(&[
            ("AMQP_URL", "amqp://u:p@h:1234/v"),
            ("RABBITMQ_HOST", "other"),
        ])
        .unwrap();
        assert_eq!(
            (
                a.host.as_str(),
                a.port,
                a.user.as_str(),
                a.password(),
                a.vhost.as_str()
            ),
            ("h", 1234, "u", "p", "v")
        );
        assert!(a.from_url);
    }

    #[test]
    fn a_percent_encoded_password_is_decoded() {
        let a = BrokerAddress::parse_url("amqp://admin:p%40ss%3Aw%2Fo%25rd@localhost/%2f").unwrap();
        assert_eq!(a.password(), "p@ss:w/o%rd");
        assert_eq!(a.vhost, "/");
    }

    #[test]
    fn omitted_parts_take_the_spec_defaults() {
        let a = BrokerAddress::parse_url("amqp://").unwrap();
        assert_eq!(
            (
                a.host.as_str(),
                a.port,
                a.user.as_str(),
                a.password(),
                a.vhost.as_str()
            ),
            ("localhost", 5672, "guest", "guest", "/")
        );
        let a = BrokerAddress::parse_url("amqps://broker").unwrap();
        assert!(a.tls);
        assert_eq!(a.port, 5671);
        let a = BrokerAddress::parse_url("AMQP://[::1]:5673").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 5673));
    }

    #[test]
    fn query_parameters_set_heartbeat_timeouts_and_ca_file() {
        let a = BrokerAddress::parse_url(
            "amqps://h/v?heartbeat=5&connection_timeout=2500&request_timeout=1500&confirm_timeout=700&cacertfile=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(a.heartbeat, 5);
        assert_eq!(a.connection_timeout, Duration::from_millis(2500));
        assert_eq!(a.request_timeout, Duration::from_millis(1500));
        assert_eq!(a.confirm_timeout, Duration::from_millis(700));
        assert_eq!(a.cacertfile, Some(PathBuf::from("/tmp/ca.pem")));
    }

    #[test]
    fn the_ca_file_may_come_from_the_environment() {
        let a = from(&[
            ("AMQP_URL", "amqps://h"),
            ("RABBITMQ_CACERTFILE", "/ca.pem"),
        ])
        .unwrap();
        assert_eq!(a.cacertfile, Some(PathBuf::from("/ca.pem")));
    }

    #[test]
    fn malformed_urls_are_explained_without_repeating_the_password() {
        let cases = [
            ("http://u:s3cret@h", "scheme"),
            ("localhost:5672", "must start with amqp://"),
            ("amqp://u:s3cret@h:port", "port must be a number"),
            ("amqp://u:s3cret@h:99999", "port must be a number"),
            ("amqp://u:s3c%zzret@h", "password has a bad percent-escape"),
            ("amqp://u:s3c%4", "port must be a number"),
            ("amqp://u:s3/cret@h", "single path segment"),
            ("amqp://u:s3#cret@h", "'#'"),
            ("amqp://h?frame_max=1", "'frame_max' is not supported"),
            ("amqp://h?heartbeat=soon", "heartbeat must be a number"),
        ];
        for (url, expected) in cases {
            let text = message(BrokerAddress::parse_url(url));
            assert!(text.contains(expected), "{url}: {text}");
            assert!(
                !text.contains("s3") && !text.contains("cret"),
                "{url} leaks: {text}"
            );
            assert!(
                text.contains("%40"),
                "{url}: the hint explains the encoding: {text}"
            );
        }
    }

    #[test]
    fn display_and_debug_leave_the_password_out() {
        let a = BrokerAddress::parse_url("amqp://admin:s3cret@h:5672/%2f").unwrap();
        assert_eq!(a.to_string(), "amqp://admin@h:5672/%2f");
        assert!(!format!("{a:?}").contains("s3cret"));
    }

    #[test]
    fn decoding_is_strict() {
        assert_eq!(decode("a%41%2f").as_deref(), Some("aA/"));
        assert_eq!(decode("%"), None);
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%g1"), None);
        assert_eq!(decode("%ff"), None, "not UTF-8");
        assert_eq!(decode("%E4%BD%A0").as_deref(), Some("你"));
    }
}
