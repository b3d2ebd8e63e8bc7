//! Paging through a group's documents in key order, as a slot's initial snapshot reads them:
//! client collections only, and only documents at or below a version (the slot's start), so
//! a document written after the start is left to the change rows that follow it.

use redb::{ReadableDatabase, TableDefinition};

use super::error::db;
use super::{Document, Store, StoreError, docs_table};

/// A document of a snapshot page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedDoc {
    /// The stored key, `collection 0x00 key`: where the next page resumes.
    pub raw_key: Vec<u8>,
    pub collection: String,
    pub key: String,
    pub doc: Document,
}

#[derive(Debug, Default)]
pub struct DocsPage {
    pub docs: Vec<ScannedDoc>,
    /// The last key looked at (kept or not), if any.
    pub last: Option<Vec<u8>>,
    /// Whether every document after the page's start was looked at.
    pub done: bool,
}

impl Store {
    /// Documents of `group` after the stored key `after` (from the first if empty), whose
    /// version is at most `max_version`, looking at `limit` documents at most.
    pub fn docs_page(
        &self,
        group: u32,
        after: &[u8],
        max_version: u64,
        limit: usize,
    ) -> Result<DocsPage, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let name = docs_table(group);
        let table = match tx.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                return Ok(DocsPage {
                    done: true,
                    ..DocsPage::default()
                });
            }
            Err(e) => return Err(db("open docs table")(e)),
        };
        let mut start = after.to_vec();
        if !start.is_empty() {
            start.push(0); // the smallest key after `after`
        }
        let mut page = DocsPage::default();
        let mut looked = 0;
        let mut range = table
            .range::<&[u8]>(start.as_slice()..)
            .map_err(db("range documents"))?;
        loop {
            let Some(item) = range.next() else {
                page.done = true;
                break;
            };
            if looked >= limit {
                break;
            }
            looked += 1;
            let (k, v) = item.map_err(db("range documents"))?;
            let raw = k.value();
            page.last = Some(raw.to_vec());
            let Some(split) = raw.iter().position(|b| *b == 0) else {
                continue;
            };
            let collection = String::from_utf8_lossy(&raw[..split]).into_owned();
            if collection.starts_with('_') {
                continue;
            }
            let corrupt = |e: crate::util::codec::DecodeError| StoreError::Corrupt {
                what: format!("document {collection}"),
                reason: e.to_string(),
            };
            if Document::decode_version(v.value()).map_err(corrupt)? > max_version {
                continue;
            }
            page.docs.push(ScannedDoc {
                raw_key: raw.to_vec(),
                key: String::from_utf8_lossy(&raw[split + 1..]).into_owned(),
                doc: Document::decode(v.value()).map_err(corrupt)?,
                collection,
            });
        }
        Ok(page)
    }
}
