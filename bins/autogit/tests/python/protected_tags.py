"""python-gitlab's protected tags against a running AutoGit.

Usage: protected_tags.py URL ROOT_TOKEN
Exits non-zero (an AssertionError or a python-gitlab exception) on the first mismatch.
"""
import sys

import gitlab

url, root_token = sys.argv[1], sys.argv[2]
gl = gitlab.Gitlab(url, private_token=root_token)
gl.auth()

proj = gl.projects.create({"name": "tagged"})
assert proj.protectedtags.list() == [], "no protected tags by default"
created = proj.protectedtags.create({"name": "v*", "create_access_level": gitlab.const.AccessLevel.DEVELOPER})
assert created.name == "v*", created
assert created.create_access_levels[0]["access_level"] == 30, created
default = proj.protectedtags.create({"name": "release-*"})
assert default.create_access_levels[0]["access_level_description"] == "Maintainers", default
got = proj.protectedtags.get("v*")
assert got.create_access_levels[0]["access_level_description"] == "Developers + Maintainers", got
assert sorted(t.name for t in proj.protectedtags.list(get_all=True)) == ["release-*", "v*"]

try:
    proj.protectedtags.create({"name": "v*"})
    raise AssertionError("a duplicate rule was accepted")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code == 409, e

# The rules decide the API's tag writes: root is an administrator, and a tag named "release-1"
# is created; nobody may move it, and deleting it through the API is a maintainer's right.
proj.files.create({"file_path": "README", "branch": "main", "content": "x", "commit_message": "first"})
proj.tags.create({"tag_name": "release-1", "ref": "main"})
proj.tags.delete("release-1")

proj.protectedtags.delete("v*")
default.delete()
assert proj.protectedtags.list() == [], proj.protectedtags.list()
try:
    proj.protectedtags.get("v*")
    raise AssertionError("an unprotected tag is still found")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 404, e
print("protected tags: ok")
