//! RabbitMQ's management HTTP API on 127.0.0.1, as one user: plain HTTP (loopback only, so
//! no TLS and no OpenSSL), JSON answers. The password goes in the request's header only, never
//! into a message.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// The management API of the broker whose HTTP port is `port` on 127.0.0.1.
pub struct Api {
    base: String,
    authorization: String,
    agent: ureq::Agent,
}

impl Api {
    /// The API on 127.0.0.1:`port`, as `user` with `password`.
    pub fn new(port: u16, user: &str, password: &str) -> Api {
        use base64::Engine;
        let login = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Api {
            base: format!("http://127.0.0.1:{port}"),
            authorization: format!("Basic {login}"),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(15))
                .build(),
        }
    }

    /// `METHOD PATH` with a JSON `body` (or none): the answer's body. An answer other than
    /// 2xx, or none, is an error that says which.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Result<String> {
        let request = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &self.authorization)
            .set("Content-Type", "application/json");
        let answer = match body {
            Some(body) => request.send_string(body),
            None => request.call(),
        };
        match answer {
            Ok(answer) => answer
                .into_string()
                .with_context(|| format!("reading the management API's answer to {path}")),
            Err(ureq::Error::Status(status, answer)) => {
                let text: String = answer
                    .into_string()
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                bail!("the management API answered {status}: {text}")
            }
            Err(ureq::Error::Transport(error)) => bail!(
                "the management API at {} does not answer: {error}",
                self.base
            ),
        }
    }

    /// GET `path`, its JSON.
    pub fn get(&self, path: &str) -> Result<Value> {
        let text = self.request("GET", path, None)?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow!("the management API's answer to {path} is not JSON: {e}"))
    }

    /// Whether the API answers this user (its overview).
    pub fn answers(&self) -> bool {
        self.request("GET", "/api/overview", None).is_ok()
    }

    /// The broker's RabbitMQ version, as (major, minor).
    pub fn version(&self) -> Result<(u32, u32)> {
        let overview = self.get("/api/overview")?;
        let version = overview["rabbitmq_version"]
            .as_str()
            .ok_or_else(|| anyhow!("the management API's overview names no rabbitmq_version"))?;
        let mut parts = version.split('.').map(|p| p.parse().unwrap_or(0));
        Ok((parts.next().unwrap_or(0), parts.next().unwrap_or(0)))
    }
}

/// `text` as one segment of an API path: everything but letters, digits and `-._~`
/// percent-encoded (the vhost `/` is `%2F`).
pub fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// How a listing is printed.
pub struct Listing<'a> {
    /// `queues`, `exchanges` or `bindings`.
    pub what: &'a str,
    /// The vhost listed.
    pub vhost: &'a str,
    /// rabbitmqctl's column names.
    pub columns: &'a [String],
    /// No "Listing ..." line (`-q`).
    pub quiet: bool,
    /// The column names over the table (unless `--no-table-headers`).
    pub headers: bool,
    /// How long the counts must stay the same to count as settled (`BROKER_API_SETTLE`).
    pub settle: Duration,
}

impl Listing<'_> {
    /// The listing as rabbitmqctl prints it, from the API. Its message counts lag the queues by
    /// up to its statistics interval (5 s unless configured; a new queue's first figures can
    /// be 5 s old even at 1 s): a listing with counts is read every 0.3 s until two readings
    /// agree after a change, or until `settle` shows none. If they do not settle within twice
    /// that, the "Listing" line says so, before the table.
    pub fn print(&self, api: &Api) -> Result<String> {
        let counted = self.what == "queues"
            && self
                .columns
                .iter()
                .any(|c| c.starts_with("messages") || c == "consumers");
        if self.what == "queues" && std::io::stderr().is_terminal() {
            eprintln!(
                "broker: reading the management API's counts until they settle (it updates them every few seconds)..."
            );
        }
        let path = format!("/api/{}/{}", self.what, encoded(self.vhost));
        let started = Instant::now();
        let (mut current, _) = self.reading(api, &path)?;
        let mut settled = !counted;
        // The first reading with figures for every queue, and when.
        let mut known: Option<(Vec<Vec<String>>, Instant)> = None;
        let limit = self.settle * 2 + Duration::from_secs(1);
        while !settled && started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(300));
            let previous = current;
            let unknown;
            (current, unknown) = self.reading(api, &path)?;
            if unknown || current != previous {
                continue;
            }
            let now = Instant::now();
            let (first, since) = known.get_or_insert_with(|| (current.clone(), now));
            // Fresh: the figures changed since the first known reading (an update came while
            // we watched), or stayed the same for a whole statistics interval and more.
            settled = current != *first || now - *since >= self.settle;
        }
        let mut out = String::new();
        if !self.quiet {
            let note = if settled {
                ""
            } else {
                " (counts from the management API, which may lag a few seconds: list again to be sure)"
            };
            out.push_str(&format!(
                "Listing {} for vhost {}{note} ...\n",
                self.what, self.vhost
            ));
        }
        // As rabbitmqctl: no column names over an empty table.
        if self.headers && !current.is_empty() {
            out.push_str(&self.columns.join("\t"));
            out.push('\n');
        }
        for row in &current {
            out.push_str(&row.join("\t"));
            out.push('\n');
        }
        Ok(out)
    }

    /// One reading: the rows, sorted, and whether a queue has no figures yet (one declared a
    /// moment ago has no `messages` field).
    fn reading(&self, api: &Api, path: &str) -> Result<(Vec<Vec<String>>, bool)> {
        let rows = api.get(path)?;
        let rows = rows.as_array().cloned().unwrap_or_default();
        let mut table: Vec<Vec<String>> = rows
            .iter()
            .map(|row| self.columns.iter().map(|c| value(row, c)).collect())
            .collect();
        table.sort();
        let unknown = self.what == "queues" && rows.iter().any(|r| r.get("messages").is_none());
        Ok((table, unknown))
    }
}

/// A rabbitmqctl column's value in a row of the API's JSON, printed as rabbitmqctl prints it.
fn value(row: &Value, column: &str) -> String {
    // rabbitmqctl's column -> the API's field (the others have the same name).
    let field = match column {
        "source_kind" => return "exchange".into(),
        "leader" if row.get("leader").is_some() => "leader",
        "source_name" => "source",
        "destination_name" => "destination",
        "destination_kind" => "destination_type",
        "leader" => "node",
        other => other,
    };
    match row.get(field) {
        None | Some(Value::Null) => {
            if column.starts_with("messages") || column == "consumers" {
                "0".into()
            } else {
                String::new()
            }
        }
        Some(Value::String(text)) => text.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_segment_encodes_everything_but_unreserved_characters() {
        assert_eq!(encoded("/"), "%2F");
        assert_eq!(encoded("test-a_b.c~"), "test-a_b.c~");
        assert_eq!(encoded("a b%é"), "a%20b%25%C3%A9");
    }

    #[test]
    fn columns_are_read_as_rabbitmqctl_names_them() {
        let row = serde_json::json!({
            "source": "logs", "destination": "q", "destination_type": "queue",
            "durable": false, "arguments": {"x-max-length": 10}, "node": "rabbit@h",
            "messages": 2
        });
        let got: Vec<String> = [
            "source_name",
            "source_kind",
            "destination_name",
            "destination_kind",
            "durable",
            "arguments",
            "leader",
            "messages",
            "messages_ready",
            "routing_key",
        ]
        .iter()
        .map(|c| value(&row, c))
        .collect();
        assert_eq!(
            got,
            [
                "logs",
                "exchange",
                "q",
                "queue",
                "false",
                "{\"x-max-length\":10}",
                "rabbit@h",
                "2",
                "0",
                ""
            ]
        );
    }
}
