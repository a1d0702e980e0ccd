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

/// The settings `project_context` must answer, from the per-aggregate reads.
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
        protected_tags: ok(s.list_protected_tags(project.id, Page::ALL).await, "list").items,
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
    for (project, name, create) in
        [(p.id, "v*", vec![Maintainer, Developer]), (p.id, "x", vec![]), (sibling.id, "v*", vec![])]
    {
        let tag = NewProtectedTag { project_id: project, name: name.into(), create_access_levels: create };
        ok(s.protect_tag(&tag).await, "protect_tag");
    }

    let want = expected_settings(cx, &p, Some(&dev)).await;
    assert_eq!(want.variables.len(), 5, "context: the fixture's variables (two groups and the project)");
    assert_eq!(want.protected_branches.len(), 3, "context: the fixture's rules");
    assert_eq!(want.protected_tags.len(), 2, "context: the fixture's tag rules");
    // The settings part of `project_context`, as a set of levels.
    let settings_of = |c: Option<ProjectContext>| c.map(|c| as_set(c.settings));
    let got = ok(s.project_context(p.id, Some(dev.id)).await, "project_context");
    let (project, user) = got.as_ref().map(|c| (c.project.clone(), c.user.clone())).expect("context");
    assert_eq!(project, ok(s.project_by_id(p.id).await, "project_by_id").expect("project"), "context: the project");
    assert_eq!(user, ok(s.user_by_id(dev.id).await, "user_by_id"), "context: the user");
    assert_eq!(
        settings_of(got),
        Some(want),
        "context: settings are the per-aggregate reads, variables by owner root first"
    );
    let got = settings_of(ok(s.project_context(p.id, Some(outsider.id)).await, "project_context"));
    assert_eq!(got, Some(expected_settings(cx, &p, Some(&outsider)).await), "context: a user without roles");
    assert!(got.is_some_and(|g| g.user_levels.is_empty()), "context: no roles for an outsider");
    let got = ok(s.project_context(p.id, None).await, "project_context");
    assert_eq!(got.as_ref().map(|c| c.user.is_none()), Some(true), "context: no user asked for");
    assert_eq!(settings_of(got), Some(expected_settings(cx, &p, None).await), "context: no user, no roles");
    let gone = ok(s.project_context(p.id, Some(UserId::new(MISSING))).await, "project_context");
    assert_eq!(gone.as_ref().map(|c| c.user.is_none()), Some(true), "context: a missing user is none");
    assert_eq!(settings_of(gone), Some(expected_settings(cx, &p, None).await), "context: a missing user has no roles");
    assert_eq!(
        ok(s.project_context(ProjectId::new(MISSING), Some(dev.id)).await, "project_context"),
        None,
        "context: missing project"
    );

    // A personal project: the owner's role comes from the namespace, which has no variables.
    let home = ok(s.user_namespace(dev.id).await, "user_namespace").expect("personal namespace");
    let own = cx.project(&home, "cxh", Visibility::Private, None).await;
    let got = settings_of(ok(s.project_context(own.id, Some(dev.id)).await, "project_context"));
    assert_eq!(got, Some(expected_settings(cx, &own, Some(&dev)).await), "context: a personal project");

    let with_user = NewPipeline { user_id: Some(dev.id), ..new_pipeline(p.id, "main", &"c".repeat(40)) };
    let (pipeline, _) = ok(s.create_pipeline(&with_user, &[], cx.at(5)).await, "create_pipeline");
    let got = ok(s.job_context(pipeline.id).await, "job_context").map(|mut c| {
        c.settings = as_set(c.settings);
        c
    });
    let want = JobContext {
        // Checked in `ci_context_generation`.
        generation: got.as_ref().map_or(ContextGeneration(0), |c| c.generation),
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

/// Claims the next job of `jobs` for runner `r`; the claim's context generation.
async fn claim_next(cx: &Cx<'_>, jobs: &mut std::slice::Iter<'_, Job>, r: &Runner) -> ContextGeneration {
    let j = jobs.next().expect("a pending job left to claim");
    let claimed = ok(cx.store.assign_job(j.id, r.id, &digest(cx, "cg"), cx.at(300), cx.at(181)).await, "assign_job");
    claimed.expect("claimed").context_generation
}

/// The job-context generation: read first by `job_context`, returned by every claim, and grown
/// by every change to what a context holds. Only "grows" is checked: the database may be shared
/// with other runs, whose changes grow it too.
pub(super) async fn ci_context_generation(cx: &Cx<'_>) {
    let s = cx.store;
    let dev = cx.user("cgd").await;
    let group = cx.group("cgg", None, Visibility::Public).await;
    let p = cx.project(&group, "cgp", Visibility::Public, None).await;
    let r = runner(cx, RunnerScope::Project(p.id), &[]).await;
    let specs: Vec<NewJob> = (0..16).map(|i| new_job(&format!("j{i}"), 0, JobStatus::Pending)).collect();
    let (pipeline, jobs) = pipeline_with(cx, &p, "main", &specs, 180).await;
    let mut next = jobs.iter();

    let created = ok(s.project_context(p.id, Some(dev.id)).await, "project_context").expect("context").generation;
    let read = ok(s.job_context(pipeline.id).await, "job_context").expect("context").generation;
    assert!(read >= created, "generation: a job context's is at least a project context's read before it");
    let mut seen = claim_next(cx, &mut next, &r).await;
    assert!(seen >= read, "generation: a claim's is at least a context's read before it");

    // Each change, then a claim: its generation must be newer than the last claim's.
    macro_rules! grows {
        ($what:literal, $change:expr) => {{
            ok($change.await, $what);
            let now = claim_next(cx, &mut next, &r).await;
            assert!(now > seen, "generation: grows when {}", $what);
            seen = now;
        }};
    }
    use RefAccessLevel::Maintainer;
    let update = ProjectUpdate { description: Some("changed".into()), ..ProjectUpdate::default() };
    grows!("a project changes", s.update_project(p.id, &update, cx.at(182)));
    grows!("a member is added", s.add_member(MemberSource::Project(p.id), dev.id, AccessLevel::Developer, cx.at(183)));
    grows!("a role changes", s.update_member(MemberSource::Project(p.id), dev.id, AccessLevel::Maintainer));
    grows!("a group variable is created", s.create_variable(&var(VariableOwner::Group(group.id), "GK")));
    grows!("a project variable is created", s.create_variable(&var(VariableOwner::Project(p.id), "PK")));
    grows!("a project variable is deleted", s.delete_variable(VariableOwner::Project(p.id), "PK", None));
    grows!("a branch is protected", s.protect_branch(&rule(p.id, "main", vec![Maintainer], vec![])));
    grows!("a branch is unprotected", s.unprotect_branch(p.id, "main"));
    let tag = NewProtectedTag { project_id: p.id, name: "v*".into(), create_access_levels: vec![Maintainer] };
    grows!("a tag is protected", s.protect_tag(&tag));
    grows!("a tag is unprotected", s.unprotect_tag(p.id, "v*"));
    grows!("a user changes", s.set_password_hash(dev.id, "changed"));
    let sub = new_group(&cx.name("cgs"), Some(group.id), Visibility::Public);
    grows!("a group is created", s.create_group(&sub, None, cx.at(184)));
    let sealed = vec![("K".to_string(), "sealed once".to_string())];
    let with_vars = NewPipeline { variables: sealed.clone(), ..new_pipeline(p.id, "main", &"e".repeat(40)) };
    let (other, _) = ok(s.create_pipeline(&with_vars, &[], cx.at(185)).await, "create_pipeline");
    let resealed = vec![("K".to_string(), "sealed again".to_string())];
    grows!("a pipeline's variables are re-sealed", s.swap_pipeline_variables(other.id, &sealed, &resealed));
    let _ = seen;
}
