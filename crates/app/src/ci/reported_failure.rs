//! A runner's failure reason (the wire type, which tolerates names newer runners send) as the
//! domain's [`FailureReason`]. Every wire name has its own domain value, so what a runner said is
//! stored as it said it; only a name this server does not know is `unknown_failure`, as GitLab
//! records it.

use autogit_core::ci::FailureReason;
use autogit_protocol::FailureReason as Reported;

pub(crate) fn reported_reason(r: Reported) -> FailureReason {
    match r {
        Reported::UnknownFailure | Reported::Unknown => FailureReason::UnknownFailure,
        Reported::ScriptFailure => FailureReason::ScriptFailure,
        Reported::ApiFailure => FailureReason::ApiFailure,
        Reported::StuckOrTimeoutFailure => FailureReason::StuckOrTimeoutFailure,
        Reported::RunnerSystemFailure => FailureReason::RunnerSystemFailure,
        Reported::MissingDependencyFailure => FailureReason::MissingDependencyFailure,
        Reported::RunnerUnsupported => FailureReason::RunnerUnsupported,
        Reported::StaleSchedule => FailureReason::StaleSchedule,
        Reported::JobExecutionTimeout => FailureReason::JobExecutionTimeout,
        Reported::ArchivedFailure => FailureReason::ArchivedFailure,
        Reported::UnmetPrerequisites => FailureReason::UnmetPrerequisites,
        Reported::SchedulerFailure => FailureReason::SchedulerFailure,
        Reported::DataIntegrityFailure => FailureReason::DataIntegrityFailure,
        Reported::ImagePullFailure => FailureReason::ImagePullFailure,
        Reported::RunnerConfigurationError => FailureReason::RunnerConfigurationError,
        Reported::RunnerExternalDependencyFailure => FailureReason::RunnerExternalDependencyFailure,
        Reported::RunnerInterrupted => FailureReason::RunnerInterrupted,
        Reported::TraceSizeExceeded => FailureReason::TraceSizeExceeded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire spelling and the stored spelling of every known reason are the same.
    #[test]
    fn reported_reasons_keep_their_names() {
        let known: Vec<Reported> = FailureReason::NAMES
            .iter()
            .filter_map(|n| serde_json::from_value(serde_json::Value::from(*n)).ok())
            .filter(|r| *r != Reported::Unknown)
            .collect();
        assert_eq!(known.len(), 18, "every wire reason has a domain name: {known:?}");
        for r in known {
            let wire = serde_json::to_value(r).expect("serializes");
            assert_eq!(wire.as_str(), Some(reported_reason(r).as_str()));
        }
        assert_eq!(reported_reason(Reported::Unknown), FailureReason::UnknownFailure);
    }
}
