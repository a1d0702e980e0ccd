"""python-gitlab's SSH key and deploy key APIs against a running AutoGit.

Usage: ssh_keys.py URL TOKEN PUBLIC_KEY DEPLOY_PUBLIC_KEY
Exits non-zero (an AssertionError or a python-gitlab exception) on the first mismatch.
"""
import sys

import gitlab

url, token, public_key, deploy_key = sys.argv[1:5]
gl = gitlab.Gitlab(url, private_token=token)
gl.auth()

key = gl.user.keys.create({"title": "laptop", "key": public_key})
assert key.title == "laptop" and key.key.startswith("ssh-ed25519 "), key
assert [k.id for k in gl.user.keys.list()] == [key.id]
assert gl.user.keys.get(key.id).key == key.key
assert [k.id for k in gl.users.get(gl.user.id).keys.list()] == [key.id]
try:
    gl.user.keys.create({"title": "again", "key": public_key})
    raise AssertionError("a duplicate key was accepted")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code == 400, e

project = gl.projects.create({"name": "deployed"})
assert project.ssh_url_to_repo.endswith("/deployed.git"), project.ssh_url_to_repo
dk = project.keys.create({"title": "ci", "key": deploy_key, "can_push": True})
assert dk.can_push is True, dk
assert [k.title for k in project.keys.list()] == ["ci"]
project.keys.delete(dk.id)
assert project.keys.list() == []
gl.user.keys.delete(key.id)
assert gl.user.keys.list() == []
print("ssh keys: ok")
