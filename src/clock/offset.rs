//! A wall-clock offset read from a file, for fault tests that skew one node's clock while it
//! runs (`georep node --clock-offset-file F`). The file holds one signed integer, in ms
//! ("-300", "2000"); it is re-read every 100 ms. A missing or unreadable file at start is an
//! error; later, a file that cannot be read or parsed keeps the last offset (and says so once).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum OffsetFileError {
    #[error("cannot read it: {0}")]
    Read(#[from] std::io::Error),
    #[error("{0:?} is not a signed number of milliseconds")]
    Parse(String),
}

pub fn parse(text: &str) -> Result<i64, OffsetFileError> {
    let t = text.trim();
    t.parse::<i64>()
        .map_err(|_| OffsetFileError::Parse(t.chars().take(40).collect()))
}

/// Reads the file once into `offset`.
pub fn load(path: &Path, offset: &AtomicI64) -> Result<(), OffsetFileError> {
    let v = parse(&std::fs::read_to_string(path)?)?;
    offset.store(v, Ordering::Relaxed);
    Ok(())
}

/// Follows the file for as long as the node runs.
pub async fn follow(path: PathBuf, offset: Arc<AtomicI64>) {
    let mut complained = false;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match load(&path, &offset) {
            Ok(()) => complained = false,
            Err(e) if !complained => {
                complained = true;
                tracing::warn!(path = %path.display(), error = %e, "clock offset file: keeping the last offset");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_signed_and_refuse_junk() {
        assert_eq!(parse(" -300\n").unwrap(), -300);
        assert_eq!(parse("2000").unwrap(), 2000);
        assert!(parse("2s").unwrap_err().to_string().contains("\"2s\""));
    }
}
