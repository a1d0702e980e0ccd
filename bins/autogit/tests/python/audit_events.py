"""python-gitlab's instance audit events against a running AutoGit.

Usage: audit_events.py URL ROOT_TOKEN USER_TOKEN
Exits non-zero (an AssertionError or a python-gitlab exception) on the first mismatch.
"""
import sys

import gitlab

url, root_token, user_token = sys.argv[1], sys.argv[2], sys.argv[3]
gl = gitlab.Gitlab(url, private_token=root_token)
gl.auth()

proj = gl.projects.create({"name": "audited"})
proj.visibility = "internal"
proj.save()

events = gl.audit_events.list(get_all=True)
names = [e.event_name for e in events]
assert "project_created" in names and "project_visibility_level_updated" in names, names
assert events[0].id > events[-1].id, "newest first"
change = next(e for e in events if e.event_name == "project_visibility_level_updated")
assert change.entity_type == "Project" and change.entity_id == proj.id, change
assert change.details["from"] == "private" and change.details["to"] == "internal", change.details
assert change.details["author_name"] == "root" and change.details["ip_address"] == "127.0.0.1", change.details
assert gl.audit_events.get(change.id).event_name == change.event_name

only = gl.audit_events.list(entity_type="Project", entity_id=proj.id, get_all=True)
assert {e.entity_id for e in only} == {proj.id}, only

user = gitlab.Gitlab(url, private_token=user_token)
try:
    user.audit_events.list()
    raise AssertionError("a user who is not an administrator read the audit log")
except gitlab.exceptions.GitlabListError as e:
    assert e.response_code == 403, e
print("audit events: ok")
