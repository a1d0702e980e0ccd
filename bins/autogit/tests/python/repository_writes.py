"""python-gitlab's branch, tag, file and commit writes against a running AutoGit.

Usage: repository_writes.py URL ROOT_TOKEN PROJECT_PATH
The project must have a `main` branch. Exits non-zero on the first mismatch.
"""
import sys

import gitlab

url, root_token, path = sys.argv[1], sys.argv[2], sys.argv[3]
gl = gitlab.Gitlab(url, private_token=root_token)
gl.auth()
proj = gl.projects.get(path)
main = proj.branches.get("main")

branch = proj.branches.create({"branch": "topic/one", "ref": "main"})
assert branch.name == "topic/one" and branch.commit["id"] == main.commit["id"], branch
assert "topic/one" in [b.name for b in proj.branches.list(get_all=True)]
try:
    proj.branches.create({"branch": "topic/one", "ref": "main"})
    raise AssertionError("a second branch of the same name was created")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code == 400 and "Branch already exists" in str(e), e
proj.branches.delete("topic/one")
assert "topic/one" not in [b.name for b in proj.branches.list(get_all=True)]
try:
    proj.branches.delete("main")
    raise AssertionError("the default branch was deleted")
except gitlab.exceptions.GitlabDeleteError as e:
    assert e.response_code == 400 and "default branch" in str(e), e

light = proj.tags.create({"tag_name": "v0.1", "ref": "main"})
assert light.target == main.commit["id"] and light.message is None, light
annotated = proj.tags.create({"tag_name": "v0.2", "ref": "main", "message": "second"})
assert annotated.commit["id"] == main.commit["id"] and annotated.target != main.commit["id"], annotated
assert annotated.message.startswith("second"), annotated
assert proj.tags.get("v0.2").name == "v0.2"
assert sorted(t.name for t in proj.tags.list(get_all=True)) == ["v0.1", "v0.2"]
proj.tags.delete("v0.1")
try:
    proj.tags.get("v0.1")
    raise AssertionError("a deleted tag is still found")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 404, e
print("branches and tags: ok")

# Files and commits (root may push to the protected default branch).
f = proj.files.create({"file_path": "notes/todo.md", "branch": "main", "content": "one\n", "commit_message": "add todo"})
assert f.file_path == "notes/todo.md", f
got = proj.files.get("notes/todo.md", ref="main")
assert got.decode() == b"one\n", got
got.content = "two\n"
got.save(branch="main", commit_message="edit todo")
assert proj.files.raw("notes/todo.md", ref="main") == b"two\n"
commit = proj.commits.create({
    "branch": "side",
    "start_branch": "main",
    "commit_message": "several at once",
    "actions": [
        {"action": "create", "file_path": "a.txt", "content": "a"},
        {"action": "move", "previous_path": "notes/todo.md", "file_path": "todo.md"},
    ],
})
assert commit.title == "several at once", commit
assert proj.files.raw("todo.md", ref="side") == b"two\n"
assert "side" in [b.name for b in proj.branches.list(get_all=True)]
proj.files.delete("notes/todo.md", branch="main", commit_message="done")
try:
    proj.files.get("notes/todo.md", ref="main")
    raise AssertionError("a deleted file is still found")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 404, e
print("files and commits: ok")

# Compare, diffs, archives, cherry-pick and revert.
result = proj.repository_compare("main", "side")
assert [c["title"] for c in result["commits"]] == ["several at once"], result
assert sorted(d["new_path"] for d in result["diffs"]) == ["a.txt", "todo.md"], result
picked_from = proj.commits.get(commit.id)
assert any(d["new_path"] == "a.txt" and d["new_file"] for d in picked_from.diff()), picked_from.diff()
zipped = proj.repository_archive(sha="side", format="zip")
assert zipped[:2] == b"PK", zipped[:10]
gz = proj.repository_archive(sha="main")
assert gz[:2] == b"\x1f\x8b", gz[:10]
# From the commit's parent: on main its moved file has been deleted since (a real conflict).
proj.branches.create({"branch": "pick-target", "ref": picked_from.parent_ids[0]})
picked = picked_from.cherry_pick(branch="pick-target")
assert picked["message"].rstrip().endswith(f"(cherry picked from commit {commit.id})"), picked
assert proj.files.raw("a.txt", ref="pick-target") == b"a"
try:
    picked_from.cherry_pick(branch="pick-target")
    raise AssertionError("the same change was picked twice")
except gitlab.exceptions.GitlabCherryPickError as e:
    assert e.response_code == 400, e
reverted = proj.commits.get(picked["id"]).revert(branch="pick-target")
assert reverted["title"] == 'Revert "several at once"', reverted
print("compare, archive, cherry-pick, revert: ok")
