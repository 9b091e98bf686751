"""Delivery only (issue 4): facteur's durable Maildir delivery against a
bare write + syncfs + rename loop of the same bytes, both in C
(deliver_bench.c, built by `make bench`), no network and no server.

    delivery.py DELIVER_BENCH SRC WORK [RUNS]
        SRC: a Maildir tree (the benchmark corpus); WORK: scratch directory
        on the file system to measure.  Runs the two modes interleaved RUNS
        times (default 3) and prints each run and the ratio of the medians.
    delivery.py --corpus N DIR
        Writes the first N messages of the benchmark corpus (corpus.py, the
        bench's seed) into DIR, without a server.
    delivery.py --merge OUT DELIVER_BENCH SRC WORK [RUNS]
        Measures as above and replaces the delivery rows of OUT/results.json
        (a full bench's) with these, then re-renders OUT/RESULTS.md: for
        measuring the delivery at a size the whole bench was not run at.

Before each run everything is flushed (sync), so a run does not pay for
its predecessor's writeback.  Each run writes a tree of its own and the
trees are removed only after the last run: on ext4, creating files next to
thousands of inodes deleted in the last minutes costs a scan per create
(recently_deleted() in the inode allocator), which would dwarf what is
measured.  So WORK needs room for 2 x RUNS copies of SRC.  The figures are
the program's own timing of the delivery loop; the file listing before it
is not counted.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import trash

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = (("facteur", "delivery: facteur store"),
         ("bare", "delivery: bare loop"))
SEED = 20260101  # bench.py's main corpus


NET = "local"  # the results' network column: no network at all


def record(label, r):
    """A bench results row (bench.py's shape) for one run."""
    row = {"corpus": "main", "scenario": 0, "net": NET, "tool": label,
           "wall": r["wall"], "cpu": r["cpu"], "rss_kb": r.get("rss_kb", 0),
           "in": 0, "out": 0, "rc": r["rc"]}
    for k in ("intent", "commit", "confirm", "error"):
        if k in r:
            row[k] = r[k]
    return row


def facts(results, src):
    ok = [r for _, r in results if r["rc"] == 0]
    return {"messages": ok[0]["messages"] if ok else 0,
            "bytes": ok[0]["bytes"] if ok else 0,
            "source": os.path.basename(os.path.normpath(src))}


def run_once(binary, mode, src, dest):
    shutil.rmtree(dest, ignore_errors=True)
    os.sync()
    trash.ready()
    p = subprocess.run([binary, mode, src, dest], capture_output=True,
                       text=True)
    if p.returncode != 0:
        return {"wall": 0.0, "cpu": 0.0, "rc": p.returncode,
                "error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    r = json.loads(p.stdout)
    r["rc"] = 0
    return r


def runs(binary, src, work, n):
    """[(tool label, result)] for n interleaved runs of both modes."""
    out, made = [], []
    try:
        for i in range(n):
            order = MODES if i % 2 == 0 else MODES[::-1]
            for mode, label in order:
                made.append(os.path.join(work, "deliver-%s-%d" % (mode, i)))
                out.append((label, run_once(binary, mode, src, made[-1])))
    finally:
        # Set aside, not removed: the scenarios that follow would pay for
        # the freed inodes (see trash.py).
        for d in made:
            trash.discard(d)
    return out


def ratio(results):
    wall = {}
    for label, r in results:
        if r["rc"] == 0:
            wall.setdefault(label, []).append(r["wall"])
    f, b = (wall.get(label) for _, label in MODES)
    if not f or not b:
        return None
    return statistics.median(f) / statistics.median(b)


def merge(out, results, src, nruns):
    """Put results into out/results.json in place of its delivery rows."""
    sys.path.insert(0, HERE)
    import report
    path = os.path.join(out, "results.json")
    with open(path) as f:
        doc = json.load(f)
    doc["runs"] = [r for r in doc["runs"] if r.get("scenario") != 0] + \
        [record(label, r) for label, r in results]
    doc["facts"]["delivery"] = dict(facts(results, src), runs=nruns,
                                    when=time.strftime("%Y-%m-%d %H:%M UTC",
                                                       time.gmtime()),
                                    separate=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    report.write(doc, out, redraw=False)


def show(results):
    for label, r in results:
        print("%-24s %s" % (label, json.dumps(r)))
    q = ratio(results)
    print("facteur / bare (medians): %s" % ("%.3f" % q if q else "-"))


def main(argv):
    if len(argv) == 4 and argv[1] == "--corpus":
        sys.path.insert(0, os.path.join(HERE, "..", "integration"))
        import corpus
        print(corpus.write_maildir(argv[3], SEED, int(argv[2])))
        return 0
    out = None
    if len(argv) > 2 and argv[1] == "--merge":
        out, argv = argv[2], argv[:1] + argv[3:]
    if len(argv) not in (4, 5):
        sys.stderr.write(__doc__)
        return 2
    n = int(argv[4]) if len(argv) > 4 else 3
    res = runs(argv[1], argv[2], argv[3], n)
    show(res)
    if out:
        merge(out, res, argv[2], n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
