"""python-gitlab against a running AutoGit: the API v4 subset, driven by the real client.

Usage: client_compat.py URL ROOT_TOKEN CLONE_DIR
Exits non-zero (an AssertionError or a python-gitlab exception) on the first mismatch.
"""
import base64
import subprocess
import sys

import gitlab

url, root_token, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
gl = gitlab.Gitlab(url, private_token=root_token, per_page=2)
gl.auth()
assert gl.user.username == "root", gl.user
assert gl.user.is_admin

# Users (admin) and their tokens.
alice = gl.users.create({"username": "alice", "name": "Alice", "email": "alice@example.com", "password": "alice-password-1"})
assert gl.users.get(alice.id).username == "alice"
assert [u.username for u in gl.users.list(username="alice")] == ["alice"]
tok = alice.personal_access_tokens.create({"name": "laptop", "scopes": ["api"], "expires_at": "2099-01-01"})
assert tok.token.startswith("glpat-"), tok.token
assert tok.scopes == ["api"] and tok.active

# Groups, nested, by id and by full path.
top = gl.groups.create({"name": "Platform", "path": "platform", "visibility": "internal"})
sub = gl.groups.create({"name": "Infra", "path": "infra", "parent_id": top.id, "visibility": "internal"})
assert gl.groups.get("platform/infra").id == sub.id
assert sub.full_path == "platform/infra" and sub.full_name == "Platform / Infra"
try:
    gl.groups.create({"name": "Leak", "path": "leak", "parent_id": top.id, "visibility": "public"})
    raise AssertionError("a public subgroup of an internal group was accepted")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code == 400, e
sub.members.create({"user_id": alice.id, "access_level": gitlab.const.AccessLevel.DEVELOPER})
assert [m.username for m in sub.members.list(get_all=True) if m.access_level == 30] == ["alice"]

# Projects: create in a group, get by path, update, members, list with pagination.
proj = gl.projects.create({"name": "Deploy Tools", "namespace_id": sub.id, "visibility": "private", "description": "d"})
assert proj.path_with_namespace == "platform/infra/deploy-tools", proj.path_with_namespace
assert proj.name_with_namespace == "Platform / Infra / Deploy Tools"
assert proj.http_url_to_repo.endswith("/platform/infra/deploy-tools.git")
same = gl.projects.get("platform/infra/deploy-tools")
assert same.id == proj.id and same.namespace["full_path"] == "platform/infra"
same.description = "updated"
same.save()
assert gl.projects.get(proj.id).description == "updated"
for i in range(3):
    gl.projects.create({"name": f"p{i}"})
page = gl.projects.list(page=1, per_page=2)
assert len(page) == 2
everything = gl.projects.list(get_all=True)
assert len(everything) == 4, [p.path_with_namespace for p in everything]
lst = gl.projects.list(iterator=True, per_page=1)
assert lst.total == 4 and lst.total_pages == 4, (lst.total, lst.total_pages)

# Alice sees the project through group inheritance, with her own client.
gla = gitlab.Gitlab(url, private_token=tok.token)
gla.auth()
assert gla.user.username == "alice"
assert gla.projects.get(proj.id).path == "deploy-tools"
try:
    gla.projects.get(proj.id).delete()
    raise AssertionError("a developer deleted a project")
except gitlab.exceptions.GitlabDeleteError as e:
    assert e.response_code == 403, e

# Push content with git, then browse it through the API.
repo_url = proj.http_url_to_repo.replace("http://", f"http://root:{root_token}@")
def git(*args, cwd=workdir):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)
git("init", "-q", "-b", "main", "src")
src = f"{workdir}/src"
subprocess.run(["mkdir", "-p", f"{src}/docs"], check=True)
open(f"{src}/README.md", "w").write("# Deploy tools\n")
open(f"{src}/docs/guide.md", "w").write("guide\n")
git("add", "-A", cwd=src)
git("-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "first\n\nbody", cwd=src)
git("tag", "v1", cwd=src)
git("push", "-q", repo_url, "main", "v1", cwd=src)

branches = proj.branches.list()
assert [b.name for b in branches] == ["main"], branches
assert branches[0].default and branches[0].commit["title"] == "first"
assert [t.name for t in proj.tags.list()] == ["v1"]
commits = proj.commits.list(ref_name="main")
assert commits[0].title == "first" and commits[0].message.startswith("first"), commits[0]
tree = proj.repository_tree(ref="main")
assert sorted((e["name"], e["type"]) for e in tree) == [("README.md", "blob"), ("docs", "tree")], tree
deep = proj.repository_tree(path="docs", ref="main")
assert [e["path"] for e in deep] == ["docs/guide.md"], deep
f = proj.files.get(file_path="docs/guide.md", ref="main")
assert base64.b64decode(f.content) == b"guide\n" and f.file_name == "guide.md"
assert proj.files.raw(file_path="README.md", ref="main") == b"# Deploy tools\n"
try:
    proj.files.get(file_path="missing.txt", ref="main")
    raise AssertionError("missing file found")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 404, e

# Tokens: list and revoke.
mine = gl.personal_access_tokens.list(get_all=True)
assert any(t.name == "tests" for t in mine), [t.name for t in mine]

# Errors carry GitLab's shapes.
try:
    gl.projects.get("platform/infra/nope")
    raise AssertionError("missing project found")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 404 and "Project Not Found" in str(e.error_message), e.error_message
try:
    gl.projects.create({"name": "Deploy Tools", "namespace_id": sub.id})
    raise AssertionError("duplicate project accepted")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code in (400, 409), e

# CI/CD variables of the project and of its group (Maintainer only).
v = proj.variables.create({"key": "DEPLOY_KEY", "value": "c2VjcmV0LXZhbHVl", "masked": True, "protected": True})
assert v.key == "DEPLOY_KEY" and v.masked and v.protected and not v.hidden and v.environment_scope == "*", v
proj.variables.create({"key": "DEPLOY_KEY", "value": "prod-value", "environment_scope": "production"})
proj.variables.create({"key": "KUBECONFIG", "value": "apiVersion: v1\n", "variable_type": "file"})
listed = proj.variables.list(get_all=True)  # per_page=2: this pages
assert sorted((x.key, x.environment_scope) for x in listed) == [
    ("DEPLOY_KEY", "*"), ("DEPLOY_KEY", "production"), ("KUBECONFIG", "*")], listed
kc = proj.variables.get("KUBECONFIG")
assert kc.variable_type == "file" and kc.value == "apiVersion: v1\n", kc
kc.value = "apiVersion: v2\n"
kc.save()
assert proj.variables.get("KUBECONFIG").value == "apiVersion: v2\n"
prod = proj.variables.get("DEPLOY_KEY", filter={"environment_scope": "production"})
assert prod.value == "prod-value"
prod.value = "prod-value-2"
prod.save(filter={"environment_scope": "production"})
assert proj.variables.get("DEPLOY_KEY", filter={"environment_scope": "production"}).value == "prod-value-2"
try:
    proj.variables.get("DEPLOY_KEY")
    raise AssertionError("an ambiguous key was answered")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 409, e
try:
    proj.variables.create({"key": "TOO_SHORT", "value": "short", "masked": True})
    raise AssertionError("a short masked value was accepted")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code == 400 and "value" in str(e.error_message), e.error_message
try:
    proj.variables.create({"key": "bad-key", "value": "x"})
    raise AssertionError("an invalid key was accepted")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code == 400 and "key" in str(e.error_message), e.error_message
proj.variables.delete("DEPLOY_KEY", filter={"environment_scope": "production"})
kc.delete()
assert [(x.key, x.value) for x in proj.variables.list(get_all=True)] == [("DEPLOY_KEY", "c2VjcmV0LXZhbHVl")]
try:
    proj.variables.get("KUBECONFIG")
    raise AssertionError("deleted variable still there")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 404 and "Variable Not Found" in str(e.error_message), e.error_message
gv = sub.variables.create({"key": "REGISTRY_USER", "value": "robot", "description": "pull only"})
assert gv.environment_scope == "*" and gv.description == "pull only" and gv.variable_type == "env_var"
gv = sub.variables.get("REGISTRY_USER")
gv.protected = True
gv.save()
assert sub.variables.get("REGISTRY_USER").protected
assert [x.key for x in sub.variables.list(get_all=True)] == ["REGISTRY_USER"]
# Alice is a developer there: she may not read them.
for read in (lambda: gla.groups.get(sub.id).variables.list(), lambda: gla.projects.get(proj.id).variables.list()):
    try:
        read()
        raise AssertionError("a developer read CI/CD variables")
    except gitlab.exceptions.GitlabListError as e:
        assert e.response_code == 403, e
sub.variables.delete("REGISTRY_USER")
assert sub.variables.list(get_all=True) == []

proj.delete()
try:
    gl.projects.get(proj.id)
    raise AssertionError("deleted project still there")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 404
print("python-gitlab compatibility: all checks passed")
