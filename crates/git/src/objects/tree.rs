//! Git's binary tree object: entries `<octal mode> SP <name> NUL <raw object id>`, in git's
//! order. Pure; malformed input is an error, never a panic. Trees come from pushes (untrusted:
//! `receive.fsckObjects` is off by default), hence the proptest below and the `git_tree` fuzz
//! target.

use crate::{Error, Result};

/// What a tree entry points at, from its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// `040000`.
    Tree,
    /// `160000`: a submodule's commit.
    Gitlink,
    /// Files and symlinks (`100644`, `100755`, `120000`, and old modes such as `100664`).
    Blob,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub mode: u32,
    pub kind: EntryType,
    /// Decoded as UTF-8, lossily (as the rest of the repository reads do).
    pub name: String,
    /// Lower-case hex.
    pub oid: String,
}

/// Parses a tree object whose object ids are `oid_len` bytes (20 for SHA-1, 32 for SHA-256).
pub fn parse_tree(mut raw: &[u8], oid_len: usize) -> Result<Vec<Entry>> {
    let bad = |what: &str| Error::Parse(format!("tree object: {what}"));
    if oid_len == 0 {
        return Err(bad("unknown object id length"));
    }
    let mut out = Vec::new();
    while !raw.is_empty() {
        let sp = raw.iter().position(|&b| b == b' ').ok_or_else(|| bad("entry without a mode"))?;
        let mode_text = std::str::from_utf8(&raw[..sp]).map_err(|_| bad("mode is not text"))?;
        let mode = u32::from_str_radix(mode_text, 8).map_err(|_| bad("mode is not octal"))?;
        raw = &raw[sp + 1..];
        let nul = raw.iter().position(|&b| b == 0).ok_or_else(|| bad("entry name not terminated"))?;
        let name = String::from_utf8_lossy(&raw[..nul]).into_owned();
        if name.is_empty() || name.contains('/') {
            return Err(bad("entry name is empty or holds a slash"));
        }
        raw = &raw[nul + 1..];
        if raw.len() < oid_len {
            return Err(bad("object id cut short"));
        }
        let oid = hex::encode(&raw[..oid_len]);
        raw = &raw[oid_len..];
        let kind = match mode & 0o170000 {
            0o040000 => EntryType::Tree,
            0o160000 => EntryType::Gitlink,
            _ => EntryType::Blob,
        };
        out.push(Entry { mode, kind, name, oid });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(mode: &str, name: &str, id: u8) -> Vec<u8> {
        let mut v = format!("{mode} {name}\0").into_bytes();
        v.extend([id; 20]);
        v
    }

    #[test]
    fn parses_files_trees_links_and_submodules() {
        let raw = [
            entry("100644", "a.txt", 1),
            entry("100755", "run", 2),
            entry("120000", "link", 3),
            entry("40000", "dir", 4),
            entry("160000", "sub", 5),
        ]
        .concat();
        let got = parse_tree(&raw, 20).expect("valid tree");
        let kinds: Vec<_> = got.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("a.txt", EntryType::Blob),
                ("run", EntryType::Blob),
                ("link", EntryType::Blob),
                ("dir", EntryType::Tree),
                ("sub", EntryType::Gitlink)
            ]
        );
        assert_eq!(got[3].oid, "04".repeat(20));
        assert_eq!(got[1].mode, 0o100755);
    }

    #[test]
    fn malformed_trees_are_errors() {
        let good = entry("100644", "a", 1);
        for bad in [
            b"100644".to_vec(),                 // no space
            b"10x644 a\0".to_vec(),             // not octal
            b"100644 a".to_vec(),               // no NUL
            [&good[..good.len() - 1]].concat(), // id cut short
            entry("100644", "", 1),             // empty name
            entry("100644", "a/b", 1),          // slash in a name
        ] {
            assert!(parse_tree(&bad, 20).is_err(), "{bad:?}");
        }
        assert!(parse_tree(&good, 0).is_err());
        assert_eq!(parse_tree(b"", 20).expect("empty tree").len(), 0);
    }

    proptest! {
        #[test]
        fn never_panics(raw in proptest::collection::vec(any::<u8>(), 0..200), len in 0usize..40) {
            let _ = parse_tree(&raw, len);
        }
    }
}
