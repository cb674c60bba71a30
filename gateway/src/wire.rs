//! The byte stream under a transport: the one loop that writes a transport's queued bytes, and
//! the readiness tokio must be told to forget.
//!
//! A new socket's first write is the `101` (or the event stream's head) with `welcome`, and
//! tokio would hold it back for a turn of the event loop: it learns that a socket it just
//! registered is writable only from epoll's next report, so `poll_write` on a fresh socket
//! waits, the connection task is woken a second time, and the write timeout's timer is set
//! and cleared, all to send a few hundred bytes the kernel would have taken at once (its
//! buffer of a new socket is empty). Like nginx, which writes a response as soon as it has
//! one, the first write goes straight to the kernel; if the kernel takes only part (it never
//! does for a head and a welcome, but a wire makes no such promise), the rest waits for
//! tokio's readiness as every later write does.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, Interest};
use tokio::net::TcpStream;

/// An async byte stream that can also be written without waiting for the runtime.
pub trait Wire: AsyncRead + AsyncWrite + Unpin {
    /// Write what the kernel takes now, without asking the runtime whether it is writable;
    /// `WouldBlock` when it takes nothing (or the wire has no kernel side to try).
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize>;
}

impl Wire for TcpStream {
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut &*socket2::SockRef::from(self), bytes)
    }
}

/// The pipe into a response body that hyper serves (an event stream opened through axum): its
/// writes never wait for an event loop's turn, so there is nothing to gain.
impl Wire for DuplexStream {
    fn write_now(&self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// Have tokio forget that `tcp` is readable, once a read that took less than it asked for (or
/// a look at the kernel's queue) showed that nothing is left: tokio itself learns it only from
/// a read that fails, a system call for nothing. An `Err(WouldBlock)` from `try_io` is how
/// it is told.
pub fn forget_read_readiness(tcp: &TcpStream) {
    let _ = tcp.try_io(Interest::READABLE, || {
        Err::<(), _>(io::ErrorKind::WouldBlock.into())
    });
}

/// Write `queued[*written..]` to `wire`, moving `written` on as the wire takes bytes, then
/// free the buffer (an idle transport holds none); the first write of a wire (`*fresh`) goes
/// straight to the kernel (see the module doc).
pub fn poll_write_queued<W: Wire>(
    wire: &mut W,
    cx: &mut Context<'_>,
    queued: &mut Vec<u8>,
    written: &mut usize,
    fresh: &mut bool,
) -> Poll<io::Result<()>> {
    while *written < queued.len() {
        let unsent = &queued[*written..];
        let n = if *fresh {
            *fresh = false;
            match wire.write_now(unsent) {
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Poll::Ready(Err(error)),
            }
        } else {
            ready!(Pin::new(&mut *wire).poll_write(cx, unsent))?
        };
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        *written += n;
    }
    *queued = Vec::new();
    *written = 0;
    Poll::Ready(Ok(()))
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let client = TcpStream::connect(listener.local_addr().expect("address"));
        let (client, accepted) = tokio::join!(client, listener.accept());
        (accepted.expect("accepts").0, client.expect("connects"))
    }

    #[tokio::test]
    async fn a_fresh_socket_is_written_in_the_first_poll() {
        let (mut server, mut client) = pair().await;
        let (mut written, mut fresh) = (0, true);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        // tokio has not seen the socket writable yet: without the straight write, this would
        // be `Pending` until the next turn of the event loop.
        let mut queued = b"hello".to_vec();
        let first = poll_write_queued(&mut server, &mut cx, &mut queued, &mut written, &mut fresh);
        assert!(matches!(first, Poll::Ready(Ok(()))), "{first:?}");
        assert!(!fresh, "the straight write is spent");
        assert!(
            queued.is_empty() && queued.capacity() == 0 && written == 0,
            "buffer freed"
        );
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.expect("reads");
        assert_eq!(&got, b"hello");
    }

    #[tokio::test]
    async fn what_the_kernel_does_not_take_waits_for_readiness() {
        let (mut server, mut client) = pair().await;
        // Far more than a socket buffers, and the client does not read yet.
        let len = 16 << 20;
        let mut big = vec![7u8; len];
        let (mut written, mut fresh) = (0, true);
        let mut write = Box::pin(poll_fn(|cx| {
            poll_write_queued(&mut server, cx, &mut big, &mut written, &mut fresh)
        }));
        let waker = futures_util::task::noop_waker();
        assert!(
            write
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.expect("reads");
            all
        });
        write
            .await
            .expect("writes everything once the client reads");
        drop(server);
        let all = reader.await.expect("reader");
        assert_eq!(all.len(), len);
        assert!(all.iter().all(|b| *b == 7));
    }

    #[tokio::test]
    async fn a_forgotten_readiness_waits_for_new_bytes() {
        let (server, mut client) = pair().await;
        client.write_all(b"head").await.expect("writes");
        server.readable().await.expect("readable");
        let mut buf = [0u8; 64];
        assert_eq!(server.try_read(&mut buf).expect("reads"), 4);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let ready = |cx: &mut Context<'_>| {
            let mut ready = Box::pin(server.ready(Interest::READABLE));
            ready.as_mut().poll(cx).is_ready()
        };
        // A successful read leaves tokio believing that more may be there...
        assert!(ready(&mut cx), "still readable after a short read");
        forget_read_readiness(&server);
        // ...until told otherwise; then it waits for epoll to report new bytes.
        assert!(!ready(&mut cx), "forgotten");
        client.write_all(b"more").await.expect("writes");
        server.readable().await.expect("readable again");
        assert_eq!(server.try_read(&mut buf).expect("reads"), 4);
    }

    #[tokio::test]
    async fn a_pipe_is_written_through_the_runtime() {
        let (mut ours, mut theirs) = tokio::io::duplex(64);
        let (mut written, mut fresh) = (0, true);
        let mut queued = b"event".to_vec();
        poll_fn(|cx| poll_write_queued(&mut ours, cx, &mut queued, &mut written, &mut fresh))
            .await
            .expect("writes");
        let mut got = [0u8; 5];
        theirs.read_exact(&mut got).await.expect("reads");
        assert_eq!(&got, b"event");
    }
}
