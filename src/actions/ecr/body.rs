//! Request bodies for the registry and the daemon: empty, a small buffer, or a region of a file
//! streamed in small pieces, so a layer is never held whole in memory.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use tokio::sync::mpsc;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// One read from the file; with `QUEUED` pieces in flight, an upload holds about 1 MiB.
const PIECE: usize = 256 * 1024;
const QUEUED: usize = 3;

pub fn empty() -> Body {
    full(Bytes::new())
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// `len` bytes of `path` from `offset`, read on a blocking thread as the connection takes them.
pub fn file_region(path: PathBuf, offset: u64, len: u64) -> Body {
    let (sender, receiver) = mpsc::channel(QUEUED);
    tokio::task::spawn_blocking(move || {
        let read = || -> std::io::Result<()> {
            let mut file = std::fs::File::open(&path)?;
            file.seek(SeekFrom::Start(offset))?;
            let mut left = len;
            while left > 0 {
                let want = PIECE.min(left as usize);
                let mut buffer = BytesMut::zeroed(want);
                let got = file.read(&mut buffer)?;
                if got == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{} ended {left} bytes early", path.display()),
                    ));
                }
                buffer.truncate(got);
                left -= got as u64;
                if sender.blocking_send(Ok(buffer.freeze())).is_err() {
                    return Ok(()); // the request was abandoned
                }
            }
            Ok(())
        };
        if let Err(err) = read() {
            let _ = sender.blocking_send(Err(err));
        }
    });
    ChannelBody { receiver, len }.boxed()
}

struct ChannelBody {
    receiver: mpsc::Receiver<std::io::Result<Bytes>>,
    len: u64,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|piece| piece.map(|piece| piece.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// An answer's body, up to `limit` bytes (error documents, manifests): more is cut off.
pub async fn read_limited(mut body: hyper::body::Incoming, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| err.to_string())?;
        if let Some(data) = frame.data_ref() {
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_region_streams_exactly_its_bytes() {
        let path = std::env::temp_dir().join(format!("ard-region-{}", std::process::id()));
        let data: Vec<u8> = (0..(3 * PIECE + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let body = file_region(path.clone(), 5, (2 * PIECE + 3) as u64);
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some((2 * PIECE + 3) as u64));
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(&got[..], &data[5..5 + 2 * PIECE + 3]);
        let short = file_region(path.clone(), data.len() as u64 - 2, 10).collect().await;
        assert!(short.is_err());
        std::fs::remove_file(path).unwrap();
    }
}
