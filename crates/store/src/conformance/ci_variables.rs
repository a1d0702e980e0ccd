//! Conformance checks: CI/CD variables, and what deleting a project removes of CI.

use super::ci_common::*;
use super::*;

fn new_var(owner: VariableOwner, key: &str, scope: &str) -> NewVariable {
    NewVariable {
        owner,
        key: key.to_string(),
        value: format!("value of {key}"),
        variable_type: "env_var".to_string(),
        protected: false,
        masked: false,
        raw: false,
        environment_scope: scope.to_string(),
        description: None,
    }
}

pub(super) async fn ci_variables(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "cv").await;
    let g = cx.group("cvg", None, Visibility::Public).await;
    let (po, go) = (VariableOwner::Project(p.id), VariableOwner::Group(g.id));
    let new = NewVariable { protected: true, raw: true, description: Some("the key".into()), ..new_var(po, "K", "*") };
    let k = ok(s.create_variable(&new).await, "create_variable");
    assert_eq!(
        k,
        CiVariable {
            id: k.id,
            owner: po,
            key: "K".into(),
            value: "value of K".into(),
            variable_type: "env_var".into(),
            protected: true,
            masked: false,
            raw: true,
            environment_scope: "*".into(),
            description: Some("the key".into()),
        },
        "variables: create returns what was given"
    );
    let prod = ok(s.create_variable(&new_var(po, "K", "production")).await, "create_variable");
    let file = NewVariable { variable_type: "file".into(), ..new_var(po, "F", "*") };
    let f = ok(s.create_variable(&file).await, "create_variable");
    let gk = ok(s.create_variable(&new_var(go, "K", "*")).await, "variables: the same key on a group");
    expect_conflict(s.create_variable(&new).await, "key", "variables: duplicate (owner, key, scope)");
    expect_conflict(s.create_variable(&new_var(go, "K", "*")).await, "key", "variables: duplicate on a group");
    let bad = NewVariable { variable_type: "secret".into(), ..new_var(po, "B", "*") };
    expect_invalid(s.create_variable(&bad).await, "variables: unknown type");
    expect_invalid(
        s.create_variable(&new_var(VariableOwner::Project(ProjectId::new(MISSING)), "K", "*")).await,
        "no project",
    );
    expect_invalid(
        s.create_variable(&new_var(VariableOwner::Group(NamespaceId::new(MISSING)), "K", "*")).await,
        "no group",
    );

    let listed = ok(s.list_variables(po, Page::ALL).await, "list_variables");
    let want = vec![k.clone(), prod.clone(), f.clone()];
    assert_eq!(listed, Listed { items: want, total: 3 }, "variables: one owner's, by id");
    let page = ok(s.list_variables(po, Page { offset: 2, limit: 5 }).await, "list_variables paged");
    assert_eq!(page, Listed { items: vec![f.clone()], total: 3 }, "variables: paging keeps the total");
    assert_eq!(ok(s.list_variables(go, Page::ALL).await, "list").items, vec![gk.clone()], "variables: per owner");

    let get = |owner, key: &'static str, scope: Option<&'static str>| s.variable(owner, key, scope);
    assert_eq!(ok(get(po, "K", Some("*")).await, "variable"), Some(k.clone()), "variables: by key and scope");
    assert_eq!(ok(get(po, "K", Some("production")).await, "variable"), Some(prod.clone()), "variables: other scope");
    assert_eq!(ok(get(po, "F", None).await, "variable"), Some(f.clone()), "variables: the only one of a key");
    assert_eq!(ok(get(go, "K", None).await, "variable"), Some(gk), "variables: a group's");
    assert_eq!(ok(get(po, "NONE", None).await, "variable"), None, "variables: unknown key");
    assert_eq!(ok(get(po, "K", Some("staging")).await, "variable"), None, "variables: unknown scope");
    assert_eq!(ok(get(po, "k", Some("*")).await, "variable"), None, "variables: keys are case-sensitive");
    expect_conflict(get(po, "K", None).await, "environment_scope", "variables: a key in several scopes");

    let update = VariableUpdate {
        value: Some("new".into()),
        variable_type: Some("file".into()),
        protected: Some(true),
        masked: Some(true),
        raw: Some(true),
        environment_scope: Some("prod*".into()),
        description: Some(Some("now described".into())),
    };
    let updated = ok(s.update_variable(po, "K", Some("production"), &update).await, "update_variable");
    let want = CiVariable {
        value: "new".into(),
        variable_type: "file".into(),
        protected: true,
        masked: true,
        raw: true,
        environment_scope: "prod*".into(),
        description: Some("now described".into()),
        ..prod.clone()
    };
    assert_eq!(updated, want, "variables: update applies every set field");
    let clear = VariableUpdate { description: Some(None), ..VariableUpdate::default() };
    let cleared = ok(s.update_variable(po, "K", Some("prod*"), &clear).await, "update_variable");
    assert_eq!(cleared, CiVariable { description: None, ..want }, "variables: Some(None) removes the description");
    let clash = VariableUpdate { environment_scope: Some("*".into()), ..VariableUpdate::default() };
    expect_conflict(s.update_variable(po, "K", Some("prod*"), &clash).await, "key", "variables: scope taken");
    expect_conflict(s.update_variable(po, "K", None, &clear).await, "environment_scope", "variables: ambiguous");
    expect_not_found(s.update_variable(po, "NONE", None, &clear).await, "variables: update of a missing one");
    let bad = VariableUpdate { variable_type: Some("secret".into()), ..VariableUpdate::default() };
    expect_invalid(s.update_variable(po, "F", None, &bad).await, "variables: update to an unknown type");

    expect_conflict(s.delete_variable(po, "K", None).await, "environment_scope", "variables: ambiguous delete");
    ok(s.delete_variable(po, "K", Some("prod*")).await, "delete_variable");
    assert_eq!(ok(get(po, "K", None).await, "variable"), Some(k), "variables: the other scope remains");
    expect_not_found(s.delete_variable(po, "K", Some("prod*")).await, "variables: deleting twice");
    expect_not_found(s.delete_variable(go, "F", None).await, "variables: another owner's key");
}

/// The re-encryption pass's two methods: a walk over every owner's variables in id order, and a
/// compare-and-set of one value.
pub(super) async fn ci_variable_values(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "cvv").await;
    let g = cx.group("cvvg", None, Visibility::Public).await;
    let (po, go) = (VariableOwner::Project(p.id), VariableOwner::Group(g.id));
    let a = ok(s.create_variable(&new_var(po, "A", "*")).await, "create_variable");
    let b = ok(s.create_variable(&new_var(go, "B", "*")).await, "create_variable");
    let c = ok(s.create_variable(&new_var(po, "C", "production")).await, "create_variable");
    let mine = [a.id, b.id, c.id];

    // The database may hold other runs' variables: walk all of it in small batches, keep ours.
    let mut seen = Vec::new();
    let mut after = a.id - 1;
    loop {
        let batch = ok(s.variables_after(after, 2).await, "variables_after");
        assert!(batch.len() <= 2, "variables_after: at most `limit` rows");
        assert!(batch.windows(2).all(|w| w[0].id < w[1].id), "variables_after: in id order");
        assert!(batch.iter().all(|v| v.id > after), "variables_after: only ids above `after_id`");
        let Some(last) = batch.last() else { break };
        after = last.id;
        seen.extend(batch.into_iter().filter(|v| mine.contains(&v.id)));
    }
    assert_eq!(seen, vec![a.clone(), b.clone(), c.clone()], "variables_after: every owner's, whole rows");
    assert_eq!(ok(s.variables_after(c.id, 0).await, "variables_after"), vec![], "variables_after: limit 0");

    assert!(ok(s.swap_variable_value(a.id, "value of A", "sealed A").await, "swap"), "swap: expected value");
    let got = ok(s.variable(po, "A", None).await, "variable");
    assert_eq!(got, Some(CiVariable { value: "sealed A".into(), ..a.clone() }), "swap: only the value changes");
    assert!(!ok(s.swap_variable_value(a.id, "value of A", "lost").await, "swap"), "swap: a stale expected value");
    let got = ok(s.variable(po, "A", None).await, "variable").map(|v| v.value);
    assert_eq!(got.as_deref(), Some("sealed A"), "swap: a stale swap changes nothing");
    assert!(!ok(s.swap_variable_value(MISSING, "x", "y").await, "swap"), "swap: a missing variable");
    let got = ok(s.variable(go, "B", None).await, "variable").map(|v| v.value);
    assert_eq!(got.as_deref(), Some("value of B"), "swap: other rows untouched");
}

pub(super) async fn ci_project_delete_cascades(cx: &Cx<'_>) {
    let s = cx.store;
    let p = ci_project(cx, "cd").await;
    let keep = ci_project(cx, "ck").await;
    let own = runner(cx, RunnerScope::Project(p.id), &[]).await;
    let shared = runner(cx, RunnerScope::Instance, &[]).await;
    let (pl, jobs) = pipeline_with(cx, &p, "main", &[new_job("a", 0, JobStatus::Pending)], 160).await;
    let (kept_pl, kept_jobs) = pipeline_with(cx, &keep, "main", &[new_job("a", 0, JobStatus::Pending)], 160).await;
    let j = jobs[0].id;
    ok(s.assign_job(j, shared.id, &digest(cx, "cd"), cx.at(200), cx.at(161)).await, "assign").expect("claimed");
    ok(s.append_trace(j, 0, b"log").await, "append_trace");
    ok(s.create_variable(&new_var(VariableOwner::Project(p.id), "K", "*")).await, "create_variable");
    ok(s.create_variable(&new_var(VariableOwner::Project(keep.id), "K", "*")).await, "create_variable");

    ok(s.delete_project(p.id).await, "delete_project");
    assert_eq!(ok(s.pipeline_by_id(pl.id).await, "pipeline_by_id"), None, "cascade: pipelines go");
    assert_eq!(ok(s.job_by_id(j).await, "job_by_id"), None, "cascade: jobs go");
    assert_eq!(ok(s.trace_size(j).await, "trace_size"), None, "cascade: traces go");
    assert_eq!(ok(s.read_trace(j, 0, 10).await, "read_trace"), b"", "cascade: trace chunks go");
    assert_eq!(ok(s.runner_by_id(own.id).await, "runner_by_id"), None, "cascade: project runners go");
    assert!(ok(s.runner_by_id(shared.id).await, "runner_by_id").is_some(), "cascade: instance runners stay");
    let vars = ok(s.list_variables(VariableOwner::Project(p.id), Page::ALL).await, "list_variables");
    assert_eq!(vars.total, 0, "cascade: variables go");

    assert!(ok(s.pipeline_by_id(kept_pl.id).await, "pipeline_by_id").is_some(), "cascade: others' pipelines stay");
    assert!(ok(s.job_by_id(kept_jobs[0].id).await, "job_by_id").is_some(), "cascade: others' jobs stay");
    let kept_vars = ok(s.list_variables(VariableOwner::Project(keep.id), Page::ALL).await, "list_variables");
    assert_eq!(kept_vars.total, 1, "cascade: others' variables stay");
}
