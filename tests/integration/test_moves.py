"""Moves are moves: a message filed into another folder on one side is moved
on the other, not transferred again.  Checked with imaplib and
mailbox.Maildir, and the bytes on the wire are counted by a relay in the
test, not by facteur."""

import base64
import json
import os
import random

import mailbox
import pytest

import mailgen
import util
from counting_proxy import CountingProxy
from test_sync import World, seed_far, world  # noqa: F401 (fixture)

N_MOVED = 1000
BODY = 20000


@pytest.fixture
def proxied(dovecot, tmp_path):
    proxy = CountingProxy(dovecot.ports["imaps"])
    w = World(dovecot, tmp_path)
    ports = dict(dovecot.ports, imaps=proxy.port)
    w.cfg = util.make_config(w.tmp, w.user, ports, dovecot.cert)
    w.mail = w.cfg.maildir
    yield w, proxy
    w.close()
    proxy.close()


def moved_bytes(msgs):
    return sum(len(m.data) for m in msgs)


def uid_move_all(imap, src, dst, msgs):
    util.check(imap.select(util.q(src)), "SELECT")
    uids = [str(util.find_uid(imap, m.message_id)) for m in msgs]
    for i in range(0, len(uids), 200):
        util.check(imap.uid("MOVE", ",".join(uids[i:i + 200]), util.q(dst)), "MOVE")


def local_folder_of(root, mid):
    return util.maildir_messages(root)[mid][1]


def test_server_moves_are_renamed_locally(proxied):
    w, proxy = proxied
    msgs = seed_far(w, "INBOX", 51, N_MOVED, max_body=BODY)
    util.create_folder(w.imap, "Archive")
    w.sync()
    before = {m.message_id: util.maildir_messages(w.mail)[m.message_id] for m in msgs[:3]}
    assert all(v[1] == "INBOX" for v in before.values())
    uid_move_all(w.imap, "INBOX", "Archive", msgs)
    proxy.reset()
    w.sync()
    near = w.near()
    assert all(near[m.message_id][1] == "Archive" for m in msgs)
    assert len(near) == N_MOVED
    assert proxy.down < 0.01 * moved_bytes(msgs), (proxy.down, moved_bytes(msgs))
    # Journaled over several transactions: every record names its file.
    assert util.dumped_fingerprints(w.cfg) == \
        util.file_fingerprints(w.mail, ("INBOX", "Archive"))
    w.assert_converged()
    w.sync()
    w.assert_converged()


def test_local_moves_become_uid_move(proxied):
    w, proxy = proxied
    msgs = seed_far(w, "INBOX", 52, N_MOVED, max_body=BODY)
    util.create_folder(w.imap, "Archive")
    w.sync()
    inbox, archive = (os.path.join(w.mail, f) for f in ("INBOX", "Archive"))
    for sub in ("cur", "new"):
        for name in os.listdir(os.path.join(inbox, sub)):
            os.rename(os.path.join(inbox, sub, name), os.path.join(archive, sub, name))
    proxy.reset()
    w.sync()
    far = w.far_all()
    assert all(far[m.message_id][1] == "Archive" for m in msgs)
    assert len(far) == N_MOVED
    assert proxy.up < 0.01 * moved_bytes(msgs), (proxy.up, moved_bytes(msgs))
    assert util.dumped_fingerprints(w.cfg) == \
        util.file_fingerprints(w.mail, ("INBOX", "Archive"))
    w.assert_converged()


def test_moved_messages_keep_their_fingerprints(world):
    """The record a move writes in the destination folder carries the
    content fingerprint of the file, as a download or upload would: a
    later copy-then-delete can still be told apart from a lookalike."""
    msgs = seed_far(world, "INBOX", 56, 5)
    for box in ("Archive", "Work"):
        util.create_folder(world.imap, box)
    world.sync()
    uid_move_all(world.imap, "INBOX", "Archive", msgs[:2])
    inbox, work = (os.path.join(world.mail, f) for f in ("INBOX", "Work"))
    key = [k for mid, _, _, k in util.maildir_list(world.mail) if mid == msgs[2].message_id][0]
    for sub in ("cur", "new"):
        for name in os.listdir(os.path.join(inbox, sub)):
            if name.split(":")[0] == key:
                os.rename(os.path.join(inbox, sub, name), os.path.join(work, sub, name))
    rc, out, err = util.run_facteur(["-a", "--json"], world.cfg, check_rc=0)
    assert '"moved_near":2' in out and '"moved_far":1' in out, out
    files = util.file_fingerprints(world.mail, ("INBOX", "Archive", "Work"))
    assert len(files) == 5
    assert util.dumped_fingerprints(world.cfg) == files
    world.assert_converged()


def test_copy_then_delete_locally_is_a_move(world):
    msgs = seed_far(world, "INBOX", 53, 4)
    util.create_folder(world.imap, "Work")
    world.sync()
    # A mail client that copies the file under a new name, then deletes it.
    src = mailbox.Maildir(os.path.join(world.mail, "INBOX"), create=False)
    dst = mailbox.Maildir(os.path.join(world.mail, "Work"), create=False)
    for key, msg in list(src.items()):
        if msg["Message-ID"] == msgs[0].message_id:
            dst.add(msg)
            src.remove(key)
    rc, out, err = util.run_facteur(["-a", "--json"], world.cfg, check_rc=0)
    assert '"moved_far":1' in out and '"pushed":0' in out, out
    assert world.far_all()[msgs[0].message_id][1] == "Work"
    world.assert_converged()


def test_copy_then_delete_with_a_lookalike_is_told_by_content(world):
    """A file copied into another folder, then deleted, while a different
    new local message has the same Message-ID and size: the journal's
    fingerprint of the file that left picks the copy (UID MOVE), and the
    lookalike is uploaded."""
    import shutil
    msgs = seed_far(world, "INBOX", 55, 3)
    util.create_folder(world.imap, "Work")
    world.sync()
    folder, key = [(f, k) for mid, _, f, k in util.maildir_list(world.mail)
                   if mid == msgs[0].message_id][0]
    inbox = util.maildir_folders(world.mail)[folder]
    work = util.maildir_folders(world.mail)["Work"]
    name = [n for sub in ("cur", "new") for n in os.listdir(os.path.join(inbox, sub))
            if n.split(":")[0] == key][0]
    sub = "cur" if os.path.exists(os.path.join(inbox, "cur", name)) else "new"
    shutil.copy(os.path.join(inbox, sub, name), os.path.join(work, "cur", "1.copy.test:2,S"))
    os.unlink(os.path.join(inbox, sub, name))
    d = bytearray(msgs[0].data)
    d[-3] = ord("Z") if d[-3] != ord("Z") else ord("Y")
    lookalike = msgs[0]._replace(data=bytes(d))
    util.maildir_deliver(world.mail, "Work", lookalike)
    rc, out, err = util.run_facteur(["-a", "--json"], world.cfg, check_rc=0)
    assert '"moved_far":1' in out and '"pushed":1' in out, out
    bodies = util.server_bodies_list(world.imap, "Work")
    assert sorted(bodies) == sorted([msgs[0].data, lookalike.data])
    assert util.server_list(world.imap, "INBOX") and all(
        mid != msgs[0].message_id for mid, _, _ in util.server_list(world.imap, "INBOX"))


def test_duplicate_message_ids_are_never_merged(world):
    a = seed_far(world, "INBOX", 54, 2)
    util.create_folder(world.imap, "Work")
    # Two different messages with one Message-ID and one size: identity is
    # ambiguous, so they must be transferred, never merged or lost.
    d = bytearray(a[0].data)
    d[-3] = ord("Z") if d[-3] != ord("Z") else ord("Y")
    twin = a[0]._replace(data=bytes(d))
    assert len(twin.data) == len(a[0].data) and twin.data != a[0].data
    util.append(world.imap, "INBOX", twin)
    world.sync()
    assert len(util.maildir_list(world.mail)) == 3
    util.check(world.imap.select(util.q("INBOX")), "SELECT")
    util.check(world.imap.uid("MOVE", "1:*", util.q("Work")), "MOVE")
    world.sync()
    listing = util.maildir_list(world.mail)
    assert sorted(f for _, _, f, _ in listing) == ["Work"] * 3
    world.sync()
    assert len(util.server_list(world.imap, "Work")) == 3
    work = mailbox.Maildir(os.path.join(world.mail, "Work"), create=False)
    bodies = [work.get_bytes(k) for k in work.keys()]
    assert bytes(d).replace(b"\r\n", b"\n") in bodies
    assert a[0].data.replace(b"\r\n", b"\n") in bodies


def local_files(root, folder):
    """{file name: inode} of a local folder's messages (subfolders apart)."""
    base = util.maildir_folders(root)[folder]
    return {name: os.stat(os.path.join(base, sub, name)).st_ino
            for sub in ("cur", "new") for name in os.listdir(os.path.join(base, sub))}


def dir_inode(root, folder):
    return os.stat(util.maildir_folders(root)[folder]).st_ino


def server_uids(imap, folder):
    """(UIDVALIDITY, {Message-ID: UID}) of a server folder."""
    st = util.server_status(imap, folder)
    return st["UIDVALIDITY"], {mid: uid for mid, _, uid in util.server_list(imap, folder)}


def expunge_first(w, folder, msgs, k):
    """Expunges the first k messages on the server, so the UIDs left do not
    start at 1 as they would in a copy."""
    for m in msgs[:k]:
        util.expunge_message(w.imap, folder, m.message_id)
    return msgs[k:]


def test_folder_renamed_on_server(proxied):
    w, proxy = proxied
    msgs = seed_far(w, "Projects", 55, 30, max_body=BODY)
    w.sync()
    files, ino = local_files(w.mail, "Projects"), dir_inode(w.mail, "Projects")
    util.check(w.imap.rename(util.q("Projects"), util.q("Projects-2025")), "RENAME")
    proxy.reset()
    _, _, err = w.sync()
    assert "Projects: renamed to Projects-2025 on the near side" in err, err
    assert sorted(util.maildir_folders(w.mail)) == ["INBOX", "Projects-2025"]
    # The directory was renamed, not emptied into a new one.
    assert dir_inode(w.mail, "Projects-2025") == ino
    assert local_files(w.mail, "Projects-2025") == files
    assert proxy.down < 0.05 * moved_bytes(msgs), (proxy.down, moved_bytes(msgs))
    # Every pairing kept: the next run has nothing to do on either side.
    before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
    w.sync()
    assert (util.server_state(w.imap), util.maildir_snapshot(w.mail)) == before
    assert "Projects" not in util.server_folders(w.imap)
    w.assert_converged()


def test_large_folder_renamed_on_server(proxied):
    """More messages than one journal transaction of the moves pass holds
    (128): the old folder's record goes only with the last of them."""
    w, proxy = proxied
    msgs = seed_far(w, "Projects", 57, 300, max_body=2000)
    w.sync()
    ino = dir_inode(w.mail, "Projects")
    util.check(w.imap.rename(util.q("Projects"), util.q("Projects-2026")), "RENAME")
    _, _, err = w.sync()
    assert "Projects: renamed to Projects-2026 on the near side" in err, err
    assert dir_inode(w.mail, "Projects-2026") == ino
    assert len(util.maildir_list(w.mail)) == 300
    assert {box for box, _ in util.journal_dump(w.cfg)} == {"Projects-2026"}
    recs = util.assert_journal_matches(w.cfg, w.imap, w.mail, "Projects-2026")
    assert {m.message_id for m in msgs} == set(util.server_messages(w.imap, "Projects-2026"))
    assert len(recs) == 300
    before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
    w.sync()
    assert (util.server_state(w.imap), util.maildir_snapshot(w.mail)) == before
    w.assert_converged()


def test_folder_renamed_locally(proxied):
    w, proxy = proxied
    msgs = expunge_first(w, "Projects", seed_far(w, "Projects", 56, 33, max_body=BODY), 3)
    w.sync()
    uids = server_uids(w.imap, "Projects")
    assert min(uids[1].values()) > 1
    files = local_files(w.mail, "Projects")
    os.rename(os.path.join(w.mail, "Projects"), os.path.join(w.mail, "Attic"))
    proxy.reset()
    w.sync()
    assert util.server_folders(w.imap) == ["Attic", "INBOX"]
    # RENAME on the server, not copies: the UIDs and UIDVALIDITY stay.
    assert server_uids(w.imap, "Attic") == uids
    assert local_files(w.mail, "Attic") == files
    assert proxy.up < 0.05 * moved_bytes(msgs), (proxy.up, moved_bytes(msgs))
    before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
    w.sync()
    assert (util.server_state(w.imap), util.maildir_snapshot(w.mail)) == before
    w.assert_converged()


def test_nested_folders_renamed_on_server(proxied):
    w, proxy = proxied
    msgs = seed_far(w, "Parent", 62, 10, max_body=BODY) + \
        seed_far(w, "Parent/Child", 63, 10, max_body=BODY)
    w.sync()
    files = local_files(w.mail, "Parent"), local_files(w.mail, "Parent/Child")
    inos = dir_inode(w.mail, "Parent"), dir_inode(w.mail, "Parent/Child")
    util.check(w.imap.rename(util.q("Parent"), util.q("Renamed")), "RENAME")
    proxy.reset()
    w.sync()
    assert sorted(util.maildir_folders(w.mail)) == ["INBOX", "Renamed", "Renamed/Child"]
    assert (dir_inode(w.mail, "Renamed"), dir_inode(w.mail, "Renamed/Child")) == inos
    assert (local_files(w.mail, "Renamed"), local_files(w.mail, "Renamed/Child")) == files
    assert proxy.down < 0.05 * moved_bytes(msgs), (proxy.down, moved_bytes(msgs))
    before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
    w.sync()
    assert (util.server_state(w.imap), util.maildir_snapshot(w.mail)) == before
    w.assert_converged()


def test_nested_folders_renamed_locally(proxied):
    w, proxy = proxied
    msgs = expunge_first(w, "Parent", seed_far(w, "Parent", 64, 12, max_body=BODY), 2) + \
        expunge_first(w, "Parent/Child", seed_far(w, "Parent/Child", 65, 12, max_body=BODY), 2)
    w.sync()
    uids = server_uids(w.imap, "Parent"), server_uids(w.imap, "Parent/Child")
    os.rename(os.path.join(w.mail, "Parent"), os.path.join(w.mail, "Renamed"))
    proxy.reset()
    w.sync()
    assert util.server_folders(w.imap) == ["INBOX", "Renamed", "Renamed/Child"]
    assert (server_uids(w.imap, "Renamed"), server_uids(w.imap, "Renamed/Child")) == uids
    assert proxy.up < 0.05 * moved_bytes(msgs), (proxy.up, moved_bytes(msgs))
    before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
    w.sync()
    assert (util.server_state(w.imap), util.maildir_snapshot(w.mail)) == before
    w.assert_converged()


def test_nested_folders_renamed_on_server_flattened(proxied):
    """With Flatten each folder is a directory of its own (Parent,
    Parent.Child): each is renamed."""
    w, proxy = proxied
    w.cfg = util.make_config(w.tmp, w.user, dict(w.dovecot.ports, imaps=proxy.port),
                             w.dovecot.cert, near_opts={"Flatten": "."})
    msgs = seed_far(w, "Parent", 70, 10, max_body=BODY) + \
        seed_far(w, "Parent/Child", 71, 10, max_body=BODY)
    w.sync()
    path = lambda name: os.path.join(w.mail, name)
    inos = os.stat(path("Parent")).st_ino, os.stat(path("Parent.Child")).st_ino
    util.check(w.imap.rename(util.q("Parent"), util.q("Renamed")), "RENAME")
    proxy.reset()
    _, _, err = w.sync()
    assert "Parent: renamed to Renamed on the near side" in err, err
    assert sorted(os.listdir(w.mail)) == ["INBOX", "Renamed", "Renamed.Child"]
    assert (os.stat(path("Renamed")).st_ino, os.stat(path("Renamed.Child")).st_ino) == inos
    assert proxy.down < 0.05 * moved_bytes(msgs), (proxy.down, moved_bytes(msgs))
    before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
    w.sync()
    assert (util.server_state(w.imap), util.maildir_snapshot(w.mail)) == before


def test_folder_split_on_server_is_moved_message_by_message(proxied):
    """Partial evidence -- a folder's messages went to two new folders -- is
    no rename: each message moves on its own, none is fetched again."""
    w, proxy = proxied
    msgs = seed_far(w, "Projects", 66, 10, max_body=BODY)
    w.sync()
    for f in ("Left", "Right"):
        util.create_folder(w.imap, f)
    uid_move_all(w.imap, "Projects", "Left", msgs[:5])
    uid_move_all(w.imap, "Projects", "Right", msgs[5:])
    util.check(w.imap.select("INBOX"), "SELECT")
    util.check(w.imap.delete(util.q("Projects")), "DELETE")
    proxy.reset()
    rc, out, err = util.run_facteur(["-a", "--json"], w.cfg, check_rc=0)
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["pulled"], summary["moved_near"]) == (0, 10), summary
    assert "renamed to" not in err
    assert sorted(util.maildir_folders(w.mail)) == ["INBOX", "Left", "Right"]
    w.assert_converged()


def test_rename_onto_a_folder_the_other_side_has_is_moved_message_by_message(proxied):
    """A target the other side already has is no rename: the messages move
    into it one by one, next to what it holds."""
    w, proxy = proxied
    msgs = seed_far(w, "Projects", 68, 6, max_body=BODY)
    w.sync()
    mine = util.gen(69, 1)[0]
    util.maildir_deliver(w.mail, "Attic", mine)  # only local so far
    ino = dir_inode(w.mail, "Attic")
    util.check(w.imap.rename(util.q("Projects"), util.q("Attic")), "RENAME")
    rc, out, err = util.run_facteur(["-a", "--json"], w.cfg, check_rc=0)
    summary = json.loads(out.strip().splitlines()[-1])
    assert "renamed to" not in err, err
    assert (summary["pulled"], summary["moved_near"]) == (0, 6), summary
    assert dir_inode(w.mail, "Attic") == ino
    assert sorted(util.maildir_folders(w.mail)) == ["Attic", "INBOX"]
    w.sync()
    w.assert_converged()
    assert set(w.far("Attic")) == {m.message_id for m in msgs} | {mine.message_id}


def test_server_folder_deleted_without_remove_loses_nothing(world):
    msgs = seed_far(world, "Old", 57, 5)
    world.sync()
    util.check(world.imap.delete(util.q("Old")), "DELETE")
    world.sync()  # the folder comes back on the server...
    world.sync()  # ...and its messages with it: Remove was not set
    assert sorted(m for m, (_, f) in world.far_all().items() if f == "Old") == \
        sorted(m.message_id for m in msgs)
    world.assert_converged()


def test_server_folder_deleted_with_remove(dovecot, tmp_path):
    w = World(dovecot, tmp_path, Remove="Both")
    try:
        seed_far(w, "Old", 58, 5)
        w.sync()
        util.check(w.imap.delete(util.q("Old")), "DELETE")
        w.sync()
        assert "Old" not in util.maildir_folders(w.mail)
        w.sync()
        assert "Old" not in util.server_folders(w.imap)
        w.assert_converged()
    finally:
        w.close()


def test_trash_keeps_deleted_messages(dovecot, tmp_path):
    """Trash on either store: a deletion propagated to that side first
    copies the message into its Trash folder."""
    w = World(dovecot, tmp_path, Patterns="INBOX")
    try:
        text = open(w.cfg.path).read()
        text = text.replace("\nAccount test\n", "\nAccount test\nTrash Trash\n", 1)
        text = text.replace("SubFolders Verbatim\n", "SubFolders Verbatim\nTrash Trash\n", 1)
        open(w.cfg.path, "w").write(text)
        a, b = seed_far(w, "INBOX", 59, 2)
        w.sync()
        util.expunge_message(w.imap, "INBOX", a.message_id)  # deleted on the server
        util.maildir_delete(w.mail, b.message_id)            # deleted locally
        w.sync()
        near_trash = mailbox.Maildir(os.path.join(w.mail, "Trash"), create=False)
        assert [m["Message-ID"] for m in near_trash] == [a.message_id]
        assert list(util.server_messages(w.imap, "Trash")) == [b.message_id]
        assert w.far() == {} and w.near() == {a.message_id: ("", "Trash")}
    finally:
        w.close()


# -- EMAILID (RFC 8474): Cyrus offers OBJECTID, Dovecot 2.3 does not -------


@pytest.fixture
def cyrus_proxied(cyrus_slash, tmp_path):
    proxy = CountingProxy(cyrus_slash.ports["imaps"])
    user = cyrus_slash.new_user()
    imap = cyrus_slash.imap(user)
    ports = dict(cyrus_slash.ports, imaps=proxy.port)
    yield cyrus_slash, user, imap, ports, proxy
    try:
        imap.logout()
    except Exception:
        pass
    proxy.close()


def _anonymous_and_twins(body_len=20000):
    """Three messages without Message-ID and two sharing one, all five of
    one size: nothing but an EMAILID tells them apart."""
    def message(n, mid):
        head = ["From: a@example.org", "To: b@example.org",
                "Subject: no id %d" % n, "Date: Mon, 1 Jan 2024 09:00:00 +0000"]
        if mid:
            head.append("Message-ID: %s" % mid)
        else:
            pad = len("Message-ID: <twin@mailgen.facteur.test>") - len("X-Pad: ")
            head.append("X-Pad: " + "x" * pad)
        # Incompressible, so the relay's count means something under DEFLATE.
        raw = random.Random(n).randbytes(body_len * 3 // 4)
        body = base64.encodebytes(raw).decode().replace("\n", "\r\n")
        data = ("\r\n".join(head) + "\r\n\r\n" + body).encode()
        return mailgen.Message(mid, mailgen.BASE_DATE, data)

    msgs = [message(0, None), message(1, None), message(2, None),
            message(3, "<twin@mailgen.facteur.test>"),
            message(4, "<twin@mailgen.facteur.test>")]
    assert len({len(m.data) for m in msgs}) == 1
    return msgs


def _inodes(root, folder):
    return sorted(ino for path, (_, _, ino) in util.maildir_snapshot(root).items()
                  if path.split(os.sep)[0] == folder)


def _moved_by_server(cyrus_proxied, tmp_path, account_opts=None):
    """Syncs the five look-alikes, moves them on the server from INBOX to
    Work, syncs again through the counting relay; returns the summary, the
    bytes that came down and the inodes before and after."""
    server, user, imap, ports, proxy = cyrus_proxied
    cfg = util.make_config(tmp_path, user, ports, server.cert,
                           account_opts=account_opts)
    msgs = _anonymous_and_twins()
    util.seed(imap, "INBOX", msgs, create=False)
    util.create_folder(imap, "Work")
    util.sync(cfg)
    before = _inodes(cfg.maildir, "INBOX")
    assert len(before) == 5
    util.check(imap.select("INBOX"), "SELECT")
    util.check(imap.uid("MOVE", "1:*", "Work"), "MOVE")
    proxy.reset()
    rc, out, err = util.run_facteur(["-a", "--json"], cfg, check_rc=0)
    summary = json.loads(out.strip().splitlines()[-1])
    after = _inodes(cfg.maildir, "Work")
    assert _inodes(cfg.maildir, "INBOX") == []
    assert sorted(util.maildir_bodies_list(cfg.maildir, "Work")) == \
        sorted(m.data.replace(b"\r\n", b"\n") for m in msgs)
    return summary, proxy.down, before, after, sum(len(m.data) for m in msgs)


def test_server_moves_matched_by_emailid(cyrus_proxied, tmp_path):
    summary, down, before, after, size = _moved_by_server(cyrus_proxied, tmp_path)
    # Renamed into place (same inodes), not fetched again.
    assert (summary["pulled"], summary["moved_near"]) == (0, 5), summary
    assert after == before
    assert down < 0.1 * size, (down, size)


def test_without_objectid_the_look_alikes_are_fetched_again(cyrus_proxied, tmp_path):
    """The same with OBJECTID hidden: Message-ID and size cannot tell these
    apart, so they are transferred (never merged) -- what EMAILID saves."""
    summary, down, before, after, size = _moved_by_server(
        cyrus_proxied, tmp_path, account_opts={"DisableExtension": "OBJECTID"})
    assert (summary["pulled"], summary["moved_near"]) == (5, 0), summary
    assert down > 0.5 * size, (down, size)  # base64 under DEFLATE: about 3/4


def test_folder_renamed_locally_on_cyrus(cyrus_proxied, tmp_path):
    """Cyrus too keeps a renamed mailbox's UIDs, so RENAME keeps every
    pairing there as well."""
    server, user, imap, ports, proxy = cyrus_proxied
    cfg = util.make_config(tmp_path, user, ports, server.cert)
    msgs = util.seed(imap, "Projects", util.gen(67, 12, max_body=BODY))
    util.sync(cfg)
    util.check(imap.select("INBOX"), "SELECT")
    uids = server_uids(imap, "Projects")
    os.rename(os.path.join(cfg.maildir, "Projects"), os.path.join(cfg.maildir, "Attic"))
    proxy.reset()
    _, _, err = util.sync(cfg)
    assert "Projects: renamed to Attic on the far side" in err, err
    assert server_uids(imap, "Attic") == uids
    assert "Projects" not in util.server_folders(imap)
    assert proxy.up < 0.05 * moved_bytes(msgs), (proxy.up, moved_bytes(msgs))
    before = util.server_state(imap), util.maildir_snapshot(cfg.maildir)
    util.sync(cfg)
    assert (util.server_state(imap), util.maildir_snapshot(cfg.maildir)) == before


def test_uploaded_message_moved_on_server_matched_by_emailid(cyrus_proxied, tmp_path):
    """A message facteur uploaded (no Message-ID: only its EMAILID can
    identify it) learns its EMAILID on the next run, so a move on the
    server after that is a local rename."""
    server, user, imap, ports, proxy = cyrus_proxied
    cfg = util.make_config(tmp_path, user, ports, server.cert)
    util.create_folder(imap, "Work")
    util.sync(cfg)
    msg = _anonymous_and_twins()[0]
    util.maildir_deliver(cfg.maildir, "INBOX", msg)
    util.sync(cfg)  # uploads it
    util.sync(cfg)  # lists the new UID, with its EMAILID
    before = _inodes(cfg.maildir, "INBOX")
    util.check(imap.select("INBOX"), "SELECT")
    util.check(imap.uid("MOVE", "1:*", "Work"), "MOVE")
    rc, out, err = util.run_facteur(["-a", "--json"], cfg, check_rc=0)
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["pulled"], summary["moved_near"]) == (0, 1), summary
    assert _inodes(cfg.maildir, "Work") == before
    assert _inodes(cfg.maildir, "INBOX") == []
