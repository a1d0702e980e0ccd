"""Webhook delivery benchmark against a running AutoGit (see webhooks.sh).

Usage: webhooks.py URL TOKEN WORKDIR ROUNDS OUTAGE_PUSHES OUTAGE_SECONDS
"""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

url, token, work, rounds, outage_pushes, outage_seconds = sys.argv[1:7]
rounds, outage_pushes, outage_seconds = int(rounds), int(outage_pushes), float(outage_seconds)
arrivals = []  # (path, after, arrival time)
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.monotonic()
        after = json.loads(body).get("after")
        with lock:
            arrivals.append((self.path, after, now))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    # 50 hooks connect at once: the default backlog of 5 would make the kernel drop SYNs and the
    # benchmark measure TCP's one-second retransmission instead of AutoGit.
    request_queue_size = 256
    daemon_threads = True


def receiver(port=0):
    srv = Server(("127.0.0.1", port), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def api(method, path, form=None):
    data = json.dumps(form).encode() if form is not None else None
    req = urllib.request.Request(f"{url}/api/v4{path}", data=data, method=method,
                                 headers={"PRIVATE-TOKEN": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def project(name, hooks, port):
    p = api("POST", "/projects", {"name": name})
    for i in range(hooks):
        api("POST", f"/projects/{p['id']}/hooks", {"url": f"http://127.0.0.1:{port}/h{i}"})
    d = os.path.join(work, name)
    os.makedirs(d)
    git("init", "-q", "-b", "main", cwd=d)
    git("config", "user.name", "Bench", cwd=d)
    git("config", "user.email", "bench@example.com", cwd=d)
    remote = url.replace("http://", f"http://root:{token}@") + f"/root/{name}.git"
    return p, d, remote


def commit_and_push(d, remote, i):
    with open(os.path.join(d, "f.txt"), "w") as f:
        f.write(str(i))
    git("add", "-A", cwd=d)
    git("commit", "-q", "-m", f"c{i}", cwd=d)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=d, capture_output=True, text=True).stdout.strip()
    t0 = time.monotonic()
    git("push", "-q", remote, "main", cwd=d)
    return sha, t0, time.monotonic()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


api("PUT", "/application/settings", {"allow_local_requests_from_web_hooks_and_services": True})

# 1. Latency with 1 hook and with 50 hooks on the project.
srv = receiver()
port = srv.server_address[1]
print("| push → POST received | hooks | deliveries | p50 | p99 | max |")
print("|---|---|---|---|---|---|")
for n_hooks in (1, 50):
    _, d, remote = project(f"hooks{n_hooks}", n_hooks, port)
    from_start, from_return, push_ms = [], [], []
    for i in range(rounds):
        sha, t0, t1 = commit_and_push(d, remote, i)
        push_ms.append((t1 - t0) * 1000)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                got = [a for a in arrivals if a[1] == sha]
            if len(got) >= n_hooks:
                break
            time.sleep(0.002)
        else:
            sys.exit(f"round {i}: only {len(got)} of {n_hooks} deliveries")
        if len(got) != n_hooks:
            sys.exit(f"round {i}: {len(got)} deliveries for {n_hooks} hooks")
        from_start += [(a[2] - t0) * 1000 for a in got]
        from_return += [(a[2] - t1) * 1000 for a in got]
    n = n_hooks * rounds
    print("| `git push` itself (baseline) | %d | %d pushes | %.1f ms | %.1f ms | %.1f ms |" % (n_hooks, rounds, pct(push_ms, .5), pct(push_ms, .99), max(push_ms)))
    print("| push start → POST received | %d | %d | %.1f ms | %.1f ms | %.1f ms |" % (n_hooks, n, pct(from_start, .5), pct(from_start, .99), max(from_start)))
    print("| push returned → POST received | %d | %d | %.1f ms | %.1f ms | %.1f ms |" % (n_hooks, n, pct(from_return, .5), pct(from_return, .99), max(from_return)))
print()
srv.shutdown()
srv.server_close()

# 2. The receiver down for OUTAGE_SECONDS while OUTAGE_PUSHES pushes happen.
with lock:
    arrivals.clear()
probe = receiver()
port = probe.server_address[1]
probe.shutdown()
probe.server_close()
_, d, remote = project("outage", 1, port)
down_at = time.monotonic()
shas = []
for i in range(outage_pushes):
    shas.append(commit_and_push(d, remote, i)[0])
pushed = time.monotonic() - down_at
time.sleep(max(0.0, outage_seconds - (time.monotonic() - down_at)))
back = receiver(port)
back_at = time.monotonic()
deadline = back_at + 3600
while time.monotonic() < deadline:
    with lock:
        n = len(arrivals)
    if n >= outage_pushes:
        break
    time.sleep(0.05)
with lock:
    order = [a[1] for a in arrivals]
    first, last = arrivals[0][2] if arrivals else 0, arrivals[-1][2] if arrivals else 0
print("| %d pushes, receiver down %.0f s | result |" % (outage_pushes, outage_seconds))
print("|---|---|")
print("| pushes made while down | %d in %.1f s |" % (outage_pushes, pushed))
print("| deliveries received after it was back | %d of %d |" % (len(order), outage_pushes))
print("| in push order, each once | %s |" % ("yes" if order == shas else "NO"))
print("| back → first delivery (the hook's rest) | %.1f s |" % (first - back_at))
print("| first → last delivery | %.1f s (%.0f deliveries/s) |" % (last - first, len(order) / max(last - first, 1e-9)))
if order != shas:
    sys.exit("deliveries missing or out of order")
