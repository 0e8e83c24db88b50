//! The server's log: one event per line, whatever the events carry.
//!
//! Log fields hold text from outside (request parameters, an upstream's
//! `error_description`); a CR or LF in it would start a forged log line, and an escape
//! sequence would drive the operator's terminal. Every control character but the line
//! end is written as `\xNN`, and no colour codes are written (they are control
//! characters too, and end up in files). JSON lines escape them by JSON's own rules.

mod json;
mod queue;

pub use queue::Flush;

use crate::config::{LogFormat, LogSettings};
use queue::LineQueue;
use std::io::{self, IsTerminal, Write};

/// Logs `tracing` events to standard error as `[log]` says: filtered by `level` (or
/// `RUST_LOG` when set), as text or as one JSON object per line, written by a thread of
/// their own. Keep the
/// [`Flush`] until the process ends: dropping it writes the lines still queued.
pub fn init(settings: &LogSettings) -> io::Result<Flush> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.level));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !io::stderr().is_terminal(),
    };
    let (queue, flush) = LineQueue::start()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(move || OneLine(queue.clone()));
    if json {
        builder.event_format(json::JsonLines).init();
    } else {
        builder.init();
    }
    Ok(flush)
}

/// Writes each event (one `write_all` of a formatted line) with its control characters
/// escaped but the final newline.
pub struct OneLine<W>(pub W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let (line, end) = match buf.strip_suffix(b"\n") {
            Some(line) => (line, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        if !line.iter().any(u8::is_ascii_control) {
            return self.0.write_all(buf);
        }
        let mut escaped = Vec::with_capacity(buf.len());
        for &byte in line {
            if byte.is_ascii_control() {
                escaped.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
            } else {
                escaped.push(byte);
            }
        }
        escaped.extend_from_slice(end);
        self.0.write_all(&escaped)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_line_end_kept() {
        let mut out = OneLine(Vec::new());
        out.write_all(b"refused description=\"a\r\nforged line \x1b[31m\tx\"\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "refused description=\"a\\x0d\\x0aforged line \\x1b[31m\\x09x\"\n"
        );
    }

    #[test]
    fn text_beyond_ascii_is_kept() {
        let mut out = OneLine(Vec::new());
        out.write_all("Île-de-France\n".as_bytes()).unwrap();
        assert_eq!(out.0, "Île-de-France\n".as_bytes());
    }
}
