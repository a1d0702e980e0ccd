"""python-gitlab's commit statuses against a running AutoGit.

Usage: commit_statuses.py URL ROOT_TOKEN
Exits non-zero (an AssertionError or a python-gitlab exception) on the first mismatch.
"""
import sys

import gitlab

url, root_token = sys.argv[1], sys.argv[2]
gl = gitlab.Gitlab(url, private_token=root_token)
gl.auth()

proj = gl.projects.create({"name": "reported"})
proj.files.create({"file_path": "README", "branch": "main", "content": "x", "commit_message": "first"})
commit = proj.commits.get("main")
assert commit.statuses.list() == [], "no statuses yet"

pending = commit.statuses.create({"state": "pending", "name": "argocd", "target_url": "https://argo.example/app"})
assert pending.status == "pending" and pending.ref == "main", pending
assert pending.sha == commit.id, pending
done = commit.statuses.create({"state": "success", "name": "argocd", "description": "synced", "coverage": 99.5})
assert done.id == pending.id and done.status == "success", done
assert done.target_url == "https://argo.example/app" and done.coverage == 99.5, done
commit.statuses.create({"state": "failed", "context": "renovate", "ref": "main"})

listed = commit.statuses.list(get_all=True)
assert sorted((s.name, s.status) for s in listed) == [("argocd", "success"), ("renovate", "failed")], listed
assert all(s.author["username"] == "root" for s in listed), listed
assert len(commit.statuses.list(all=True, get_all=True)) == 2
assert [s.name for s in commit.statuses.list(name="renovate")] == ["renovate"]

try:
    commit.statuses.create({"state": "passed"})
    raise AssertionError("an unknown state was accepted")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code == 400, e
print("commit statuses: ok")
