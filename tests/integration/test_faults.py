"""Network and disk faults (tests/faults): a proxy between facteur and
Dovecot that cuts the connection at random byte offsets, stalls it or slows
it down; fiu-run injecting ENOSPC and EIO into write, fsync, rename and
LMDB's I/O.  In every case facteur must stop cleanly (exit 1 with a one-line
message naming the problem, or finish if the fault missed it), never crash
or hang past its Timeout, and the next run without the fault must converge
with nothing lost: the crash-torture invariants (tests/torture/torture.py).
"""

import errno
import os
import random
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torture"))
sys.path.insert(0, os.path.join(HERE, "..", "faults"))

import diskfault  # noqa: E402
import torture  # noqa: E402
import util  # noqa: E402
from proxy import FaultProxy  # noqa: E402

TIMEOUT = 3  # the account's Timeout for these tests, seconds


def assert_clean_failure(rc, out, err, what):
    """rc 0 (the fault missed) or 1 with a short, clear message; a signal
    (crash) or sanitizer report fails."""
    assert rc in (0, 1), "%s: exit %d\n%s%s" % (what, rc, out, err)
    for bad in ("AddressSanitizer", "runtime error", "Segmentation",
                "Aborted", "core dumped", "assertion"):
        assert bad not in err, "%s:\n%s" % (what, err)
    if rc == 1:
        lines = [l for l in err.splitlines() if l.strip()]
        assert lines, "%s: exit 1 without a message" % what
        assert all(len(l) < 600 for l in lines), err


class ProxiedWorld(torture.ImapWorld):
    """A torture world whose facteur config goes through a FaultProxy;
    self.direct is the same config straight to Dovecot for the reruns."""

    def __init__(self, server, tmp, seed):
        self.proxy = FaultProxy(server.ports["imaps"])
        super().__init__(server, tmp, seed,
                         ports={"imaps": self.proxy.port},
                         account_opts={"Timeout": TIMEOUT})
        # The same config straight to Dovecot (same Maildir and state).
        with open(self.cfg.path) as f:
            text = f.read().replace("Port %d\n" % self.proxy.port,
                                    "Port %d\n" % server.ports["imaps"])
        path = os.path.join(str(tmp), "direct.rc")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        self.direct = util.Config(path, self.cfg.maildir)
        self.session_bytes = 0

    def measured_sync(self):
        """A whole run through the proxy in pass mode: records its size."""
        self.proxy.mode = "pass"
        self.full_sync("sync through the proxy")
        self.session_bytes = self.proxy.total

    def close(self):
        self.proxy.close()
        super().close()


@pytest.fixture
def pworld(dovecot, tmp_path):
    w = ProxiedWorld(dovecot, tmp_path, 31)
    rng = random.Random(31)
    w.seed_initial(rng)
    w.measured_sync()
    w.check()
    yield w, rng
    w.close()


def test_cut_at_random_offsets(pworld):
    w, rng = pworld
    cuts = 0
    for case in range(6):
        w.random_changes(rng)
        # The session of this run is about as long as the last one plus the
        # changes; some cuts land in the greeting and TLS handshake.
        at = rng.choice([rng.randint(0, 600),
                         rng.randint(0, max(1, int(w.session_bytes * 1.1)))])
        w.proxy.mode, w.proxy.at = "cut", at
        t0 = time.monotonic()
        rc, out, err = util.run_facteur(["-a"], w.cfg, timeout=60)
        assert_clean_failure(rc, out, err, "cut at byte %d" % at)
        if w.proxy.cut_done:
            cuts += 1
            assert rc == 1, "cut at byte %d went unnoticed:\n%s" % (at, err)
            w.proxy.cut_done = False
        assert time.monotonic() - t0 < 2 * TIMEOUT + 10
        w.measured_sync()
        w.check()
    assert cuts >= 3, "the offsets missed the sessions"


def test_stall_times_out(pworld):
    w, rng = pworld
    for at in (0, 300, None):
        w.random_changes(rng)
        if at is None:
            at = rng.randint(600, max(700, w.session_bytes))
        w.proxy.mode, w.proxy.at = "stall", at
        t0 = time.monotonic()
        rc, out, err = util.run_facteur(["-a"], w.cfg, timeout=60)
        took = time.monotonic() - t0
        assert_clean_failure(rc, out, err, "stall at byte %d" % at)
        assert rc == 1, "a stall at byte %d went unnoticed" % at
        if rc == 1:
            # Timeout applies per read/write: one stalled exchange may cost
            # at most a couple of Timeouts (connect, then a read), not more.
            assert took < 3 * TIMEOUT + 5, "stalled run took %.1fs" % took
            assert "time" in err.lower(), err
        w.measured_sync()
        w.check()


def test_slow_link_still_syncs(pworld):
    w, rng = pworld
    w.random_changes(rng)
    w.proxy.mode, w.proxy.delay = "delay", 0.005
    w.full_sync("sync over a slow link")
    w.check()


# Known failures, reported: they run (strict xfail), so a fix shows up as
# XPASS and the mark must then go.
KNOWN_BUGS = {}

DISK_CASES = [
    ("write", errno.ENOSPC, 0.3),
    ("write", errno.EIO, 1.0),
    ("pwrite", errno.ENOSPC, 1.0),
    ("pwrite", errno.EIO, 0.5),
    ("fsync", errno.EIO, 1.0),
    ("fsync", errno.ENOSPC, 0.3),
    ("open", errno.EIO, 0.3),
    ("rename", errno.ENOSPC, 0.5),
    ("rename", errno.EIO, 1.0),
]


@pytest.fixture(scope="module")
def fiu_available():
    diskfault.fiu_run_path()   # raises with the install hint


def disk_params():
    out = []
    for c in DISK_CASES:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[c])] \
            if c in KNOWN_BUGS else []
        out.append(pytest.param(*c, marks=marks,
                                id="%s-%s-%g" % (c[0], errno.errorcode[c[1]], c[2])))
    return out


@pytest.mark.parametrize("what,err_no,prob", disk_params())
def test_disk_fault(fiu_available, dovecot, tmp_path, what, err_no, prob):
    rng = random.Random(DISK_CASES.index((what, err_no, prob)))
    w = torture.ImapWorld(dovecot, tmp_path, 41)
    try:
        w.seed_initial(rng, per_folder=3)
        w.full_sync("initial sync")
        w.random_changes(rng)
        # Something to download and something to upload, whatever the draw.
        w.far_new("INBOX", "S")
        w.near_new("Work", "F")
        rc, out, err = diskfault.run(["-a"], w.cfg, diskfault.POINTS[what],
                                     err_no, prob)
        label = "%s failing with %s" % (what, errno.errorcode[err_no])
        assert_clean_failure(rc, out, err, label)
        if prob >= 1.0:
            assert rc == 1, "%s: not noticed\n%s" % (label, err)
        if rc == 1:
            # Say which: the system's message for the errno, where it hit.
            assert os.strerror(err_no) in err, "%s:\n%s" % (label, err)
        rc2, out2, err2 = util.run_facteur(["-V", "-a"], w.cfg, timeout=300)
        try:
            assert rc2 == 0, "rerun exited %d" % rc2
            w.check()
        except AssertionError as e:
            raise AssertionError("%s, then a clean rerun: %s\n-- the faulty run:\n%s"
                                 "\n-- the rerun:\n%s" % (label, e, err, err2)) from None
        # Settled: one more run changes nothing on either side.
        before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
        w.full_sync("second run after " + label)
        assert (util.server_state(w.imap), util.maildir_snapshot(w.mail)) \
            == before
    finally:
        w.close()
