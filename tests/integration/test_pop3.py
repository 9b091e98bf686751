"""End-to-end POP3 ingestion against the private Dovecot.

Mail is put on the server over IMAP (the same INBOX Dovecot serves over
POP3) and checked there with imaplib, and locally with mailbox.Maildir;
facteur is never used to check facteur.

Semantics: a POP3 channel downloads every message whose UIDL it has not
delivered before into the near store's INBOX, exactly once; Keep no deletes
them on the server after they are safely stored, Keep yes with DeleteAfter N
deletes them N days after they were first seen; messages over MaxSize stay
on the server and are reported.
"""

import os
import random
import shutil
import signal
import time

import pytest

import util

T0 = 1700000000
DAY = 86400


class Pop3World:
    """One Dovecot user, an IMAP connection to seed and inspect its INBOX,
    and a facteur config with one POP3 channel named "pop"."""

    def __init__(self, dovecot, tmp_path, tls="pop3s"):
        self.dovecot = dovecot
        self.user = dovecot.new_user("p")
        self.imap = dovecot.imap(self.user)
        self.tmp = str(tmp_path)
        self.mail = os.path.join(self.tmp, "Mail")
        self.tls = tls
        self.seeded = {}

    def configure(self, keep=True, delete_after=None, max_size=None,
                  channels=(("pop", ""),)):
        """channels: (name, near box) of each POP3 channel on the account."""
        port = self.dovecot.ports["pop3s" if self.tls == "pop3s" else "pop3"]
        store = ["POP3Store popbox", "Account pop",
                 "Keep %s" % ("yes" if keep else "no")]
        if delete_after is not None:
            store.append("DeleteAfter %d" % delete_after)
        if max_size is not None:
            store.append("MaxSize %s" % max_size)
        text = "\n".join([
            "MaildirStore local",
            "Path %s/" % self.mail,
            "Inbox %s/INBOX" % self.mail,
            "",
            "POP3Account pop",
            "Host 127.0.0.1",
            "Port %d" % port,
            "User %s" % self.user.name,
            "Pass %s" % self.user.password,
            "TLSType %s" % ("POP3S" if self.tls == "pop3s" else "STARTTLS"),
            "CertificateFile %s" % self.dovecot.cert,
            "",
        ] + store + [""])
        for name, box in channels:
            text += "\n".join(["", "Channel %s" % name, "Far :popbox:",
                               "Near :local:%s" % box, "Sync Pull",
                               "SyncState *", ""])
        path = os.path.join(self.tmp, "facteurrc")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        self.cfg = util.Config(path, self.mail)

    def seed(self, msgs):
        util.seed(self.imap, "INBOX", msgs, create=False)
        for m in msgs:
            self.seeded[m.message_id] = util.crlf_to_lf(m.data)

    def sync(self):
        return util.sync(self.cfg)

    def on_server(self):
        """Message-IDs in the server's INBOX (a duplicate fails the test)."""
        return set(util.server_messages(self.imap, "INBOX"))

    def local(self):
        """{Message-ID: bytes} of the local INBOX; maildir_messages fails
        the test on a duplicate."""
        util.maildir_messages(self.mail)
        if "INBOX" not in util.maildir_folders(self.mail):
            return {}
        return util.maildir_bodies(self.mail, "INBOX")

    def assert_local_exactly(self, mids):
        local = self.local()
        assert set(local) == set(mids)
        for mid in mids:
            assert local[mid] == self.seeded[mid], "%s differs" % mid

    def close(self):
        try:
            self.imap.logout()
        except Exception:
            pass


@pytest.fixture
def world(dovecot, tmp_path):
    w = Pop3World(dovecot, tmp_path)
    yield w
    w.close()


@pytest.mark.parametrize("tls", ["pop3s", "stls"])
def test_keep_yes_then_no(dovecot, tmp_path, tls):
    w = Pop3World(dovecot, tmp_path, tls=tls)
    try:
        msgs = util.gen(101, 8)
        w.seed(msgs)
        w.configure(keep=True)
        w.sync()
        mids = [m.message_id for m in msgs]
        w.assert_local_exactly(mids)
        assert w.on_server() == set(mids)

        w.configure(keep=False)
        w.sync()
        w.assert_local_exactly(mids)
        assert w.on_server() == set()
    finally:
        w.close()


def test_rerun_delivers_nothing(world):
    world.seed(util.gen(102, 6))
    world.configure(keep=True)
    world.sync()
    before = util.maildir_snapshot(world.mail)
    assert len(before) == 6
    world.sync()
    assert util.maildir_snapshot(world.mail) == before


def test_new_mail_after_a_run(world):
    first, second = util.gen(103, 4), util.gen(103, 3, start=4)
    world.configure(keep=True)
    world.seed(first)
    world.sync()
    world.seed(second)
    world.sync()
    world.assert_local_exactly([m.message_id for m in first + second])


def test_keep_no_deletes_only_what_was_stored(world):
    world.configure(keep=False)
    world.seed(util.gen(104, 5))
    world.sync()
    assert world.on_server() == set()
    later = util.gen(104, 2, start=5)
    world.seed(later)
    world.sync()
    assert world.on_server() == set()
    world.assert_local_exactly(list(world.seeded))


def test_delete_after_days(world, monkeypatch):
    world.configure(keep=True, delete_after=3)
    old = util.gen(105, 3)
    world.seed(old)
    monkeypatch.setenv("FACTEUR_TEST_NOW", str(T0))
    world.sync()
    new = util.gen(105, 2, start=3)
    world.seed(new)
    monkeypatch.setenv("FACTEUR_TEST_NOW", str(T0 + 2 * DAY))
    world.sync()
    assert world.on_server() == set(world.seeded)
    # Three days after the first ones were seen: only those go.
    monkeypatch.setenv("FACTEUR_TEST_NOW", str(T0 + 3 * DAY))
    world.sync()
    assert world.on_server() == {m.message_id for m in new}
    monkeypatch.setenv("FACTEUR_TEST_NOW", str(T0 + 5 * DAY))
    world.sync()
    assert world.on_server() == set()
    world.assert_local_exactly(list(world.seeded))


def test_max_size_leaves_big_messages(world):
    small = [m for m in util.gen(106, 30) if len(m.data) < 20000][:4]
    big = [m for m in util.gen(106, 60) if len(m.data) > 60000][:2]
    assert len(small) == 4 and len(big) == 2, "mailgen sizes changed"
    world.configure(keep=False, max_size="50k")
    world.seed(small + big)
    rc, out, err = world.sync()
    world.assert_local_exactly([m.message_id for m in small])
    assert world.on_server() == {m.message_id for m in big}
    assert "MaxSize" in out + err
    # Reported again, never dropped, never downloaded.
    rc, out, err = world.sync()
    assert "MaxSize" in out + err
    world.assert_local_exactly([m.message_id for m in small])


def test_kill_9_mid_run(world):
    msgs = util.gen(107, 400)
    world.seed(msgs)
    world.configure(keep=False)
    rng = random.Random(107)
    for _ in range(5):
        p = util.start_facteur(["-a"], world.cfg)
        time.sleep(rng.uniform(0.1, 1.5))
        p.send_signal(signal.SIGKILL)
        p.communicate()
    world.sync()
    world.assert_local_exactly([m.message_id for m in msgs])
    assert world.on_server() == set()
    # And nothing more on a further run.
    before = util.maildir_snapshot(world.mail)
    world.sync()
    assert util.maildir_snapshot(world.mail) == before


# -- state keyed by the account ------------------------------------------------


def state_base(world):
    return world.mail + ".facteur-state"


def account_dirs(world):
    """The POP3 account state directories (SyncState * puts them beside
    the Maildir, under pop3/)."""
    d = os.path.join(state_base(world), "pop3")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_renamed_channel_downloads_nothing_again(world):
    msgs = util.gen(110, 5)
    world.seed(msgs)
    world.configure(keep=True)
    world.sync()
    world.assert_local_exactly([m.message_id for m in msgs])
    before = util.maildir_snapshot(world.mail)
    assert account_dirs(world) == ["%s@127.0.0.1:%d" % (
        world.user.name, world.dovecot.ports["pop3s"])]

    world.configure(keep=True, channels=(("mailbox", ""),))
    # status shows the account's journal under the new name already.
    rc, out, err = util.run_facteur(["status", "mailbox"], world.cfg, check_rc=0)
    assert os.path.join("pop3", account_dirs(world)[0]) in out
    assert "last sync never" not in out
    world.sync()
    assert util.maildir_snapshot(world.mail) == before
    more = util.gen(110, 2, start=5)
    world.seed(more)
    world.sync()
    world.assert_local_exactly([m.message_id for m in msgs + more])
    assert world.on_server() == {m.message_id for m in msgs + more}


def test_two_channels_on_one_account_deliver_once(world):
    """Each message reaches one folder, whichever channel ran first; runs
    started together are serialized by the account's lock."""
    msgs = util.gen(111, 30, max_body=20000)
    world.seed(msgs)
    world.configure(keep=True, channels=(("pop", ""), ("pop-archive", "Archive")))
    procs = [util.start_facteur([ch], world.cfg) for ch in ("pop", "pop-archive")]
    outs = [p.communicate(timeout=120) for p in procs]
    rcs = [p.returncode for p in procs]
    assert 0 in rcs, outs
    for rc, (_, err) in zip(rcs, outs):
        if rc != 0:
            assert b"being synchronized" in err, err
    world.sync()  # both channels, one after the other
    local = util.maildir_messages(world.mail)  # fails on a duplicate
    assert set(local) == {m.message_id for m in msgs}
    before = util.maildir_snapshot(world.mail)
    world.sync()
    assert util.maildir_snapshot(world.mail) == before
    assert len(account_dirs(world)) == 1


def test_old_per_channel_state_is_honoured(world):
    """A journal left by a version that kept the UIDLs per channel (in the
    channel's own state directory) is taken over: nothing it knew is
    downloaded again, also after a later rename."""
    msgs = util.gen(112, 6)
    world.seed(msgs)
    world.configure(keep=True)
    world.sync()
    before = util.maildir_snapshot(world.mail)
    # Same journal format, at the place older versions used.
    [acct] = account_dirs(world)
    old = os.path.join(state_base(world), "pop")
    os.rename(os.path.join(state_base(world), "pop3", acct), old)
    shutil.rmtree(os.path.join(state_base(world), "pop3"))

    world.sync()
    assert util.maildir_snapshot(world.mail) == before
    assert account_dirs(world) == [acct]
    world.configure(keep=True, channels=(("renamed", ""),))
    world.sync()
    assert util.maildir_snapshot(world.mail) == before
    more = util.gen(112, 1, start=6)
    world.seed(more)
    world.sync()
    world.assert_local_exactly([m.message_id for m in msgs + more])
