//! Decoding requests shaped as gitlab-runner sends them, and the job payload round trip.

use autogit_protocol::*;

#[test]
fn job_request_from_gitlab_runner() {
    // Shape of gitlab-runner's JobRequest (research §1.6), with fields the server ignores.
    let body = r#"{
      "info": {"name": "gitlab-runner", "version": "18.3.0", "revision": "abc", "platform": "linux",
               "architecture": "amd64", "executor": "shell", "shell": "bash",
               "features": {"variables": true, "return_exit_code": true, "two_phase_job_commit": true, "brand_new": true},
               "config": {"gpus": "all"}, "labels": {"zone": "lab"}},
      "token": "glrt-abc", "system_id": "s_0123456789ab", "last_update": "7",
      "session": {"url": "https://r:8093/session/x", "certificate": "c", "authorization": "a"},
      "an_unknown_field": 1
    }"#;
    let r: JobRequest = serde_json::from_str(body).expect("parses");
    assert_eq!(r.token, "glrt-abc");
    assert_eq!(r.last_update.as_deref(), Some("7"));
    assert!(r.info.has_feature("return_exit_code"));
    assert!(!r.info.has_feature("absent"));
    // An empty body still parses (the token may come in the header).
    let r: JobRequest = serde_json::from_str("{}").expect("parses");
    assert!(r.token.is_empty());
}

#[test]
fn register_accepts_comma_separated_and_array_tags() {
    let r: RegisterRequest = serde_json::from_str(
        r#"{"token":"t","tag_list":"gpu, docker,,gpu","run_untagged":false,"access_level":"ref_protected"}"#,
    )
    .expect("parses");
    assert_eq!(r.tag_list.0, ["docker", "gpu"]);
    assert_eq!(r.access_level, Some(AccessLevel::RefProtected));
    let r: RegisterRequest = serde_json::from_str(r#"{"token":"t","tag_list":["b","a"]}"#).expect("parses");
    assert_eq!(r.tag_list.0, ["a", "b"]);
}

#[test]
fn update_states_and_failure_reasons() {
    let u: UpdateJobRequest = serde_json::from_str(
        r#"{"token":"glcbt-x","state":"failed","failure_reason":"script_failure","exit_code":3,
            "output":{"checksum":"crc32:00000000","bytesize":0}}"#,
    )
    .expect("parses");
    assert_eq!(u.state, ReportedState::Failed);
    assert_eq!(u.failure_reason, Some(FailureReason::ScriptFailure));
    assert_eq!(u.exit_code, Some(3));
    let u: UpdateJobRequest =
        serde_json::from_str(r#"{"state":"failed","failure_reason":"some_future_reason"}"#).expect("parses");
    assert_eq!(u.failure_reason, Some(FailureReason::Unknown));
    assert!(
        serde_json::from_str::<UpdateJobRequest>(r#"{"state":"exploded"}"#).is_err(),
        "unknown states are rejected"
    );
}

#[test]
fn checksum_matches_crc32_ieee() {
    // Reference values of CRC-32/IEEE.
    assert_eq!(trace_checksum(b""), "crc32:00000000");
    assert_eq!(trace_checksum(b"123456789"), "crc32:cbf43926");
}

#[test]
fn job_response_round_trips_with_gitlab_names() {
    let job = JobResponse {
        id: 9,
        token: "glcbt-abc".into(),
        allow_git_fetch: true,
        job_info: JobInfo { id: 9, name: "build".into(), stage: "build".into(), ..Default::default() },
        git_info: GitInfo { ref_name: "main".into(), ref_type: "branch".into(), depth: 20, ..Default::default() },
        runner_info: JobRunnerInfo { timeout: 3600, runner_session_url: None },
        variables: vec![JobVariable::public("CI_JOB_ID", "9")],
        steps: vec![Step { name: "script".into(), script: vec!["make".into()], timeout: 3600, ..Default::default() }],
        image: None,
        services: vec![],
        artifacts: vec![],
        cache: vec![],
        credentials: vec![],
        dependencies: vec![],
        features: JobFeatures::default(),
    };
    let v = serde_json::to_value(&job).expect("serializes");
    assert_eq!(v["git_info"]["ref"], "main");
    assert_eq!(v["steps"][0]["when"], "on_success");
    assert_eq!(v["variables"][0]["public"], true);
    let back: JobResponse = serde_json::from_value(v).expect("parses back");
    assert_eq!(back, job);
    let s: Step = serde_json::from_str(r#"{"name":"script","script":[],"timeout":1,"when":"","allow_failure":false}"#)
        .expect("empty when");
    assert_eq!(s.when, StepWhen::OnSuccess);
}
