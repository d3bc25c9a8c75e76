//! Secrets (the password) that must never reach stderr or the log, whatever prints them:
//! amiquip logs its login frame, password included, at debug level, and some of its errors
//! embed the URL.

use std::sync::Mutex;

/// The secrets remembered so far, each as it is and as `{:?}` escapes it.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret so that [`redact`] hides it from every line printed or logged.
pub fn remember(secret: &str) {
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

/// Replaces every remembered secret in `text` with `***`.
pub fn redact(text: &str) -> String {
    let mut text = text.to_string();
    if let Ok(secrets) = SECRETS.lock() {
        for secret in secrets.iter() {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

/// A log line of amiquip's with the SASL response of its Connection.Start-Ok (`"\0user\0password"`,
/// Debug-escaped) taken out, and every remembered secret redacted.
pub fn redact_log(message: &str) -> String {
    let mut message = message.to_string();
    if let Some(start) = message.find("response: \"") {
        let end = closing_quote(&message[start + 11..]).map_or(message.len(), |i| start + 12 + i);
        message.replace_range(start..end, "response: <redacted>");
    }
    redact(&message)
}

/// The position of the first quote in `text` that is not escaped with a backslash.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' if !escaped => return Some(i),
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closing_quote_skips_escaped_quotes() {
        assert_eq!(closing_quote(r#"\0u\0p\"w\\" rest"#), Some(11));
    }

    #[test]
    fn a_login_frame_in_the_log_shows_no_password() {
        remember("hunter2hunter2");
        let line = r#"sending StartOk { mechanism: "PLAIN", response: "\u{0}u\u{0}hun\"ter", locale: "en_US" }"#;
        assert_eq!(
            redact_log(line),
            r#"sending StartOk { mechanism: "PLAIN", response: <redacted>, locale: "en_US" }"#
        );
        assert_eq!(redact("amqp://u:hunter2hunter2@h"), "amqp://u:***@h");
        assert_eq!(redact("guest"), "guest", "short words are not secrets");
    }
}
