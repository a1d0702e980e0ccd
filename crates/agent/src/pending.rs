//! Final job states the coordinator has not confirmed yet, kept on disk so that a runner that
//! stops (or is killed) while its server is away still reports them after a restart.
//!
//! One file per job, `<dir>/<job id>.json`, written before the first attempt to send the state
//! and removed once the coordinator took it or said the job is gone. The file holds the job
//! token, so the directory is `0700` and each file `0600`, written to a temporary name, synced
//! and renamed: a reader sees the old file or the new one, never half of one. A file that cannot
//! be read as a kept state is left alone and named in a warning (once per process), never sent.

use autogit_protocol::UpdateJobRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The file format's version; a file of another version is not sent.
pub const FORMAT: u32 = 1;

/// One kept final state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingState {
    pub format: u32,
    pub job_id: i64,
    /// The body of the final `PUT /jobs/:id`: the job token, the state, the failure reason, the
    /// exit code and the trace checksum.
    pub update: UpdateJobRequest,
    /// Where [`Self::trace_tail`] starts in the job's trace.
    pub trace_offset: u64,
    /// The end of the trace the coordinator may not have (base64 in the file).
    #[serde(with = "base64_bytes")]
    pub trace_tail: Vec<u8>,
    /// When the state was kept (RFC 3339), for the log.
    pub kept_at: String,
}

impl PendingState {
    pub fn new(job_id: i64, update: UpdateJobRequest, trace_offset: u64, trace_tail: Vec<u8>) -> Self {
        PendingState {
            format: FORMAT,
            job_id,
            update,
            trace_offset,
            trace_tail,
            kept_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

mod base64_bytes {
    use super::{Engine, STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// The directory of kept states.
pub struct PendingStore {
    dir: PathBuf,
    /// Bad files already warned about.
    warned: Mutex<HashSet<PathBuf>>,
}

impl PendingStore {
    pub fn new(dir: PathBuf) -> Self {
        PendingStore { dir, warned: Mutex::default() }
    }

    /// Where a runner configuration file's kept states live: `runner.toml` → `runner.pending/`.
    pub fn beside(config: &Path) -> PathBuf {
        config.with_extension("pending")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, job_id: i64) -> PathBuf {
        self.dir.join(format!("{job_id}.json"))
    }

    /// Writes (or replaces) the kept state of `state.job_id`, atomically, mode 0600. The
    /// directory must be a real directory of this process's user: the runner often runs as
    /// root, and a symlink planted there would make it narrow or write whatever it points at.
    pub fn save(&self, state: &PendingState) -> std::io::Result<()> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let meta = std::fs::symlink_metadata(&self.dir)?;
        if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
            return Err(std::io::Error::other(format!(
                "{} is not a directory of this runner's user; not keeping job states there",
                self.dir.display()
            )));
        }
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        let text = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        // Per process, so that two runners sharing the directory never write one temporary file.
        let tmp = self.dir.join(format!(".{}.json.{}.tmp", state.job_id, std::process::id()));
        // A leftover of a crash of this very process id; whatever it is, it is not followed.
        let _ = std::fs::remove_file(&tmp);
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.path_of(state.job_id))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        // The rename is durable once the directory is synced.
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Removes the kept state of a job; one that is not there is fine.
    pub fn remove(&self, job_id: i64) -> std::io::Result<()> {
        match std::fs::remove_file(self.path_of(job_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every readable kept state, by job id. Files that are not kept states (another name, bad
    /// JSON, another format, a job id that differs from the name) are skipped with a warning.
    pub fn load_all(&self) -> Vec<PendingState> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                self.warn_once(&self.dir, &e.to_string());
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            // Temporary files of a write in progress (or cut short by a crash).
            if name.starts_with('.') {
                continue;
            }
            match read_one(&path, &name) {
                Ok(state) => out.push(state),
                Err(why) => self.warn_once(&path, &why),
            }
        }
        out.sort_by_key(|s| s.job_id);
        out
    }

    fn warn_once(&self, path: &Path, why: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.insert(path.to_path_buf()) {
            tracing::warn!(file = %path.display(), why, "ignoring a file that is not a kept job state");
        }
    }
}

fn read_one(path: &Path, name: &str) -> Result<PendingState, String> {
    let id: i64 = name
        .strip_suffix(".json")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| "the name is not <job id>.json".to_string())?;
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    let state: PendingState = serde_json::from_slice(&text).map_err(|e| format!("not a kept state: {e}"))?;
    if state.format != FORMAT {
        return Err(format!("format {} (this runner reads {FORMAT})", state.format));
    }
    if state.job_id != id {
        return Err(format!("it names job {} but is called {name}", state.job_id));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use autogit_protocol::{FailureReason, ReportedState, RunnerInfo};

    fn state(id: i64) -> PendingState {
        let update = UpdateJobRequest {
            token: "glcbt-secret".into(),
            state: ReportedState::Failed,
            failure_reason: Some(FailureReason::ScriptFailure),
            exit_code: Some(3),
            checksum: Some("crc32:00000000".into()),
            output: None,
            info: RunnerInfo::default(),
            gpu_usage: None,
        };
        PendingState::new(id, update, 7, b"tail \xff\x00 bytes\n".to_vec())
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn saves_atomically_owner_only_and_loads_back() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = PendingStore::new(tmp.path().join("runner.pending"));
        assert!(store.load_all().is_empty(), "no directory yet: nothing kept");
        store.save(&state(12)).expect("save");
        store.save(&state(5)).expect("save");
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&store.path_of(12)), 0o600);
        let loaded = store.load_all();
        assert_eq!(loaded.iter().map(|s| s.job_id).collect::<Vec<_>>(), [5, 12]);
        assert_eq!(loaded[1].trace_tail, b"tail \xff\x00 bytes\n", "binary trace bytes survive");
        assert_eq!(loaded[1].update, state(12).update);
        // Replacing leaves one file and no temporary one behind.
        let mut newer = state(12);
        newer.update.state = ReportedState::Success;
        store.save(&newer).expect("replace");
        let names: Vec<String> = std::fs::read_dir(store.dir())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(store.load_all()[1].update.state, ReportedState::Success);
        store.remove(12).expect("remove");
        store.remove(12).expect("removing twice is fine");
        assert_eq!(store.load_all().len(), 1);
    }

    #[test]
    fn a_directory_made_wider_is_narrowed_again() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("p");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        PendingStore::new(dir.clone()).save(&state(1)).expect("save");
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_symlinked_directory_is_refused_and_left_as_it_was() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).expect("mkdir");
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let dir = tmp.path().join("p");
        std::os::unix::fs::symlink(&elsewhere, &dir).expect("symlink");
        assert!(PendingStore::new(dir).save(&state(1)).is_err());
        assert_eq!(mode(&elsewhere), 0o755, "not narrowed through the link");
        assert!(std::fs::read_dir(&elsewhere).expect("dir").next().is_none(), "nothing written through it");
    }

    #[test]
    fn bad_files_are_skipped_and_left_alone() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = PendingStore::new(tmp.path().to_path_buf());
        store.save(&state(3)).expect("save");
        let bad = [
            ("4.json", "{not json".to_string()),
            ("notes.txt", "hello".to_string()),
            ("x.json", serde_json::to_string(&state(6)).expect("json")),
            ("7.json", serde_json::to_string(&state(8)).expect("json")),
            ("9.json", serde_json::to_string(&PendingState { format: 99, ..state(9) }).expect("json")),
            ("10.json", r#"{"format":1,"job_id":10,"update":{"state":"success"},"trace_offset":0,"trace_tail":"%%","kept_at":""}"#.to_string()),
            (".11.json.1.tmp", "{half".to_string()),
        ];
        for (name, text) in &bad {
            std::fs::write(tmp.path().join(name), text).expect("write");
        }
        let loaded = store.load_all();
        assert_eq!(loaded.iter().map(|s| s.job_id).collect::<Vec<_>>(), [3], "only the good one");
        assert_eq!(store.warned.lock().expect("lock").len(), 6, "each bad file warned about");
        store.load_all();
        assert_eq!(store.warned.lock().expect("lock").len(), 6, "once");
        for (name, _) in &bad {
            assert!(tmp.path().join(name).exists(), "{name} left alone");
        }
    }

    #[test]
    fn kept_beside_the_runner_configuration() {
        assert_eq!(
            PendingStore::beside(Path::new("/etc/autogit/runner.toml")),
            Path::new("/etc/autogit/runner.pending")
        );
    }
}
