//! The gateway's WebSocket reading a client's bytes, against an independent reading of them.
//!
//! Input layout (hand-writable, so seeds are a `printf` away):
//! `[max_message: u16 LE] [already_read: u8] [n, n read steps] [n, n write steps]
//! [n, n owner actions] [the client's bytes ...]`, each `n` taken modulo 65; missing parts
//! are empty. Read and write steps are `0` for `Pending`, else how much may move (see
//! `ScriptedIo`). After each message the owner does the next action: nothing, echo, flush,
//! send a binary (up to 71 KB, so all three length forms appear), text, a ping, or close
//! (with a code from `OWNER_CLOSE_CODES`, some of which may not be sent).
//!
//! Checked: the messages are exactly the ones the input holds (text is whole and UTF-8, none
//! over `max_message`), up to where RFC 6455 lets the server stop; the stream ends cleanly
//! only on a whole input or after the client's close, and with the right kind of error
//! otherwise (an invalid close code is 1002, bad UTF-8 is 1007 at its fragment); after ending
//! it stays ended; `Pending` only when the socket was not ready; nothing is read while more
//! than `MAX_UNSENT` is unwritten; what the server writes is whole, unmasked, shortest-form
//! frames: the owner's messages in order, pongs for received pings with the latest one
//! answered, and one close, last, whose code may be sent (never 1005, 1006, 1015 or a
//! code outside the registry, not even when the owner or the client gave one); the answers
//! to a client's pings and close are queued only on top of at most `MAX_UNSENT`.

#![no_main]

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::{Sink, Stream};
use libfuzzer_sys::fuzz_target;
use pushgate_fuzz::reference_reader::{Expectation, close_code_is_valid};
use pushgate_fuzz::scripted_io::{IoRecord, ScriptedIo};
use pushgate_fuzz::written_frames::{WrittenFrame, read_written};
use pushgate_gateway::websocket::{CloseFrame, Message, WebSocket};
use pushgate_protocol::ErrorCode;

type Socket = WebSocket<ScriptedIo>;

/// The fuzz input, split as the module documentation says.
struct Input<'a> {
    /// The socket's message limit, small enough to be hit often.
    max_message: usize,
    /// How many of the client's bytes arrived with the upgrade request.
    already_read: usize,
    /// The read script (see `ScriptedIo`).
    reads: &'a [u8],
    /// The write script.
    writes: &'a [u8],
    /// The owner's actions.
    actions: &'a [u8],
    /// Everything the client sends.
    stream: &'a [u8],
}

impl<'a> Input<'a> {
    fn parse(mut data: &'a [u8]) -> Self {
        let mut take = |n: usize| {
            let (taken, rest) = data.split_at(n.min(data.len()));
            data = rest;
            taken
        };
        let max_message = match *take(2) {
            [low, high] => usize::from(u16::from_le_bytes([low, high])),
            _ => 0,
        };
        let already_read = take(1).first().map_or(0, |&n| usize::from(n));
        let mut counted = || {
            let n = take(1).first().map_or(0, |&n| usize::from(n) % 65);
            take(n)
        };
        let (reads, writes, actions) = (counted(), counted(), counted());
        Input {
            max_message,
            already_read,
            reads,
            writes,
            actions,
            stream: data,
        }
    }
}

/// Poll until ready, the way a runtime would after each wake-up, and panic if the socket
/// answers `Pending` while its own socket never did: then nothing would wake the task.
fn until_ready<T>(
    socket: &mut Socket,
    record: &RefCell<IoRecord>,
    mut poll: impl FnMut(Pin<&mut Socket>, &mut Context<'_>) -> Poll<T>,
) -> T {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        let pendings = record.borrow().pendings;
        if let Poll::Ready(value) = poll(Pin::new(socket), &mut cx) {
            return value;
        }
        assert!(
            record.borrow().pendings > pendings,
            "Pending though the socket was ready: nothing would wake this task"
        );
    }
}

/// The close code the owner sends when nothing went wrong.
const OWNER_CLOSE_CODE: u16 = 1000;

/// Codes the owner's close action picks from: valid ones go out as they are; 1005, 1006,
/// 1015 and the unregistered ones must never reach the wire.
const OWNER_CLOSE_CODES: [u16; 8] = [1000, 1005, 4000, 1006, 1014, 1015, 999, 1004];

/// Unwritten output past which the gateway reads nothing more (docs/websocket-conformance.md,
/// "backpressure"): reading is what makes a client's pings and closes add output.
const MAX_UNSENT: usize = 64 * 1024;

/// The most a client's control frames add on top of `MAX_UNSENT`: the newest ping's pong and
/// the answer to its close, each a control frame of at most 2 + 125 bytes.
const CLIENT_ANSWERS: usize = 2 * (2 + 125);

/// The socket's owner, as the gateway's connection task uses it.
struct Owner<'a> {
    /// The socket under test.
    socket: Socket,
    /// What the socket underneath saw, to check `Pending` answers and the bytes written.
    record: Rc<RefCell<IoRecord>>,
    /// What to do after each message read, one byte each; nothing once they run out.
    actions: std::slice::Iter<'a, u8>,
    /// Text, binary and ping messages the socket accepted for sending.
    sent: Vec<Message>,
    /// The close the socket accepted from the owner.
    close: Option<CloseFrame>,
    /// The client's close, once read (the socket answers it itself).
    client_close: Option<Option<CloseFrame>>,
    /// Pings read before any close was sent: each wants a pong.
    pings: Vec<Vec<u8>>,
    /// The stream failed: the socket may have sent its own close (1002, 1007, 1009).
    failed: bool,
}

impl Owner<'_> {
    fn send(&mut self, message: Message) {
        until_ready(&mut self.socket, &self.record, |socket, cx| {
            socket.poll_ready(cx)
        })
        .expect("the in-memory socket never fails");
        match Pin::new(&mut self.socket).start_send(message.clone()) {
            Ok(()) => match message {
                Message::Close(frame) => self.close = Some(frame.expect("the owner gives a code")),
                message => self.sent.push(message),
            },
            Err(error) => assert!(
                self.close.is_some() || self.client_close.is_some() || self.failed,
                "sending failed before any close: {error:?}"
            ),
        }
    }

    /// React to one message read, by the next scripted action.
    fn on_message(&mut self, message: &Message) {
        match message {
            Message::Ping(payload) if self.close.is_none() => self.pings.push(payload.clone()),
            Message::Close(frame) => self.client_close = Some(frame.clone()),
            _ => {}
        }
        let action = self.actions.next().copied().unwrap_or(0);
        let amount = usize::from(action >> 3);
        match action & 7 {
            1 => {
                if let Message::Text(_) | Message::Binary(_) = message {
                    self.send(message.clone());
                }
            }
            2 => until_ready(&mut self.socket, &self.record, |socket, cx| {
                socket.poll_flush(cx)
            })
            .expect("the in-memory socket never fails"),
            3 => self.send(Message::Binary(vec![action; amount * 2300])),
            4 => self.send(Message::Text("aé€😀".repeat(amount))),
            5 => self.send(Message::Close(Some(CloseFrame {
                code: OWNER_CLOSE_CODES[usize::from(action >> 3) % OWNER_CLOSE_CODES.len()],
                reason: "ß€".chars().cycle().take(amount * 5).collect(),
            }))),
            6 => self.send(Message::Ping(vec![action; amount * 4])),
            _ => {}
        }
    }
}

/// Panic if the socket reads (or yields `message`) while it holds more unwritten output than
/// reading is allowed with. What it holds is known from below only: what it offered to its
/// last write and the write did not take.
fn check_reading_stopped(record: &RefCell<IoRecord>, message: &Message) {
    let record = record.borrow();
    assert!(
        record.most_unwritten_at_read <= MAX_UNSENT,
        "read with {} bytes unwritten",
        record.most_unwritten_at_read
    );
    // A ping or close just read may have queued its answers.
    let answers = match message {
        Message::Ping(_) | Message::Close(_) => CLIENT_ANSWERS,
        _ => 0,
    };
    assert!(
        record.unwritten <= MAX_UNSENT + answers,
        "{message:?} read with {} bytes unwritten",
        record.unwritten
    );
}

/// Panic unless every frame a client's ping or close caused (`answers`) was queued on top of
/// at most `MAX_UNSENT` unwritten bytes, and at most two pongs (one being written, the newest
/// ping's answer behind it) were ever unwritten at once.
fn check_client_output_bounded(record: &IoRecord, frames: &[WrittenFrame], answers: &[bool]) {
    assert!(
        record.most_unwritten_at_read <= MAX_UNSENT,
        "read with {} bytes unwritten",
        record.most_unwritten_at_read
    );
    for offer in &record.offers {
        let held: Vec<&WrittenFrame> = frames
            .iter()
            .zip(answers)
            .filter(|(frame, answer)| {
                **answer && frame.at.start < offer.end && frame.at.end > offer.start
            })
            .map(|(frame, _)| frame)
            .collect();
        for frame in &held {
            let through = frame.at.end.min(offer.end) - offer.start;
            assert!(
                through <= MAX_UNSENT + CLIENT_ANSWERS,
                "an answer to the client held behind {through} unwritten bytes"
            );
        }
        let pongs = held.iter().filter(|frame| frame.opcode == 0xA).count();
        assert!(pongs <= 2, "{pongs} pongs unwritten at once");
    }
}

fn check_written(owner: &Owner<'_>) {
    let frames = read_written(&owner.record.borrow().written);
    let Some((
        WrittenFrame {
            opcode: 0x8,
            payload: close,
            ..
        },
        before,
    )) = frames.split_last()
    else {
        panic!("the last frame written is not a close: {frames:?}");
    };
    assert!(
        before.iter().all(|frame| frame.opcode != 0x8),
        "more than one close"
    );
    let owners: Vec<Message> = before
        .iter()
        .filter_map(|frame| match frame.opcode {
            0x1 => Some(Message::Text(
                String::from_utf8(frame.payload.clone()).expect("text frames are UTF-8"),
            )),
            0x2 => Some(Message::Binary(frame.payload.clone())),
            0x9 => Some(Message::Ping(frame.payload.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(owners, owner.sent, "the owner's messages, in order");
    let pongs: Vec<&[u8]> = before
        .iter()
        .filter(|frame| frame.opcode == 0xA)
        .map(|frame| frame.payload.as_slice())
        .collect();
    let mut pings = owner.pings.iter();
    assert!(
        pongs
            .iter()
            .all(|pong| pings.any(|ping| ping.as_slice() == *pong)),
        "pongs {pongs:?} answer no pings {:?} in order",
        owner.pings
    );
    // RFC 6455 5.5.3: several pings may get one pong, for the most recent one.
    assert_eq!(
        pongs.last().copied(),
        owner.pings.last().map(Vec::as_slice),
        "the latest ping is not answered last"
    );
    let (code, reason) = match close.split_first_chunk::<2>() {
        Some((code, reason)) => (Some(u16::from_be_bytes(*code)), reason),
        None => {
            assert!(close.is_empty(), "a close payload of one byte");
            (None, &[][..])
        }
    };
    let reason = std::str::from_utf8(reason).expect("the close reason is UTF-8");
    assert!(
        code.is_none_or(close_code_is_valid),
        "a close with code {code:?}, which may not be sent (owner's {:?}, client's {:?})",
        owner.close,
        owner.client_close
    );
    match (&owner.close, &owner.client_close) {
        (Some(sent), _) if close_code_is_valid(sent.code) => {
            assert_eq!(code, Some(sent.code), "the owner's close code");
            let mut end = sent.reason.len().min(123);
            while !sent.reason.is_char_boundary(end) {
                end -= 1;
            }
            assert_eq!(reason, &sent.reason[..end], "the longest reason that fits");
        }
        (Some(_), _) | (None, Some(_)) => {}
        (None, None) => assert!(
            owner.failed && code.is_some(),
            "the server closed by itself with {code:?}"
        ),
    }
    // Pongs always answer the client; the close does when the owner never sent one.
    let echo = owner.close.is_none() && owner.client_close.is_some();
    let answers: Vec<bool> = frames
        .iter()
        .enumerate()
        .map(|(at, frame)| frame.opcode == 0xA || (echo && at == frames.len() - 1))
        .collect();
    check_client_output_bounded(&owner.record.borrow(), &frames, &answers);
}

fuzz_target!(|data: &[u8]| {
    let input = Input::parse(data);
    let expectation = Expectation::of(input.stream, input.max_message);
    let (already_read, rest) = input
        .stream
        .split_at(input.already_read.min(input.stream.len()));
    let (io, record) = ScriptedIo::new(rest, input.reads, input.writes);
    let mut owner = Owner {
        socket: WebSocket::new(io, already_read, input.max_message),
        record,
        actions: input.actions.iter(),
        sent: Vec::new(),
        close: None,
        client_close: None,
        pings: Vec::new(),
        failed: false,
    };
    let mut yielded = Vec::new();
    let end = loop {
        let next = until_ready(&mut owner.socket, &owner.record, |socket, cx| {
            socket.poll_next(cx)
        });
        match next {
            Some(Ok(message)) => {
                check_reading_stopped(&owner.record, &message);
                owner.on_message(&message);
                yielded.push(message);
            }
            Some(Err(error)) => break Some(error),
            None => break None,
        }
    };
    expectation.check(&yielded, end.as_ref(), input.max_message);
    owner.failed = end.is_some();
    for _ in 0..2 {
        let next = until_ready(&mut owner.socket, &owner.record, |socket, cx| {
            socket.poll_next(cx)
        });
        assert!(next.is_none(), "the stream went on after its end: {next:?}");
    }
    // As the gateway does: close (with the fault's code after one), then shut the socket down.
    let code = end
        .as_ref()
        .and_then(|error| error.error_code())
        .map_or(OWNER_CLOSE_CODE, ErrorCode::close_code);
    if owner.close.is_none() {
        owner.send(Message::Close(Some(CloseFrame {
            code,
            reason: String::new(),
        })));
    }
    until_ready(&mut owner.socket, &owner.record, |socket, cx| {
        socket.poll_close(cx)
    })
    .expect("the in-memory socket never fails");
    assert!(
        owner.record.borrow().shut_down,
        "poll_close did not shut down"
    );
    check_written(&owner);
});
