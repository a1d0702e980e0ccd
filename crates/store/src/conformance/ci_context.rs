//! Conformance checks: the hand-out context reads ([`CiContextStore`]) answer exactly what the
//! per-aggregate methods answer.

use super::ci_common::*;
use super::*;
use autogit_core::protection::RefAccessLevel;

fn var(owner: VariableOwner, key: &str) -> NewVariable {
    NewVariable {
        owner,
        key: key.to_string(),
        value: format!("sealed {key}"),
        variable_type: "env_var".to_string(),
        protected: key.ends_with('P'),
        masked: false,
        raw: false,
        environment_scope: "*".to_string(),
        description: None,
    }
}

fn rule(
    project_id: ProjectId,
    name: &str,
    push: Vec<RefAccessLevel>,
    merge: Vec<RefAccessLevel>,
) -> NewProtectedBranch {
    NewProtectedBranch {
        project_id,
        name: name.to_string(),
        protection: BranchProtection { push_access_levels: push, merge_access_levels: merge, allow_force_push: false },
    }
}

/// What `ci_settings` must answer, from the per-aggregate reads.
async fn expected_settings(cx: &Cx<'_>, project: &Project, user: Option<&User>) -> CiSettings {
    let s = cx.store;
    let namespaces = ok(s.namespace_ancestry(project.namespace_id).await, "namespace_ancestry");
    let mut variables = Vec::new();
    for ns in &namespaces {
        variables.extend(ok(s.list_variables(VariableOwner::Group(ns.id), Page::ALL).await, "list_variables").items);
    }
    variables.extend(ok(s.list_variables(VariableOwner::Project(project.id), Page::ALL).await, "list_variables").items);
    let user_levels = match user {
        Some(u) => ok(s.applicable_levels(MemberSource::Project(project.id), u.id).await, "applicable_levels"),
        None => Vec::new(),
    };
    CiSettings {
        namespaces,
        protected_branches: ok(s.list_protected_branches(project.id, Page::ALL).await, "list").items,
        user_levels: level_set(user_levels),
        variables,
    }
}

fn as_set(mut settings: CiSettings) -> CiSettings {
    settings.user_levels = level_set(settings.user_levels);
    settings
}

pub(super) async fn ci_context_reads(cx: &Cx<'_>) {
    let s = cx.store;
    let dev = cx.user("cxd").await;
    let outsider = cx.user("cxo").await;
    let root = cx.group("cxr", None, Visibility::Public).await;
    let sub = cx.group("cxs", Some(&root), Visibility::Public).await;
    let p = cx.project(&sub, "cxp", Visibility::Public, None).await;
    let sibling = cx.project(&sub, "cxq", Visibility::Public, None).await;
    let elsewhere = cx.group("cxe", None, Visibility::Public).await;
    cx.add(MemberSource::Namespace(root.id), &dev, AccessLevel::Developer).await;
    cx.add(MemberSource::Project(p.id), &dev, AccessLevel::Maintainer).await;
    // Created out of owner order, so that the answer's order (root group first, the project
    // last, by id within each) is not the order of ids.
    for (owner, key) in [
        (VariableOwner::Project(p.id), "PK"),
        (VariableOwner::Group(sub.id), "SK"),
        (VariableOwner::Group(root.id), "RK"),
        (VariableOwner::Project(p.id), "PP"),
        (VariableOwner::Group(root.id), "RP"),
        (VariableOwner::Project(sibling.id), "QK"),
        (VariableOwner::Group(elsewhere.id), "EK"),
    ] {
        ok(s.create_variable(&var(owner, key)).await, "create_variable");
    }
    use RefAccessLevel::{Developer, Maintainer, NoOne};
    ok(s.protect_branch(&rule(p.id, "main", vec![Maintainer], vec![Developer, Maintainer])).await, "protect");
    ok(s.protect_branch(&rule(p.id, "release/*", vec![NoOne], vec![])).await, "protect");
    ok(s.protect_branch(&rule(p.id, "bare", vec![], vec![])).await, "protect: a rule without levels");
    ok(s.protect_branch(&rule(sibling.id, "main", vec![Developer], vec![])).await, "protect");

    let want = expected_settings(cx, &p, Some(&dev)).await;
    assert_eq!(want.variables.len(), 5, "context: the fixture's variables (two groups and the project)");
    assert_eq!(want.protected_branches.len(), 3, "context: the fixture's rules");
    let got = ok(s.ci_settings(p.id, Some(dev.id)).await, "ci_settings").map(as_set);
    assert_eq!(got, Some(want), "context: settings are the per-aggregate reads, variables by owner root first");
    let got = ok(s.ci_settings(p.id, Some(outsider.id)).await, "ci_settings").map(as_set);
    assert_eq!(got, Some(expected_settings(cx, &p, Some(&outsider)).await), "context: a user without roles");
    assert!(got.is_some_and(|g| g.user_levels.is_empty()), "context: no roles for an outsider");
    let got = ok(s.ci_settings(p.id, None).await, "ci_settings");
    assert_eq!(got, Some(expected_settings(cx, &p, None).await), "context: no user, no roles");
    assert_eq!(
        ok(s.ci_settings(ProjectId::new(MISSING), Some(dev.id)).await, "ci_settings"),
        None,
        "context: missing project"
    );

    // A personal project: the owner's role comes from the namespace, which has no variables.
    let home = ok(s.user_namespace(dev.id).await, "user_namespace").expect("personal namespace");
    let own = cx.project(&home, "cxh", Visibility::Private, None).await;
    let got = ok(s.ci_settings(own.id, Some(dev.id)).await, "ci_settings").map(as_set);
    assert_eq!(got, Some(expected_settings(cx, &own, Some(&dev)).await), "context: a personal project");

    let with_user = NewPipeline { user_id: Some(dev.id), ..new_pipeline(p.id, "main", &"c".repeat(40)) };
    let (pipeline, _) = ok(s.create_pipeline(&with_user, &[], cx.at(5)).await, "create_pipeline");
    let got = ok(s.job_context(pipeline.id).await, "job_context").map(|mut c| {
        c.settings = as_set(c.settings);
        c
    });
    let want = JobContext {
        pipeline: ok(s.pipeline_by_id(pipeline.id).await, "pipeline_by_id").expect("pipeline"),
        project: ok(s.project_by_id(p.id).await, "project_by_id").expect("project"),
        user: ok(s.user_by_id(dev.id).await, "user_by_id"),
        settings: expected_settings(cx, &p, Some(&dev)).await,
    };
    assert_eq!(got, Some(want), "context: a job's context is its pipeline, project, user and their settings");
    let (anonymous, _) =
        ok(s.create_pipeline(&new_pipeline(sibling.id, "main", &"d".repeat(40)), &[], cx.at(6)).await, "create");
    let got = ok(s.job_context(anonymous.id).await, "job_context").expect("context");
    assert_eq!((got.user, got.project.id), (None, sibling.id), "context: a pipeline without a user");
    assert_eq!(got.settings, expected_settings(cx, &sibling, None).await, "context: the sibling's own settings");
    assert_eq!(ok(s.job_context(PipelineId::new(MISSING)).await, "job_context"), None, "context: missing pipeline");
}
