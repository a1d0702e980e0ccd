#!/usr/bin/env python3
"""Deterministic `git fast-import` stream generator for the git-over-HTTP benchmark.

Writing the stream and letting `git fast-import` build the packfile is orders of
magnitude faster than a loop of `git commit`: no index, no worktree, one process,
and fast-import already deltifies each blob against the previous version of the
same path.

Two modes:

  gen_repo.py --files N --commits N [--seed S]
      Full history on refs/heads/main, plus release branches, a few unmerged
      feature branches and annotated tags.

  gen_repo.py --extend N --git-dir DIR --from SHA [--seed S]
      N more commits on top of SHA (refs/heads/main) in an existing repository,
      used to create the delta for the incremental-fetch measurement. Existing
      file contents are read with `git cat-file --batch`.

Everything (contents, paths, authors, dates, messages) is a pure function of
the arguments, so the same arguments always produce the same commit ids.
"""

import argparse
import random
import subprocess
import sys

EPOCH = 1_600_000_000  # fixed start date of the history (2020-09-13)
COMMIT_GAP = 2_700  # seconds between two commits (~45 min)
TEXT_EXTS = ["c", "h", "rs", "py", "go", "js", "md", "txt", "toml", "yaml"]
FILES_PER_DIR = 40
BINARY_EVERY = 100  # one file in 100 is a binary "asset" (incompressible)


class Gen:
    def __init__(self, seed, out):
        self.rng = random.Random(seed)
        self.out = out
        rng = self.rng
        letters = "abcdefghijklmnopqrstuvwxyz"
        # A fixed vocabulary of identifiers gives text that compresses roughly
        # like real source code (~3:1 with zlib), not like random bytes.
        self.vocab = [
            "".join(rng.choice(letters) for _ in range(rng.randint(2, 10)))
            for _ in range(6000)
        ]
        self.ops = ["=", "+=", "==", "!=", "->", "<=", "&&", "||", "+", "*"]
        self.authors = [
            ("Dev %s %s" % (self.vocab[i].title(), self.vocab[i + 50].title()),
             "%s.%s@example.com" % (self.vocab[i], self.vocab[i + 50]))
            for i in range(24)
        ]

    # ---- content -------------------------------------------------------
    def line(self):
        rng = self.rng
        kind = rng.random()
        words = rng.choices(self.vocab, k=rng.randint(2, 9))
        indent = "    " * rng.randint(0, 3)
        if kind < 0.15:
            return "%s// %s\n" % (indent, " ".join(words))
        if kind < 0.30:
            return "%sconst %s = 0x%08x; // %s\n" % (
                indent, "_".join(words[:2]).upper(), rng.getrandbits(32), words[-1])
        if kind < 0.40:
            return "\n"
        return "%s%s %s %s(%s);\n" % (
            indent, words[0], rng.choice(self.ops), "_".join(words[1:3]),
            ", ".join(words[3:]))

    def lines(self, n):
        return [self.line() for _ in range(n)]

    def text_file(self):
        # Log-normal-ish size distribution: most files are small, a few big.
        n = int(min(2000, max(5, self.rng.lognormvariate(4.8, 0.9))))
        return self.lines(n)

    def binary_file(self):
        size = int(min(400_000, max(2_000, self.rng.lognormvariate(10.8, 0.8))))
        return self.rng.randbytes(size)

    def modify_text(self, lines):
        """Insert, replace or delete a block of lines (a typical code change)."""
        rng = self.rng
        lines = list(lines)
        pos = rng.randint(0, len(lines))
        r = rng.random()
        if r < 0.45 or len(lines) < 10:
            lines[pos:pos] = self.lines(rng.randint(1, 25))
        elif r < 0.85:
            k = rng.randint(1, 12)
            lines[pos:pos + k] = self.lines(rng.randint(1, 15))
        else:
            del lines[pos:pos + rng.randint(1, 10)]
        return lines

    # ---- paths ---------------------------------------------------------
    @staticmethod
    def path(i):
        if i % BINARY_EVERY == BINARY_EVERY - 1:
            j = i // BINARY_EVERY
            return "assets/a%02d/img_%05d.bin" % (j % 37, j)
        d = i // FILES_PER_DIR
        return "src/p%02d/m%03d/f%05d.%s" % (
            d % 23, d, i, TEXT_EXTS[i % len(TEXT_EXTS)])

    # ---- fast-import primitives ----------------------------------------
    def w(self, b):
        self.out.write(b)

    def data(self, payload):
        if isinstance(payload, list):
            payload = "".join(payload)
        if isinstance(payload, str):
            payload = payload.encode()
        self.w(b"data %d\n" % len(payload))
        self.w(payload)
        self.w(b"\n")

    def commit(self, ref, mark, when, msg, parent, changes):
        name, email = self.authors[self.rng.randrange(len(self.authors))]
        ident = ("%s <%s> %d +0000" % (name, email, when)).encode()
        self.w(b"commit %s\nmark :%d\n" % (ref.encode(), mark))
        self.w(b"author " + ident + b"\ncommitter " + ident + b"\n")
        self.data(msg)
        if parent is not None:
            self.w(b"from %s\n" % parent.encode())
        for path, content in changes:
            if content is None:
                self.w(b"D %s\n" % path.encode())
            else:
                self.w(b"M 100644 inline %s\n" % path.encode())
                self.data(content)
        self.w(b"\n")

    def message(self, n):
        rng = self.rng
        subj = "%s: %s" % (rng.choice(self.vocab), " ".join(rng.choices(self.vocab, k=rng.randint(3, 8))))
        body = " ".join(rng.choices(self.vocab, k=rng.randint(0, 60)))
        return "%s\n\n%s\n\nChange-Number: %d\n" % (subj, body, n)


def pick_changes(g, files, hot, n_existing):
    """Choose which existing files a commit modifies; 50% of edits hit 'hot' files."""
    rng = g.rng
    changes = {}
    for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 6, 9])):
        i = rng.choice(hot) if rng.random() < 0.5 else rng.randrange(n_existing)
        if isinstance(files[i], bytes):
            if rng.random() < 0.15:  # binaries change rarely, and wholesale
                files[i] = g.binary_file()
                changes[i] = files[i]
        else:
            files[i] = g.modify_text(files[i])
            changes[i] = files[i]
    return changes


def full(args):
    g = Gen(args.seed, sys.stdout.buffer)
    rng = g.rng
    F, C = args.files, args.commits
    files = []  # index -> list of lines (text) or bytes (binary)
    hot = []
    # 20% of the files come in with the first commit (an "initial import"),
    # the rest are added over the first 70% of the history.
    initial = max(1, F // 5)
    add_span = max(1, int(C * 0.7) - 1)
    added = 0
    when = EPOCH
    mark = 0
    tag_every = max(1, C // 20)
    branch_every = max(1, C // 10)
    features = []
    for c in range(C):
        mark += 1
        when += COMMIT_GAP + rng.randrange(600)
        if c == 0:
            target = initial
        else:
            target = min(F, initial + ((F - initial) * c + add_span - 1) // add_span)
        changes = {}
        if c > 0 and added:
            changes.update(pick_changes(g, files, hot, added))
        if c % 20 == 19 and added > BINARY_EVERY:
            # Assets (images, fixtures) get replaced now and then: big, new,
            # undeltifiable blobs, as in real repositories.
            i = rng.randrange(added // BINARY_EVERY) * BINARY_EVERY + BINARY_EVERY - 1
            files[i] = g.binary_file()
            changes[i] = files[i]
        while added < target:
            files.append(g.binary_file() if g.path(added).endswith(".bin") else g.text_file())
            changes[added] = files[added]
            if rng.random() < 0.02:
                hot.append(added)
            added += 1
        if not hot:
            hot.append(0)
        g.commit("refs/heads/main", mark, when, g.message(c), ":%d" % (mark - 1) if c else None,
                 [(g.path(i), changes[i]) for i in sorted(changes)])
        if c and c % tag_every == 0:
            g.w(b"tag v%d.%d\nfrom :%d\n" % (c // tag_every // 5, c // tag_every % 5, mark))
            g.w(b"tagger Release Bot <release@example.com> %d +0000\n" % when)
            g.data("Release v%d.%d\n" % (c // tag_every // 5, c // tag_every % 5))
        if c and c % branch_every == 0:
            g.w(b"reset refs/heads/release-%d\nfrom :%d\n\n" % (c // branch_every, mark))
            features.append((mark, when))
    # A few unmerged feature branches so `--all` carries commits main lacks.
    for k, (base, bwhen) in enumerate(features[:4]):
        parent = ":%d" % base
        for j in range(8):
            mark += 1
            bwhen += COMMIT_GAP
            ch = pick_changes(g, files, hot, added)
            g.commit("refs/heads/feature-%d" % k, mark, bwhen, g.message(C + mark), parent,
                     [(g.path(i), ch[i]) for i in sorted(ch)])
            parent = ":%d" % mark
    g.w(b"done\n")


def extend(args):
    """Append args.extend commits on top of args.base (see module doc)."""
    g = Gen(args.seed, sys.stdout.buffer)
    rng = g.rng
    git = ["git", "--git-dir", args.git_dir]
    paths = subprocess.run(git + ["ls-tree", "-r", "--name-only", args.base],
                           check=True, capture_output=True, text=True).stdout.split()
    paths = sorted(p for p in paths if p.startswith("src/"))
    when = int(subprocess.run(git + ["log", "-1", "--format=%ct", args.base],
                              check=True, capture_output=True, text=True).stdout) + 3600
    cat = subprocess.Popen(git + ["cat-file", "--batch"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    cache = {}

    def read(p):
        if p not in cache:
            cat.stdin.write(b"%s:%s\n" % (args.base.encode(), p.encode()))
            cat.stdin.flush()
            hdr = cat.stdout.readline().split()
            body = cat.stdout.read(int(hdr[2]))
            cat.stdout.read(1)
            cache[p] = body.decode().splitlines(keepends=True)
        return cache[p]

    parent = args.base
    for c in range(args.extend):
        changes = []
        for p in rng.sample(paths, rng.randint(1, 4)):
            cache[p] = g.modify_text(read(p))
            changes.append((p, cache[p]))
        if c % 5 == 0:
            changes.append(("src/new/n%04d.rs" % c, g.text_file()))
        g.commit("refs/heads/main", c + 1, when, g.message(1_000_000 + c), parent, changes)
        parent = ":%d" % (c + 1)
        when += COMMIT_GAP
    cat.stdin.close()
    cat.wait()
    g.w(b"done\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--commits", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--extend", type=int, default=0)
    ap.add_argument("--git-dir")
    ap.add_argument("--from", dest="base")
    args = ap.parse_args()
    if args.extend:
        if not (args.git_dir and args.base):
            ap.error("--extend needs --git-dir and --from")
        extend(args)
    else:
        full(args)


if __name__ == "__main__":
    main()
