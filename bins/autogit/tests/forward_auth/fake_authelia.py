"""A small stand-in for Authelia's forward-auth endpoint, following its contract
(../shared/research/identity.md §1.2 and §4.2), for the forward-auth tests.

Usage: fake_authelia.py PORT LOG_FILE USERS_JSON

USERS_JSON maps usernames to {"groups": [...], "name": ..., "emails": [...]}; it is read again at
every request, so a test can change a user's groups between sign-ins.

- GET /api/authz/forward-auth: requires X-Forwarded-Method (401 when empty) and an https
  X-Forwarded-Proto (401 otherwise); rebuilds the target from X-Forwarded-Proto/Host/Uri.
- A session cookie `authelia_session=<user>` of a known user: 200 with Remote-User,
  Remote-Groups (comma-joined, no spaces), Remote-Name and Remote-Email (the first, or empty).
- Bypass paths (git, API and runner paths): 200 with no Remote-* header.
- No session: 401 when the request is XHR or does not accept text/html, else 302 (GET/HEAD/
  OPTIONS) or 303 (others) to the portal with rd=<target>&rm=<method>.
- A known user on a denied path (/denied): 403.
- Every request's headers are appended to LOG_FILE as one JSON line.
"""
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BYPASS = ("/api/v4/", "/-/health")
PORTAL = "https://auth.example.test/"

port, log_file, users_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def users():
    with open(users_file) as f:
        return json.load(f)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        with open(log_file, "a") as f:
            f.write(json.dumps({k: v for k, v in self.headers.items()}) + "\n")
        if self.path != "/api/authz/forward-auth":
            return self.answer(404)
        method = self.headers.get("X-Forwarded-Method", "")
        proto = self.headers.get("X-Forwarded-Proto", "")
        if not method or proto not in ("https", "wss"):
            return self.answer(401)
        uri = self.headers.get("X-Forwarded-Uri", "/")
        target = f"{proto}://{self.headers.get('X-Forwarded-Host', '')}{uri}"
        path = urllib.parse.urlsplit(uri).path
        if path.startswith(BYPASS) or ".git/" in path or path.endswith(".git"):
            return self.answer(200)
        USERS = users()
        user = None
        for part in self.headers.get("Cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "authelia_session" and v in USERS:
                user = v
        if user is None:
            accept = self.headers.get("Accept", "")
            if self.headers.get("X-Requested-With") == "XMLHttpRequest" or "text/html" not in accept:
                return self.answer(401)
            status = 302 if method in ("GET", "HEAD", "OPTIONS") else 303
            location = PORTAL + "?" + urllib.parse.urlencode({"rd": target, "rm": method})
            return self.answer(status, [("Location", location)])
        if path == "/denied":
            return self.answer(403)
        u = USERS[user]
        self.answer(200, [
            ("Remote-User", user),
            ("Remote-Groups", ",".join(u["groups"])),
            ("Remote-Name", u["name"]),
            ("Remote-Email", u["emails"][0] if u["emails"] else ""),
        ])


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
