"""TrashRemoteNew (mbsync's): a store with a Trash and TrashRemoteNew keeps
the messages the opposite store expunges before they were ever copied to
it.  Checked with imaplib on the server and mailbox.Maildir locally."""

import os

import mailbox

import util
from test_sync import World, seed_far


def store_opts(w, far=None, near=None):
    """Adds keywords to the IMAPStore (far) and MaildirStore (near)."""
    text = open(w.cfg.path).read()
    if far:
        text = text.replace("\nAccount test\n", "\nAccount test\n" + far, 1)
    if near:
        text = text.replace("SubFolders Verbatim\n", "SubFolders Verbatim\n" + near, 1)
    open(w.cfg.path, "w").write(text)


def near_trash(w):
    """[(Message-ID, letters, bytes)] of the local Trash, [] if absent."""
    path = os.path.join(w.mail, "Trash")
    if not os.path.isdir(path):
        return []
    md = mailbox.Maildir(path, create=False)
    return sorted((m["Message-ID"], m.get_flags(), md.get_bytes(k))
                  for k, m in md.items())


def far_folder(w, name):
    if name not in util.server_folders(w.imap):
        return {}
    return util.server_messages(w.imap, name)


def far_new_deleted(w, trash_remote_new):
    """A synced message A, then a new one X appended flagged \\Deleted and
    Seen: the run expunges both on the server (Expunge Far); X never
    reached the Maildir."""
    store_opts(w, near="Trash Trash\nTrashNewOnly yes\nTrashRemoteNew %s\n"
               % ("yes" if trash_remote_new else "no"))
    a, keep = seed_far(w, "INBOX", 71, 2)
    w.sync()
    x = util.gen(72, 1)[0]
    util.append(w.imap, "INBOX", x, "ST")
    util.store_flags(w.imap, "INBOX", a.message_id, "+FLAGS", "T")
    w.sync()
    assert set(w.far("INBOX")) == {keep.message_id}
    assert set(w.near()) - {x.message_id} == {keep.message_id}
    return a, x


def test_far_new_expunged_is_kept_in_near_trash(dovecot, tmp_path):
    w = World(dovecot, tmp_path, Patterns="INBOX", Expunge="Far")
    try:
        a, x = far_new_deleted(w, True)
        # Only X, the one never downloaded, without T, byte for byte.
        assert near_trash(w) == [(x.message_id, "S", util.crlf_to_lf(x.data))]
        assert w.near()[x.message_id] == ("S", "Trash")
        w.sync()
        assert len(near_trash(w)) == 1
    finally:
        w.close()


def test_far_new_expunged_without_trash_remote_new(dovecot, tmp_path):
    w = World(dovecot, tmp_path, Patterns="INBOX", Expunge="Far")
    try:
        a, x = far_new_deleted(w, False)
        assert near_trash(w) == []
        assert x.message_id not in w.near()
    finally:
        w.close()


def test_far_store_own_trash_takes_precedence(dovecot, tmp_path):
    """As mbsync: the expunging store's own Trash keeps the message, the
    opposite one's TrashRemoteNew is then not used."""
    w = World(dovecot, tmp_path, Patterns="INBOX", Expunge="Far")
    try:
        store_opts(w, far="Trash Trash\nTrashNewOnly yes\n")
        a, x = far_new_deleted(w, True)
        assert near_trash(w) == []
        assert set(far_folder(w, "Trash")) == {x.message_id}
    finally:
        w.close()


def test_far_new_too_big_for_near_is_not_kept(dovecot, tmp_path):
    w = World(dovecot, tmp_path, Patterns="INBOX", Expunge="Far")
    try:
        store_opts(w, near="Trash Trash\nTrashRemoteNew yes\nMaxSize 1k\n")
        x = util.gen(73, 1, max_body=20000)[0]
        small = util.gen(74, 1, max_body=200)[0]
        assert len(x.data) > 1024 and len(small.data) < 1024
        util.append(w.imap, "INBOX", x, "T")
        util.append(w.imap, "INBOX", small, "T")
        w.sync()
        assert w.far("INBOX") == {}
        assert [m for m, _, _ in near_trash(w)] == [small.message_id]
    finally:
        w.close()


def near_new_deleted(w, trash_remote_new):
    """A local message Y delivered flagged T, never uploaded: Expunge Near
    removes it in the run."""
    store_opts(w, far="Trash Trash\nTrashRemoteNew %s\n"
               % ("yes" if trash_remote_new else "no"))
    keep = seed_far(w, "INBOX", 75, 1)[0]
    w.sync()
    y = util.gen(76, 1)[0]
    util.maildir_deliver(w.mail, "INBOX", y, "FT")
    w.sync()
    assert set(w.near()) == {keep.message_id}
    assert set(w.far("INBOX")) == {keep.message_id}
    return y


def test_near_new_expunged_is_kept_in_far_trash(dovecot, tmp_path):
    w = World(dovecot, tmp_path, Patterns="INBOX", Expunge="Near")
    try:
        assert "Trash" not in util.server_folders(w.imap)
        y = near_new_deleted(w, True)
        # The far Trash was created, holds Y without \Deleted.
        assert far_folder(w, "Trash") == {y.message_id: frozenset({"\\Flagged"})}
        body = util.server_bodies(w.imap, "Trash")[y.message_id]
        assert util.crlf_to_lf(body) == util.crlf_to_lf(y.data)
        w.sync()
        assert len(util.server_list(w.imap, "Trash")) == 1
    finally:
        w.close()


def test_near_new_expunged_without_trash_remote_new(dovecot, tmp_path):
    w = World(dovecot, tmp_path, Patterns="INBOX", Expunge="Near")
    try:
        near_new_deleted(w, False)
        assert far_folder(w, "Trash") == {}
    finally:
        w.close()


def test_kept_copy_syncs_as_ordinary_mail(dovecot, tmp_path):
    """With every folder synchronized and Expunge Both, the copy kept in
    the near Trash reaches the server's Trash on a later run and stays."""
    w = World(dovecot, tmp_path, Expunge="Both")
    try:
        store_opts(w, near="Trash Trash\nTrashRemoteNew yes\n")
        seed_far(w, "INBOX", 77, 1)
        w.sync()
        x = util.gen(78, 1)[0]
        util.append(w.imap, "INBOX", x, "T")
        w.sync()
        w.sync()
        assert far_folder(w, "Trash") == {x.message_id: frozenset()}
        assert w.near()[x.message_id] == ("", "Trash")
        w.assert_converged()
    finally:
        w.close()
