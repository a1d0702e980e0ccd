//! `PUT /api/v4/jobs/:id`: state reports from the runner.

use crate::RunnerInfo;
use serde::{Deserialize, Serialize};

/// The states a runner may report. Anything else is a `400`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportedState {
    /// Keep-alive while provisioning (two-phase commit).
    Pending,
    Running,
    Success,
    Failed,
}

/// Why a job failed, with GitLab's names. Unknown names from newer runners map to `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    UnknownFailure,
    ScriptFailure,
    ApiFailure,
    StuckOrTimeoutFailure,
    RunnerSystemFailure,
    MissingDependencyFailure,
    RunnerUnsupported,
    StaleSchedule,
    JobExecutionTimeout,
    ArchivedFailure,
    UnmetPrerequisites,
    SchedulerFailure,
    DataIntegrityFailure,
    ImagePullFailure,
    RunnerConfigurationError,
    RunnerExternalDependencyFailure,
    RunnerInterrupted,
    TraceSizeExceeded,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TraceSummary {
    /// `crc32:%08x` over the whole trace.
    pub checksum: Option<String>,
    pub bytesize: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateJobRequest {
    #[serde(default)]
    pub token: String,
    pub state: ReportedState,
    #[serde(default)]
    pub failure_reason: Option<FailureReason>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub output: Option<TraceSummary>,
    #[serde(default)]
    pub info: RunnerInfo,
    /// AutoGit's runner: peak memory and mean utilisation of the job's GPUs (a JSON array of
    /// `{uuid, peak_memory_bytes, mean_utilization_percent, samples}`), with the final state.
    #[serde(default, rename = "autogit_gpu_usage", skip_serializing_if = "Option::is_none")]
    pub gpu_usage: Option<serde_json::Value>,
}

/// `crc32:%08x` (IEEE) of a trace, as the runner reports it.
pub fn trace_checksum(data: &[u8]) -> String {
    format!("crc32:{:08x}", crc32(data))
}

/// CRC-32/IEEE, bitwise: traces are checksummed once per job, so a table is not worth its code.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
