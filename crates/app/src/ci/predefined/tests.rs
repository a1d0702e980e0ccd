//! Predefined variables for a branch and a tag pipeline.

use super::*;
use autogit_core::{NamespaceId, ProjectId, Visibility};
use chrono::TimeZone;

fn project() -> Project {
    let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("date");
    Project {
        id: ProjectId::new(7),
        namespace_id: NamespaceId::new(3),
        name: "Deploy Tools".into(),
        path: "deploy-tools".into(),
        full_path: "platform/infra/deploy-tools".into(),
        description: String::new(),
        visibility: Visibility::Internal,
        default_branch: Some("main".into()),
        ci_config_path: None,
        created_at: t,
        last_activity_at: t,
    }
}

fn get<'a>(v: &'a [(String, String)], k: &str) -> Option<&'a str> {
    v.iter().find(|(key, _)| key == k).map(|(_, val)| val.as_str())
}

#[test]
fn branch_pipeline() {
    let p = project();
    let commit =
        CommitFacts { message: "Fix the thing\n\nLonger text.".into(), author: "A <a@x.io>".into(), timestamp: None };
    let f = PipelineFacts {
        server_url: "https://git.example.com:8443",
        project: &p,
        namespace_path: "platform/infra",
        pipeline_id: PipelineId::new(100),
        pipeline_iid: 4,
        source: "push",
        ref_name: "Feature/ÜBER_fix",
        is_tag: false,
        ref_protected: false,
        sha: "0123456789abcdef0123456789abcdef01234567",
        before_sha: "0000000000000000000000000000000000000000",
        commit: &commit,
        user: None,
        config_path: ".gitlab-ci.yml",
        created_at: p.created_at,
    };
    let v = pipeline_variables(&f);
    assert_eq!(get(&v, "CI_SERVER_HOST"), Some("git.example.com"));
    assert_eq!(get(&v, "CI_SERVER_PORT"), Some("8443"));
    assert_eq!(get(&v, "CI_SERVER_PROTOCOL"), Some("https"));
    assert_eq!(get(&v, "CI_API_V4_URL"), Some("https://git.example.com:8443/api/v4"));
    assert_eq!(get(&v, "CI_PROJECT_NAME"), Some("deploy-tools"));
    assert_eq!(get(&v, "CI_PROJECT_ROOT_NAMESPACE"), Some("platform"));
    assert_eq!(get(&v, "CI_PROJECT_PATH_SLUG"), Some("platform-infra-deploy-tools"));
    assert_eq!(get(&v, "CI_COMMIT_BRANCH"), Some("Feature/ÜBER_fix"));
    assert_eq!(get(&v, "CI_COMMIT_TAG"), None);
    assert_eq!(get(&v, "CI_COMMIT_REF_SLUG"), Some("feature--ber-fix"));
    assert_eq!(get(&v, "CI_COMMIT_SHORT_SHA"), Some("01234567"));
    assert_eq!(get(&v, "CI_COMMIT_TITLE"), Some("Fix the thing"));
    assert_eq!(get(&v, "CI_COMMIT_DESCRIPTION"), Some("Longer text."));
    assert_eq!(get(&v, "CI_DEFAULT_BRANCH"), Some("main"));
    assert_eq!(get(&v, "CI_PIPELINE_IID"), Some("4"));

    let j = JobFacts {
        id: 55,
        name: "test 1/2",
        stage: "test",
        token: "glcbt-secret",
        manual: false,
        node: Some((1, 2)),
        started_at: p.created_at,
    };
    let jv = job_variables(&f, &j);
    let repo = jv.iter().find(|(k, _, _)| k == "CI_REPOSITORY_URL").expect("repo url");
    assert_eq!(repo.1, "https://gitlab-ci-token:glcbt-secret@git.example.com:8443/platform/infra/deploy-tools.git");
    assert!(jv.iter().any(|(k, v, masked)| k == "CI_JOB_TOKEN" && v == "glcbt-secret" && *masked));
    assert!(jv.iter().any(|(k, v, _)| k == "CI_JOB_NAME_SLUG" && v == "test-1-2"));
    assert!(jv.iter().any(|(k, v, _)| k == "CI_NODE_TOTAL" && v == "2"));
}

#[test]
fn tag_pipeline_and_slug_limits() {
    let p = project();
    let commit = CommitFacts::default();
    let f = PipelineFacts {
        server_url: "http://localhost",
        project: &p,
        namespace_path: "platform/infra",
        pipeline_id: PipelineId::new(1),
        pipeline_iid: 1,
        source: "push",
        ref_name: "v1.2.3",
        is_tag: true,
        ref_protected: true,
        sha: "abc",
        before_sha: "def",
        commit: &commit,
        user: None,
        config_path: ".gitlab-ci.yml",
        created_at: p.created_at,
    };
    let v = pipeline_variables(&f);
    assert_eq!(get(&v, "CI_COMMIT_TAG"), Some("v1.2.3"));
    assert_eq!(get(&v, "CI_COMMIT_BRANCH"), None);
    assert_eq!(get(&v, "CI_SERVER_PORT"), Some("80"));
    assert_eq!(get(&v, "CI_COMMIT_REF_PROTECTED"), Some("true"));
    assert_eq!(slug(&"a".repeat(100)).len(), 63);
    assert_eq!(slug("--x--"), "x");
}
