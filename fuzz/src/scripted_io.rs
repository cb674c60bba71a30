//! An in-memory socket whose reads and writes follow a fuzz-chosen script.

use std::cell::RefCell;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One step of a read or write script, taken from one fuzz byte.
///
/// `0` is "not ready now" (`Poll::Pending`), anything else is "ready, taking at most this
/// much". When a script runs out the socket is always ready and takes all it is offered, so
/// every run ends: a socket that still stalls then is a bug, not the script.
#[derive(Debug)]
struct Script {
    /// The steps not taken yet, the next one last.
    steps: Vec<u8>,
    /// Bytes one ready step allows per unit of its value (reads are small, writes can be
    /// 70 KB frames).
    unit: usize,
}

impl Script {
    /// `Some(limit)` to go ahead with at most `limit` bytes, `None` to answer `Pending`.
    fn next(&mut self) -> Option<usize> {
        match self.steps.pop() {
            Some(0) => None,
            Some(step) => Some(usize::from(step) * self.unit),
            None => Some(usize::MAX),
        }
    }
}

/// What the server did to its socket, kept outside it: the WebSocket owns the socket and
/// offers no way back to it.
#[derive(Debug, Default)]
pub struct IoRecord {
    /// Every byte the server wrote, to check its frames afterwards.
    pub written: Vec<u8>,
    /// How often the socket answered `Pending`: a WebSocket may only answer `Pending` when
    /// its socket did, or nothing would ever wake its task.
    pub pendings: u64,
    /// The server shut its side down.
    pub shut_down: bool,
    /// For each write, the bytes offered, as positions in `written` (once all are written):
    /// output the server held unwritten at that moment, to bound what a client makes it hold.
    pub offers: Vec<Range<usize>>,
    /// Bytes offered to the last write and not taken: the server holds at least this much
    /// unwritten until it writes again.
    pub unwritten: usize,
    /// The largest `unwritten` at any read: reading must stop while too much is unwritten.
    pub most_unwritten_at_read: usize,
}

/// The client's side of a WebSocket: serves `input`, records what the server does.
#[derive(Debug)]
pub struct ScriptedIo {
    /// What the client sends, in order.
    input: Vec<u8>,
    /// How much of `input` has been read.
    read_at: usize,
    /// How reads are chunked and delayed.
    reads: Script,
    /// How writes are cut short and delayed.
    writes: Script,
    /// Shared with the harness, which reads it while the WebSocket owns this socket.
    record: Rc<RefCell<IoRecord>>,
}

impl ScriptedIo {
    /// A socket serving `input`, read in chunks by `reads`, written to by `writes`, and the
    /// record of what is done to it.
    pub fn new(input: &[u8], reads: &[u8], writes: &[u8]) -> (Self, Rc<RefCell<IoRecord>>) {
        let record = Rc::new(RefCell::new(IoRecord::default()));
        let io = Self {
            input: input.to_vec(),
            read_at: 0,
            reads: Script {
                steps: reads.iter().rev().copied().collect(),
                unit: 1,
            },
            writes: Script {
                steps: writes.iter().rev().copied().collect(),
                unit: 16,
            },
            record: Rc::clone(&record),
        };
        (io, record)
    }

    fn pending<T>(&mut self) -> Poll<T> {
        self.record.borrow_mut().pendings += 1;
        Poll::Pending
    }
}

impl AsyncRead for ScriptedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        {
            let mut record = this.record.borrow_mut();
            record.most_unwritten_at_read = record.most_unwritten_at_read.max(record.unwritten);
        }
        let Some(limit) = this.reads.next() else {
            return this.pending();
        };
        let rest = &this.input[this.read_at..];
        let n = rest.len().min(limit).min(buf.remaining());
        buf.put_slice(&rest[..n]);
        this.read_at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ScriptedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut record = this.record.borrow_mut();
        assert!(!record.shut_down, "the server wrote after shutting down");
        let at = record.written.len();
        record.offers.push(at..at + buf.len());
        let Some(limit) = this.writes.next() else {
            record.unwritten = buf.len();
            drop(record);
            return this.pending();
        };
        let n = buf.len().min(limit);
        record.unwritten = buf.len() - n;
        record.written.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.record.borrow_mut().shut_down = true;
        Poll::Ready(Ok(()))
    }
}
