//! Conformance checks: lists with access filters.

use super::*;

pub(super) fn access(min_visibility: Option<Visibility>, member: Option<&User>, membership_only: bool) -> AccessFilter {
    AccessFilter { all: false, min_visibility, member_id: member.map(|u| u.id), membership_only }
}

/// (access, namespace, search, expected ids, what the case checks).
type ProjectCase = (AccessFilter, Option<NamespaceId>, Option<String>, Vec<ProjectId>, &'static str);
/// (access, parent, search, expected ids, what the case checks).
type GroupCase = (AccessFilter, Option<Option<NamespaceId>>, Option<String>, Vec<NamespaceId>, &'static str);

const ALL: AccessFilter = AccessFilter { all: true, min_visibility: None, member_id: None, membership_only: false };

pub(super) async fn project_lists(cx: &Cx<'_>) {
    use Visibility::*;
    let s = cx.store;
    let (m_user, x_user) = (cx.user("plm").await, cx.user("plx").await);
    let m = cx.name("pl");
    let gpub = cx.group_at(format!("{m}-gpub"), None, Public).await;
    let gpriv = cx.group_at(format!("{m}-gpriv"), None, Private).await;
    let gsub = cx.group_at(format!("{m}-gsub"), Some(&gpriv), Private).await;
    // Traps for ancestor tests done with a bare prefix compare or with LIKE ('_' is a wildcard).
    let gtrap = cx.group_at(format!("{m}-gprivx"), None, Private).await;
    let gus = cx.group_at(format!("{m}-g_u"), None, Private).await;
    let gux = cx.group_at(format!("{m}-gxu"), None, Private).await;
    let guxsub = cx.group_at(format!("{m}-gxusub"), Some(&gux), Private).await;
    let m_home = ok(s.user_namespace(m_user.id).await, "user_namespace").expect("personal namespace");
    let x_home = ok(s.user_namespace(x_user.id).await, "user_namespace").expect("personal namespace");

    let pubp = cx.project_at(&gpub, format!("{m}-pub"), Public).await.id;
    let intp = cx.project_at(&gpub, format!("{m}-int"), Internal).await.id;
    let privp = cx.project_at(&gpub, format!("{m}-priv"), Private).await.id;
    let direct = cx.project_at(&gpub, format!("{m}-direct"), Private).await.id;
    let inpriv = cx.project_at(&gpriv, format!("{m}-inpriv"), Private).await.id;
    let insub = cx.project_at(&gsub, format!("{m}-insub"), Private).await.id;
    let trap = cx.project_at(&gtrap, format!("{m}-trap"), Private).await.id;
    let inus = cx.project_at(&gus, format!("{m}-inus"), Private).await.id;
    let inux = cx.project_at(&guxsub, format!("{m}-inux"), Private).await.id;
    let mine = cx.project_at(&m_home, format!("{m}-mine"), Private).await.id;
    let xs = cx.project_at(&x_home, format!("{m}-xs"), Private).await.id;
    cx.add(MemberSource::Namespace(gpriv.id), &m_user, AccessLevel::Developer).await;
    cx.add(MemberSource::Namespace(gus.id), &m_user, AccessLevel::Guest).await;
    cx.add(MemberSource::Project(direct), &m_user, AccessLevel::Reporter).await;
    let everything = vec![pubp, intp, privp, direct, inpriv, insub, trap, inus, inux, mine, xs];

    let marker = Some(m.to_uppercase());
    let cases: Vec<ProjectCase> = vec![
        (access(Some(Public), None, false), None, marker.clone(), vec![pubp], "anonymous sees public only"),
        (access(Some(Internal), Some(&x_user), false), None, marker.clone(), vec![pubp, intp, xs], "outsider"),
        (
            access(Some(Internal), Some(&m_user), false),
            None,
            marker.clone(),
            vec![pubp, intp, direct, inpriv, insub, inus, mine],
            "member: internal+ plus private via project, group, ancestor group and own namespace",
        ),
        (
            access(Some(Internal), Some(&m_user), true),
            None,
            marker.clone(),
            vec![direct, inpriv, insub, inus, mine],
            "membership_only drops the visibility part",
        ),
        (access(None, Some(&x_user), true), None, marker.clone(), vec![xs], "membership_only, outsider"),
        (access(Some(Public), None, true), None, marker.clone(), vec![], "membership_only without a member"),
        (AccessFilter::default(), None, marker.clone(), vec![], "an empty filter admits nothing"),
        (ALL, None, marker.clone(), everything.clone(), "all"),
        (ALL, Some(gpub.id), None, vec![pubp, intp, privp, direct], "all in one namespace"),
        (access(Some(Public), None, false), Some(gpub.id), None, vec![pubp], "anonymous in one namespace"),
        (ALL, Some(gpub.id), Some(format!("PROJECT {m}-INT")), vec![intp], "search matches the name"),
        (ALL, None, Some(format!("{m}-in_s")), vec![], "'_' in a search is a literal"),
        (ALL, Some(gpub.id), Some("%".to_string()), vec![], "'%' in a search is a literal"),
    ];
    for (access, namespace_id, search, want, what) in cases {
        let filter = ProjectFilter { access, namespace_id, search };
        let got = ok(s.list_projects(&filter, Page::ALL).await, "list_projects");
        assert_eq!(project_ids(&got), sorted(want.clone()), "list_projects: {what} ({filter:?})");
        assert_eq!(got.total, want.len() as i64, "list_projects: total, {what}");
    }

    let filter = ProjectFilter { access: ALL, namespace_id: None, search: marker };
    let page = ok(s.list_projects(&filter, Page { offset: 2, limit: 3 }).await, "list_projects paged");
    assert_eq!(project_ids(&page), everything[2..5].to_vec(), "list_projects: a page, by id");
    assert_eq!(page.total, everything.len() as i64, "list_projects: total is before paging");
    let past = ok(s.list_projects(&filter, Page { offset: 100, limit: 10 }).await, "list_projects past the end");
    assert_eq!((past.items.len(), past.total), (0, everything.len() as i64), "list_projects: past the end");
    let full = ok(s.list_projects(&filter, Page::ALL).await, "list_projects");
    let one = ok(s.project_by_id(insub).await, "project_by_id").expect("project exists");
    assert!(full.items.contains(&one), "list_projects: listed records equal looked-up ones (full path included)");
}

pub(super) async fn group_lists(cx: &Cx<'_>) {
    use Visibility::*;
    let s = cx.store;
    let (m_user, x_user) = (cx.user("glm").await, cx.user("glx").await);
    let m = cx.name("gl");
    let top_pub = cx.group_at(format!("{m}-tpub"), None, Public).await.id;
    let top_int = cx.group_at(format!("{m}-tint"), None, Internal).await.id;
    let tp = cx.group_at(format!("{m}-tpriv"), None, Private).await;
    let sub_priv = cx.group_at(format!("{m}-spriv"), Some(&tp), Private).await.id;
    let sub_pub = cx.group_at(format!("{m}-spub"), Some(&tp), Public).await.id;
    let trap = cx.group_at(format!("{m}-tprivx"), None, Private).await;
    let trap_child = cx.group_at(format!("{m}-tc"), Some(&trap), Private).await.id;
    let top_priv = tp.id;
    cx.add(MemberSource::Namespace(top_priv), &m_user, AccessLevel::Developer).await;
    // A personal namespace matching the search must never be listed.
    let person = NewUser { username: format!("{m}-person"), ..new_user(cx, "person") };
    ok(s.create_user(&person, cx.at(20)).await, "create_user");
    let everything = vec![top_pub, top_int, top_priv, sub_priv, sub_pub, trap.id, trap_child];

    let marker = Some(m.to_uppercase());
    let cases: Vec<GroupCase> = vec![
        (access(Some(Public), None, false), None, marker.clone(), vec![top_pub, sub_pub], "anonymous"),
        (access(Some(Internal), Some(&x_user), false), None, marker.clone(), vec![top_pub, top_int, sub_pub], "user"),
        (
            access(Some(Internal), Some(&m_user), false),
            None,
            marker.clone(),
            vec![top_pub, top_int, top_priv, sub_priv, sub_pub],
            "member: own group and its subgroups",
        ),
        (
            access(Some(Internal), Some(&m_user), true),
            None,
            marker.clone(),
            vec![top_priv, sub_priv, sub_pub],
            "membership_only",
        ),
        (access(None, Some(&x_user), true), None, marker.clone(), vec![], "membership_only, outsider"),
        (AccessFilter::default(), None, marker.clone(), vec![], "an empty filter admits nothing"),
        (ALL, None, marker.clone(), everything.clone(), "all, and never a personal namespace"),
        (ALL, Some(None), marker.clone(), vec![top_pub, top_int, top_priv, trap.id], "top-level only"),
        (ALL, Some(Some(top_priv)), None, vec![sub_priv, sub_pub], "children of one group"),
        (access(Some(Public), None, false), Some(Some(top_priv)), None, vec![sub_pub], "public children"),
        (ALL, None, Some(format!("GROUP {m}-TINT")), vec![top_int], "search matches the name"),
        (ALL, None, Some(format!("{m}-t_ub")), vec![], "'_' in a search is a literal"),
    ];
    for (access, parent, search, want, what) in cases {
        let filter = GroupFilter { access, parent, search };
        let got = ok(s.list_groups(&filter, Page::ALL).await, "list_groups");
        assert_eq!(group_ids(&got), sorted(want.clone()), "list_groups: {what} ({filter:?})");
        assert_eq!(got.total, want.len() as i64, "list_groups: total, {what}");
    }

    let filter = GroupFilter { access: ALL, parent: None, search: marker };
    let page = ok(s.list_groups(&filter, Page { offset: 1, limit: 2 }).await, "list_groups paged");
    assert_eq!(group_ids(&page), everything[1..3].to_vec(), "list_groups: a page, by id");
    assert_eq!(page.total, everything.len() as i64, "list_groups: total is before paging");
    let full = ok(s.list_groups(&filter, Page::ALL).await, "list_groups");
    assert!(full.items.contains(&tp), "list_groups: listed records equal looked-up ones");
}
