use super::*;

/// Every value of every CI word: its spelling parses back to it, and serde writes and reads the
/// same spelling as a JSON string.
fn round_trips<T>(all: &[T], names: &[&str])
where
    T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = ParseError> + serde::Serialize,
    T: for<'de> serde::Deserialize<'de>,
{
    assert_eq!(all.len(), names.len());
    for (value, name) in all.iter().zip(names) {
        assert_eq!(value.to_string(), *name);
        assert_eq!(name.parse::<T>(), Ok(*value));
        let json = serde_json::to_string(value).expect("serializes");
        assert_eq!(json, format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<T>(&json).expect("deserializes"), *value);
    }
}

#[test]
fn every_value_round_trips_through_its_spelling_and_serde() {
    round_trips(JobStatus::ALL, JobStatus::NAMES);
    round_trips(PipelineStatus::ALL, PipelineStatus::NAMES);
    round_trips(When::ALL, When::NAMES);
    round_trips(FailureReason::ALL, FailureReason::NAMES);
}

#[test]
fn spellings_are_gitlabs() {
    assert_eq!(JobStatus::NAMES.len(), 11);
    assert_eq!(JobStatus::WaitingForResource.as_str(), "waiting_for_resource");
    assert_eq!(PipelineStatus::Canceled.as_str(), "canceled");
    assert_eq!(When::OnFailure.as_str(), "on_failure");
    assert_eq!(FailureReason::StuckOrTimeoutFailure.as_str(), "stuck_or_timeout_failure");
    for s in JobStatus::ALL {
        assert_eq!(PipelineStatus::from(*s).as_str(), s.as_str());
        assert_eq!(PipelineStatus::from(*s).is_finished(), s.is_finished());
    }
}

#[test]
fn an_unknown_spelling_is_an_error_naming_it_and_the_allowed_ones() {
    let err = "Running".parse::<JobStatus>().expect_err("case matters");
    assert_eq!(err.value, "Running");
    let text = err.to_string();
    assert!(text.starts_with("unknown job status 'Running' (expected one of: created, "), "{text}");
    assert!(text.ends_with("manual, scheduled)"), "{text}");
    let err = serde_json::from_str::<When>("\"never\"").expect_err("never is not stored");
    assert!(err.to_string().contains("unknown when 'never'"), "{err}");
    assert!(serde_json::from_str::<FailureReason>("3").is_err());
    assert!("".parse::<PipelineStatus>().is_err());
}

#[test]
fn status_groups() {
    let finished: Vec<_> = JobStatus::ALL.iter().filter(|s| s.is_finished()).map(|s| s.as_str()).collect();
    assert_eq!(finished, ["success", "failed", "canceled", "skipped"]);
    let unstarted: Vec<_> = JobStatus::ALL.iter().filter(|s| s.is_unstarted()).map(|s| s.as_str()).collect();
    assert_eq!(unstarted, ["created", "pending", "manual", "scheduled"]);
}
