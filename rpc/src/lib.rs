//! Chapter 6, RPC: what the server computes and the client waits with, apart from the messaging
//! that the two programs show: fib(n), exact, from a request's text, and how a refused request
//! is shown; the client's fresh ids and its bound on the wait.

use std::time::Duration;

/// The request's n: UTF-8 decimal text, as the official programs send it (`str(n)`).
pub fn parse_request(body: &[u8]) -> Result<u32, String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| "the request is not UTF-8 text".to_string())?
        .trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a non-negative whole number".to_string());
    }
    // Digits only, so a parse failure can only mean a number too large for u32.
    text.parse().map_err(|_| {
        format!("fib({text}) is too large for an exact answer (at most fib({LARGEST}))")
    })
}

/// The largest n whose fib(n) fits in 128 bits: fib(186) has 39 digits, fib(187) would not fit.
pub const LARGEST: u32 = 186;

/// fib(0) = 0, fib(1) = 1, fib(n) = fib(n-1) + fib(n-2), computed iteratively: n additions,
/// where the course's recursive definition would take time exponential in n.
pub fn fib(n: u32) -> Result<u128, String> {
    // (fib(k), fib(k+1)); fib(k+1) is None once it no longer fits in 128 bits.
    let (mut a, mut b) = (0u128, Some(1u128));
    for _ in 0..n {
        let next = b.ok_or_else(|| {
            format!("fib({n}) is too large for an exact answer (at most fib({LARGEST}))")
        })?;
        (a, b) = (next, a.checked_add(next));
    }
    Ok(a)
}

/// A request body as printed: quoted, at most 40 characters, control characters escaped.
pub fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut shown: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        shown.push('…');
    }
    format!("'{}'", shown.escape_debug())
}

/// How long to wait for the answer: `RPC_TIMEOUT_SECONDS` (fractions allowed), 30 by default.
pub fn rpc_timeout() -> anyhow::Result<Duration> {
    common::seconds("RPC_TIMEOUT_SECONDS", Duration::from_secs(30), false, "5")
}

/// An id no other call shares: this process, this instant, and the process's random hash keys.
pub fn fresh_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    format!("{:x}-{:016x}", std::process::id(), hasher.finish())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fib_matches_the_course_values() {
        assert_eq!(fib(0), Ok(0));
        assert_eq!(fib(1), Ok(1));
        assert_eq!(fib(30), Ok(832_040));
        assert_eq!(fib(90), Ok(2_880_067_194_370_816_120));
    }

    #[test]
    fn fib_is_exact_up_to_186_and_refuses_beyond() {
        assert_eq!(
            fib(LARGEST).unwrap().to_string(),
            "332825110087067562321196029789634457848"
        );
        assert_eq!(fib(LARGEST).unwrap(), fib(185).unwrap() + fib(184).unwrap());
        assert!(fib(LARGEST + 1).unwrap_err().contains("at most fib(186)"));
    }

    #[test]
    fn requests_are_decimal_text_and_anything_else_is_refused() {
        assert_eq!(parse_request(b"30"), Ok(30));
        assert_eq!(parse_request(b" 7\n"), Ok(7));
        for bad in [&b"abc"[..], b"-1", b"", b"1.5", b"+3", b"\xff"] {
            assert!(parse_request(bad).is_err(), "{bad:?}");
        }
        assert!(parse_request(b"99999999999999999999")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn a_shown_request_is_short_and_has_no_control_characters() {
        assert_eq!(shown(b"abc"), "'abc'");
        assert_eq!(shown(b"\x1b[2J\r"), "'\\u{1b}[2J\\r'");
        assert_eq!(
            shown("x".repeat(50).as_bytes()),
            format!("'{}…'", "x".repeat(40))
        );
    }

    #[test]
    fn without_rpc_timeout_seconds_a_client_waits_30_seconds_for_its_reply() {
        // What the wait is bounded by when the variable is not set; the bound itself is
        // tested with RPC_TIMEOUT_SECONDS=1 against a broker (tests/rpc.rs).
        std::env::remove_var("RPC_TIMEOUT_SECONDS");
        assert_eq!(rpc_timeout().unwrap(), Duration::from_secs(30));
        std::env::set_var("RPC_TIMEOUT_SECONDS", "0.5");
        assert_eq!(rpc_timeout().unwrap(), Duration::from_millis(500));
        std::env::set_var("RPC_TIMEOUT_SECONDS", "0");
        assert!(rpc_timeout().is_err());
        std::env::remove_var("RPC_TIMEOUT_SECONDS");
    }

    #[test]
    fn each_call_gets_an_id_of_its_own() {
        assert_ne!(fresh_id(), fresh_id());
    }
}
