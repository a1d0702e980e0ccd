#!/usr/bin/env python3
"""The web pages against a running `autogit serve` (bench/web.sh starts it).

Usage: web.py URL ROOT_TOKEN BENCH_REPO SERVER_PID [ROUNDS]

1. Idle RSS of the server before any page, and after every page below was served.
2. Time to first byte (the answer's head received) of the project home, the tree of a
   directory, a 2,000-line file highlighted, a commit page and the page of a 500-job pipeline,
   ROUNDS times each on one keep-alive connection after one warm-up; the tree page also cold
   (its first request, before the last-commit cache holds it). Baseline in the same run: `git
   ls-tree` of the same directory plus one `git log -1 -- <entry>` per entry (what answering
   the page with git's own commands costs), on the server's repository.
3. Log streaming: a job's page open in headless Chromium (chromedriver), lines appended with
   the runner API's trace PATCH; a MutationObserver stamps each line when it enters the DOM.
4. Page weight: HTML (and the stylesheet and script, fetched once and cached after), with the
   shown file's own rows left out of the file page.

Prints a Markdown fragment on stdout.
"""
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

url, token, repo, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 50
host = urllib.parse.urlparse(url)


def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def api(method, path, data=None, headers=None):
    body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
    req = urllib.request.Request(f"{url}/api/v4{path}", data=body, method=method)
    req.add_header("PRIVATE-TOKEN", token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return json.loads(text) if text else None


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


time.sleep(2)
rss_idle = rss_mib()

# The project: the benchmark repository, then a branch with a 2,000-line file and a 500-job CI.
project = api("POST", "/projects", {"name": "bench", "visibility": "public"})
push_url = url.replace("://", f"://root:{token}@") + "/root/bench.git"
git("--git-dir", repo, "push", "-q", push_url, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")
work = tempfile.mkdtemp()
try:
    git("init", "-q", work)
    git("fetch", "-q", "--depth=1", repo, "main", cwd=work)
    git("read-tree", "FETCH_HEAD", cwd=work)
    lines = []
    for i in range(2000):
        lines.append(f"fn f{i}(x: u64) -> u64 {{ let s = \"line {i}\"; x.wrapping_mul({i + 1}) ^ s.len() as u64 }} // {i}")
    open(os.path.join(work, "big.rs"), "w").write("\n".join(lines) + "\n")
    ci = ["stages: [s0, s1, s2, s3, s4]"]
    for s in range(5):
        for j in range(100):
            needs = "[]" if s == 0 else f"[s{s - 1}_{j:03}, s{s - 1}_{(j + 1) % 100:03}]"
            ci.append(f"s{s}_{j:03}:\n  stage: s{s}\n  script: [echo {s} {j}]\n  needs: {needs}")
    open(os.path.join(work, ".gitlab-ci.yml"), "w").write("\n".join(ci) + "\n")
    git("add", "big.rs", ".gitlab-ci.yml", cwd=work)
    git("-c", "user.name=Bench", "-c", "user.email=b@example.test", "commit", "-q", "-m", "Pages benchmark", cwd=work)
    git("push", "-q", push_url, "HEAD:refs/heads/bench-ui", cwd=work)
finally:
    shutil.rmtree(work, ignore_errors=True)
pid_ = project["id"]
for _ in range(600):
    pipes = api("GET", f"/projects/{pid_}/pipelines")
    if pipes:
        break
    time.sleep(0.1)
pipeline = pipes[0]["id"]
jobs = api("GET", f"/projects/{pid_}/pipelines/{pipeline}/jobs?per_page=100")
head = api("GET", f"/projects/{pid_}/repository/commits/main")["id"]
time.sleep(2)
rss_loaded = rss_mib()
leaf = "src/p00/m000"

conn = http.client.HTTPConnection(host.hostname, host.port)


def get(path):
    start = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    ttfb = time.perf_counter() - start
    body = r.read()
    assert r.status == 200, (path, r.status, body[:300])
    return ttfb, body


pages = [
    ("project home", "/root/bench"),
    (f"tree of `{leaf}`", f"/root/bench/-/tree/main/{leaf}"),
    ("tree of `src/p00`", "/root/bench/-/tree/main/src/p00"),
    ("2,000-line file", "/root/bench/-/blob/bench-ui/big.rs"),
    ("commit", f"/root/bench/-/commit/{head}"),
    ("pipeline of 500 jobs", f"/root/bench/-/pipelines/{pipeline}"),
    ("needs graph of 500 jobs", f"/root/bench/-/pipelines/{pipeline}/dag"),
]
cold = {}
highlighted_after = None
for name, path in pages:
    if name.startswith("tree") or "file" in name:
        started = time.perf_counter()
        cold[name], body = get(path)
        if "file" in name:
            # The first view may be plain (the highlighting budget ran out); wait until a view is
            # highlighted, so that the timed requests below all serve the highlighted page.
            while b"still in progress" in body and time.perf_counter() - started < 30:
                time.sleep(0.02)
                body = get(path)[1]
            highlighted_after = time.perf_counter() - started


def baseline(directory):
    """git ls-tree of the directory + git log -1 per entry, as processes, on the server's repo."""
    start = time.perf_counter()
    names = subprocess.run(["git", "--git-dir", repo, "ls-tree", "--name-only", "main", directory + "/"],
                           check=True, capture_output=True, text=True).stdout.split()
    for n in names:
        subprocess.run(["git", "--git-dir", repo, "log", "-1", "--format=%H", "main", "--", n], check=True, capture_output=True)
    return time.perf_counter() - start


results = []
bodies = {}
for name, path in pages:
    get(path)
    times = []
    for _ in range(rounds):
        t, body = get(path)
        times.append(t)
    bodies[name] = body
    results.append((name, path, times))
base = {}
for d in [leaf, "src/p00"]:
    base[d] = [baseline(d) for _ in range(max(5, rounds // 5))]
rss_after = rss_mib()

print(f"Server at {url}; repository {os.path.basename(repo)}; {rounds} requests per page after one warm-up, one keep-alive connection.")
print()
print("| page | TTFB p50 | TTFB p99 | HTML bytes |")
print("|---|---|---|---|")
for name, path, times in results:
    print(f"| {name} | {statistics.median(times) * 1000:.1f} ms | {percentile(times, 99) * 1000:.1f} ms | {len(bodies[name]):,} |")
print()
for d in [leaf, "src/p00"]:
    name = f"tree of `{d}`"
    warm = [t for n, _, ts in results if n == name for t in ts]
    b = statistics.median(base[d])
    print(f"- {name}: cold (first request, last commits walked) {cold[name] * 1000:.1f} ms = **{cold[name] / b:.2f}×** the git baseline "
          f"(`ls-tree` + `log -1` per entry: median {b * 1000:.1f} ms); warm p99 {percentile(warm, 99) * 1000:.1f} ms = {percentile(warm, 99) / b:.2f}×.")

name = "2,000-line file"
print(f"- {name}: cold (first request; past the 25 ms highlighting budget it is shown plain while the highlighting goes on) "
      f"{cold[name] * 1000:.1f} ms; a highlighted view {highlighted_after * 1000:.0f} ms after the first request (then kept by blob id); "
      f"warm p99 (highlighted) {percentile([t for n, _, ts in results if n == name for t in ts], 99) * 1000:.1f} ms.")

# Weights: the stylesheet and script once, HTML per page; the file page without its rows.
html = bodies["project home"].decode()
css = re.search(r'href="(/-/assets/[^"]+\.css)"', html).group(1)
js = re.search(r'src="(/-/assets/[^"]+\.js)"', html).group(1)
css_bytes, js_bytes = len(get(css)[1]), len(get(js)[1])
print()
print(f"Page weight: stylesheet {css_bytes:,} B and script {js_bytes:,} B (each fetched once, cached a year by their hashed names).")
for name, body in bodies.items():
    text = body.decode()
    shown = 0
    if "file" in name:
        m = re.search(r'<table class="code".*?</table>', text, re.S)
        shown = len(m.group(0)) if m else 0
    total = len(body) - shown + css_bytes + js_bytes
    print(f"- {name}: {total:,} B of HTML+CSS+JS" + (f" (the file's {shown:,} B of rows left out)" if shown else ""))

# Log streaming into a real browser.
runner = api("POST", "/user/runners", {"runner_type": "instance_type", "run_untagged": "true", "description": "bench"})
rtok = runner["token"]
req = urllib.request.Request(f"{url}/api/v4/jobs/request", data=json.dumps({"token": rtok, "info": {"name": "gitlab-runner", "version": "18.0.0"}}).encode(), method="POST")
req.add_header("Content-Type", "application/json")
with urllib.request.urlopen(req) as r:
    job = json.loads(r.read())
jid, jtok = job["id"], job["token"]


def wd(method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{wd_port}{path}", data=json.dumps(body).encode() if body is not None else None, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["value"]


s = socket.socket()
s.bind(("127.0.0.1", 0))
wd_port = s.getsockname()[1]
s.close()
driver = subprocess.Popen(["chromedriver", f"--port={wd_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
latencies = []
try:
    for _ in range(100):
        try:
            wd("GET", "/status")
            break
        except OSError:
            time.sleep(0.1)
    caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}}}}
    session = wd("POST", "/session", caps)["sessionId"]
    wd("POST", f"/session/{session}/url", {"url": f"{url}/root/bench/-/jobs/{jid}"})
    for _ in range(100):
        state = wd("POST", f"/session/{session}/execute/sync", {"script": "return document.querySelector('[data-live-state]').textContent;", "args": []})
        if state == "Live":
            break
        time.sleep(0.05)
    wd("POST", f"/session/{session}/execute/sync", {"script": """
        window.__seen = {};
        new MutationObserver(() => {
          for (const e of document.querySelectorAll('#log .log-text')) {
            const m = /^bench line (\\d+)$/.exec(e.textContent);
            if (m && !(m[1] in window.__seen)) window.__seen[m[1]] = Date.now();
          }
        }).observe(document.getElementById('log'), {childList: true, subtree: true});
        return true;""", "args": []})
    offset, sent = 0, {}
    n = max(50, rounds)
    for i in range(n):
        line = f"\x1b[32mbench line {i}\x1b[0m\n".encode()
        req = urllib.request.Request(f"{url}/api/v4/jobs/{jid}/trace", data=line, method="PATCH")
        req.add_header("JOB-TOKEN", jtok)
        req.add_header("Content-Range", f"{offset}-{offset + len(line) - 1}")
        sent[str(i)] = time.time() * 1000
        with urllib.request.urlopen(req) as r:
            assert r.status == 202
        offset += len(line)
        time.sleep(0.1)
    time.sleep(1)
    seen = wd("POST", f"/session/{session}/execute/sync", {"script": "return window.__seen;", "args": []})
    latencies = [seen[k] - sent[k] for k in sent if k in seen]
    wd("DELETE", f"/session/{session}")
finally:
    driver.kill()
print()
print(f"Log streaming, trace PATCH sent → line in Chromium's DOM ({len(latencies)} of {len(sent)} lines seen): "
      f"p50 {statistics.median(latencies):.0f} ms, p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms.")
print()
time.sleep(2)
rss_end = rss_mib()
print(f"RSS of `autogit serve`: {rss_idle:.1f} MiB idle at start; {rss_loaded:.1f} MiB after the 129 MiB push and the "
      f"500-job pipeline (before any page); {rss_after:.1f} MiB after every page above was served {rounds + 1} times "
      f"(grammars loaded, highlight cache filled); {rss_end:.1f} MiB at the end.")
