//! Crash-safe small metadata files.
//!
//! Layout: `GRMETA01` magic, u32 version, u32 body length, body, CRC32C of everything before
//! it. Writes go to a temp file that is fsynced, renamed over the target, and then the
//! directory is fsynced, so a reader sees either the old or the new file, never a mix.
//! A file that fails its checksum is reported, not silently replaced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

const MAGIC: &[u8; 8] = b"GRMETA01";

#[derive(Debug, Error)]
pub enum AtomicFileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: corrupt metadata file ({reason})")]
    Corrupt { path: PathBuf, reason: &'static str },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AtomicFileError + '_ {
    move |source| AtomicFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `body` durably to `path` under format `version`.
pub fn write(path: &Path, version: u32, body: &[u8]) -> Result<(), AtomicFileError> {
    let mut bytes = Vec::with_capacity(body.len() + 20);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(body);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());

    let tmp = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    file.write_all(&bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(path.parent().unwrap_or(Path::new("."))).map_err(io_err(path))
}

/// Reads a file written by [`write`]; `Ok(None)` when it does not exist.
pub fn read(path: &Path) -> Result<Option<(u32, Vec<u8>)>, AtomicFileError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let corrupt = |reason| AtomicFileError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < 20 || &bytes[..8] != MAGIC {
        return Err(corrupt("bad magic or too short"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    if bytes.len() != 16 + len + 4 {
        return Err(corrupt("length does not match"));
    }
    let crc = u32::from_le_bytes(bytes[16 + len..].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[..16 + len]) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(Some((version, bytes[16..16 + len].to_vec())))
}

/// fsync a directory so that renames and unlinks inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_detects_flipped_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta");
        assert!(read(&path).unwrap().is_none());
        write(&path, 3, b"hello").unwrap();
        assert_eq!(read(&path).unwrap(), Some((3, b"hello".to_vec())));

        let mut bytes = fs::read(&path).unwrap();
        bytes[17] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            read(&path),
            Err(AtomicFileError::Corrupt {
                reason: "checksum mismatch",
                ..
            })
        ));
    }
}
