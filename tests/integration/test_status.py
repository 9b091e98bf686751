"""`facteur status` and `facteur check` against the private Dovecot: status
reads the journal only; check audits it against both sides read-only and
exits 1 exactly when something differs.  Sides are changed with imaplib and
the standard library, never with facteur."""

import json
import os
import subprocess

import pytest

import util


def setup_synced(dovecot, tmp_path, n=3):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    msgs = util.seed(imap, "INBOX", util.gen(11, n, max_body=2000), create=False)
    util.seed(imap, "Work", util.gen(12, 2, max_body=2000))
    util.sync(cfg)
    return user, imap, cfg, msgs


def test_status_before_first_sync(dovecot, tmp_path):
    user = dovecot.new_user()
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    rc, out, err = util.run_facteur(["status"], cfg, check_rc=0)
    assert "test: last sync never" in out
    assert "journal absent" in out
    # status never creates a state directory or a Maildir.
    assert not os.path.exists(os.path.join(str(tmp_path), "Mail.facteur-state"))
    assert not os.path.exists(cfg.maildir)


def test_status_counts_and_json(dovecot, tmp_path):
    user, imap, cfg, msgs = setup_synced(dovecot, tmp_path)
    rc, out, err = util.run_facteur(["status", "test"], cfg, check_rc=0)
    assert "5 message(s), journal ok" in out
    assert "  INBOX: 3 message(s), 3 synced" in out
    assert "  Work: 2 message(s), 2 synced" in out
    rc, out, err = util.run_facteur(["--json", "status"], cfg, check_rc=0)
    obj = json.loads(out)
    assert obj["channel"] == "test" and obj["ok"] is True
    assert obj["messages"] == 5 and obj["pending"] == 0
    assert obj["last_sync"] > 0
    boxes = {b["name"]: b for b in obj["boxes"]}
    assert boxes["INBOX"]["synced"] == 3
    assert boxes["INBOX"]["uidvalidity"] == util.server_status(imap, "INBOX")["UIDVALIDITY"]
    rc, out, err = util.run_facteur(["status", "--dump"], cfg, check_rc=0)
    assert out.count("journal ") >= 1
    for m in msgs:
        assert m.message_id in out
    imap.logout()


def test_status_unknown_channel(dovecot, tmp_path):
    user = dovecot.new_user()
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    rc, out, err = util.run_facteur(["status", "nosuch"], cfg)
    assert rc == 1
    assert "nosuch" in err


def test_check_clean_then_differences(dovecot, tmp_path):
    user, imap, cfg, msgs = setup_synced(dovecot, tmp_path)
    rc, out, err = util.run_facteur(["check"], cfg, check_rc=0)
    assert "the journal matches both sides (2 box(es), 5 message(s))" in out

    # One change on each side, plus a new server message.
    util.store_flags(imap, "INBOX", msgs[0].message_id, "+FLAGS", "F")
    util.maildir_set_flags(cfg.maildir, msgs[1].message_id, "S")
    util.append(imap, "Work", util.gen(13, 1, max_body=500)[0])
    before_far = util.server_state(imap)
    before_near = util.maildir_snapshot(cfg.maildir)

    rc, out, err = util.run_facteur(["check"], cfg)
    assert rc == 1, out + err
    assert "test INBOX: far UID" in out and "has flags F, the journal says -" in out
    assert "test INBOX: near message cur/" in out and "has flags S" in out
    assert "test Work: far UID 3 is not in the journal (new since the last sync)" in out
    assert "test: 3 difference(s) in 2 box(es)" in out
    # Read-only: neither side moved.
    assert util.server_state(imap) == before_far
    assert util.maildir_snapshot(cfg.maildir) == before_near

    # A sync reconciles; check agrees again.
    util.sync(cfg)
    util.run_facteur(["check"], cfg, check_rc=0)
    rc, out, err = util.run_facteur(["check", "test:Work"], cfg, check_rc=0)
    assert "(1 box(es), 3 message(s))" in out
    imap.logout()


def test_check_never_synchronized(dovecot, tmp_path):
    user = dovecot.new_user()
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    rc, out, err = util.run_facteur(["check"], cfg)
    assert rc == 1
    assert "never synchronized" in out
    assert not os.path.exists(cfg.maildir)


def test_status_names_the_run_holding_the_lock(dovecot, tmp_path):
    """A run in progress is named by its pid, and status neither waits for
    it nor disturbs it; a pid left by a crashed run is not reported."""
    import fcntl
    user, imap, cfg, msgs = setup_synced(dovecot, tmp_path, n=1)
    lock = os.path.join(str(tmp_path), "Mail.facteur-state", "test", "lock")
    holder = subprocess.Popen(["sleep", "30"])
    try:
        with open(lock, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write("%d\n" % holder.pid)
            f.flush()
            rc, out, err = util.run_facteur(["status"], cfg, check_rc=0, timeout=10)
            assert "being synchronized now (pid %d)" % holder.pid in out
            # The lock is still ours: a sync fails, naming the holder.
            rc, out, err = util.run_facteur(["-a"], cfg, timeout=10)
            assert rc == 1 and "pid %d" % holder.pid in err
    finally:
        holder.kill()
        holder.wait()
    rc, out, err = util.run_facteur(["status"], cfg, check_rc=0)
    assert "being synchronized" not in out
    imap.logout()


@pytest.mark.parametrize("opts", [{"MaxSize": "3k"}, {"MaxMessages": "2"},
                                  {"Sync": "Pull"}])
def test_check_clean_after_sync_with_limits(dovecot, tmp_path, opts):
    """What a channel leaves out on purpose (too big, beyond MaxMessages) is
    no difference."""
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    util.seed(imap, "INBOX", util.gen(17, 4, max_body=6000), create=False)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert, **opts)
    util.sync(cfg)
    rc, out, err = util.run_facteur(["check"], cfg)
    assert rc == 0, out + err
    # ...while a real change still is one.
    util.append(imap, "INBOX", util.gen(18, 1, max_body=500)[0])
    rc, out, err = util.run_facteur(["check"], cfg)
    assert rc == 1 and "new since the last sync" in out
    imap.logout()
