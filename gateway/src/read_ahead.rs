//! A stream that first yields bytes already read from it, so hyper can serve a request the
//! early upgrade path read and then left to it.
//!
//! Hand-written because the crates that have one (hyper-util's and axum's `Rewind`) keep it
//! private; it is a few lines of buffer bookkeeping.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io` with `ahead` (bytes read from it earlier) put back in front of it.
#[derive(Debug)]
pub struct ReadAhead<IO> {
    io: IO,
    /// Bytes read from `io` before this reader took over, not yet read again.
    ahead: Vec<u8>,
    /// How much of `ahead` has been read.
    consumed: usize,
}

impl<IO> ReadAhead<IO> {
    /// `io`, whose next bytes are `ahead`.
    pub fn new(io: IO, ahead: Vec<u8>) -> Self {
        Self {
            io,
            ahead,
            consumed: 0,
        }
    }

    /// The stream and the bytes put back in front of it that nobody read yet.
    pub fn into_parts(self) -> (IO, Vec<u8>) {
        let mut ahead = self.ahead;
        ahead.drain(..self.consumed);
        (self.io, ahead)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ReadAhead<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let left = &this.ahead[this.consumed..];
        if left.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = left.len().min(buf.remaining());
        buf.put_slice(&left[..n]);
        this.consumed += n;
        if this.consumed == this.ahead.len() {
            this.ahead = Vec::new();
            this.consumed = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ReadAhead<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn yields_the_bytes_put_back_then_the_stream() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.expect("writes");
        drop(client);
        let mut reader = ReadAhead::new(server, b"hello".to_vec());
        let mut first = [0u8; 3];
        reader.read_exact(&mut first).await.expect("reads");
        assert_eq!(&first, b"hel");
        let mut rest = String::new();
        reader.read_to_string(&mut rest).await.expect("reads");
        assert_eq!(rest, "lo world");
    }

    #[tokio::test]
    async fn hands_back_what_nobody_read() {
        let (_client, server) = tokio::io::duplex(64);
        let mut reader = ReadAhead::new(server, b"abcdef".to_vec());
        let mut two = [0u8; 2];
        reader.read_exact(&mut two).await.expect("reads");
        let (_, left) = reader.into_parts();
        assert_eq!(left, b"cdef");
    }
}
