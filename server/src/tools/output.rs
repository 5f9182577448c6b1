//! Bounded capture of a child's output stream.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The kept head of a stream and how many bytes after it were dropped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Captured {
    pub kept: Vec<u8>,
    pub omitted: u64,
}

impl Captured {
    /// The kept bytes as text, with a marker when something was cut.
    pub fn into_text(self) -> String {
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        if self.omitted > 0 {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("[truncated: {} bytes omitted]", self.omitted));
        }
        text
    }
}

/// Reads `reader` to its end, keeping at most `cap` bytes. The rest is still
/// read (and counted) so that the writer never blocks on a full pipe.
pub async fn read_capped<R: AsyncRead + Unpin>(mut reader: R, cap: u64) -> Captured {
    let mut captured = Captured::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let room = cap.saturating_sub(captured.kept.len() as u64) as usize;
        let keep = room.min(n);
        captured.kept.extend_from_slice(&buf[..keep]);
        captured.omitted += (n - keep) as u64;
    }
    captured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_head_and_counts_the_rest() {
        let data = vec![b'x'; 40_000];
        let captured = read_capped(&data[..], 100).await;
        assert_eq!(captured.kept.len(), 100);
        assert_eq!(captured.omitted, 39_900);
        assert!(
            captured
                .into_text()
                .ends_with("\n[truncated: 39900 bytes omitted]")
        );
    }

    #[tokio::test]
    async fn short_output_is_untouched() {
        let captured = read_capped(&b"hello\n"[..], 100).await;
        assert_eq!(captured.omitted, 0);
        assert_eq!(captured.into_text(), "hello\n");
    }
}
