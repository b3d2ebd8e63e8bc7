//! A stored document: value plus the version (log index) and HLC of its last write.

use bytes::Bytes;

use crate::clock::Timestamp;
use crate::util::codec::{DecodeError, Reader, put_short_bytes};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub version: u64,
    pub hlc: Timestamp,
    pub content_type: Option<String>,
    pub value: Bytes,
}

impl Document {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.value.len() + 32);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.hlc.packed.to_le_bytes());
        out.extend_from_slice(&self.hlc.node.to_le_bytes());
        put_short_bytes(
            &mut out,
            self.content_type.as_deref().unwrap_or("").as_bytes(),
        );
        out.extend_from_slice(&self.value);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u64()?;
        let packed = r.u64()?;
        let node = r.u32()?;
        let ct = r.short_str()?;
        Ok(Self {
            version,
            hlc: Timestamp { packed, node },
            content_type: (!ct.is_empty()).then(|| ct.to_string()),
            value: Bytes::copy_from_slice(r.rest()),
        })
    }

    /// The version alone, without copying the value.
    pub fn decode_version(bytes: &[u8]) -> Result<u64, DecodeError> {
        Reader::new(bytes).u64()
    }
}
