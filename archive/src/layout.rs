//! Object names: `<prefix>/<cluster>/g<group>/segments/<first>-<last>.seg` and
//! `.../snapshots/<index>.snap`, with indexes zero-padded to 20 digits so that a lexical
//! listing is in log order.

use std::fmt;

use crate::segment::IndexRange;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Segment(IndexRange),
    /// A base snapshot of the group's state as of this applied index.
    Snapshot(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    pub prefix: String,
    pub cluster: String,
    pub group: u32,
    pub kind: ObjectKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a georep archive object name: {reason}")]
pub struct ParseNameError {
    pub name: String,
    pub reason: &'static str,
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.prefix.is_empty() {
            write!(f, "{}/", self.prefix.trim_end_matches('/'))?;
        }
        write!(f, "{}/g{}/", self.cluster, self.group)?;
        match self.kind {
            ObjectKind::Segment(r) => write!(f, "segments/{:020}-{:020}.seg", r.first, r.last),
            ObjectKind::Snapshot(i) => write!(f, "snapshots/{i:020}.snap"),
        }
    }
}

impl std::str::FromStr for ObjectName {
    type Err = ParseNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseNameError {
            name: name.to_string(),
            reason,
        };
        let parts: Vec<&str> = name.split('/').collect();
        if parts.len() < 4 {
            return Err(err("too few path parts"));
        }
        let n = parts.len();
        let (cluster, group, dir, file) = (parts[n - 4], parts[n - 3], parts[n - 2], parts[n - 1]);
        let group = group
            .strip_prefix('g')
            .and_then(|g| g.parse().ok())
            .ok_or_else(|| err("group part must be g<number>"))?;
        let index = |s: &str| {
            (s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        let kind = match dir {
            "segments" => {
                let stem = file
                    .strip_suffix(".seg")
                    .ok_or_else(|| err("segment files end in .seg"))?;
                let (a, b) = stem
                    .split_once('-')
                    .ok_or_else(|| err("segment name is <first>-<last>"))?;
                let range = index(a)
                    .zip(index(b))
                    .and_then(|(a, b)| IndexRange::new(a, b))
                    .ok_or_else(|| err("bad segment index range"))?;
                ObjectKind::Segment(range)
            }
            "snapshots" => {
                let stem = file
                    .strip_suffix(".snap")
                    .ok_or_else(|| err("snapshot files end in .snap"))?;
                ObjectKind::Snapshot(index(stem).ok_or_else(|| err("bad snapshot index"))?)
            }
            _ => return Err(err("expected a segments/ or snapshots/ folder")),
        };
        Ok(ObjectName {
            prefix: parts[..n - 4].join("/"),
            cluster: cluster.to_string(),
            group,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_in_log_order() {
        let seg = |first, last| ObjectName {
            prefix: "backups/prod".into(),
            cluster: "c1".into(),
            group: 3,
            kind: ObjectKind::Segment(IndexRange::new(first, last).unwrap()),
        };
        let a = seg(1, 999);
        assert_eq!(
            a.to_string(),
            "backups/prod/c1/g3/segments/00000000000000000001-00000000000000000999.seg"
        );
        assert_eq!(a.to_string().parse::<ObjectName>().unwrap(), a);
        assert!(seg(999, 1000).to_string() > a.to_string());
        assert!(seg(10_000, 10_001).to_string() > seg(9_999, 9_999).to_string());

        let snap = ObjectName {
            prefix: String::new(),
            cluster: "c1".into(),
            group: 0,
            kind: ObjectKind::Snapshot(42),
        };
        assert_eq!(snap.to_string().parse::<ObjectName>().unwrap(), snap);

        for bad in [
            "c1/g3/segments/1-2.seg",
            "c1/x3/segments/00000000000000000001-00000000000000000002.seg",
            "c/g1/other/f",
            "a/b",
        ] {
            assert!(bad.parse::<ObjectName>().is_err(), "{bad}");
        }
    }
}
