//! Instance records on disk: the JSON file in which the `process` and `ssh` providers keep what
//! they started, read back by a restarted coordinator to adopt it.

use crate::FleetError;
use crate::process::io_err;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Reads the record at `path`: `None` if there is none (nor the directory meant to hold it).
/// The error names the file, for the warning that skips it.
pub(crate) fn read<R: DeserializeOwned>(path: &Path) -> Result<Option<R>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Creates the record of instance `name`; fails if one is already there.
pub(crate) fn create<R: Serialize>(path: &Path, name: &str, r: &R) -> Result<(), FleetError> {
    use std::io::Write;
    let json = to_json(r)?;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
        if e.kind() == ErrorKind::AlreadyExists {
            FleetError::Failed(format!("instance {name} already exists ({})", path.display()))
        } else {
            io_err(&format!("creating {}", path.display()), e)
        }
    })?;
    f.write_all(&json).map_err(|e| io_err(&format!("writing {}", path.display()), e))
}

/// Writes the record atomically, through a hidden temporary file beside it, so that a concurrent
/// reader never sees half a file.
pub(crate) fn write<R: Serialize>(path: &Path, r: &R) -> Result<(), FleetError> {
    let json = to_json(r)?;
    let tmp = temporary(path);
    std::fs::write(&tmp, json).map_err(|e| io_err(&format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(&format!("writing {}", path.display()), e))
}

fn to_json<R: Serialize>(r: &R) -> Result<Vec<u8>, FleetError> {
    serde_json::to_vec_pretty(r).map_err(|e| FleetError::Failed(e.to_string()))
}

/// `<dir>/.<name>.tmp`: its extension is never `json`, so a scan for records skips it.
fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Rec {
        name: String,
        pid: u32,
    }

    fn rec(pid: u32) -> Rec {
        Rec { name: "ci-1".into(), pid }
    }

    #[test]
    fn a_written_record_reads_back_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ci-1.json");
        write(&path, &rec(1)).expect("write");
        write(&path, &rec(2)).expect("rewrite");
        assert_eq!(read::<Rec>(&path), Ok(Some(rec(2))));
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("ci-1.json")]);
    }

    #[test]
    fn a_missing_record_or_directory_is_none_and_a_bad_one_names_its_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(read::<Rec>(&dir.path().join("none.json")), Ok(None));
        let file = dir.path().join("file");
        std::fs::write(&file, "x").expect("write");
        assert_eq!(read::<Rec>(&file.join("instance.json")), Ok(None));
        let err = read::<Rec>(&file).expect_err("not JSON");
        assert!(err.starts_with(&file.display().to_string()), "{err}");
    }

    #[test]
    fn create_refuses_a_taken_name_and_keeps_the_first_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ci-1.json");
        create(&path, "ci-1", &rec(1)).expect("create");
        let err = create(&path, "ci-1", &rec(2)).expect_err("second create");
        assert!(matches!(&err, FleetError::Failed(m) if m.starts_with("instance ci-1 already exists (")), "{err:?}");
        assert_eq!(read::<Rec>(&path), Ok(Some(rec(1))));
    }
}
