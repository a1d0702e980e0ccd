#!/usr/bin/env python3
"""A stand-in for the `autogit` binary, ONLY to test bench/git_http.sh itself
(its numbers mean nothing). It implements just what the benchmark uses:

  fake_autogit.py serve --data-dir DIR --listen 127.0.0.1:0
      prints "listening on http://127.0.0.1:PORT"; serves smart HTTP through
      `git http-backend` (CGI), POST/DELETE /api/v4/projects
  fake_autogit.py admin token create --data-dir DIR --user root --name N --scopes S
      prints a new token on the last line of stdout

Usage: AUTOGIT_BIN=bench/fake_autogit.py BENCH_QUICK=1 bench/git_http.sh
"""

import argparse
import base64
import http.server
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.parse


def tokens(data_dir):
    try:
        with open(os.path.join(data_dir, "tokens")) as f:
            return set(f.read().split())
    except FileNotFoundError:
        return set()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close-delimited bodies: simple streaming
    data_dir = None

    def log_message(self, fmt, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def user(self):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            _, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if pw in tokens(self.data_dir):
                return "root"
        if self.headers.get("PRIVATE-TOKEN") in tokens(self.data_dir):
            return "root"
        return None

    def reply(self, code, obj=None, headers=()):
        payload = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def repos(self):
        return os.path.join(self.data_dir, "repos")

    def api(self, method):
        if self.user() is None:
            return self.reply(401, {"message": "401 Unauthorized"})
        path = urllib.parse.urlsplit(self.path).path
        if method == "POST" and path == "/api/v4/projects":
            form = urllib.parse.parse_qs(self.body().decode())
            name = form["name"][0]
            repo = os.path.join(self.repos(), "root", name + ".git")
            if os.path.exists(repo):
                return self.reply(400, {"message": "has already been taken"})
            subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", repo], check=True)
            return self.reply(201, {"path_with_namespace": "root/" + name, "visibility": form.get("visibility", ["private"])[0]})
        m = re.fullmatch(r"/api/v4/projects/([^/]+)", path)
        if method == "DELETE" and m:
            repo = os.path.join(self.repos(), urllib.parse.unquote(m.group(1)) + ".git")
            shutil.rmtree(repo, ignore_errors=True)
            return self.reply(202, {"message": "202 Accepted"})
        return self.reply(404, {"message": "404 Not Found"})

    def git(self, method):
        url = urllib.parse.urlsplit(self.path)
        user = self.user()
        if "git-receive-pack" in (url.path + url.query) and user is None:
            return self.reply(401, None, [("WWW-Authenticate", 'Basic realm="fake"')])
        body = self.body() if method == "POST" else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=self.repos(), GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=url.path, QUERY_STRING=url.query, REQUEST_METHOD=method,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_ADDR="127.0.0.1")
        for h in ("Git-Protocol", "Content-Encoding"):
            if self.headers.get(h):
                env["HTTP_" + h.upper().replace("-", "_")] = self.headers[h]
        if user:
            env["REMOTE_USER"] = user
        backend = os.path.join(subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip(), "git-http-backend")
        p = subprocess.Popen([backend], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        p.stdin.write(body)
        p.stdin.close()
        status, headers = 200, []
        while True:
            line = p.stdout.readline().rstrip(b"\r\n")
            if not line:
                break
            k, _, v = line.decode().partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            else:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        shutil.copyfileobj(p.stdout, self.wfile, 65536)
        p.wait()

    def do_GET(self):
        self.git("GET")

    def do_POST(self):
        if self.path.startswith("/api/"):
            return self.api("POST")
        self.git("POST")

    def do_DELETE(self):
        self.api("DELETE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", nargs="+")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--user")
    ap.add_argument("--name")
    ap.add_argument("--scopes")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.data_dir, "repos"), exist_ok=True)
    if a.cmd == ["admin", "token", "create"]:
        tok = "fake-" + secrets.token_hex(10)
        with open(os.path.join(a.data_dir, "tokens"), "a") as f:
            f.write(tok + "\n")
        print("created token %s for %s" % (a.name, a.user), file=sys.stderr)
        print(tok)
        return
    if a.cmd != ["serve"]:
        ap.error("unknown command")
    host, port = a.listen.rsplit(":", 1)
    Handler.data_dir = a.data_dir
    srv = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    print("INFO autogit: listening on http://%s:%d" % srv.server_address, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
