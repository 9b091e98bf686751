#!/usr/bin/env python3
"""Crash torture for facteur: random changes on both sides, a sync killed
with SIGKILL at a random moment, a rerun to completion, then the invariants.

Two kinds of trial share one private Dovecot:

IMAP (two-way): one account and Maildir carried from trial to trial.  Each
trial changes the converged state on both sides (new messages, flag changes,
deletions, moves between folders, new folders; every message is touched on
one side at most, so the expected outcome is unambiguous), starts
`facteur -a`, kills it after a random delay drawn between 0 and a little
more than a full run lasts (so kills land anywhere from the first byte to
the last commit), reruns to completion and checks:
  - every message exists exactly once on each side (by Message-ID);
  - both sides agree on folder and flags;
  - the set of messages is exactly what the user's changes leave: nothing
    the user did not delete is gone, nothing deleted comes back;
  - moved and flagged messages are where and as the user left them.

POP3 (one-way ingestion, Keep no): messages are added to the POP3 mailbox
(over IMAP, same account), a run is killed at a random moment, the rerun
completes; every message ever put on the server is then in the Maildir
exactly once and the server is empty.

Run on demand:  make torture TRIALS=500   (FACTEUR must name the binary)
               tests/torture/torture.py --trials 50 --seed 7
The short CI variant is tests/integration/test_torture.py.  A failure
prints the trial number and seed, which reproduce it.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import dovecot as dovecot_mod  # noqa: E402
import util  # noqa: E402

FLAG_SETS = ["", "S", "FS", "RS", "D", "PS", "F", "R", "DFPRS"]
FOLDERS = ["INBOX", "Work", "Lists/dev"]
MAX_BODY = 6000          # small mailboxes: many trials per minute
TARGET_SIZE = 30         # messages kept around this many by the deletions


class TortureError(AssertionError):
    pass


def _far_all(imap):
    out = {}
    for f in util.server_folders(imap):
        for mid, flags, _ in util.server_list(imap, f):
            if mid in out:
                raise TortureError("duplicate %s on the server (%s and %s)"
                                   % (mid, out[mid][1], f))
            out[mid] = (util.letters(flags), f)
    return out


def _near_all(root):
    out = {}
    for mid, flags, folder, _ in util.maildir_list(root):
        if mid in out:
            raise TortureError("duplicate %s in the Maildir (%s and %s)"
                               % (mid, out[mid][1], folder))
        out[mid] = (flags, folder)
    return out


class ImapWorld:
    """One account, its Maildir, and the expected state:
    expect = {Message-ID: (letters, folder)}."""

    def __init__(self, server, tmp, seed, ports=None, account_opts=None):
        """ports/account_opts: passed to util.make_config (the fault tests
        point facteur at a proxy and set Timeout)."""
        self.server = server
        self.user = server.new_user("tort")
        self.imap = server.imap(self.user)
        self.cfg = util.make_config(tmp, self.user, ports or server.ports,
                                    server.cert, account_opts=account_opts)
        self.mail = self.cfg.maildir
        self.seed = 5000 + seed
        self.next_index = 0
        self.expect = {}
        self.run_time = 1.0   # last measured full run, seconds
        self.folders = list(FOLDERS)

    def new_messages(self, n):
        msgs = list(util.mailgen.generate(self.seed, n, start=self.next_index,
                                          max_body=MAX_BODY))
        self.next_index += n
        return msgs

    def ensure_far_folder(self, folder):
        typ, data = self.imap.list('""', util.q(folder))
        if not (typ == "OK" and any(d for d in data if d)):
            util.create_folder(self.imap, folder)

    def close(self):
        try:
            self.imap.logout()
        except Exception:
            pass

    # -- the user's changes ------------------------------------------------

    def far_new(self, folder, flags):
        self.ensure_far_folder(folder)
        m = self.new_messages(1)[0]
        util.append(self.imap, folder, m, flags)
        self.expect[m.message_id] = (flags, folder)

    def near_new(self, folder, flags):
        m = self.new_messages(1)[0]
        util.maildir_deliver(self.mail, folder, m, flags)
        self.expect[m.message_id] = (flags, folder)

    def far_flags(self, mid, flags):
        folder = self.expect[mid][1]
        util.store_flags(self.imap, folder, mid, "FLAGS", flags)
        self.expect[mid] = (flags, folder)

    def near_flags(self, mid, flags):
        util.maildir_set_flags(self.mail, mid, flags)
        self.expect[mid] = (flags, self.expect[mid][1])

    def far_delete(self, mid):
        util.expunge_message(self.imap, self.expect[mid][1], mid)
        del self.expect[mid]

    def near_delete(self, mid):
        util.maildir_delete(self.mail, mid)
        del self.expect[mid]

    def far_move(self, mid, to):
        flags, folder = self.expect[mid]
        self.ensure_far_folder(to)
        util.check(self.imap.select(util.q(folder)), "SELECT " + folder)
        uid = util.find_uid(self.imap, mid)
        util.check(self.imap.uid("MOVE", str(uid), util.q(to)), "MOVE")
        self.expect[mid] = (flags, to)

    def near_move(self, mid, to):
        """A mail client's move: the file is renamed into the other
        folder's cur/, name and flags unchanged."""
        flags, folder = self.expect[mid]
        src = util.maildir_folders(self.mail)[folder]
        dst = util.maildir_folders(self.mail).get(to)
        if dst is None:
            dst = os.path.join(self.mail, to)
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(dst, sub), exist_ok=True)
        for sub in ("cur", "new"):
            for name in os.listdir(os.path.join(src, sub)):
                p = os.path.join(src, sub, name)
                with open(p, "rb") as f:
                    if util._message_id(f.read(65536).split(b"\n\n", 1)[0]) == mid:
                        os.rename(p, os.path.join(dst, sub, name))
                        self.expect[mid] = (flags, to)
                        return
        raise TortureError("%s not found in local %s" % (mid, folder))

    def random_changes(self, rng):
        known = sorted(self.expect)
        rng.shuffle(known)
        touched = 0
        n_changes = rng.randint(1, 8)
        for _ in range(n_changes):
            op = rng.choice(["far_new", "near_new", "far_new", "near_new",
                             "flags", "flags", "delete", "move", "folder"])
            side = rng.choice(["far", "near"])
            if op in ("far_new", "near_new"):
                for _ in range(rng.randint(1, 3)):
                    getattr(self, op)(rng.choice(self.folders),
                                      rng.choice(FLAG_SETS))
            elif op == "folder":
                name = "New%d" % self.next_index
                if rng.random() < 0.5:
                    name = "Work/" + name
                self.folders.append(name)
                if side == "far":
                    self.far_new(name, rng.choice(FLAG_SETS))
                else:
                    self.near_new(name, rng.choice(FLAG_SETS))
            elif touched < len(known):
                mid = known[touched]
                touched += 1
                if op == "flags":
                    new = rng.choice([f for f in FLAG_SETS
                                      if f != self.expect[mid][0]])
                    getattr(self, side + "_flags")(mid, new)
                elif op == "delete":
                    getattr(self, side + "_delete")(mid)
                else:
                    to = rng.choice([f for f in self.folders
                                     if f != self.expect[mid][1]])
                    getattr(self, side + "_move")(mid, to)
        # Keep the mailbox small: trim towards TARGET_SIZE.
        while len(self.expect) > TARGET_SIZE and touched < len(known):
            mid = known[touched]
            touched += 1
            getattr(self, rng.choice(["far", "near"]) + "_delete")(mid)

    # -- sync and checks -----------------------------------------------------

    def seed_initial(self, rng, per_folder=4):
        for folder in FOLDERS:
            for _ in range(per_folder):
                self.far_new(folder, rng.choice(FLAG_SETS))

    def full_sync(self, what, cfg=None):
        t0 = time.monotonic()
        rc, out, err = util.run_facteur(["-a"], cfg or self.cfg, timeout=300)
        if rc != 0:
            raise TortureError("%s: facteur exited %d:\n%s%s" % (what, rc, out, err))
        self.run_time = max(0.05, time.monotonic() - t0)

    def killed_sync(self, rng):
        """Starts a run and SIGKILLs it after a random delay; returns the
        delay and whether the run had already finished."""
        delay = rng.uniform(0, self.run_time * 1.2)
        p = util.start_facteur(["-a"], self.cfg)
        try:
            p.wait(timeout=delay)
            finished = True
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            finished = False
        p.communicate()
        return delay, finished

    def check(self):
        far, near = _far_all(self.imap), _near_all(self.mail)
        if far != near:
            diff = sorted(set(far.items()) ^ set(near.items()))
            raise TortureError("sides differ (far vs near): %s" % diff[:10])
        if far != self.expect:
            lost = sorted(set(self.expect) - set(far))
            extra = sorted(set(far) - set(self.expect))
            wrong = sorted((m, self.expect[m], far[m]) for m in far
                           if m in self.expect and far[m] != self.expect[m])
            raise TortureError("not what the user did: lost %s, back %s, "
                               "changed %s" % (lost, extra, wrong[:10]))


def imap_trials(server, tmp, trials, seed, log=print):
    """Runs `trials` IMAP crash trials in one account; raises TortureError
    naming the trial on the first broken invariant."""
    rng = random.Random(seed)
    w = ImapWorld(server, tmp, seed)
    try:
        w.seed_initial(rng)
        w.full_sync("initial sync")
        w.check()
        killed = 0
        for t in range(trials):
            w.random_changes(rng)
            delay, finished = w.killed_sync(rng)
            killed += not finished
            try:
                w.full_sync("rerun")
                w.check()
            except TortureError as e:
                raise TortureError("imap trial %d (seed %d, kill at %.3fs%s): %s"
                                   % (t, seed, delay,
                                      ", run had finished" if finished else "",
                                      e)) from None
        log("imap: %d trials, %d killed mid-run, %d messages"
            % (trials, killed, len(w.expect)))
        return killed
    finally:
        w.close()


def pop3_config(tmp, user, server):
    maildir = os.path.join(str(tmp), "PopMail")
    text = """# facteur POP3 torture config
POP3Account pop
Host 127.0.0.1
Port %d
User %s
Pass %s
TLSType POP3S
CertificateFile %s

POP3Store pop-far
Account pop
Keep no

MaildirStore pop-near
Path %s/
Inbox %s/INBOX

Channel pop
Far :pop-far:
Near :pop-near:
SyncState *
""" % (server.ports["pop3s"], user.name, user.password, server.cert, maildir,
       maildir)
    path = os.path.join(str(tmp), "poprc")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return util.Config(path, maildir)


def pop3_trials(server, tmp, trials, seed, log=print):
    rng = random.Random(seed + 1)
    user = server.new_user("tpop")
    imap = server.imap(user)
    cfg = pop3_config(tmp, user, server)
    sent, index, run_time, killed = set(), 0, 0.5, 0
    try:
        for t in range(trials):
            for m in util.mailgen.generate(9000 + seed, rng.randint(1, 6),
                                           start=index, max_body=MAX_BODY):
                util.append(imap, "INBOX", m)
                sent.add(m.message_id)
                index += 1
            delay = rng.uniform(0, run_time * 1.2)
            p = util.start_facteur(["-a"], cfg)
            try:
                p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                killed += 1
            p.communicate()
            t0 = time.monotonic()
            rc, out, err = util.run_facteur(["-a"], cfg, timeout=300)
            run_time = max(0.05, time.monotonic() - t0)
            where = "pop3 trial %d (seed %d, kill at %.3fs)" % (t, seed, delay)
            if rc != 0:
                raise TortureError("%s: rerun exited %d:\n%s%s"
                                   % (where, rc, out, err))
            near = _near_all(cfg.maildir)   # raises on a duplicate
            if set(near) != sent:
                raise TortureError("%s: lost %s, unexpected %s" % (
                    where, sorted(sent - set(near)), sorted(set(near) - sent)))
            left = util.server_list(imap, "INBOX")
            if left:
                raise TortureError("%s: %d messages left on the server"
                                   % (where, len(left)))
        log("pop3: %d trials, %d killed mid-run, %d messages"
            % (trials, killed, len(sent)))
        return killed
    finally:
        try:
            imap.logout()
        except Exception:
            pass


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--pop3-share", type=float, default=0.2,
                    help="fraction of trials run against POP3 (default 0.2)")
    a = ap.parse_args(argv)
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    n_pop = int(round(a.trials * a.pop3_share))
    print("torture: %d trials (%d IMAP, %d POP3), seed %d"
          % (a.trials, a.trials - n_pop, n_pop, seed), flush=True)
    server = dovecot_mod.Dovecot()
    try:
        server.start()
        with tempfile.TemporaryDirectory(prefix="facteur-torture-") as tmp:
            # One account per 50 trials keeps each mailbox and journal young
            # enough to be quick while trials still build on each other.
            done, chunk = 0, 0
            while done < a.trials - n_pop:
                n = min(50, a.trials - n_pop - done)
                d = os.path.join(tmp, "imap%d" % chunk)
                os.mkdir(d)
                imap_trials(server, d, n, seed + chunk)
                done += n
                chunk += 1
            if n_pop:
                d = os.path.join(tmp, "pop3")
                os.mkdir(d)
                pop3_trials(server, d, n_pop, seed)
    except TortureError as e:
        print("torture FAILED: %s" % e, file=sys.stderr)
        return 1
    finally:
        server.cleanup()
    print("torture: all %d trials passed" % a.trials)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
