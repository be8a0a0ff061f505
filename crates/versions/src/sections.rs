use foldhash::{HashMap, HashSet, HashSetExt};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::AnchorId;

/// SHA-256 of a section's normalized content (computed by the `document` crate). Serialized as
/// 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct ContentHash([u8; 32]);

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Written from a buffer on the stack: a version's index holds hundreds of hashes.
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).map_err(serde::ser::Error::custom)?;
        s.serialize_str(std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?)
    }
}

impl ContentHash {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl TryFrom<String> for ContentHash {
    type Error = hex::FromHexError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Self(out))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..12])
    }
}

/// One anchored element of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionEntry {
    pub anchor: AnchorId,
    /// The element's heading text, or a short excerpt when it has none.
    pub title: String,
    pub hash: ContentHash,
}

/// What re-anchoring knows of an anchored element besides its text (computed by the `document`
/// crate's `element_prints`, not stored): threads whose anchor was renamed find it by these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementPrint {
    pub anchor: AnchorId,
    /// Its tag and first `pp-` class (`section`, `div.pp-card`, `svg`): elements are only matched
    /// to elements of the same kind.
    pub kind: String,
    /// A hash of its normalized markup with every `data-anchor` attribute removed, so renaming
    /// anchors (its own or nested ones) leaves it unchanged.
    pub content: ContentHash,
}

/// Two elements of one document claimed the same anchor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the anchor {0} is used more than once")]
pub struct DuplicateAnchor(pub AnchorId);

/// Every anchor of a version, in document order, each once. Shared, not copied, by its clones: a
/// push hands the same index to the stored version, its notification and the next push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<SectionEntry>")]
pub struct SectionIndex(Arc<Vec<SectionEntry>>);

impl Serialize for SectionIndex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl SectionIndex {
    pub fn new(entries: Vec<SectionEntry>) -> Result<Self, DuplicateAnchor> {
        let mut seen = HashSet::with_capacity(entries.len());
        for e in &entries {
            if !seen.insert(&e.anchor) {
                return Err(DuplicateAnchor(e.anchor.clone()));
            }
        }
        Ok(Self(Arc::new(entries)))
    }
    pub fn entries(&self) -> &[SectionEntry] {
        &self.0
    }
    pub fn get(&self, anchor: &AnchorId) -> Option<&SectionEntry> {
        self.0.iter().find(|e| e.anchor == *anchor)
    }
    pub fn contains(&self, anchor: &AnchorId) -> bool {
        self.get(anchor).is_some()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<SectionEntry>> for SectionIndex {
    type Error = DuplicateAnchor;
    fn try_from(v: Vec<SectionEntry>) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<SectionIndex> for Vec<SectionEntry> {
    fn from(i: SectionIndex) -> Self {
        Arc::unwrap_or_clone(i.0)
    }
}

/// What a push changed, anchor by anchor. Lists follow document order (removed: the old order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    pub added: Vec<AnchorId>,
    pub removed: Vec<AnchorId>,
    pub changed: Vec<AnchorId>,
    pub unchanged: Vec<AnchorId>,
}

impl ChangeSet {
    /// Compares two indexes. A first version (no `old`) has every anchor added.
    pub fn between(old: Option<&SectionIndex>, new: &SectionIndex) -> Self {
        let empty = SectionIndex::default();
        let old = old.unwrap_or(&empty);
        let before: HashMap<&AnchorId, &ContentHash> =
            old.0.iter().map(|e| (&e.anchor, &e.hash)).collect();
        let mut cs = ChangeSet::default();
        for e in new.0.iter() {
            match before.get(&e.anchor) {
                None => cs.added.push(e.anchor.clone()),
                Some(h) if **h != e.hash => cs.changed.push(e.anchor.clone()),
                Some(_) => cs.unchanged.push(e.anchor.clone()),
            }
        }
        let after: HashSet<&AnchorId> = new.0.iter().map(|e| &e.anchor).collect();
        cs.removed = old
            .0
            .iter()
            .filter(|e| !after.contains(&e.anchor))
            .map(|e| e.anchor.clone())
            .collect();
        cs
    }
    /// True when nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(entries: &[(&str, u8)]) -> SectionIndex {
        SectionIndex::new(
            entries
                .iter()
                .map(|(a, h)| SectionEntry {
                    anchor: AnchorId::parse(a).unwrap(),
                    title: a.to_string(),
                    hash: ContentHash::from_bytes([*h; 32]),
                })
                .collect(),
        )
        .unwrap()
    }
    fn names(v: &[AnchorId]) -> Vec<&str> {
        v.iter().map(AnchorId::as_str).collect()
    }

    #[test]
    fn change_sets() {
        type Row<'a> = (&'a [(&'a str, u8)], &'a [(&'a str, u8)], [&'a [&'a str]; 4]);
        let cases: &[Row] = &[
            (&[], &[("a", 1), ("b", 1)], [&["a", "b"], &[], &[], &[]]),
            (&[("a", 1)], &[("a", 1)], [&[], &[], &[], &["a"]]),
            (
                &[("a", 1), ("b", 1)],
                &[("b", 2), ("c", 1)],
                [&["c"], &["a"], &["b"], &[]],
            ),
            (
                &[("a", 1), ("b", 2)],
                &[("b", 2), ("a", 1)],
                [&[], &[], &[], &["b", "a"]],
            ),
            (
                &[("a", 1), ("b", 1), ("c", 1)],
                &[],
                [&[], &["a", "b", "c"], &[], &[]],
            ),
        ];
        for (old, new, [added, removed, changed, unchanged]) in cases {
            let cs = ChangeSet::between(Some(&idx(old)), &idx(new));
            assert_eq!(names(&cs.added), *added, "{old:?} -> {new:?}");
            assert_eq!(names(&cs.removed), *removed);
            assert_eq!(names(&cs.changed), *changed);
            assert_eq!(names(&cs.unchanged), *unchanged);
        }
        assert!(ChangeSet::between(Some(&idx(&[("a", 1)])), &idx(&[("a", 1)])).is_empty());
        assert_eq!(
            names(&ChangeSet::between(None, &idx(&[("a", 1)])).added),
            ["a"]
        );
    }

    #[test]
    fn duplicate_anchors_are_rejected_and_serde_round_trips() {
        let e = SectionEntry {
            anchor: AnchorId::parse("a").unwrap(),
            title: "A".into(),
            hash: ContentHash::from_bytes([0; 32]),
        };
        assert_eq!(
            SectionIndex::new(vec![e.clone(), e.clone()]),
            Err(DuplicateAnchor(e.anchor.clone()))
        );
        let i = idx(&[("a", 1), ("b", 2)]);
        let json = serde_json::to_string(&i).unwrap();
        assert_eq!(serde_json::from_str::<SectionIndex>(&json).unwrap(), i);
        let dup = format!("[{0},{0}]", serde_json::to_string(&e).unwrap());
        assert!(serde_json::from_str::<SectionIndex>(&dup).is_err());
    }
}
