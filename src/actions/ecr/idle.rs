//! A connection that gives up when no byte moves, either way, for a while: the registry's and
//! the daemon's connections get it, so a peer that stops answering in the middle of an upload
//! (or never answers) ends in an error instead of holding the run until something kills it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use tokio::time::{Instant, Sleep};

/// How long a connection to a registry or a daemon may take to open.
pub fn connect_timeout(idle: Duration) -> Duration {
    idle.min(Duration::from_secs(10))
}

pub struct Idle<T> {
    inner: T,
    limit: Duration,
    /// When a byte last moved, either way.
    moved: Instant,
    /// Wakes the connection when `limit` after `moved` passes. It is moved on, never dropped: a
    /// read left waiting must be woken even when writes moved bytes since it began to wait.
    timer: Pin<Box<Sleep>>,
}

impl<T> Idle<T> {
    /// Within a Tokio runtime.
    pub fn new(inner: T, limit: Duration) -> Idle<T> {
        Idle {
            inner,
            limit,
            moved: Instant::now(),
            timer: Box::pin(tokio::time::sleep(limit)),
        }
    }

    /// `moved` is the inner connection's answer to a read or a write: ready (something moved,
    /// or it failed) restarts the idle clock; pending waits on the timer, and its end is an error.
    fn watch<R>(&mut self, cx: &mut Context<'_>, moved: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if moved.is_ready() {
            self.moved = Instant::now();
            return moved;
        }
        self.waiting(cx)
    }

    /// A flush or shutdown moves no byte of its own: done, it leaves the clock as it is (a
    /// client flushes while it waits for the answer); pending, it waits on the timer too.
    fn settle<R>(&mut self, cx: &mut Context<'_>, done: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if done.is_ready() {
            return done;
        }
        self.waiting(cx)
    }

    fn waiting<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let due = self.moved + self.limit;
        if self.timer.deadline() != due {
            self.timer.as_mut().reset(due);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(idle_error(self.limit))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error a connection ends with when nothing moved for `limit`.
pub fn idle_error(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no byte moved for {} s (AWS_ATTEMPT_TIMEOUT)", limit.as_secs()),
    )
}

impl<T: Read + Unpin> Read for Idle<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let moved = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.watch(cx, moved)
    }
}

impl<T: Write + Unpin> Write for Idle<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let moved = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, moved)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let done = Pin::new(&mut this.inner).poll_flush(cx);
        this.settle(cx, done)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let done = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.settle(cx, done)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let moved = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, moved)
    }
}

impl<T: Connection> Connection for Idle<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_silent_peer_ends_the_read_and_a_talking_one_does_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let talker = tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await.unwrap();
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(60)).await;
                peer.write_all(b"x").await.unwrap();
            }
            // then silence, the connection left open
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut idle = Idle::new(TokioIo::new(stream), Duration::from_millis(150));
        let mut got = 0;
        let error = loop {
            let mut buffer = [0u8; 8];
            let mut buf = hyper::rt::ReadBuf::new(&mut buffer);
            let read = std::future::poll_fn(|cx| {
                // A client flushes while it waits for the answer: that is no byte moved.
                let _ = Pin::new(&mut idle).poll_flush(cx);
                Pin::new(&mut idle).poll_read(cx, buf.unfilled())
            })
            .await;
            match read {
                Ok(()) if buf.filled().is_empty() => panic!("the peer closed"),
                Ok(()) => got += buf.filled().len(),
                Err(err) => break err,
            }
        };
        assert_eq!(got, 4, "bytes 60 ms apart are not idle");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        talker.abort();
    }
}
