"""`facteur watch` against the private Dovecot: a server change lands on
disk, and a local change reaches the server, within 3 s; a server restart
is survived; SIGHUP reloads the configuration; SIGTERM stops cleanly after
the sync under way, leaving a journal `facteur check` finds consistent.

Every watcher is stopped with SIGTERM and waited for with a timeout; its
stderr goes to a file, read on failure."""

import os
import signal
import subprocess
import time

import pytest

import util

LATENCY = 3.0


class Watcher:
    def __init__(self, cfg, tmp_path, *args):
        self.log_path = os.path.join(str(tmp_path), "watch.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [util.facteur_binary(), "-c", cfg.path, "-V", "watch"] + list(args),
            stdout=self.log, stderr=subprocess.STDOUT)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_for(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return time.monotonic()
            assert self.proc.poll() is None, "watcher died:\n" + self.output()
            time.sleep(0.05)
        raise AssertionError("%s: not within %.1f s\n%s" % (
            what, timeout, self.output()))

    def ready(self, timeout=20):
        self.wait_for(lambda: "watch: watching" in self.output(), timeout,
                      "watch start")
        # The IDLE sessions start right after the line; give them a moment
        # to be in IDLE before the test changes the server.
        time.sleep(0.5)

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("watcher ignored SIGTERM\n" + self.output())
        finally:
            self.log.close()
        return rc


@pytest.fixture
def watcher_factory():
    made = []

    def make(*a):
        w = Watcher(*a)
        made.append(w)
        return w
    yield make
    for w in made:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def test_watch_both_directions(dovecot, tmp_path, watcher_factory):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    first = util.seed(imap, "INBOX", util.gen(21, 2, max_body=2000),
                      create=False)
    w = watcher_factory(cfg, tmp_path)
    w.ready()
    assert set(util.maildir_messages(cfg.maildir)) == {m.message_id for m in first}

    # Server -> disk.
    new = util.gen(22, 1, max_body=2000)[0]
    t0 = time.monotonic()
    util.append(imap, "INBOX", new)
    t1 = w.wait_for(lambda: new.message_id in util.maildir_messages(cfg.maildir),
                    LATENCY + 2, "new server message on disk")
    assert t1 - t0 <= LATENCY, "took %.2f s" % (t1 - t0)

    # Disk -> server: a flag set by a mail client.
    time.sleep(0.7)  # past the quiet window that follows our own sync
    t0 = time.monotonic()
    util.maildir_set_flags(cfg.maildir, first[0].message_id, "FS")
    t1 = w.wait_for(
        lambda: util.server_messages(imap, "INBOX")[first[0].message_id]
        == frozenset({"\\Flagged", "\\Seen"}),
        LATENCY + 2, "local flag change on the server")
    assert t1 - t0 <= LATENCY, "took %.2f s" % (t1 - t0)

    # A burst of local changes is debounced into few syncs, not one each.
    before = w.output().count("watch: syncing")
    for m in first:
        util.maildir_set_flags(cfg.maildir, m.message_id, "RS")
    w.wait_for(lambda: all(util.server_messages(imap, "INBOX")[m.message_id]
                           == frozenset({"\\Answered", "\\Seen"}) for m in first),
               LATENCY + 2, "burst of flag changes")
    time.sleep(1.5)
    # One for the burst, maybe one for the IDLE echo of our own STORE.
    assert w.output().count("watch: syncing") - before <= 3

    assert w.stop() == 0
    util.run_facteur(["check"], cfg, check_rc=0)
    imap.logout()


def hard_restart(dovecot):
    """Kill the whole server (master and every session, as a crash or a
    reboot would: an orderly stop lets IDLE sessions live on) and start it
    again on the same ports and data."""
    proc = dovecot.proc
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    dovecot.proc = None
    time.sleep(0.5)
    dovecot.start()


def test_watch_survives_server_restart(dovecot, tmp_path, watcher_factory):
    user = dovecot.new_user()
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    w = watcher_factory(cfg, tmp_path)
    w.ready()
    hard_restart(dovecot)
    imap = dovecot.imap(user)
    msg = util.gen(31, 1, max_body=1000)[0]
    util.append(imap, "INBOX", msg)
    # Reconnection backs off 1 s, 2 s, 4 s...: well within 15 s.
    w.wait_for(lambda: msg.message_id in util.maildir_messages(cfg.maildir),
               15, "message after a server restart")
    # The IDLE session itself came back: a second message needs no restart
    # to be noticed.
    w.wait_for(lambda: "retrying in" in w.output(), 10, "reconnection")
    time.sleep(0.5)
    msg2 = util.gen(32, 1, max_body=1000)[0]
    util.append(imap, "INBOX", msg2)
    w.wait_for(lambda: msg2.message_id in util.maildir_messages(cfg.maildir),
               10, "second message after the restart")
    assert w.stop() == 0
    imap.logout()


def test_watch_sighup_reloads(dovecot, tmp_path, watcher_factory):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    util.seed(imap, "Work", util.gen(41, 1, max_body=1000))
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert,
                           Patterns="INBOX")
    w = watcher_factory(cfg, tmp_path)
    w.ready()
    assert "Work" not in util.maildir_folders(cfg.maildir)
    util.make_config(tmp_path, user, dovecot.ports, dovecot.cert, Patterns="*")
    w.proc.send_signal(signal.SIGHUP)
    w.wait_for(lambda: "Work" in util.maildir_folders(cfg.maildir), 10,
               "Work synchronized after SIGHUP")
    # A broken file on SIGHUP keeps the watcher running on the old one.
    with open(cfg.path, "a") as f:
        f.write("\nBogusKeyword yes\n")
    w.proc.send_signal(signal.SIGHUP)
    w.wait_for(lambda: "keeping the previous configuration" in w.output(), 10,
               "broken config reported")
    assert w.proc.poll() is None
    assert w.stop() == 0
    imap.logout()


def test_watch_sigterm_during_sync_is_clean(dovecot, tmp_path, watcher_factory):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    util.seed(imap, "INBOX", util.gen(51, 150, max_body=30000), create=False)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    w = watcher_factory(cfg, tmp_path)
    time.sleep(0.3)  # in the middle of the first full sync
    assert w.stop(timeout=60) == 0
    # The sync under way was finished, not cut: the journal matches both sides.
    rc, out, err = util.run_facteur(["check"], cfg)
    assert rc == 0, out + err + w.output()
    assert len(util.maildir_messages(cfg.maildir)) == 150
    imap.logout()


def test_watch_unknown_channel(dovecot, tmp_path):
    user = dovecot.new_user()
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    rc, out, err = util.run_facteur(["watch", "nosuch"], cfg, timeout=10)
    assert rc == 1
    assert "nosuch" in err


def test_watch_interval_picks_up_new_folders(dovecot, tmp_path, watcher_factory):
    """A folder created on the server has no IDLE session yet: the periodic
    full sync (--interval) brings it down and starts watching it."""
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    w = watcher_factory(cfg, tmp_path, "--interval", "2")
    w.ready()
    msg = util.seed(imap, "Later", util.gen(55, 1, max_body=800))[0]
    w.wait_for(lambda: msg.message_id in util.maildir_messages(cfg.maildir), 8,
               "folder created on the server")
    w.wait_for(lambda: "2 IDLE session(s)" in w.output(), 8, "IDLE on the new folder")
    assert w.stop() == 0
    imap.logout()


def test_sigterm_mid_sync_then_resync_converges(dovecot, tmp_path):
    """A plain run killed by SIGTERM mid-transfer leaves a journal that the
    next run completes: no message lost or duplicated, check clean."""
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    msgs = util.seed(imap, "INBOX", util.gen(56, 150, max_body=30000), create=False)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    p = util.start_facteur(["-a"], cfg)
    time.sleep(0.4)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    # Whatever the kill left, status can read the journal.
    util.run_facteur(["status"], cfg, check_rc=0)
    util.sync(cfg)
    util.run_facteur(["check"], cfg, check_rc=0)
    local = util.maildir_messages(cfg.maildir)  # fails on a duplicate
    assert set(local) == {m.message_id for m in msgs}
    assert len(util.server_list(imap, "INBOX")) == 150
    imap.logout()
