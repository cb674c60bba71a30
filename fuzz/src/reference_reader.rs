//! An independent reading of a client's byte stream: what RFC 6455 lets a server make of it.
//!
//! Written apart from `gateway::websocket` on purpose (a differential oracle shares no code
//! with what it checks). It holds the gateway to the rules it promises (README, PROTOCOL.md,
//! docs/websocket-conformance.md): a close code outside the registry fails the connection
//! (1002), and text or a close reason that is not UTF-8 fails it (1007) at the first byte that
//! can never become UTF-8, inside a fragment or a frame still arriving. Where the RFC leaves a
//! choice the gateway has not fixed (a length not in its shortest form, a control frame over
//! `max_message`), the expectation allows either answer.

use pushgate_gateway::websocket::{CloseFrame, Message, WebSocketError};

/// How a conforming server's stream of messages ends once it has yielded `messages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The input ended between whole messages: the stream ends without an error.
    Clean,
    /// The last message is the client's close: the stream ends without an error.
    Closed,
    /// The input breaks the protocol, breaks the size limit or stops midway: an error.
    Failed,
}

/// What a server must and may do with one input.
#[derive(Debug)]
pub struct Expectation {
    /// Every message the input holds before its end, its close or its first fault.
    pub messages: Vec<Message>,
    /// How the stream ends after `messages`.
    pub ending: Ending,
    /// Once it has yielded this many messages, the server may fail instead of going on: the
    /// input holds something a strict server refuses and a lenient one accepts (a length not
    /// in its shortest form, a control frame over `max_message`).
    pub may_fail_after: Option<usize>,
    /// A protocol error (1002) is a right answer somewhere in this input.
    pub protocol_error: bool,
    /// Text that is not UTF-8 (1007) is a right answer somewhere in this input.
    pub invalid_utf8: bool,
    /// A message or frame over `max_message` (1009) is a right answer somewhere in this input.
    pub too_large: bool,
    /// The input stops inside a frame or a fragmented message.
    pub truncated: bool,
}

/// Close codes that may travel in a close frame: RFC 6455 section 7.4.1, 1012-1014 as IANA
/// registered them later, and 3000-4999 for libraries and applications. The gateway refuses a
/// received close with any other code and never sends one (1005, 1006 and 1015 only report
/// locally that no code came, the connection dropped, or TLS failed).
pub fn close_code_is_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Whether `bytes` can still become UTF-8 when more bytes follow.
fn is_utf8_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none(),
    }
}

/// A data message whose fragments are still arriving.
#[derive(Debug)]
struct Partial {
    /// Whether it started as text, so it must end as UTF-8.
    text: bool,
    /// The unmasked payloads so far.
    data: Vec<u8>,
}

/// The reading in progress.
#[derive(Debug)]
struct Reader<'a> {
    /// The input not read yet.
    rest: &'a [u8],
    /// The server's message limit.
    max_message: usize,
    /// The fragmented message in progress, if any.
    partial: Option<Partial>,
    /// What has been found so far.
    expectation: Expectation,
}

impl Expectation {
    /// Read `input` (everything the client sends) as a server with `max_message` would.
    pub fn of(input: &[u8], max_message: usize) -> Self {
        let mut reader = Reader {
            rest: input,
            max_message,
            partial: None,
            expectation: Expectation {
                messages: Vec::new(),
                ending: Ending::Failed,
                may_fail_after: None,
                protocol_error: false,
                invalid_utf8: false,
                too_large: false,
                truncated: false,
            },
        };
        reader.expectation.ending = loop {
            if let Some(ending) = reader.step() {
                break ending;
            }
        };
        reader.expectation
    }

    /// Panic unless a server that yielded `yielded` and then ended with `end` (`None` for the
    /// stream's end, or the error it failed with) did what this expectation allows.
    pub fn check(&self, yielded: &[Message], end: Option<&WebSocketError>, max_message: usize) {
        for message in yielded {
            if let Message::Text(data) = message {
                assert!(data.len() <= max_message, "a message over the limit");
            }
            if let Message::Binary(data) = message {
                assert!(data.len() <= max_message, "a message over the limit");
            }
        }
        assert!(
            yielded.len() <= self.messages.len(),
            "the server yielded messages the input does not hold: {:?}",
            &yielded[self.messages.len()..]
        );
        assert_eq!(
            yielded,
            &self.messages[..yielded.len()],
            "the server's messages differ from the input's"
        );
        let all = yielded.len() == self.messages.len();
        let Some(error) = end else {
            assert!(
                all && self.ending != Ending::Failed,
                "the stream ended cleanly after {} of {} messages, expected {:?}",
                yielded.len(),
                self.messages.len(),
                self.ending,
            );
            return;
        };
        let early = self.may_fail_after.is_some_and(|at| yielded.len() >= at);
        assert!(
            (all && self.ending == Ending::Failed) || early,
            "the server failed with {error:?} after {} of {} messages (may fail after {:?})",
            yielded.len(),
            self.messages.len(),
            self.may_fail_after,
        );
        match error {
            WebSocketError::Protocol(_) => assert!(
                self.protocol_error,
                "{error:?}, but the input breaks no framing or close-code rule"
            ),
            WebSocketError::InvalidUtf8 => assert!(
                self.invalid_utf8,
                "{error:?}, but all text and close reasons are UTF-8 so far"
            ),
            WebSocketError::TooLarge { limit } => {
                assert_eq!(*limit, max_message, "the error names another limit");
                assert!(self.too_large, "{error:?}, but nothing is that large");
            }
            WebSocketError::Io(io) => assert!(
                self.truncated && io.kind() == std::io::ErrorKind::UnexpectedEof,
                "{error:?}, but the socket never failed and the input is whole"
            ),
        }
    }
}

impl Reader<'_> {
    /// The input can break a rule only a strict server enforces, or one an incremental server
    /// sees early: from here on, failing is allowed.
    fn may_fail(&mut self) {
        let at = self.expectation.messages.len();
        self.expectation.may_fail_after.get_or_insert(at);
    }

    fn yield_message(&mut self, message: Message) {
        self.expectation.messages.push(message);
    }

    /// The input ends before the current frame or message does.
    fn truncated(&mut self) -> Option<Ending> {
        self.expectation.truncated = true;
        Some(Ending::Failed)
    }

    /// Read one frame; `Some` once the stream ends.
    fn step(&mut self) -> Option<Ending> {
        if self.rest.is_empty() {
            return match self.partial {
                None => Some(Ending::Clean),
                Some(_) => self.truncated(),
            };
        }
        let Some((&[first, second], after_two)) = self.rest.split_first_chunk::<2>() else {
            return self.truncated();
        };
        let fin = first & 0x80 != 0;
        let opcode = first & 0x0F;
        let control = opcode & 0x08 != 0;
        let mut fault = first & 0x70 != 0
            || !matches!(opcode, 0x0 | 0x1 | 0x2 | 0x8 | 0x9 | 0xA)
            || second & 0x80 == 0
            || (control && !fin)
            || (!control && (opcode == 0) != self.partial.is_some());
        let short_length = second & 0x7F;
        let extended = match short_length {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let Some((length_bytes, after_length)) = after_two.split_at_checked(extended) else {
            // A control frame with an extended length is too long or not in shortest form.
            self.expectation.protocol_error |= fault || control;
            return self.truncated();
        };
        let length = match *length_bytes {
            [] => u64::from(short_length),
            [a, b] => u64::from(u16::from_be_bytes([a, b])),
            _ => u64::from_be_bytes(length_bytes.try_into().expect("eight length bytes")),
        };
        fault |= length >> 63 != 0 || (control && length > 125);
        let buffered = self
            .partial
            .as_ref()
            .map_or(0, |partial| partial.data.len());
        let oversized =
            !control && u128::from(length) + buffered as u128 > self.max_message as u128;
        if fault || oversized {
            self.expectation.protocol_error |= fault;
            self.expectation.too_large |= oversized;
            let whole = (after_length.len() as u128) >= 4 + u128::from(length);
            self.expectation.truncated |= !whole;
            return Some(Ending::Failed);
        }
        let shortest = match extended {
            0 => true,
            2 => length >= 126,
            _ => length > 0xFFFF,
        };
        if !shortest {
            self.may_fail();
            self.expectation.protocol_error = true;
        }
        if control && length > self.max_message as u64 {
            self.may_fail();
            self.expectation.too_large = true;
        }
        let length = usize::try_from(length).expect("within max_message or 125");
        let Some((mask, after_mask)) = after_length.split_first_chunk::<4>() else {
            return self.truncated();
        };
        let unmask = |bytes: &[u8]| -> Vec<u8> {
            bytes
                .iter()
                .zip(mask.iter().cycle())
                .map(|(byte, key)| byte ^ key)
                .collect()
        };
        let Some((payload, rest)) = after_mask.split_at_checked(length) else {
            // Every byte the client sent arrives before the end of the input does, so text
            // that already broke UTF-8 in the part of the frame that came fails with 1007,
            // not as a stream cut short.
            let text = opcode == 0x1 || self.partial.as_ref().is_some_and(|partial| partial.text);
            if text && !control {
                let mut seen = self
                    .partial
                    .as_ref()
                    .map_or_else(Vec::new, |p| p.data.clone());
                seen.extend(unmask(after_mask));
                if !is_utf8_prefix(&seen) {
                    self.expectation.invalid_utf8 = true;
                    return Some(Ending::Failed);
                }
            }
            return self.truncated();
        };
        let payload = unmask(payload);
        self.rest = rest;
        match opcode {
            0x8 => return Some(self.close(&payload)),
            0x9 => self.yield_message(Message::Ping(payload)),
            0xA => self.yield_message(Message::Pong(payload)),
            _ => {
                let partial = match self.partial.take() {
                    Some(mut partial) => {
                        partial.data.extend(payload);
                        partial
                    }
                    None => Partial {
                        text: opcode == 0x1,
                        data: payload,
                    },
                };
                // Bad UTF-8 fails the message at the fragment that holds it, before any
                // control frame or fragment after it is read.
                if partial.text && !is_utf8_prefix(&partial.data) {
                    self.expectation.invalid_utf8 = true;
                    return Some(Ending::Failed);
                }
                if !fin {
                    self.partial = Some(partial);
                    return None;
                }
                if !partial.text {
                    self.yield_message(Message::Binary(partial.data));
                    return None;
                }
                match String::from_utf8(partial.data) {
                    Ok(text) => self.yield_message(Message::Text(text)),
                    Err(_) => {
                        self.expectation.invalid_utf8 = true;
                        return Some(Ending::Failed);
                    }
                }
            }
        }
        None
    }

    /// The client's close frame: the last message, if its payload is sound.
    fn close(&mut self, payload: &[u8]) -> Ending {
        let frame = match payload {
            [] => None,
            [_] => {
                self.expectation.protocol_error = true;
                return Ending::Failed;
            }
            [high, low, reason @ ..] => {
                // A close with both faults may be refused for either.
                let code = u16::from_be_bytes([*high, *low]);
                let valid = close_code_is_valid(code);
                let reason = std::str::from_utf8(reason);
                self.expectation.protocol_error |= !valid;
                self.expectation.invalid_utf8 |= reason.is_err();
                let (Ok(reason), true) = (reason, valid) else {
                    return Ending::Failed;
                };
                Some(CloseFrame {
                    code,
                    reason: reason.to_owned(),
                })
            }
        };
        self.yield_message(Message::Close(frame));
        Ending::Closed
    }
}
