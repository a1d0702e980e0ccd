"""python-gitlab's protected branches against a running AutoGit.

Usage: protected_branches.py URL ROOT_TOKEN
Exits non-zero (an AssertionError or a python-gitlab exception) on the first mismatch.
"""
import sys

import gitlab

url, root_token = sys.argv[1], sys.argv[2]
gl = gitlab.Gitlab(url, private_token=root_token)
gl.auth()

proj = gl.projects.create({"name": "guarded"})
# A new project's default branch is protected: maintainers push and merge, no force push.
listed = proj.protectedbranches.list()
assert [b.name for b in listed] == ["main"], listed
main = listed[0]
assert main.push_access_levels[0]["access_level"] == gitlab.const.AccessLevel.MAINTAINER, main
assert main.merge_access_levels[0]["access_level_description"] == "Maintainers", main
assert main.allow_force_push is False, main

created = proj.protectedbranches.create({
    "name": "*-stable",
    "push_access_level": gitlab.const.AccessLevel.DEVELOPER,
    "merge_access_level": gitlab.const.AccessLevel.MAINTAINER,
    "allow_force_push": True,
})
assert created.name == "*-stable" and created.allow_force_push, created
assert created.push_access_levels[0]["access_level"] == 30, created
got = proj.protectedbranches.get("*-stable")
assert got.merge_access_levels[0]["access_level"] == 40, got
assert sorted(b.name for b in proj.protectedbranches.list(get_all=True)) == ["*-stable", "main"]

try:
    proj.protectedbranches.create({"name": "main"})
    raise AssertionError("a duplicate rule was accepted")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code == 409, e

proj.protectedbranches.delete("*-stable")
main.delete()
assert proj.protectedbranches.list() == [], proj.protectedbranches.list()
try:
    proj.protectedbranches.get("main")
    raise AssertionError("an unprotected branch is still found")
except gitlab.exceptions.GitlabGetError as e:
    assert e.response_code == 404, e
print("protected branches: ok")
