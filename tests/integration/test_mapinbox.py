"""MapInbox, as mbsync defines it: a store keyword naming a virtual mailbox
(relative to the store's Path or namespace) that is the store's INBOX.

On the IMAP store the name is listed as a far folder and opens the server's
INBOX; on the Maildir store it is listed (when INBOX exists) and opens the
Maildir's INBOX.  Each scenario runs against every server of the interop
fixtures (Dovecot, Cyrus with both separators, Courier's "INBOX." namespace)
and checks the outcome with imaplib and mailbox.Maildir.
"""

import os

import pytest

import util
from conftest_servers import far_name


def far_store_options(cfg, **opts):
    """Add IMAPStore keywords to a util.make_config file."""
    with open(cfg.path) as f:
        text = f.read()
    head = "IMAPStore test-far\nAccount test\n"
    assert head in text
    extra = "".join("%s %s\n" % kv for kv in opts.items())
    with open(cfg.path, "w") as f:
        f.write(text.replace(head, head + extra))


class World:
    def __init__(self, server, tmp_path, near_opts=None, far_opts=None,
                 **channel_opts):
        self.server = server
        self.user = server.new_user()
        self.imap = server.imap(self.user)
        self.cfg = util.make_config(tmp_path, self.user, server.ports,
                                    server.cert, near_opts=near_opts,
                                    **channel_opts)
        if far_opts:
            far_store_options(self.cfg, **far_opts)
        self.mail = self.cfg.maildir

    def fn(self, folder):
        return far_name(self.server, folder)

    def seed(self, folder, seed, count):
        # Courier refuses an APPEND to the mailbox selected read-only.
        if self.imap.state == "SELECTED":
            self.imap.close()
        msgs = util.gen(seed, count, max_body=20000)
        name = self.fn(folder)
        exists = name == "INBOX" or name in util.server_folders(self.imap)
        util.seed(self.imap, name, msgs, create=not exists)
        return {m.message_id for m in msgs}

    def far(self, folder):
        return set(util.server_messages(self.imap, self.fn(folder)))

    def near(self):
        """{folder: set of Message-IDs} of the Maildir (no duplicates)."""
        out = {}
        for mid, (_, folder) in util.maildir_messages(self.mail).items():
            out.setdefault(folder, set()).add(mid)
        return out

    def close(self):
        try:
            self.imap.logout()
        except Exception:
            pass


@pytest.fixture
def far_mapped(server, tmp_path):
    """The far store maps its INBOX to "Inbox-mirror"; the Maildir is
    flattened; Patterns pick the mirror and Lists/* but not INBOX itself."""
    w = World(server, tmp_path, near_opts={"Flatten": "."},
              far_opts={"MapInbox": "Inbox-mirror"},
              Patterns='Inbox-mirror "Lists/*"')
    yield w
    w.close()


def test_far_inbox_synced_as_mapped_folder(far_mapped):
    w = far_mapped
    inbox = w.seed("INBOX", 1, 3)
    lists = w.seed("Lists/Dev", 2, 2)
    util.sync(w.cfg)
    near = w.near()
    assert near == {"Inbox-mirror": inbox, "Lists.Dev": lists}
    # The virtual name exists on no server; INBOX was not synced as itself.
    assert w.fn("Inbox-mirror") not in util.server_folders(w.imap)
    assert "INBOX" not in util.maildir_folders(w.mail)

    # Local changes to the mapped folder reach the server's INBOX.
    up = util.gen(3, 2, max_body=20000)
    for m in up:
        util.maildir_deliver(w.mail, "Inbox-mirror", m)
    gone = sorted(inbox)[0]
    util.maildir_delete(w.mail, gone)
    util.sync(w.cfg)
    want = (inbox - {gone}) | {m.message_id for m in up}
    assert w.far("INBOX") == want
    assert w.near()["Inbox-mirror"] == want

    # And a new server INBOX message comes down into the mapped folder.
    more = w.seed("INBOX", 4, 1)
    util.sync(w.cfg)
    assert w.near()["Inbox-mirror"] == want | more
    assert w.far("INBOX") == want | more
    assert w.fn("Inbox-mirror") not in util.server_folders(w.imap)


def test_far_mapped_name_is_listed(far_mapped):
    w = far_mapped
    w.seed("Lists/Dev", 5, 1)
    rc, out, err = util.run_facteur(["-l", "test"], w.cfg, check_rc=0)
    assert sorted(out.split()) == ["Inbox-mirror", "Lists/Dev"]
    assert "MapInbox" not in err


def test_near_inbox_backs_mapped_folder(server, tmp_path):
    """The Maildir store maps its INBOX to "Incoming": the server folder
    Incoming is synchronized with the local INBOX directory."""
    w = World(server, tmp_path,
              near_opts={"Flatten": ".", "MapInbox": "Incoming"},
              Patterns="Incoming")
    try:
        far = w.seed("Incoming", 10, 3)
        stray = w.seed("INBOX", 11, 1)
        util.sync(w.cfg)
        assert w.near() == {"INBOX": far}
        assert "Incoming" not in util.maildir_folders(w.mail)
        up = util.gen(12, 2, max_body=20000)
        for m in up:
            util.maildir_deliver(w.mail, "INBOX", m)
        util.sync(w.cfg)
        want = far | {m.message_id for m in up}
        assert w.far("Incoming") == want
        assert w.far("INBOX") == stray
        assert w.near() == {"INBOX": want}
        # A second run changes nothing.
        snap = util.maildir_snapshot(w.mail)
        util.sync(w.cfg)
        assert util.maildir_snapshot(w.mail) == snap
        assert w.far("Incoming") == want
    finally:
        w.close()


def test_near_mapped_inbox_created_when_missing(server, tmp_path):
    """Create Near makes the Maildir INBOX for a server folder that maps to
    it, never a directory named after the virtual mailbox."""
    w = World(server, tmp_path,
              near_opts={"Flatten": ".", "MapInbox": "Incoming"},
              Patterns="Incoming")
    try:
        far = w.seed("Incoming", 20, 2)
        assert not os.path.exists(w.mail)
        util.sync(w.cfg)
        assert w.near() == {"INBOX": far}
        assert sorted(util.maildir_folders(w.mail)) == ["INBOX"]
    finally:
        w.close()


def test_channel_box_names_the_mapped_inbox(server, tmp_path):
    """Without Patterns, "Far :store:NAME" with the far store's MapInbox
    NAME pairs the server's INBOX (mbsync maps channel boxes too)."""
    w = World(server, tmp_path, far_opts={"MapInbox": "Inbox-mirror"},
              Patterns=None, Far=":test-far:Inbox-mirror",
              Near=":test-near:Mirror")
    try:
        inbox = w.seed("INBOX", 30, 2)
        util.sync(w.cfg)
        assert w.near() == {"Mirror": inbox}
        assert w.fn("Inbox-mirror") not in util.server_folders(w.imap)
    finally:
        w.close()
