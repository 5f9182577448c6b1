//! Standard output for the subcommands. A reader that goes away early (`| head -1`) is normal
//! use, not a failure: a closed pipe ends the output quietly instead of panicking as `println!`
//! does under Rust's ignored SIGPIPE.

use std::io::{self, Write};

/// Writes `text` and a newline to stdout. A closed pipe counts as written; any other error is
/// returned for the caller to report.
pub fn line(text: impl std::fmt::Display) -> io::Result<()> {
    quiet_on_closed_pipe(writeln!(io::stdout().lock(), "{text}"))
}

/// Writes `text` as it is (no newline added).
pub fn text(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    quiet_on_closed_pipe(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

fn quiet_on_closed_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
