//! A listening socket that accepts without the failed `accept4` tokio's listener makes after
//! every connection.
//!
//! tokio's `TcpListener` learns that the accept queue is empty only from an `accept4` that
//! fails with `EAGAIN`, so a node woken for one connection made two calls. A failing
//! `accept4` is not cheap on Linux: the kernel allocates the new socket's inode and file
//! before it looks at the queue and frees them again, about 4.5 us of CPU here, close to a
//! tenth of a connect. Like nginx (one `accept` per readiness event), this listener asks the
//! kernel instead with a zero-timeout `poll` after each connection (a fraction of that) and
//! forgets the readiness when the queue is empty.
//!
//! Nothing is lost: epoll (edge-triggered, as tokio registers) reports every connection that
//! arrives after that `poll`, and the `poll` sees every one that arrived before it.
//!
//! tokio offers readiness and `try_io` for streams but not for listeners (its `AsyncFd` can
//! only be built with unsafe code now), so the listening socket is registered as a
//! `TcpStream`: epoll treats every socket alike, and nothing here reads or writes through it.
//!
//! On Linux the listener can also defer each connection until its first bytes arrive
//! ([`Listener::defer_accept`], nginx's `listen ... deferred`): a client connects and then
//! writes its request, and a node that accepts in between finds nothing to read and must be
//! woken a second time when the request comes. Under a connect storm at 2,000 a second that
//! was about half the connections, a failed `recv` and a thread's wake-up each
//! (BENCHMARKS.md, CPU per connect).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::net::SocketFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// A non-blocking listening socket watched by the runtime.
#[derive(Debug)]
pub struct Listener {
    /// The listening socket, registered as a stream for its readiness (see the module doc).
    watched: TcpStream,
    /// Whether the last accept saw another connection waiting behind it. Atomic only because
    /// the accept future borrows the listener across awaits and so needs it `Sync`; its one
    /// accepting task reads and writes it.
    more_waiting: AtomicBool,
}

impl Listener {
    /// Watch `listener` (already bound and listening) on the current runtime.
    pub fn new(listener: std::net::TcpListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let as_stream = std::net::TcpStream::from(std::os::fd::OwnedFd::from(listener));
        Ok(Self {
            watched: TcpStream::from_std(as_stream)?,
            more_waiting: AtomicBool::new(false),
        })
    }

    /// The next connection, non-blocking and registered with the runtime, and its peer.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            self.watched.readable().await?;
            let accepted = self.watched.try_io(Interest::READABLE, || {
                rustix::net::acceptfrom_with(
                    &self.watched,
                    SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
                )
                .map_err(io::Error::from)
            });
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Err(error),
            };
            let more = self.has_more();
            self.more_waiting.store(more, Ordering::Relaxed);
            if !more {
                crate::wire::forget_read_readiness(&self.watched);
            }
            let peer = peer
                .and_then(|peer| SocketAddr::try_from(peer).ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP peer"))?;
            let tcp = TcpStream::from_std(std::net::TcpStream::from(socket))?;
            return Ok((tcp, peer));
        }
    }

    /// Whether another connection waits in the accept queue. On error, assume one does: the
    /// next `accept4` then finds out.
    fn has_more(&self) -> bool {
        let mut fds = [PollFd::new(&self.watched, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::event::poll(&mut fds, Some(&now)).map_or(true, |ready| ready > 0)
    }

    /// Whether another connection waited in the accept queue when the last one was taken:
    /// the next `accept` returns at once.
    pub fn more_waiting(&self) -> bool {
        self.more_waiting.load(Ordering::Relaxed)
    }

    /// The socket itself, for socket options.
    pub fn socket(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(&self.watched)
    }

    /// Have the kernel hand a connection over only once its first bytes have arrived, or
    /// about `wait` after its handshake (rounded up to the kernel's SYN-ACK retransmissions);
    /// only for protocols where the client speaks first, as in HTTP. A client that stays
    /// silent meanwhile holds no file and no task, only the kernel's half-open entry.
    /// Elsewhere than on Linux this does nothing.
    pub fn defer_accept(&self, wait: Duration) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let seconds = usize::try_from(wait.as_secs()).unwrap_or(usize::MAX).max(1);
            nix::sys::socket::setsockopt(&self.watched, linux::TcpDeferAccept, &seconds)?;
        }
        #[cfg(not(target_os = "linux"))]
        let _ = wait;
        Ok(())
    }
}

/// The socket option nix does not define: std's setter is unstable, and neither socket2 nor
/// rustix has one. nix's public macro for options it lacks writes the `setsockopt` call (an
/// `int` value and its size, sound whatever the option), so no unsafe code is ours.
#[cfg(target_os = "linux")]
mod linux {
    use nix::libc;
    use nix::{setsockopt_impl, sockopt_impl};

    sockopt_impl!(
        /// `TCP_DEFER_ACCEPT`, in seconds.
        TcpDeferAccept,
        SetOnly,
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        usize
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepts_every_connection_of_a_burst() {
        let std = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = std.local_addr().expect("address");
        let listener = Listener::new(std).expect("watches");
        // Several connections queued before the first accept: one readiness event for all.
        let clients: Vec<_> = (0..5)
            .map(|_| std::net::TcpStream::connect(addr).expect("connects"))
            .collect();
        let mut peers = Vec::new();
        for _ in &clients {
            peers.push(listener.accept().await.expect("accepts").1);
            assert_eq!(listener.more_waiting(), peers.len() < clients.len());
        }
        for client in &clients {
            assert!(peers.contains(&client.local_addr().expect("address")));
        }
        // Then one more, after the queue was seen empty and the readiness forgotten.
        let late = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let (_, peer) = listener.accept().await.expect("accepts the late one");
        assert_eq!(peer, late.local_addr().expect("address"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_deferred_listener_hands_over_a_connection_once_it_has_spoken() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let std = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = std.local_addr().expect("address");
        let listener = Listener::new(std).expect("watches");
        listener
            .defer_accept(Duration::from_secs(60))
            .expect("defers");
        // Connected first (its handshake done on its side) but silent: the kernel keeps it.
        let silent = TcpStream::connect(addr).await.expect("connects");
        let mut speaking = TcpStream::connect(addr).await.expect("connects");
        speaking
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("writes");
        let (mut socket, peer) = listener.accept().await.expect("accepts");
        assert_eq!(peer, speaking.local_addr().expect("address"));
        let mut first = [0; 32];
        assert_eq!(socket.read(&mut first).await.expect("reads"), 16);
        drop(silent);
    }
}
