//! Strict request heads: a bare LF (one not preceded by CR) anywhere in a request head is
//! refused, where hyper's parser (httparse) would take it as a line end, so that
//! `X-A: v\nX-Injected: w` cannot smuggle a second header past a proxy that reads it as one.
//!
//! httparse has no option for this, so [`StrictHead`] watches the bytes on their way to hyper.
//! It follows the request framing just far enough to know which bytes are heads (request line
//! and header fields, up to the empty line) and which are bodies (`Content-Length` bytes, or
//! chunks with their trailers), and turns a bare LF in a head into a NUL byte, which hyper's
//! parser refuses: the client gets hyper's own `400 Bad Request` and the connection closes.
//! Bodies pass untouched. Where this tracker and hyper could disagree (conflicting framing
//! headers), hyper refuses the request itself.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest part of a header line kept to recognise `Content-Length` and `Transfer-Encoding`.
const LINE_KEEP: usize = 256;

/// Where the next byte of the request stream falls.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// A request head; `seen_line`: the request line has started (empty lines before it are
    /// skipped, as hyper does).
    Head { seen_line: bool },
    /// `n` more bytes of a `Content-Length` body.
    Fixed(u64),
    /// A chunk-size line.
    ChunkSize,
    /// `n` more bytes of chunk data, then its CRLF.
    ChunkData(u64),
    /// The CRLF after chunk data (`n` bytes of it left).
    ChunkEnd(u8),
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
    /// A bare LF was found; hyper refuses the request and closes, nothing more is looked at.
    Refused,
}

/// The framing tracker over the bytes of one connection's requests.
#[derive(Debug, Clone)]
pub(crate) struct Framing {
    part: Part,
    /// The previous byte was CR.
    after_cr: bool,
    /// The current line (lower-cased, CR dropped), up to [`LINE_KEEP`] bytes.
    line: Vec<u8>,
    /// Bytes in the current line (all of them, not only those kept).
    line_len: usize,
    content_length: Option<u64>,
    chunked: bool,
    chunk_size: Option<u64>,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            part: Part::Head { seen_line: false },
            after_cr: false,
            line: Vec::with_capacity(64),
            line_len: 0,
            content_length: None,
            chunked: false,
            chunk_size: None,
        }
    }
}

impl Framing {
    /// Looks at `bytes` (the next ones of the stream), replacing each bare LF of a head with
    /// NUL. Returns whether any was replaced.
    pub(crate) fn scan(&mut self, bytes: &mut [u8]) -> bool {
        let mut refused = false;
        let mut i = 0;
        while i < bytes.len() {
            match self.part {
                Part::Refused => return refused,
                Part::Fixed(n) => {
                    let take = n.min((bytes.len() - i) as u64);
                    i += take as usize;
                    self.part = if n == take {
                        Part::Head { seen_line: false }
                    } else {
                        Part::Fixed(n - take)
                    };
                    continue;
                }
                Part::ChunkData(n) => {
                    let take = n.min((bytes.len() - i) as u64);
                    i += take as usize;
                    self.part = if n == take {
                        Part::ChunkEnd(2)
                    } else {
                        Part::ChunkData(n - take)
                    };
                    continue;
                }
                Part::ChunkEnd(n) => {
                    i += 1;
                    self.part = if n <= 1 {
                        Part::ChunkSize
                    } else {
                        Part::ChunkEnd(n - 1)
                    };
                    continue;
                }
                Part::Head { .. } | Part::ChunkSize | Part::Trailers => {}
            }
            let b = bytes[i];
            if b == b'\n' {
                if !self.after_cr && matches!(self.part, Part::Head { .. }) {
                    bytes[i] = 0;
                    refused = true;
                    self.part = Part::Refused;
                    return refused;
                }
                self.end_line();
            } else if b != b'\r' {
                if self.line.len() < LINE_KEEP {
                    self.line.push(b.to_ascii_lowercase());
                }
                self.line_len += 1;
            }
            self.after_cr = b == b'\r';
            i += 1;
        }
        refused
    }

    /// A line of a head, chunk-size line or trailer ended.
    fn end_line(&mut self) {
        let empty = self.line_len == 0;
        match self.part {
            Part::Head { seen_line: false } => {
                if !empty {
                    self.part = Part::Head { seen_line: true };
                }
            }
            Part::Head { seen_line: true } => {
                if empty {
                    self.part = if self.chunked {
                        Part::ChunkSize
                    } else {
                        match self.content_length {
                            Some(n) if n > 0 => Part::Fixed(n),
                            _ => Part::Head { seen_line: false },
                        }
                    };
                    self.content_length = None;
                    self.chunked = false;
                } else {
                    self.header_line();
                }
            }
            Part::ChunkSize => {
                let digits: Vec<u8> = self
                    .line
                    .iter()
                    .copied()
                    .take_while(u8::is_ascii_hexdigit)
                    .collect();
                let size = std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|d| u64::from_str_radix(d, 16).ok());
                self.chunk_size = size;
                self.part = match size {
                    Some(0) => Part::Trailers,
                    Some(n) => Part::ChunkData(n),
                    // Hyper refuses a chunk size it cannot read.
                    None => Part::Refused,
                };
            }
            Part::Trailers => {
                if empty {
                    self.part = Part::Head { seen_line: false };
                }
            }
            Part::Fixed(_) | Part::ChunkData(_) | Part::ChunkEnd(_) | Part::Refused => {}
        }
        self.line.clear();
        self.line_len = 0;
    }

    fn header_line(&mut self) {
        let Some(colon) = self.line.iter().position(|&b| b == b':') else {
            return;
        };
        let (name, value) = self.line.split_at(colon);
        let value = String::from_utf8_lossy(&value[1..]);
        let value = value.trim();
        match name {
            b"content-length" => self.content_length = value.parse().ok(),
            b"transfer-encoding" => {
                self.chunked = value.split(',').any(|v| v.trim() == "chunked");
            }
            _ => {}
        }
    }
}

/// An I/O stream whose read side goes through [`Framing::scan`].
pub(crate) struct StrictHead<IO> {
    inner: IO,
    framing: Framing,
}

impl<IO> StrictHead<IO> {
    pub(crate) fn new(inner: IO) -> Self {
        StrictHead {
            inner,
            framing: Framing::default(),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for StrictHead<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let ready = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = ready
            && this.framing.scan(&mut buf.filled_mut()[before..])
        {
            tracing::debug!("refused a request head with a bare LF");
        }
        ready
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for StrictHead<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `input` split into pieces of `step` bytes; the bytes as hyper would see them.
    fn scan(input: &[u8], step: usize) -> Vec<u8> {
        let mut framing = Framing::default();
        let mut out = input.to_vec();
        for piece in out.chunks_mut(step) {
            framing.scan(piece);
        }
        out
    }

    #[test]
    fn crlf_requests_pass_untouched_in_any_split() {
        let stream: &[u8] =
            b"\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\nab\ncd\n!\
POST /b HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\n\n\n\n\r\n0\r\nX-T: 1\r\n\r\n\
GET /c HTTP/1.1\r\n\r\n";
        for step in [1, 2, 3, 7, stream.len()] {
            assert_eq!(scan(stream, step), stream, "step {step}");
        }
    }

    #[test]
    fn a_bare_lf_in_a_head_becomes_nul_but_not_in_a_body() {
        let first = b"GET / HTTP/1.1\r\nX-A: v\nX-B: w\r\n\r\n";
        let out = scan(first, 4);
        assert_eq!(out.iter().filter(|&&b| b == 0).count(), 1);
        // The bare LF sits after "X-A: v".
        let nul = out.iter().position(|&b| b == 0).unwrap();
        assert_eq!(&first[nul - 6..nul], b"X-A: v");
        // The second request of a keep-alive connection is watched too, after a body.
        let two = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n\n\n\nGET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n";
        let out = scan(two, 5);
        let nul = out.iter().position(|&b| b == 0).unwrap();
        assert_eq!(&two[nul - 4..nul], b"X: a");
        // A request line ending in a bare LF is refused as well.
        assert!(scan(b"GET / HTTP/1.1\nHost: x\r\n\r\n", 100).contains(&0));
    }
}
