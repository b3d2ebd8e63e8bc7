//! Loading or creating the session-token HMAC key. Key files hold 64 hex characters.

use std::path::Path;

use super::error::NodeError;

pub fn parse(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, chunk) in t.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        key[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(key)
}

pub fn generate() -> [u8; 32] {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS provides randomness");
    key
}

pub fn to_hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the key at `path`; with `create`, makes a new random one if the file is missing.
pub fn load(path: &Path, create: bool) -> Result<[u8; 32], NodeError> {
    let err = |reason: String| NodeError::SessionKey {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text)
            .ok_or_else(|| err("must hold exactly 64 hex characters (a 32-byte key)".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let key = generate();
            write_new(path, &key).map_err(|e| err(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// Writes a key file readable only by its owner.
pub fn write_new(path: &Path, key: &[u8; 32]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(to_hex(key).as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_bad_files() {
        let k = generate();
        assert_eq!(parse(&to_hex(&k)), Some(k));
        assert_eq!(parse("abc"), None);
        assert_eq!(parse(&"zz".repeat(32)), None);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        assert!(load(&p, false).is_err());
        load(&p, true).unwrap();
        load(&p, false).unwrap();
        std::fs::write(&p, "nope").unwrap();
        assert!(load(&p, false).unwrap_err().to_string().contains("64 hex"));
    }
}
