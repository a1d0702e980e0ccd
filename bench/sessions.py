#!/usr/bin/env python3
"""Browser sign-in and session cost against a running `autogit serve` (bench/sessions.sh starts it).

Usage: sessions.py URL ROOT_TOKEN [ROUNDS]

1. Sign-in under load: ROUNDS rounds of 20 concurrent sign-ins (the form's POST, argon2 verify,
   session created), timed from the moment all 20 are released together. Baseline in the same run:
   20 concurrent git-over-HTTP requests with the same accounts' passwords (HTTP Basic on
   `info/refs`: the same argon2 verify, no session).
2. Session cost of a page: N sequential `GET /` with a session cookie (session and user read,
   page rendered) against N sequential `GET /` without one (302 to the sign-in page), on one
   keep-alive connection each, interleaved in blocks.

Prints a Markdown fragment on stdout.
"""
import re
import statistics
import sys
import threading
import time

import requests

url, token = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
CONCURRENT = 20
PASSWORD = "bench-user-password"
api = requests.Session()
api.headers["PRIVATE-TOKEN"] = token

users = []
for i in range(CONCURRENT):
    name = f"bench{i}"
    r = api.post(f"{url}/api/v4/users", data={"username": name, "name": name, "email": f"{name}@example.test", "password": PASSWORD})
    assert r.status_code in (201, 409), r.text
    users.append(name)
r = api.post(f"{url}/api/v4/projects", data={"name": "probe", "visibility": "public"})
assert r.status_code in (201, 400), r.text


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def concurrent(prepare, act):
    """Runs act(state) in 20 threads released together; returns (latencies s, statuses)."""
    states = [prepare(u) for u in users]
    barrier = threading.Barrier(CONCURRENT)
    out = [None] * CONCURRENT

    def worker(i):
        barrier.wait()
        t0 = time.perf_counter()
        status = act(states[i])
        out[i] = (time.perf_counter() - t0, status)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [o[0] for o in out], [o[1] for o in out]


def prepare_sign_in(user):
    s = requests.Session()
    page = s.get(f"{url}/users/sign_in")
    token = re.search(r'name="authenticity_token" value="([0-9a-f]+)"', page.text).group(1)
    return s, user, token


def sign_in(state):
    s, user, token = state
    r = s.post(f"{url}/users/sign_in", data={"user[login]": user, "user[password]": PASSWORD, "authenticity_token": token}, allow_redirects=False)
    return r.status_code


def prepare_git(user):
    s = requests.Session()
    s.auth = (user, PASSWORD)
    return s


def git_password(s):
    return s.get(f"{url}/root/probe.git/info/refs?service=git-upload-pack").status_code


sign_ins, git_checks, statuses = [], [], []
for _ in range(rounds):
    lat, st = concurrent(prepare_sign_in, sign_in)
    sign_ins += lat
    statuses += st
    lat, st = concurrent(prepare_git, git_password)
    git_checks += lat
    statuses += st
refused = sum(1 for s in statuses if s not in (200, 302))

# Session cost of a page: http.client on one keep-alive connection each (requests' own
# overhead per call is larger than what is measured here).
import http.client
from urllib.parse import urlsplit

state = prepare_sign_in(users[0])
assert sign_in(state) == 302
cookie = "; ".join(f"{k}={v}" for k, v in state[0].cookies.items())
host = urlsplit(url).netloc


def page_loop(headers, want, n, out):
    conn = http.client.HTTPConnection(host)
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", "/", headers=headers)
        r = conn.getresponse()
        r.read()
        out.append(time.perf_counter() - t0)
        assert r.status == want, r.status
    conn.close()


N, BLOCK = 4000, 200
with_session, without = [], []
for _ in range(N // BLOCK):
    page_loop({"Cookie": cookie}, 200, BLOCK, with_session)
    page_loop({}, 302, BLOCK, without)

ms = lambda x: f"{x * 1000:.1f}"
us = lambda x: f"{x * 1e6:.0f}"
p99_sign_in, p99_git = percentile(sign_ins, 99), percentile(git_checks, 99)
print(f"""| sign-in under load ({rounds} rounds × {CONCURRENT} at once) | p50 | p99 | max |
|---|---|---|---|
| browser sign-in (`POST /users/sign_in`, session created) | {ms(statistics.median(sign_ins))} ms | {ms(p99_sign_in)} ms | {ms(max(sign_ins))} ms |
| baseline: git over HTTP with the password (same argon2, no session) | {ms(statistics.median(git_checks))} ms | {ms(p99_git)} ms | {ms(max(git_checks))} ms |
| sign-in ÷ baseline | {statistics.median(sign_ins) / statistics.median(git_checks):.2f} | {p99_sign_in / p99_git:.2f} | |

Refused (429) of {len(statuses)} requests: {refused}. Target: sign-in p99 ≤ 300 ms.

| `GET /`, {N} sequential requests each, one keep-alive connection | median | mean |
|---|---|---|
| with a session (session + user read, page rendered) | {us(statistics.median(with_session))} µs | {us(statistics.mean(with_session))} µs |
| without (302 to the sign-in page) | {us(statistics.median(without))} µs | {us(statistics.mean(without))} µs |
| what the session adds | {us(statistics.median(with_session) - statistics.median(without))} µs | {us(statistics.mean(with_session) - statistics.mean(without))} µs |

Target: a session adds ≤ 500 µs to a page.""")
