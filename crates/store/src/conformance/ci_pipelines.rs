//! Conformance checks: pipelines (creation with jobs, iids, lists, status times).

use super::ci_common::*;
use super::*;

pub(super) async fn ci_pipelines_create(cx: &Cx<'_>) {
    let s = cx.store;
    let u = cx.user("pl").await;
    let p = ci_project(cx, "pc").await;
    let vars = vec![("A".to_string(), "1".to_string()), ("B".to_string(), "x \"y\"\n\\ ü".to_string())];
    let new = NewPipeline {
        user_id: Some(u.id),
        variables: vars.clone(),
        tag: true,
        ref_name: "v1.0".to_string(),
        ..new_pipeline(p.id, "ignored", &"b".repeat(40))
    };
    let test = NewJob { tags: vec!["z".to_string(), "a".to_string()], ..new_job("test", 1, JobStatus::Created) };
    let jobs = [test, new_job("build", 0, JobStatus::Pending), new_job("deploy", 2, JobStatus::Manual)];
    let (pl, created) = ok(s.create_pipeline(&new, &jobs, cx.at(50)).await, "create_pipeline");
    assert_eq!(
        pl,
        Pipeline {
            id: pl.id,
            project_id: p.id,
            iid: 1,
            ref_name: "v1.0".to_string(),
            tag: true,
            sha: "b".repeat(40),
            before_sha: "0".repeat(40),
            source: "push".to_string(),
            status: PipelineStatus::Created,
            user_id: Some(u.id),
            yaml_errors: None,
            variables: vars,
            created_at: cx.at(50),
            updated_at: cx.at(50),
            started_at: None,
            finished_at: None,
            duration_secs: None,
        },
        "pipelines: create returns the pipeline with iid 1 and its variables in order"
    );
    let names: Vec<&str> = created.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["test", "build", "deploy"], "pipelines: jobs are returned in the order given");
    let t = &created[0];
    assert_eq!(
        (t.pipeline_id, t.project_id, &t.stage, t.stage_index, t.status, t.when, &t.spec),
        (pl.id, p.id, &jobs[0].stage, 1, JobStatus::Created, When::OnSuccess, &jobs[0].spec),
        "pipelines: a job keeps what was given"
    );
    assert_eq!(t.tags, ["a", "z"], "pipelines: job tags are sorted");
    for j in &created {
        assert_eq!(
            (j.attempt, j.retried, j.retried_from, j.runner_id, &j.token_digest, j.trace_size, j.created_at),
            (1, false, None, None, &None, 0, cx.at(50)),
            "pipelines: a new job is a first attempt, unassigned, with no trace"
        );
        let queued = (j.status == JobStatus::Pending).then(|| cx.at(50));
        assert_eq!(j.queued_at, queued, "pipelines: only pending jobs are queued at creation");
        assert_eq!((j.started_at, j.finished_at), (None, None), "pipelines: a new job has not run");
    }
    assert_eq!(ok(s.pipeline_by_id(pl.id).await, "pipeline_by_id"), Some(pl.clone()), "pipelines: by id");
    assert_eq!(ok(s.pipeline_by_iid(p.id, 1).await, "by iid"), Some(pl.clone()), "pipelines: by iid");
    assert_eq!(ok(s.pipeline_by_iid(p.id, 2).await, "by iid"), None, "pipelines: unknown iid");
    assert_eq!(ok(s.pipeline_by_id(PipelineId::new(MISSING)).await, "pipeline_by_id"), None, "pipelines: unknown id");
    let listed = ok(s.jobs_of_pipeline(pl.id, false).await, "jobs_of_pipeline");
    let want = vec![created[1].clone(), created[0].clone(), created[2].clone()];
    assert_eq!(listed, want, "pipelines: jobs_of_pipeline is by stage, then id, and equals what create returned");

    // All or nothing: a bad job leaves no pipeline behind, and its iid is not used up.
    for (bad, what) in [
        (new_job("bad", 0, JobStatus::Preparing), "a job with a status jobs are not stored with"),
        (NewJob { tags: vec!["a,b".to_string()], ..new_job("bad", 0, JobStatus::Created) }, "a job with a bad tag"),
    ] {
        let (pipeline, jobs) = (new_pipeline(p.id, "main", "c"), [new_job("ok", 0, JobStatus::Created), bad]);
        expect_invalid(s.create_pipeline(&pipeline, &jobs, cx.at(51)).await, &format!("pipelines: {what}"));
    }
    let orphan = new_pipeline(ProjectId::new(MISSING), "main", "c");
    expect_invalid(s.create_pipeline(&orphan, &[], cx.at(51)).await, "pipelines: project that does not exist");
    let all = ok(s.list_pipelines(p.id, &PipelineFilter::default(), Page::ALL).await, "list_pipelines");
    assert_eq!(all.items, vec![pl.clone()], "pipelines: failed creations leave nothing behind");

    let (second, none) = pipeline_with(cx, &p, "main", &[], 52).await;
    assert_eq!((second.iid, none.len()), (2, 0), "pipelines: the next iid follows; a pipeline may have no jobs");
    let q = ci_project(cx, "pq").await;
    let (other, _) = pipeline_with(cx, &q, "main", &[new_job("only", 0, JobStatus::Pending)], 53).await;
    assert_eq!(other.iid, 1, "pipelines: iids count per project");
    let (third, _) = pipeline_with(cx, &p, "main", &[], 54).await;
    assert_eq!(third.iid, 3, "pipelines: another project's pipelines do not use up iids");

    // The re-encryption passes: pipelines with variables in id order, swapped compare-and-set.
    let walk = ok(
        s.pipelines_with_variables_after(Some(PipelineId::new(pl.id.get() - 1)), 100).await,
        "pipelines_with_variables_after",
    );
    assert_eq!(walk.first(), Some(&pl), "pipelines_with_variables_after: from above after_id, whole rows");
    assert!(walk.windows(2).all(|w| w[0].id < w[1].id), "pipelines_with_variables_after: in id order");
    assert!(
        !walk.iter().any(|x| [second.id, other.id, third.id].contains(&x.id)),
        "pipelines_with_variables_after: only pipelines that have variables"
    );
    let after = ok(s.pipelines_with_variables_after(Some(pl.id), 100).await, "pipelines_with_variables_after");
    assert!(after.iter().all(|x| x.id > pl.id), "pipelines_with_variables_after: only ids above after_id");
    assert!(ok(s.pipelines_with_variables_after(None, 0).await, "limit 0").is_empty(), "at most `limit`");
    let sealed = vec![("A".to_string(), "sealed A".to_string()), ("B".to_string(), "sealed B".to_string())];
    let stale = ok(s.swap_pipeline_variables(pl.id, &sealed, &sealed).await, "swap_pipeline_variables");
    assert!(!stale, "swap_pipeline_variables: not while the variables differ from `expected`");
    assert!(ok(s.swap_pipeline_variables(pl.id, &new.variables, &sealed).await, "swap_pipeline_variables"));
    let now = ok(s.pipeline_by_id(pl.id).await, "pipeline_by_id").expect("pipeline");
    assert_eq!(now.variables, sealed, "swap_pipeline_variables: the new variables, in order");
    let gone = ok(
        s.swap_pipeline_variables(PipelineId::new(MISSING), &sealed, &new.variables).await,
        "swap_pipeline_variables",
    );
    assert!(!gone, "swap_pipeline_variables: a missing pipeline");
}

pub(super) async fn ci_pipeline_lists(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "pll").await;
    let mk = |r: &str, sha: &str| new_pipeline(p.id, r, &sha.repeat(40));
    let (p1, _) = ok(s.create_pipeline(&mk("main", "a"), &[], cx.at(60)).await, "create_pipeline");
    let (p2, _) = ok(s.create_pipeline(&mk("dev", "b"), &[], cx.at(61)).await, "create_pipeline");
    let (p3, _) = ok(s.create_pipeline(&mk("main", "b"), &[], cx.at(62)).await, "create_pipeline");
    let p2 = ok(s.set_pipeline_status(p2.id, PipelineStatus::Running, cx.at(63)).await, "set_pipeline_status");
    let f = |r: Option<&str>, status: Option<PipelineStatus>, sha: Option<&str>| PipelineFilter {
        ref_name: r.map(String::from),
        status,
        sha: sha.map(|c| c.repeat(40)),
    };
    let cases = [
        (f(None, None, None), vec![&p3, &p2, &p1], "all, newest first"),
        (f(Some("main"), None, None), vec![&p3, &p1], "by ref"),
        (f(None, Some(PipelineStatus::Running), None), vec![&p2], "by status"),
        (f(None, None, Some("b")), vec![&p3, &p2], "by sha"),
        (f(Some("main"), Some(PipelineStatus::Created), Some("a")), vec![&p1], "every field"),
        (f(Some("MAIN"), None, None), vec![], "refs are exact"),
    ];
    for (filter, want, what) in cases {
        let got = ok(s.list_pipelines(p.id, &filter, Page::ALL).await, "list_pipelines");
        let want: Vec<Pipeline> = want.into_iter().cloned().collect();
        assert_eq!((got.total, got.items), (want.len() as i64, want), "list_pipelines: {what}");
    }
    let page = ok(s.list_pipelines(p.id, &f(None, None, None), Page { offset: 1, limit: 1 }).await, "paged");
    assert_eq!(page, Listed { items: vec![p2], total: 3 }, "list_pipelines: a page, with the total");
    let latest = ok(s.latest_pipeline_for_ref(p.id, "main").await, "latest_pipeline_for_ref");
    assert_eq!(latest, Some(p3), "pipelines: the latest for a ref is the newest");
    assert_eq!(ok(s.latest_pipeline_for_ref(p.id, "nope").await, "latest"), None, "pipelines: no pipeline for ref");
}

pub(super) async fn ci_pipeline_status_times(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "pst").await;
    let (pl, _) = pipeline_with(cx, &p, "main", &[new_job("j", 0, JobStatus::Pending)], 70).await;
    let set = |status: PipelineStatus, at: i64| s.set_pipeline_status(pl.id, status, cx.at(at));
    let x = ok(set(PipelineStatus::Pending, 71).await, "set pending");
    assert_eq!(
        (x.status, x.updated_at, x.started_at),
        (PipelineStatus::Pending, cx.at(71), None),
        "pipelines: pending"
    );
    let x = ok(set(PipelineStatus::Running, 72).await, "set running");
    assert_eq!((x.started_at, x.finished_at), (Some(cx.at(72)), None), "pipelines: running sets started_at");
    let x = ok(set(PipelineStatus::Running, 73).await, "set running again");
    assert_eq!(x.started_at, Some(cx.at(72)), "pipelines: started_at is set only the first time");
    let x = ok(set(PipelineStatus::Success, 82).await, "set success");
    assert_eq!((x.finished_at, x.duration_secs), (Some(cx.at(82)), Some(10)), "pipelines: a final status");
    let x = ok(set(PipelineStatus::Success, 83).await, "set success again");
    assert_eq!(x.finished_at, Some(cx.at(82)), "pipelines: the same final status again keeps finished_at");
    let x = ok(set(PipelineStatus::Running, 84).await, "set running after success");
    assert_eq!((x.finished_at, x.duration_secs), (None, None), "pipelines: running again clears finished_at");
    let x = ok(set(PipelineStatus::Canceled, 92).await, "set canceled");
    assert_eq!((x.finished_at, x.duration_secs, x.updated_at), (Some(cx.at(92)), Some(20), cx.at(92)), "canceled");
    assert_eq!(ok(s.pipeline_by_id(pl.id).await, "pipeline_by_id"), Some(x), "pipelines: the status is stored");
    expect_not_found(
        s.set_pipeline_status(PipelineId::new(MISSING), PipelineStatus::Running, cx.at(93)).await,
        "pipelines: missing pipeline",
    );
}
