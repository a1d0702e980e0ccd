"""python-gitlab's project hooks and application settings against a running AutoGit.

Usage: hooks.py URL ROOT_TOKEN
Exits non-zero (an AssertionError or a python-gitlab exception) on the first mismatch.
"""
import sys

import gitlab

url, root_token = sys.argv[1], sys.argv[2]
gl = gitlab.Gitlab(url, private_token=root_token)
gl.auth()

settings = gl.settings.get()
assert settings.allow_local_requests_from_web_hooks_and_services is False, settings
proj = gl.projects.create({"name": "hooked"})
try:
    proj.hooks.create({"url": "http://127.0.0.1:9/hook"})
    raise AssertionError("a loopback hook was accepted")
except gitlab.exceptions.GitlabCreateError as e:
    assert e.response_code == 400, e

settings.allow_local_requests_from_web_hooks_and_services = True
settings.outbound_local_requests_allowlist = ["10.0.0.0/8", "hooks.lan"]
settings.save()
again = gl.settings.get()
assert again.allow_local_requests_from_web_hooks_and_services is True, again
assert again.outbound_local_requests_allowlist == ["10.0.0.0/8", "hooks.lan"], again

hook = proj.hooks.create({"url": "http://127.0.0.1:9/hook", "token": "t0ken", "tag_push_events": True})
assert hook.push_events and hook.tag_push_events, hook
assert not hasattr(hook, "token"), "the token is never shown"
got = proj.hooks.get(hook.id)
assert got.url == "http://127.0.0.1:9/hook", got
got.push_events = False
got.save()
assert proj.hooks.get(hook.id).push_events is False
assert [h.id for h in proj.hooks.list(get_all=True)] == [hook.id]
proj.hooks.delete(hook.id)
assert proj.hooks.list() == []
print("hooks: ok")
