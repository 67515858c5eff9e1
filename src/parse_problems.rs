//! Requests the HTTP parser refuses still get problem+json. hyper answers
//! a request it cannot read — a malformed line or header (400), a URI too
//! long (414), headers over its buffer (431) — on its own, before any
//! handler runs, with an empty body, and then closes the connection. A
//! client deserves the same kind of answer as for every other error: this
//! stream wrapper sees that automatic head go out and sends in its place
//! the same status with a problem document, `Connection: close`.
//!
//! It recognises the head by what only hyper writes: one of those three
//! statuses with `content-length: 0` (the service's own errors always
//! carry a problem body). Nothing else is touched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The automatic heads, and the problem each becomes.
const REFUSALS: [(&[u8], u16, &str, &str, &str); 3] = [
    (
        b"HTTP/1.1 400 Bad Request\r\n",
        400,
        "malformed_request",
        "Malformed request",
        "the request line or a header could not be read as HTTP/1.1",
    ),
    (
        b"HTTP/1.1 414 URI Too Long\r\n",
        414,
        "uri_too_long",
        "URI too long",
        "the request's URI is over the server's limit",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        431,
        "headers_too_large",
        "Request header fields too large",
        "the request's headers are over the server's limit",
    ),
];

/// The whole answer that replaces an automatic head, if `head` is one.
pub fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let (line, status, code, title, detail) =
        REFUSALS.iter().find(|(line, ..)| head.starts_with(line))?;
    let empty = head
        .windows(b"\r\ncontent-length: 0\r\n".len())
        .any(|w| w.eq_ignore_ascii_case(b"\r\ncontent-length: 0\r\n"));
    if !empty {
        return None;
    }
    let body = format!(
        "{{\"type\":\"/problems/{code}\",\"title\":\"{title}\",\"status\":{status},\"detail\":\"{detail}\",\"code\":\"{code}\"}}"
    );
    let mut out = line.to_vec();
    out.extend_from_slice(
        format!(
            "content-type: application/problem+json\r\ncontent-length: {}\r\n\
             cache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

/// A stream whose automatic parse-error heads go out as problems.
pub struct ProblemHeads<S> {
    inner: S,
    /// A replacement still being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> ProblemHeads<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> ProblemHeads<S> {
    /// Writes out what is pending; ready once all of it is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.pending {
            if *sent >= bytes.len() {
                self.pending = None;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*sent..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => *sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemHeads<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemHeads<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        if let Some(answer) = replacement(buf) {
            // The head counts as written; its replacement goes out now and
            // on the flush that follows.
            this.pending = Some((answer, 0));
            let _ = this.drain(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        // hyper's automatic head goes out alone, as one slice.
        if let [only] = bufs
            && let Some(answer) = replacement(only)
        {
            this.pending = Some((answer, 0));
            let _ = this.drain(cx)?;
            return Poll::Ready(Ok(only.len()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn only_hypers_empty_refusals_are_replaced() {
        let head =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let answer = String::from_utf8(replacement(head).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 "));
        assert!(answer.contains("content-type: application/problem+json"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["code"], "headers_too_large");
        assert_eq!(problem["status"], 431);
        assert!(answer.contains(&format!("content-length: {}\r\n", body.len())));
        // The service's own 400, with its body, is left alone.
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 120\r\n\r\n").is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n").is_some());
    }
}
