"""facteur's benchmark driver (what `make bench` runs).

Starts a private Dovecot (tests/integration/dovecot.py), writes the corpus
(corpus.py) once into a server template and hard-links it into one account
per tool and network, then runs every scenario for facteur and each peer in
the same run, interleaving the tools run by run so that the machine's noise
falls on all of them alike:

  1 initial pull             2 no-op resync
  3 1% of flags changed on the server
  4 1% of flags changed locally
  5 messages moved on the server (UID MOVE INBOX -> Archive)
  6 messages moved locally (files renamed between INBOX and the folder of
    scenario 5, from the fuller of the two)
  7 initial push of local messages into an empty account
  8 POP3 ingestion (facteur vs mpop)
  9 adoption of an existing copy (local mail present, no sync state)

1-7 run twice: straight through the counting relay, and through a relay
adding 25 ms each way.  Every measured run is a fresh process; wall time,
CPU time (user+sys) and peak RSS come from wait4(), bytes from the relay.
The floor of scenario 1 (floor.py) is measured in the same run.  Before the
scenarios, the delivery-only comparison of issue 4 (delivery.py: facteur's
store and journal against a bare write + syncfs + rename loop, no network)
runs on the main corpus's files.

Results go to results.json, RESULTS.md and bench.png (report.py) in --out.
Benchmarks report; they never fail: the exit status is 0 unless the bench
itself could not run.
"""

import argparse
import imaplib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import corpus  # noqa: E402
import delivery  # noqa: E402
import dovecot  # noqa: E402
import proxy  # noqa: E402
import report  # noqa: E402
import tools  # noqa: E402
import trash  # noqa: E402
import util  # noqa: E402

DELAY = 0.025
SEED = 20260101
TIMEOUT = [600.0]
TIME = "/usr/bin/time"  # GNU time, Debian package "time"  # seconds per measured run; --timeout
META_SEED = 20260202


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def measure(cmd, env, relay, logdir, label, timeout=None):
    """Run cmd as a fresh process (killed after `timeout` seconds);
    returns the run's numbers."""
    timeout = timeout or TIMEOUT[0]
    trash.ready()
    relay.reset() if relay else None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label)
    with open(os.path.join(logdir, safe + ".out"), "wb") as out, \
            open(os.path.join(logdir, safe + ".err"), "wb") as err:
        t0 = time.monotonic()
        # Peak RSS from GNU time: wait4() of a child forked from this
        # Python would count the Python image the child started as.
        rss_file = os.path.join(logdir, safe + ".rss")
        cmd = [TIME, "-f", "%M", "-o", rss_file] + list(cmd)
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, start_new_session=True)
        # A hung tool (seen with OfflineIMAP) must not hang the bench.
        timer = threading.Timer(timeout, _kill_group, (p.pid,))
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            _kill_group(p.pid)  # interrupted: leave no tool running
            os.waitpid(p.pid, 0)
            raise
        finally:
            timer.cancel()
        wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    up, down = relay.counts() if relay else (0, 0)
    try:
        with open(rss_file) as f:
            rss = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        rss = 0
    r = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime,
         "rss_kb": rss, "in": down, "out": up, "rc": p.returncode}
    if p.returncode != 0:
        with open(os.path.join(logdir, safe + ".err"), "rb") as f:
            tail = f.read()[-400:].decode(errors="replace").strip()
        r["error"] = tail.splitlines()[-1] if tail else "exit %d" % p.returncode
        if wall >= timeout:
            r["error"] = "killed at the %.0f s time limit" % timeout
        log("%s: exit %d: %s" % (label, p.returncode, r["error"]))
    return r


def count_local(root):
    """Message files under a local Maildir tree (cur/ and new/)."""
    n = 0
    for d, _, files in os.walk(root):
        if os.path.basename(d) in ("cur", "new"):
            n += len(files)
    return n


def local_files(root, folder=None):
    out = []
    base = root if folder is None else os.path.join(root, *folder.split("/"))
    for d, subdirs, files in os.walk(base):
        if os.path.basename(d) in ("cur", "new"):
            out += [os.path.join(d, f) for f in files]
        if folder is not None:
            subdirs[:] = [s for s in subdirs if s in ("cur", "new")]
    return sorted(out)


def set_local_flag(path, letter):
    """Add a Maildir flag letter to a file, as a mail client does."""
    d, name = os.path.split(path)
    base, _, info = name.partition(":2,")
    flags = "".join(sorted(set(info) | {letter}))
    dest = os.path.join(os.path.dirname(d), "cur", base + ":2," + flags)
    os.rename(path, dest)


_TOOL_TAGS = re.compile(r",(U=\d+|FMD5=[0-9a-f]+)")


def move_local(path, root, folder):
    """Move a message file into another local folder, dropping the UID tags
    mbsync and OfflineIMAP put in names (mbsync's manual asks for that)."""
    name = _TOOL_TAGS.sub("", os.path.basename(path))
    sub = os.path.basename(os.path.dirname(path))
    dest = os.path.join(root, *folder.split("/"), sub)
    os.makedirs(dest, exist_ok=True)
    os.rename(path, os.path.join(dest, name))
    return os.path.getsize(os.path.join(dest, name))


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="facteur-bench-",
                                     dir=args.work or None)
        os.chmod(self.work, 0o755)
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs)
        # The quick mode's few hundred files are not worth six minutes.
        trash.setup(self.work, settle=not args.quick)
        self.server = dovecot.Dovecot(os.path.join(self.work, "dovecot"))
        self.relays = proxy.RelayLoop()
        self.results = []
        self.facts = {}
        self.serial = 0

    # -- server side ------------------------------------------------------

    def start(self):
        self.server.start()
        s = self.server
        self.net = {"direct": self.relays.relay(s.ports["imaps"]),
                    "delay": self.relays.relay(s.ports["imaps"], DELAY)}
        self.pop_relay = self.relays.relay(s.ports["pop3s"])

    def new_user(self, template=None, only_inbox=False):
        self.serial += 1
        name = "b%d" % self.serial
        user = self.server.add_user(name, "pw-" + name)
        home = os.path.join(self.server.mail_root, name)
        os.makedirs(home, exist_ok=True)
        md = os.path.join(home, "Maildir")
        if template and only_inbox:
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(md, sub))
            cur = os.path.join(template, "cur")
            for f in sorted(os.listdir(cur))[:only_inbox]:
                os.link(os.path.join(cur, f), os.path.join(md, "cur", f))
        elif template:
            subprocess.run(["cp", "-al", template, md], check=True)
        subprocess.run(["chown", "-R", "%d:%d" % (self.server.uid,
                                                  self.server.gid), home],
                       check=True)
        if template:
            self.warm(user)
        return user

    def imap(self, user, password=None):
        return self.server.imap(user, password)

    def warm(self, user):
        """Let Dovecot build its indexes before anything is timed."""
        c = self.imap(user)
        for f in util.server_folders(c):
            typ, data = c.select(util.q(f), readonly=True)
            if int(data[0]):
                c.uid("FETCH", "1:*", "(FLAGS)")
        c.logout()

    # -- corpora ----------------------------------------------------------

    def make_corpora(self):
        a = self.args
        t0 = time.monotonic()
        self.tpl = os.path.join(self.work, "tpl-server")
        n, size = corpus.write_maildir(self.tpl, SEED, a.messages)
        self.facts["corpus"] = {"messages": n, "bytes": size}
        # The same mail as a local Maildir (INBOX in INBOX/), for adoption.
        self.tpl_local = os.path.join(self.work, "tpl-local")
        for folder in corpus.all_folders(corpus.FOLDERS):
            src = corpus.folder_dir(self.tpl, folder, True)
            dst = corpus.folder_dir(self.tpl_local, folder, False)
            os.makedirs(dst, exist_ok=True)
            for sub in ("cur", "new", "tmp"):
                subprocess.run(["cp", "-al", os.path.join(src, sub),
                                os.path.join(dst, sub)], check=True)
        self.tpl_push = os.path.join(self.work, "tpl-push")
        n, size = corpus.write_maildir(self.tpl_push, SEED + 1, a.push,
                                       inbox_at_root=False)
        self.facts["push"] = {"messages": n, "bytes": size}
        self.tpl_meta = None
        if a.meta:
            self.tpl_meta = os.path.join(self.work, "tpl-meta")
            n, size = corpus.write_maildir(
                self.tpl_meta, META_SEED, a.meta,
                folders=corpus.spread(a.meta_folders), small=True)
            self.facts["meta"] = {"messages": n, "bytes": size,
                                  "folders": a.meta_folders}
        inbox = len(os.listdir(os.path.join(self.tpl, "cur")))
        self.facts["pop"] = {"messages": min(inbox, a.pop)}
        log("corpus written in %.1fs: %r" % (time.monotonic() - t0,
                                             self.facts))

    # -- running ----------------------------------------------------------

    def record(self, corpus_name, scenario, net, tool, run, extra=None):
        row = {"corpus": corpus_name, "scenario": scenario, "net": net,
               "tool": tool, **run}
        if extra:
            row.update(extra)
        self.results.append(row)

    def run_tool(self, t, relay, label):
        return measure(t.command(), t.env(), relay, self.logs, label)

    def names(self, net):
        """The IMAP tools to run on this network."""
        allowed = self.args.delay_tools if net == "delay" else None
        return [n for n in self.args.tools if n in tools.IMAP_TOOLS
                and (allowed is None or n in allowed)]

    def imap_tools(self, template, net, tag):
        out = []
        for name in self.names(net):
            if name not in tools.IMAP_TOOLS:
                continue
            user = self.new_user(template)
            wd = os.path.join(self.work, "%s-%s-%s" % (tag, net, name))
            os.makedirs(wd)
            out.append(tools.IMAP_TOOLS[name](wd, user.name, user.password,
                                              self.net[net].port,
                                              self.server.cert))
        return out

    def scenarios_1_to_6(self, corpus_name, template, net, expect):
        a = self.args
        ts = self.imap_tools(template, net, corpus_name)
        # Moves go from INBOX to the corpus's second folder.
        self.move_to = "Archive" if corpus_name == "main" else \
            corpus.spread(self.args.meta_folders)[1][0]
        relay = self.net[net]
        want = set(a.scenarios)
        runs = a.runs
        # 1: initial pull; the floor runs beside the tools.
        floor_user = self.new_user(template) if corpus_name == "main" \
            else None
        for r in range(runs):
            for t in ts:
                t.reset()
                res = self.run_tool(t, relay, "%s-%s-s1-%s-%d" % (
                    corpus_name, net, t.name, r))
                got = count_local(t.maildir)
                self.record(corpus_name, 1, net, t.name, res,
                            {"messages": got, "expect": expect,
                             "complete": got == expect})
            if floor_user is not None and corpus_name == "main":
                self.floors(floor_user, net, r)
        for s, prep in ((2, None), (3, self.flags_far), (4, self.flags_near),
                        (5, self.move_far), (6, self.move_near)):
            if s not in want:
                continue
            for r in range(runs):
                for t in ts:
                    extra = prep(t, r) if prep else None
                    res = self.run_tool(t, relay, "%s-%s-s%d-%s-%d" % (
                        corpus_name, net, s, t.name, r))
                    self.record(corpus_name, s, net, t.name, res, extra)

    def floors(self, user, net, r):
        folders = [f for f, _ in corpus.FOLDERS]
        res = measure([sys.executable, os.path.join(HERE, "floor.py"),
                       "fetch", "127.0.0.1", str(self.net[net].port),
                       self.server.cert, user.name, user.password] + folders,
                      None, self.net[net], self.logs,
                      "floor-fetch-%s-%d" % (net, r))
        self.record("main", 1, net, "floor: raw FETCH", res)
        if net != "direct":
            return
        dest = os.path.join(self.work, "floor-write")
        trash.discard(dest)
        res = measure([sys.executable, os.path.join(HERE, "floor.py"),
                       "write", self.tpl, dest], None, None, self.logs,
                      "floor-write-%d" % r)
        self.record("main", 1, net, "floor: durable write", res)
        trash.discard(dest)

    def _server_uids(self, c, folder):
        typ, data = c.select(util.q(folder))
        if typ != "OK" or not int(data[0]):
            return []
        typ, data = c.uid("SEARCH", None, "ALL")
        return [int(u) for u in data[0].split()]

    def flags_far(self, t, r):
        """\\Flagged on 1% of the server's messages (a fresh set per run)."""
        c = self.imap(t.user, t.password)
        changed = 0
        for f in util.server_folders(c):
            uids = self._server_uids(c, f)
            pick = uids[(r * 37) % 100::100]
            if pick:
                c.uid("STORE", ",".join(map(str, pick)), "+FLAGS.SILENT",
                      "(\\Flagged)")
                changed += len(pick)
        c.logout()
        return {"changed": changed}

    def flags_near(self, t, r):
        files = local_files(t.maildir)
        pick = files[(r * 41 + 5) % 100::100]
        for p in pick:
            set_local_flag(p, "R")
        return {"changed": len(pick)}

    def move_far(self, t, r):
        c = self.imap(t.user, t.password)
        uids = self._server_uids(c, "INBOX")[:self.args.moves]
        moved = 0
        if uids:
            typ, data = c.uid("FETCH", "%d:%d" % (uids[0], uids[-1]),
                              "(RFC822.SIZE)")
            moved = sum(int(m.group(1)) for m in
                        (re.search(rb"RFC822.SIZE (\d+)", x) for x in data
                         if isinstance(x, bytes)) if m)
            util.check(c.uid("MOVE", "%d:%d" % (uids[0], uids[-1]),
                             util.q(self.move_to)), "UID MOVE")
        c.logout()
        return {"moved": len(uids), "moved_bytes": moved}

    def move_near(self, t, r):
        # From the fuller of the two folders: scenario 5 may have emptied
        # INBOX (the metadata-heavy set holds 2,000 messages a folder).
        src, dst = "INBOX", self.move_to
        if len(local_files(t.maildir, dst)) > len(local_files(t.maildir, src)):
            src, dst = dst, src
        files = local_files(t.maildir, src)[:self.args.moves]
        moved = sum(move_local(p, t.maildir, dst) for p in files)
        return {"moved": len(files), "moved_bytes": moved}

    def scenario_7(self, net):
        for r in range(self.args.runs):
            for name in self.names(net):
                user = self.new_user()
                wd = os.path.join(self.work, "push-%s-%s-%d" % (net, name, r))
                os.makedirs(wd)
                t = tools.IMAP_TOOLS[name](wd, user.name, user.password,
                                           self.net[net].port,
                                           self.server.cert)
                t.reset()
                os.rmdir(t.maildir)
                subprocess.run(["cp", "-al", self.tpl_push, t.maildir],
                               check=True)
                res = self.run_tool(t, self.net[net], "main-%s-s7-%s-%d" % (
                    net, name, r))
                c = self.imap(user)
                on_server = sum(len(self._server_uids(c, f))
                                for f in util.server_folders(c))
                c.logout()
                self.record("main", 7, net, name, res,
                            {"messages": on_server,
                             "expect": self.facts["push"]["messages"],
                             "complete": on_server == self.facts["push"]
                             ["messages"]})
                trash.discard(wd)

    def scenario_8(self):
        user = self.new_user(self.tpl, only_inbox=self.facts["pop"]["messages"])
        want = self.facts["pop"]["messages"]
        ts = []
        for name in self.args.tools:
            if name in tools.POP3_TOOLS:
                wd = os.path.join(self.work, "pop-" + name)
                os.makedirs(wd)
                ts.append(tools.POP3_TOOLS[name](wd, user.name, user.password,
                                                 self.pop_relay.port,
                                                 self.server.cert))
        for r in range(self.args.runs):
            for t in ts:
                t.reset()
                res = self.run_tool(t, self.pop_relay, "main-s8-%s-%d" % (
                    t.name, r))
                got = count_local(t.maildir)
                self.record("main", 8, "direct", t.name, res,
                            {"messages": got, "expect": want,
                             "complete": got == want})
            res = measure([sys.executable, os.path.join(HERE, "floor.py"),
                           "retr", "127.0.0.1", str(self.pop_relay.port),
                           self.server.cert, user.name, user.password],
                          None, self.pop_relay, self.logs, "floor-retr-%d" % r)
            self.record("main", 8, "direct", "floor: raw RETR", res)

    def scenario_9(self):
        expect = self.facts["corpus"]["messages"]
        for r in range(self.args.runs):
            for name in self.names("direct"):
                if name not in self.args.adopt_tools:
                    continue
                user = self.new_user(self.tpl)
                wd = os.path.join(self.work, "adopt-%s-%d" % (name, r))
                os.makedirs(wd)
                t = tools.IMAP_TOOLS[name](wd, user.name, user.password,
                                           self.net["direct"].port,
                                           self.server.cert)
                t.reset()
                os.rmdir(t.maildir)
                subprocess.run(["cp", "-al", self.tpl_local, t.maildir],
                               check=True)
                res = self.run_tool(t, self.net["direct"],
                                    "main-direct-s9-%s-%d" % (name, r))
                got = count_local(t.maildir)
                self.record("main", 9, "direct", name, res,
                            {"messages": got, "expect": expect,
                             "complete": got == expect})
                trash.discard(wd)

    def delivery(self):
        """Issue 4: facteur's delivery path against the bare loop, first,
        before the scenarios delete thousands of files (see delivery.py)."""
        exe = self.args.deliver_bench
        if not os.access(exe, os.X_OK):
            raise RuntimeError("%s not built (make bench builds it)" % exe)
        res = delivery.runs(exe, self.tpl, self.work, self.args.runs)
        for label, r in res:
            self.results.append(delivery.record(label, r))
            if r["rc"]:
                log("delivery %s: %s" % (label, r.get("error")))
        self.facts["delivery"] = dict(delivery.facts(res, self.tpl),
                                      runs=self.args.runs)

    def step(self, what, fn, *args):
        """One part of the bench; a failure is reported and the rest runs."""
        log(what)
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - a bench reports, goes on
            log("%s failed: %s: %s" % (what, type(e).__name__, e))
            self.facts.setdefault("failures", []).append(
                "%s: %s: %s" % (what, type(e).__name__, e))

    def run(self):
        a = self.args
        want = set(a.scenarios)
        expect = self.facts["corpus"]["messages"]
        nets = ["direct"] + (["delay"] if a.delay else [])
        if a.delivery:
            self.step("delivery only (issue 4)", self.delivery)
        # 2-6 start from 1's result, so 1 runs whenever one of them does.
        pull = bool(want & {1, 2, 3, 4, 5, 6})
        for net in nets:
            if pull:
                self.step("main corpus, %s: scenarios 1-6" % net,
                          self.scenarios_1_to_6, "main", self.tpl, net,
                          expect)
            if 7 in want:
                self.step("main corpus, %s: scenario 7" % net,
                          self.scenario_7, net)
        if 8 in want:
            self.step("scenario 8 (POP3)", self.scenario_8)
        if 9 in want:
            self.step("scenario 9 (adoption)", self.scenario_9)
        if self.tpl_meta and pull:
            self.step("metadata-heavy corpus, direct: scenarios 1-6",
                      self.scenarios_1_to_6, "meta", self.tpl_meta, "direct",
                      self.facts["meta"]["messages"])

    def close(self):
        self.server.stop()
        self.relays.close()
        if self.args.keep:
            trash.empty()
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%d GB RAM" % (int(f.readline().split()[1]) // 1000000)
    except (OSError, ValueError):
        pass

    def ver(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "not available"

    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "kernel": platform.release(),
            "versions": {"mbsync": ver(["mbsync", "--version"]),
                         "offlineimap": ver(["offlineimap", "--version"]),
                         "mpop": ver(["mpop", "--version"]),
                         "dovecot": ver([dovecot._find("dovecot"),
                                         "--version"])}}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="small corpus (BENCH_QUICK=1): a few minutes")
    p.add_argument("--messages", type=int, help="main corpus size (20000)")
    p.add_argument("--meta", type=int,
                   help="metadata-heavy set size, 0 to skip (100000)")
    p.add_argument("--meta-folders", type=int, default=50)
    p.add_argument("--push", type=int, help="scenario 7 size (5000)")
    p.add_argument("--pop", type=int, help="scenario 8 size (10000)")
    p.add_argument("--moves", type=int, help="scenarios 5-6 size (1000)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--timeout", type=float,
                   help="seconds before a run counts as hung (600; quick 120)")
    p.add_argument("--tools", default="facteur,mbsync,offlineimap,mpop")
    p.add_argument("--scenarios", default="1,2,3,4,5,6,7,8,9")
    p.add_argument("--no-delay", dest="delay", action="store_false")
    p.add_argument("--adopt-tools",
                   help="tools run in scenario 9 (all; quick: facteur,mbsync)")
    p.add_argument("--delay-tools",
                   help="tools run through the delay relay (all; quick: "
                   "facteur,mbsync: OfflineIMAP needs minutes there)")
    p.add_argument("--facteur", default=os.path.join(HERE, "..", "..",
                                                     "facteur"))
    p.add_argument("--deliver-bench", default=os.path.join(
        HERE, "..", "..", "build", "bench", "deliver_bench"),
        help="the delivery-only driver (deliver_bench.c, built by make bench)")
    p.add_argument("--no-delivery", dest="delivery", action="store_false",
                   help="skip the delivery-only comparison")
    p.add_argument("--wrap", default="",
                   help="prefix facteur's command, e.g. \"perf record -g "
                   "-o FILE --\" (for profiling; the numbers then include it)")
    p.add_argument("--out", default=HERE)
    p.add_argument("--work", help="directory for the bench's files (TMPDIR)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work directory (logs, mail) afterwards")
    a = p.parse_args(argv)
    full = {"messages": 20000, "meta": 100000, "push": 5000, "pop": 10000,
            "moves": 1000, "delay_tools": ",".join(tools.IMAP_TOOLS),
            "adopt_tools": ",".join(tools.IMAP_TOOLS)}
    quick = {"messages": 250, "meta": 0, "push": 60, "pop": 150,
             "moves": 12, "delay_tools": "facteur,mbsync",
             "adopt_tools": "facteur,mbsync"}
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.timeout is None:
        a.timeout = 120.0 if a.quick else 600.0
    a.tools = [t for t in a.tools.split(",") if t]
    a.delay_tools = [t for t in a.delay_tools.split(",") if t]
    a.adopt_tools = [t for t in a.adopt_tools.split(",") if t]
    a.scenarios = [int(s) for s in a.scenarios.split(",") if s]
    a.facteur = os.path.abspath(a.facteur)
    a.deliver_bench = os.path.abspath(a.deliver_bench)
    return a


def available(a):
    """Drop peers that are not installed, saying so in the results."""
    missing = {}
    for name in list(a.tools):
        exe = a.facteur if name == "facteur" else name
        if shutil.which(exe) is None:
            missing[name] = "%s not found (tests/bench/deps.sh installs it)" \
                % exe
            a.tools.remove(name)
    return missing


def main(argv):
    a = parse_args(argv)
    tools.Facteur.binary = a.facteur
    tools.Facteur.wrap = shlex.split(a.wrap)
    TIMEOUT[0] = a.timeout
    missing = available(a)
    b = Bench(a)
    t0 = time.monotonic()
    try:
        b.start()
        b.make_corpora()
        b.run()
    except KeyboardInterrupt:
        log("interrupted: writing what was measured so far")
        b.facts.setdefault("failures", []).append("interrupted")
    finally:
        b.close()
    doc = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "elapsed_s": round(time.monotonic() - t0, 1),
           "machine": machine(), "params": {
               k: getattr(a, k) for k in ("quick", "messages", "meta",
                                          "meta_folders", "push", "pop",
                                          "moves", "runs", "delay",
                                          "delay_tools", "adopt_tools",
                                          "timeout")},
           "tool_env_unset": list(tools.UNSET_ENV),
           "delay_ms_each_way": DELAY * 1000, "facts": b.facts,
           "missing": missing, "runs": b.results}
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
    report.write(doc, a.out)
    log("done in %.0fs; see %s" % (doc["elapsed_s"],
                                   os.path.join(a.out, "RESULTS.md")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
