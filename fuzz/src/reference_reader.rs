//! An independent reading of a client's byte stream: what RFC 6455 lets a server make of it.
//!
//! Written apart from `gateway::websocket` on purpose (a differential oracle shares no code
//! with what it checks). Where the RFC leaves a choice, or where a server may notice a fault
//! earlier than the frame that completes it, the expectation allows either answer instead of
//! fixing one implementation's.

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
    /// input holds something a strict server refuses and a lenient one accepts (an unknown
    /// close code, a length not in its shortest form), or a fault an incremental server sees
    /// before the frame that completes the message (bad UTF-8 in a text fragment).
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

/// Close codes a server must accept (RFC 6455 section 7.4.1, and 3000-4999 for libraries and
/// applications). 1012-1014 are registered later with IANA, so a server may accept them too;
/// everything else may be refused.
fn close_code_is_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
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
            // Until 1007 has its own error, invalid UTF-8 is a protocol error too.
            WebSocketError::Protocol(_) => assert!(
                self.protocol_error || self.invalid_utf8,
                "{error:?}, but the input breaks no rule"
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
            // A server reading text as it arrives may see bad UTF-8 in a frame's first bytes.
            let text = opcode == 0x1 || self.partial.as_ref().is_some_and(|partial| partial.text);
            if text && !control {
                let mut seen = self
                    .partial
                    .as_ref()
                    .map_or_else(Vec::new, |p| p.data.clone());
                seen.extend(unmask(after_mask));
                self.expectation.invalid_utf8 |= !is_utf8_prefix(&seen);
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
                if partial.text && !is_utf8_prefix(&partial.data) {
                    self.may_fail();
                    self.expectation.invalid_utf8 = true;
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
                let Ok(reason) = std::str::from_utf8(reason) else {
                    // RFC 6455 asks for 1007; 1002 is what servers commonly send.
                    self.expectation.invalid_utf8 = true;
                    self.expectation.protocol_error = true;
                    return Ending::Failed;
                };
                let code = u16::from_be_bytes([*high, *low]);
                if !close_code_is_valid(code) {
                    self.may_fail();
                    self.expectation.protocol_error = true;
                }
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
