//! Naming rules shared by the topology file and the HTTP API.

/// Region and cluster names: lowercase letters, digits and `-`, 1-63 characters.
pub fn check_region_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be 1-63 characters of a-z, 0-9 and '-', not starting with '-'"
        ))
    }
}

/// Collection names: a-z, 0-9, `_`, `-`, `.`; starting with a letter or digit; 1-63 bytes.
pub fn check_collection_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let ok = name.len() <= 63
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be 1-63 characters of a-z, 0-9, '_', '-', '.', starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_region_name("us-east-1").is_ok());
        assert!(check_region_name("US").is_err());
        assert!(check_region_name("").is_err());
        assert!(check_region_name("-a").is_err());
        assert!(check_collection_name("orders.v2_x-y").is_ok());
        assert!(check_collection_name("_x").is_err());
        assert!(check_collection_name("a/b").is_err());
        assert!(check_collection_name(&"a".repeat(64)).is_err());
    }
}
