"""Crash torture, short variant (the long one: `make torture TRIALS=500`).

Random changes on both sides, a sync killed with SIGKILL at a random moment,
a rerun to completion, then: every message exactly once on each side, flags
and folders agree, nothing the user did not delete is gone (see
tests/torture/torture.py for the trial itself).  The seeds are fixed so a
failure in CI reproduces with `tests/torture/torture.py --seed N`.
"""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "torture"))

import torture  # noqa: E402
import util  # noqa: E402


@pytest.mark.parametrize("seed", [11, 12])
def test_imap_crash_torture(dovecot, tmp_path, seed):
    # 2 x 12 trials: >= 20 killed-and-rerun syncs per CI run.
    killed = torture.imap_trials(dovecot, tmp_path, 12, seed, log=print)
    # The delays must mostly land inside a run, or the test proves little.
    assert killed >= 6


def test_pop3_crash_torture(dovecot, tmp_path):
    killed = torture.pop3_trials(dovecot, tmp_path, 8, 21, log=print)
    assert killed >= 2


# -- concurrency ---------------------------------------------------------------


def _big_world(dovecot, tmp_path, seed):
    """A world whose sync lasts long enough to be caught running."""
    import random
    w = torture.ImapWorld(dovecot, tmp_path, seed)
    rng = random.Random(seed)
    for m in w.new_messages(150):
        util.append(w.imap, "INBOX", m, rng.choice(torture.FLAG_SETS))
    w.expect = {mid: (util.letters(fl), "INBOX")
                for mid, fl in util.server_messages(w.imap, "INBOX").items()}
    return w


def test_two_syncs_of_one_channel(dovecot, tmp_path):
    w = _big_world(dovecot, tmp_path, 51)
    try:
        first = util.start_facteur(["-a"], w.cfg)
        time.sleep(0.15)
        rc, out, err = util.run_facteur(["-a"], w.cfg, timeout=60)
        if first.poll() is None:
            # Caught it running: locked out, with a message saying so.
            assert rc == 1, err
            assert any(w_ in err.lower() for w_ in ("lock", "running", "being synchroni")), err
        first.communicate(timeout=120)
        assert first.returncode == 0
        # --wait: the second run waits for the first, then does its work.
        w.near_new("INBOX", "S")
        first = util.start_facteur(["-a"], w.cfg)
        time.sleep(0.1)
        rc, out, err = util.run_facteur(["--wait", "-a"], w.cfg, timeout=120)
        assert rc == 0, err
        first.communicate(timeout=120)
        assert first.returncode == 0
        w.full_sync("after concurrent runs")
        w.check()
    finally:
        w.close()


def test_other_client_changes_folders_during_sync(dovecot, tmp_path):
    """Another IMAP client appends, flags, expunges and moves while facteur
    syncs the same folders; the next run converges on what that client
    left."""
    import random
    rng = random.Random(61)
    w = _big_world(dovecot, tmp_path, 61)
    try:
        w.full_sync("initial")
        for m in w.new_messages(60):
            w.near_new(rng.choice(torture.FOLDERS), rng.choice(torture.FLAG_SETS))
        p = util.start_facteur(["-a"], w.cfg)
        changes = 0
        while p.poll() is None and changes < 40:
            mids = sorted(w.expect)
            mid = rng.choice(mids)
            op = rng.choice(["new", "flags", "delete", "move"])
            try:
                if op == "new":
                    w.far_new(rng.choice(torture.FOLDERS), rng.choice(torture.FLAG_SETS))
                elif w.expect[mid][1] and mid.startswith("<"):
                    # Only messages already on the server can be touched there.
                    if mid in util.server_messages(w.imap, w.expect[mid][1]):
                        if op == "flags":
                            w.far_flags(mid, rng.choice(torture.FLAG_SETS))
                        elif op == "delete":
                            w.far_delete(mid)
                        else:
                            w.far_move(mid, rng.choice(
                                [f for f in torture.FOLDERS if f != w.expect[mid][1]]))
            except AssertionError:
                continue
            changes += 1
        out, err = p.communicate(timeout=120)
        assert p.returncode in (0, 1), err
        w.full_sync("after the other client")
        w.full_sync("settling run")
        w.check()
        assert changes > 0
    finally:
        w.close()


def test_valgrind_clean_sync(dovecot, tmp_path):
    """One real two-way sync (TLS, COMPRESS, journal, Maildir) under
    valgrind: no invalid access, no uninitialised use, no definite leak."""
    import random
    import shutil
    import subprocess
    vg = shutil.which("valgrind")
    assert vg, "valgrind not found: run contrib/deps.sh"
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "faults"))
    import diskfault
    binary = diskfault.plain_facteur()   # valgrind cannot run an ASan build
    rng = random.Random(71)
    w = torture.ImapWorld(dovecot, tmp_path, 71)
    try:
        w.seed_initial(rng, per_folder=3)
        w.full_sync("initial")
        w.random_changes(rng)
        r = subprocess.run([vg, "-q", "--error-exitcode=99", "--leak-check=full",
                            "--errors-for-leak-kinds=definite",
                            "--show-leak-kinds=definite",
                            binary, "-c", w.cfg.path, "-a"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-6000:]
        w.check()
    finally:
        w.close()
