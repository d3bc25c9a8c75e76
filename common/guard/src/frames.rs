//! The frame checker: the broker's bytes, frame by frame, before amiquip parses them; and which
//! of our requests wait for an answer (for the watchdog).

use crate::{lock, printable, Shared, BODY_MAX, FRAME_MAX, PORTS, TABLE_DEPTH_MAX};
use std::time::Instant;

const METHOD: u8 = 1;
const HEADER: u8 = 2;
const BODY: u8 = 3;
const HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;

/// The broker's bytes: checked frame by frame; only whole, checked frames go on to amiquip.
pub(crate) struct Inbound {
    /// Bytes read and not yet handed to amiquip: `[..checked]` are checked frames.
    bytes: Vec<u8>,
    checked: usize,
    /// Whether the first frame has been seen (the first bytes say what protocol the peer speaks).
    started: bool,
    frame_max: u32,
    heartbeat: u16,
}

impl Inbound {
    pub(crate) fn new(heartbeat: u16) -> Inbound {
        Inbound {
            bytes: Vec::new(),
            checked: 0,
            started: false,
            frame_max: FRAME_MAX,
            heartbeat,
        }
    }

    pub(crate) fn ready(&self) -> &[u8] {
        &self.bytes[..self.checked]
    }

    pub(crate) fn handed(&mut self, n: usize) {
        self.bytes.drain(..n);
        self.checked -= n;
    }

    /// Takes bytes read from the broker and checks every frame they complete.
    pub(crate) fn feed(&mut self, chunk: &[u8], shared: &Shared) -> Result<(), String> {
        self.bytes.extend_from_slice(chunk);
        loop {
            let rest = &self.bytes[self.checked..];
            if !self.started {
                if let Some(problem) = not_amqp(rest) {
                    return Err(problem);
                }
            }
            if rest.len() < 7 {
                return Ok(());
            }
            let kind = rest[0];
            let channel = u16::from_be_bytes([rest[1], rest[2]]);
            let size = u32::from_be_bytes([rest[3], rest[4], rest[5], rest[6]]);
            if !matches!(kind, METHOD | HEADER | BODY | HEARTBEAT) {
                return Err(format!(
                    "the broker sent a frame of unknown type {kind}: this is not AMQP 0-9-1"
                ));
            }
            if size > self.frame_max {
                return Err(format!(
                    "the broker sent a frame of {size} bytes, over the frame_max of {} bytes agreed for this connection",
                    self.frame_max
                ));
            }
            let end = 7 + size as usize;
            if rest.len() <= end {
                return Ok(());
            }
            if rest[end] != FRAME_END {
                return Err(format!(
                    "the broker sent a frame that does not end with the frame-end byte (0xCE, got {:#04x})",
                    rest[end]
                ));
            }
            self.started = true;
            let start = self.checked + 7;
            let payload = &mut self.bytes[start..start + size as usize];
            match kind {
                METHOD => method(
                    &mut self.frame_max,
                    self.heartbeat,
                    channel,
                    payload,
                    shared,
                )?,
                HEADER => content_header(payload)?,
                _ => {}
            }
            self.checked += end + 1;
        }
    }
}

/// What a method frame from the broker changes: answers, the negotiation (`frame_max`, and our
/// `heartbeat` in place of 0), a close, a block.
fn method(
    frame_max: &mut u32,
    heartbeat: u16,
    channel: u16,
    payload: &mut [u8],
    shared: &Shared,
) -> Result<(), String> {
    let mut args = Args::new(payload);
    let (Some(class), Some(method)) = (args.u16(), args.u16()) else {
        return Ok(()); // amiquip reports a malformed frame
    };
    let mut watch = lock(shared);
    match (class, method) {
        // Connection.Start: the broker's properties are a field table.
        (10, 10) => {
            args.skip(2);
            args.table(0)?;
        }
        // Connection.Tune: the frame_max we will agree on, and the heartbeat.
        (10, 30) => {
            if let (Some(_), Some(offered)) = (args.u16(), args.u32()) {
                if offered != 0 {
                    *frame_max = offered.min(FRAME_MAX);
                }
                // Heartbeat 0 would switch off amiquip's only check that the broker lives:
                // offer amiquip ours, which it then sends back in Tune-Ok.
                if args.u16() == Some(0) && heartbeat > 0 {
                    let at = args.at - 2;
                    payload[at..at + 2].copy_from_slice(&heartbeat.to_be_bytes());
                    log::debug!("the broker offered heartbeat 0; asking for {heartbeat} s instead");
                }
            }
        }
        (10, 50) => {
            let code = args.u16().unwrap_or(0);
            let text = args
                .shortstr()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .unwrap_or_default();
            watch.closed_by_broker = Some((code, text));
            watch.waiting.clear();
        }
        (10, 60) => {
            let reason = args
                .shortstr()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .unwrap_or_default();
            watch.blocked = Some(reason);
        }
        (10, 61) => watch.blocked = None,
        // The broker closes the channel: amiquip reports why.
        (20, 40) => {
            let code = args.u16().unwrap_or(0);
            let text = args
                .shortstr()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .unwrap_or_default();
            watch.closed_channel = Some((code, text));
            watch.waiting.remove(&channel);
        }
        // What the broker sends on its own: deliveries, returns, confirms, its cancel, flow.
        (60, 60) | (60, 50) | (60, 80) | (60, 120) | (60, 30) | (20, 20) => {}
        // Anything else of the class that we asked is its answer.
        _ => {
            if watch
                .waiting
                .get(&channel)
                .is_some_and(|(asked, _, _)| *asked == class)
            {
                watch.waiting.remove(&channel);
            }
        }
    }
    Ok(())
}

/// Says what the peer speaks when its first bytes are not an AMQP 0-9-1 frame; `None` while they
/// may still be one (or too few have come to tell).
fn not_amqp(first: &[u8]) -> Option<String> {
    let hint = format!("(hint: is it the broker's AMQP port? {PORTS})");
    match first {
        [] => None,
        // A heartbeat before the handshake is unusual but allowed.
        [METHOD | HEARTBEAT, ..] => None,
        [b'A', ..] if first.len() < 8 && b"AMQP".starts_with(&first[..first.len().min(4)]) => None,
        [b'A', b'M', b'Q', b'P', a, b, c, d, ..] => Some(format!(
            "the peer is not an AMQP 0-9-1 broker: it answered with the protocol header of AMQP {}.{}.{} (id {a}) {hint}",
            b, c, d
        )),
        // A TLS record (an alert, a handshake): the broker's TLS port.
        [0x15 | 0x16, 0x03, ..] => Some(
            "the peer answered in TLS and closed the connection during the handshake \
             (hint: is it the broker's TLS port? It needs amqps://)"
                .to_string(),
        ),
        [b'H', b'T', b'T', b'P', ..] => Some(format!(
            "the peer is a web server (it answered in HTTP), not an AMQP broker {hint}"
        )),
        _ => {
            let shown: String = String::from_utf8_lossy(&first[..first.len().min(24)]).into_owned();
            Some(format!(
                "the peer does not speak AMQP 0-9-1: it answered '{}' {hint}",
                printable(&shown)
            ))
        }
    }
}

/// Checks a content header: the body size it announces, and the nesting of its headers table.
fn content_header(payload: &[u8]) -> Result<(), String> {
    let mut args = Args::new(payload);
    args.skip(4); // class, weight
    let Some(size) = args.u64() else {
        return Ok(());
    };
    if size > BODY_MAX {
        return Err(format!(
            "the broker announced a message body of {size} bytes, over the limit of {} MiB",
            BODY_MAX >> 20
        ));
    }
    let Some(flags) = args.u16() else {
        return Ok(());
    };
    if flags & 0x8000 != 0 && args.shortstr().is_none() {
        return Ok(());
    }
    if flags & 0x4000 != 0 && args.shortstr().is_none() {
        return Ok(());
    }
    if flags & 0x2000 != 0 {
        args.table(0)?;
    }
    Ok(())
}

/// Our bytes to the broker: which requests now wait for an answer.
#[derive(Default)]
pub(crate) struct Outbound {
    /// The protocol header (8 bytes) is sent first; then frames.
    header_seen: usize,
    /// The frame being written, until it is whole (for method frames; others are skipped).
    frame: Vec<u8>,
    skip: usize,
}

impl Outbound {
    pub(crate) fn feed(&mut self, mut bytes: &[u8], shared: &Shared) {
        while !bytes.is_empty() {
            if self.header_seen < 8 {
                let n = (8 - self.header_seen).min(bytes.len());
                self.header_seen += n;
                bytes = &bytes[n..];
                continue;
            }
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let want = if self.frame.len() < 7 {
                7
            } else {
                7 + u32::from_be_bytes([self.frame[3], self.frame[4], self.frame[5], self.frame[6]])
                    as usize
                    + 1
            };
            let n = (want - self.frame.len()).min(bytes.len());
            self.frame.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.frame.len() == 7 && self.frame[0] != METHOD {
                // Content and heartbeats ask for nothing: skip them without keeping them.
                self.skip = u32::from_be_bytes([
                    self.frame[3],
                    self.frame[4],
                    self.frame[5],
                    self.frame[6],
                ]) as usize
                    + 1;
                self.frame.clear();
            } else if self.frame.len() > 7 && self.frame.len() == want {
                let channel = u16::from_be_bytes([self.frame[1], self.frame[2]]);
                if let Some((class, name)) = request(&self.frame[7..want - 1]) {
                    lock(shared)
                        .waiting
                        .insert(channel, (class, name, Instant::now()));
                }
                self.frame.clear();
            }
        }
    }
}

/// The request a method frame of ours makes, when it waits for an answer (not `nowait`).
fn request(payload: &[u8]) -> Option<(u16, &'static str)> {
    let mut args = Args::new(payload);
    let (class, method) = (args.u16()?, args.u16()?);
    // Skip `shorts` short strings after the reserved u16, then read the bits and test `nowait`.
    let mut nowait = |reserved: bool, shorts: usize, bit: u8| -> Option<bool> {
        if reserved {
            args.skip(2);
        }
        for _ in 0..shorts {
            args.shortstr()?;
        }
        Some(args.u8()? & bit != 0)
    };
    let (name, nowait) = match (class, method) {
        (20, 10) => ("Channel.Open", false),
        (20, 20) => ("Channel.Flow", false),
        (40, 10) => ("Exchange.Declare", nowait(true, 2, 0x10)?),
        (40, 20) => ("Exchange.Delete", nowait(true, 1, 0x02)?),
        (40, 30) => ("Exchange.Bind", nowait(true, 3, 0x01)?),
        (40, 40) => ("Exchange.Unbind", nowait(true, 3, 0x01)?),
        (50, 10) => ("Queue.Declare", nowait(true, 1, 0x10)?),
        (50, 20) => ("Queue.Bind", nowait(true, 3, 0x01)?),
        (50, 30) => ("Queue.Purge", nowait(true, 1, 0x01)?),
        (50, 40) => ("Queue.Delete", nowait(true, 1, 0x04)?),
        (50, 50) => ("Queue.Unbind", false),
        (60, 10) => ("Basic.Qos", false),
        (60, 20) => ("Basic.Consume", nowait(true, 2, 0x08)?),
        (60, 30) => ("Basic.Cancel", nowait(false, 1, 0x01)?),
        (60, 70) => ("Basic.Get", false),
        (60, 110) => ("Basic.Recover", false),
        (85, 10) => ("Confirm.Select", nowait(false, 0, 0x01)?),
        (90, 10 | 20 | 30) => ("Tx", false),
        _ => return None,
    };
    (!nowait).then_some((class, name))
}

/// Reads a method's arguments in order; `None` when they end too soon.
struct Args<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Args<'a> {
    fn new(bytes: &'a [u8]) -> Args<'a> {
        Args { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(taken)
    }

    fn skip(&mut self, n: usize) {
        self.at = self.at.saturating_add(n);
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_be_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    fn shortstr(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n.into())
    }

    /// Checks the nesting of a field table (at `depth`) and steps over it. Only nesting too deep
    /// is an error: anything else malformed is left to amiquip, which reports it.
    fn table(&mut self, depth: usize) -> Result<(), String> {
        if depth > TABLE_DEPTH_MAX {
            return Err(format!(
                "the broker sent field tables nested more than {TABLE_DEPTH_MAX} deep"
            ));
        }
        let Some(size) = self.u32() else {
            return Ok(());
        };
        let Some(bytes) = self.take(size as usize) else {
            return Ok(());
        };
        let mut inner = Args::new(bytes);
        while inner.at < bytes.len() {
            if inner.shortstr().is_none() || !inner.value(depth)? {
                break;
            }
        }
        Ok(())
    }

    /// Steps over one typed value; `Ok(false)` when it cannot tell the type.
    fn value(&mut self, depth: usize) -> Result<bool, String> {
        let Some(kind) = self.u8() else {
            return Ok(false);
        };
        match kind {
            b't' | b'b' | b'B' => self.skip(1),
            b's' | b'u' => self.skip(2),
            b'I' | b'i' | b'f' => self.skip(4),
            b'l' | b'L' | b'd' | b'T' => self.skip(8),
            b'D' => self.skip(5),
            b'V' => {}
            b'S' | b'x' => {
                let Some(n) = self.u32() else {
                    return Ok(false);
                };
                self.skip(n as usize);
            }
            b'F' => self.table(depth + 1)?,
            b'A' => {
                if depth + 1 > TABLE_DEPTH_MAX {
                    return Err(format!(
                        "the broker sent field tables nested more than {TABLE_DEPTH_MAX} deep"
                    ));
                }
                let Some(n) = self.u32() else {
                    return Ok(false);
                };
                let Some(bytes) = self.take(n as usize) else {
                    return Ok(false);
                };
                let mut inner = Args::new(bytes);
                while inner.at < bytes.len() {
                    if !inner.value(depth + 1)? {
                        break;
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![kind];
        f.extend_from_slice(&channel.to_be_bytes());
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f.push(FRAME_END);
        f
    }

    /// A field table holding itself `depth` times: {"a": {"a": ... {}}}.
    fn nested_table(depth: usize) -> Vec<u8> {
        let mut table = 0u32.to_be_bytes().to_vec();
        for _ in 0..depth {
            let mut entry = vec![1, b'a', b'F'];
            entry.extend_from_slice(&table);
            table = (entry.len() as u32).to_be_bytes().to_vec();
            table.extend_from_slice(&entry);
        }
        table
    }

    fn start_with(properties: &[u8]) -> Vec<u8> {
        let mut payload = vec![0, 10, 0, 10, 0, 9];
        payload.extend_from_slice(properties);
        payload.extend_from_slice(&5u32.to_be_bytes());
        payload.extend_from_slice(b"PLAIN");
        payload.extend_from_slice(&5u32.to_be_bytes());
        payload.extend_from_slice(b"en_US");
        frame(METHOD, 0, &payload)
    }

    fn feed(bytes: &[u8]) -> Result<Inbound, String> {
        let mut inbound = Inbound::new(10);
        inbound.feed(bytes, &Shared::default())?;
        Ok(inbound)
    }

    #[test]
    fn a_start_with_shallow_tables_passes_whole_and_one_byte_at_a_time() {
        let start = start_with(&nested_table(3));
        assert_eq!(feed(&start).unwrap().ready(), &start[..]);
        let mut inbound = Inbound::new(10);
        for byte in &start[..start.len() - 1] {
            inbound.feed(&[*byte], &Shared::default()).unwrap();
            assert!(
                inbound.ready().is_empty(),
                "nothing is handed on before the frame is whole"
            );
        }
        inbound
            .feed(&start[start.len() - 1..], &Shared::default())
            .unwrap();
        assert_eq!(inbound.ready(), &start[..]);
    }

    #[test]
    fn tables_nested_a_thousand_deep_are_refused_before_amiquip_recurses() {
        let problem = feed(&start_with(&nested_table(1000))).err().unwrap();
        assert!(problem.contains("nested more than 16 deep"), "{problem}");
    }

    #[test]
    fn an_http_answer_is_named_with_the_management_port_hint() {
        let problem = feed(b"HTTP/1.1 400 Bad Request\r\n").err().unwrap();
        assert!(
            problem.contains("web server") && problem.contains("15672"),
            "{problem}"
        );
        let problem = feed(b"AMQP\x00\x01\x00\x00").err().unwrap();
        assert!(problem.contains("AMQP 1.0.0"), "{problem}");
        assert!(feed(b"AMQ").is_ok(), "too early to tell");
        let problem = feed(b"\x1b[31mhello\x00").err().unwrap();
        assert!(
            !problem.contains('\x1b') && !problem.contains('\0'),
            "{problem:?}"
        );
    }

    #[test]
    fn a_frame_over_frame_max_or_with_a_bad_end_or_type_is_refused_from_its_header() {
        let problem = feed(&[METHOD, 0, 0, 0x48, 0x54, 0x54, 0x50]).err().unwrap();
        assert!(
            problem.contains("over the frame_max of 131072"),
            "{problem}"
        );
        let started = start_with(&nested_table(0));
        let mut bad_end = frame(HEARTBEAT, 0, &[]);
        bad_end[7] = 0;
        let problem = feed(&[started.clone(), bad_end].concat()).err().unwrap();
        assert!(problem.contains("frame-end"), "{problem}");
        let problem = feed(&[started, frame(7, 0, &[])].concat()).err().unwrap();
        assert!(problem.contains("unknown type 7"), "{problem}");
    }

    #[test]
    fn a_content_header_announcing_a_huge_body_or_deep_headers_is_refused() {
        let header = |size: u64, headers: Option<&[u8]>| {
            let mut payload = vec![0, 60, 0, 0];
            payload.extend_from_slice(&size.to_be_bytes());
            match headers {
                Some(table) => {
                    payload.extend_from_slice(&0x2000u16.to_be_bytes());
                    payload.extend_from_slice(table);
                }
                None => payload.extend_from_slice(&0u16.to_be_bytes()),
            }
            frame(HEADER, 1, &payload)
        };
        let started = start_with(&nested_table(0));
        let with = |frame: Vec<u8>| [started.clone(), frame].concat();
        assert!(feed(&with(header(u64::MAX, None)))
            .err()
            .unwrap()
            .contains("over the limit of 512 MiB"));
        assert!(feed(&with(header(1 << 40, None))).is_err());
        assert!(feed(&with(header(1 << 20, Some(&nested_table(2))))).is_ok());
        assert!(feed(&with(header(10, Some(&nested_table(500)))))
            .err()
            .unwrap()
            .contains("nested"));
    }

    #[test]
    fn the_largest_body_a_rabbitmq_broker_may_send_is_accepted_and_one_byte_more_is_not() {
        // max_message_size can be raised to 512 MiB, RabbitMQ's hard limit (3.x's default is
        // 128 MiB): such a message is legitimate.
        let header = |size: u64| {
            let mut payload = vec![0, 60, 0, 0];
            payload.extend_from_slice(&size.to_be_bytes());
            payload.extend_from_slice(&0u16.to_be_bytes());
            [start_with(&nested_table(0)), frame(HEADER, 1, &payload)].concat()
        };
        for size in [(128 << 20) + 1, 200 << 20, 512 << 20] {
            assert!(feed(&header(size)).is_ok(), "{size} bytes");
        }
        let problem = feed(&header((512 << 20) + 1)).err().unwrap();
        assert!(problem.contains("over the limit of 512 MiB"), "{problem}");
    }

    #[test]
    fn a_tune_offering_heartbeat_0_is_handed_on_with_ours() {
        let mut tune = vec![0, 10, 0, 30, 0, 0];
        tune.extend_from_slice(&4096u32.to_be_bytes());
        tune.extend_from_slice(&0u16.to_be_bytes());
        let bytes = [start_with(&nested_table(0)), frame(METHOD, 0, &tune)].concat();
        let inbound = feed(&bytes).unwrap();
        let ready = inbound.ready();
        assert_eq!(
            &ready[ready.len() - 3..ready.len() - 1],
            &10u16.to_be_bytes()
        );
        assert_eq!(inbound.frame_max, 4096);
    }

    #[test]
    fn a_request_waits_until_its_answer_and_nowait_requests_do_not() {
        let shared = Shared::default();
        let mut out = Outbound::default();
        out.feed(b"AMQP\x00\x00\x09\x01", &shared);
        // Queue.Declare "q", durable, then QueueDeclare-Ok.
        let declare = frame(METHOD, 1, &[0, 50, 0, 10, 0, 0, 1, b'q', 0x02, 0, 0, 0, 0]);
        for byte in &declare {
            out.feed(&[*byte], &shared);
        }
        assert_eq!(
            lock(&shared).waiting.get(&1).map(|w| w.1),
            Some("Queue.Declare")
        );
        let mut inbound = Inbound::new(10);
        inbound.started = true;
        inbound
            .feed(&frame(METHOD, 1, &[0, 60, 0, 60]), &shared)
            .unwrap();
        assert!(
            lock(&shared).waiting.contains_key(&1),
            "a delivery is not the answer"
        );
        inbound
            .feed(
                &frame(METHOD, 1, &[0, 50, 0, 11, 1, b'q', 0, 0, 0, 0, 0, 0, 0, 0]),
                &shared,
            )
            .unwrap();
        assert!(lock(&shared).waiting.is_empty());
        // Confirm.Select with nowait, and a body frame: nothing to wait for.
        out.feed(&frame(METHOD, 1, &[0, 85, 0, 10, 1]), &shared);
        out.feed(&frame(BODY, 1, b"hello"), &shared);
        assert!(lock(&shared).waiting.is_empty());
    }
}
