//! The one HTTP/1.1 exchange a report needs, through a forward proxy: a request in absolute
//! form (`PUT http://api.bitbucket.org/2.0/... HTTP/1.1`), `Connection: close`, and the answer's
//! status with the start of its body (for the warning). Plain TCP, as the proxy speaks plain
//! HTTP to the pipe; no TLS and no HTTP client crate for one call per run.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opening a connection to a proxy next door takes well under a millisecond; one that does not
/// open within this is not there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Enough of an answer for its status and the start of an error message.
const ANSWER_LIMIT: usize = 16 * 1024;
pub const API_HOST: &str = "api.bitbucket.org";

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    body: Vec<u8>,
}

impl Answer {
    /// The start of the body, as text for a warning (printed through the pipe's escaping).
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        let cut: String = text.chars().take(300).collect();
        if cut.len() < text.len() {
            format!("{cut}…")
        } else {
            cut
        }
    }
}

pub async fn exchange(proxy: SocketAddr, method: &str, path: &str, body: &[u8]) -> Result<Answer, String> {
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(proxy))
        .await
        .map_err(|_| {
            format!(
                "the proxy {proxy} did not accept a connection within {} s",
                CONNECT_TIMEOUT.as_secs()
            )
        })?
        .map_err(|err| format!("the proxy {proxy} could not be reached: {err}"))?;
    let head = format!(
        "{method} http://{API_HOST}{path} HTTP/1.1\r\n\
         Host: {API_HOST}\r\n\
         User-Agent: aws-role-deploy/{}\r\n\
         Accept: application/json\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream
        .write_all(&request)
        .await
        .map_err(|err| format!("sending to the proxy {proxy} failed: {err}"))?;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream
            .read(&mut buffer)
            .await
            .map_err(|err| format!("reading the proxy's answer failed: {err}"))?;
        answer.extend_from_slice(&buffer[..read]);
        if read == 0 || answer.len() >= ANSWER_LIMIT || complete(&answer) {
            break;
        }
    }
    parse(&answer).ok_or_else(|| {
        if answer.is_empty() {
            format!("the proxy {proxy} closed the connection without an answer")
        } else {
            format!("the proxy {proxy} did not answer in HTTP")
        }
    })
}

/// Headers and status of an answer (`HTTP/1.1 201 Created`), and what came of its body.
fn parse(answer: &[u8]) -> Option<Answer> {
    let end = find(answer, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..end]).ok()?;
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    Some(Answer {
        status,
        body: answer[end + 4..].to_vec(),
    })
}

/// Whether the whole answer is in: its body as long as `Content-Length` says, or the last chunk
/// of a chunked one. (Otherwise the proxy closes the connection, as asked.)
fn complete(answer: &[u8]) -> bool {
    let Some(end) = find(answer, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let body = &answer[end + 4..];
    for line in head.lines() {
        if let Some(length) = line.strip_prefix("content-length:") {
            return length.trim().parse::<usize>().is_ok_and(|length| body.len() >= length);
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            return body.ends_with(b"0\r\n\r\n");
        }
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_by_their_length_or_last_chunk() {
        assert!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}"));
        assert!(complete(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        ));
        assert!(!complete(b"HTTP/1.1 200 OK\r\n"));
        let answer = parse(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden").unwrap();
        assert_eq!((answer.status, answer.snippet().as_str()), (403, "forbidden"));
        assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_none());
    }

    #[tokio::test]
    async fn a_request_goes_in_absolute_form_and_nothing_listening_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = vec![0u8; 4096];
            let mut total = 0;
            while !String::from_utf8_lossy(&seen[..total]).ends_with("{\"a\":1}") {
                total += socket.read(&mut seen[total..]).await.unwrap();
            }
            socket
                .write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&seen[..total]).into_owned()
        });
        let answer = exchange(address, "PUT", "/2.0/x", b"{\"a\":1}").await.unwrap();
        assert_eq!(answer.status, 201);
        let request = server.await.unwrap();
        assert!(request.starts_with("PUT http://api.bitbucket.org/2.0/x HTTP/1.1\r\nHost: api.bitbucket.org\r\n"));
        assert!(request.contains("Content-Length: 7\r\n"));
        assert!(!request.to_ascii_lowercase().contains("authorization"));

        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let nobody = closed.local_addr().unwrap();
        drop(closed);
        let refused = exchange(nobody, "PUT", "/", b"").await.unwrap_err();
        assert!(refused.contains("could not be reached"), "{refused}");
    }
}
