"""Parallel N runs several channels at once (one process each); every
channel ends synchronized and a failing one makes the run exit 1 without
stopping the others."""

import os

import util
from test_sync import seed_far


def write_channels(tmp_path, dovecot, users, parallel, bad=False):
    texts = []
    mails = []
    for i, u in enumerate(users):
        d = tmp_path / ("c%d" % i)
        d.mkdir()
        opts = {"account_opts": {"Pass": "wrong"}} if bad and i == 1 else {}
        cfg = util.make_config(d, u, dovecot.ports, dovecot.cert, name="c%d" % i, **opts)
        texts.append(open(cfg.path).read().replace("# facteur test config\n", ""))
        mails.append(cfg.maildir)
    path = tmp_path / "all.rc"
    path.write_text("Parallel %d\n\n" % parallel + "\n".join(texts))
    os.chmod(path, 0o600)
    return str(path), mails


def test_channels_run_in_parallel(dovecot, tmp_path):
    users = [dovecot.new_user() for _ in range(3)]
    seeded = []
    for i, u in enumerate(users):
        imap = dovecot.imap(u)
        seeded.append(util.seed(imap, "INBOX", util.gen(60 + i, 20, max_body=5000),
                                create=False))
        imap.logout()
    path, mails = write_channels(tmp_path, dovecot, users, 3)
    rc, out, err = util.run_facteur(["-a"], path, check_rc=0)
    for msgs, mail in zip(seeded, mails):
        assert sorted(util.maildir_messages(mail)) == sorted(m.message_id for m in msgs)


def test_one_failing_channel_does_not_stop_the_others(dovecot, tmp_path):
    users = [dovecot.new_user() for _ in range(3)]
    for i, u in enumerate(users):
        imap = dovecot.imap(u)
        util.seed(imap, "INBOX", util.gen(70 + i, 5, max_body=5000), create=False)
        imap.logout()
    path, mails = write_channels(tmp_path, dovecot, users, 2, bad=True)
    rc, out, err = util.run_facteur(["-a"], path)
    assert rc == 1
    assert "c1" in err and "login refused" in err
    assert len(util.maildir_messages(mails[0])) == 5
    assert len(util.maildir_messages(mails[2])) == 5


def test_folders_of_one_channel_in_parallel(dovecot, tmp_path):
    """ParallelFolders: folders with much to transfer are applied over
    several sessions at once; both sides end identical, and the next run
    finds nothing to do (the journal recorded every folder)."""
    u = dovecot.new_user()
    imap = dovecot.imap(u)
    want = {}
    for i, folder in enumerate(("INBOX", "Archive", "Lists/dev", "Sent")):
        msgs = util.gen(900 + i, 30, max_body=90000)
        util.seed(imap, folder, msgs, create=folder != "INBOX")
        want[folder] = sorted(m.message_id for m in msgs)
    cfg = util.make_config(tmp_path, u, dovecot.ports, dovecot.cert)
    # Local mail to upload too, enough to make its folder worth a session.
    for m in util.gen(950, 30, max_body=90000):
        util.maildir_deliver(cfg.maildir, "Drafts", m)
        want.setdefault("Drafts", []).append(m.message_id)
    want["Drafts"].sort()
    text = open(cfg.path).read()
    with open(cfg.path, "w") as f:
        f.write("ParallelFolders 3\n" + text)
    # A first sync: whole folders, listed and applied by each session.
    rc, out, err = util.run_facteur(["-V", "-a"], cfg.path, check_rc=0)
    assert "5 folders listed and applied (first sync) over 3 sessions" in out + err, out + err
    assert local_by_folder(cfg.maildir) == want
    for folder, mids in want.items():
        assert sorted(util.server_messages(imap, folder)) == mids, folder
    rc, out, err = util.run_facteur(["-a"], cfg.path, check_rc=0)
    assert "pulled 0 " in out + err and "pushed 0 " in out + err, out + err
    assert "folders applied over" not in out + err
    assert "first sync" not in out + err
    # Later mail: listed first, then the heavy folders over 3 sessions.
    for i, folder in enumerate(("INBOX", "Archive", "Sent")):
        msgs = util.gen(980 + i, 30, max_body=90000)
        util.seed(imap, folder, msgs, create=False)
        want[folder] = sorted(want[folder] + [m.message_id for m in msgs])
    rc, out, err = util.run_facteur(["-V", "-a"], cfg.path, check_rc=0)
    assert "3 folders applied over 3 sessions" in out + err, out + err
    assert "first sync" not in out + err
    assert local_by_folder(cfg.maildir) == want
    imap.logout()


def local_by_folder(maildir):
    local = {}
    for mid, _, folder, _ in util.maildir_list(maildir):
        local.setdefault(folder, []).append(mid)
    return {f: sorted(v) for f, v in local.items() if v}


def test_parallel_folders_one_keeps_one_session(dovecot, tmp_path):
    u = dovecot.new_user()
    imap = dovecot.imap(u)
    for i, folder in enumerate(("INBOX", "Archive")):
        util.seed(imap, folder, util.gen(960 + i, 20, max_body=90000),
                  create=folder != "INBOX")
    imap.logout()
    cfg = util.make_config(tmp_path, u, dovecot.ports, dovecot.cert)
    text = open(cfg.path).read()
    with open(cfg.path, "w") as f:
        f.write("ParallelFolders 1\n" + text)
    rc, out, err = util.run_facteur(["-V", "-a"], cfg.path, check_rc=0)
    assert "folders applied over" not in out + err
    assert len(util.maildir_messages(cfg.maildir)) == 40



FIRST_SYNC_FOLDERS = ("INBOX", "Archive", "Lists/dev", "Sent", "Work")


def seed_folders(imap, base, count=20):
    want = {}
    for i, folder in enumerate(FIRST_SYNC_FOLDERS):
        msgs = util.gen(base + i, count, max_body=20000)
        util.seed(imap, folder, msgs, create=folder != "INBOX")
        want[folder] = sorted(m.message_id for m in msgs)
    return want


def test_first_sync_moves_afterwards(dovecot, tmp_path):
    """After a first sync made folder by folder, the journal knows every
    folder: a move on the server is then paired, not downloaded again."""
    u = dovecot.new_user()
    imap = dovecot.imap(u)
    want = seed_folders(imap, 1200)
    cfg = util.make_config(tmp_path, u, dovecot.ports, dovecot.cert)
    rc, out, err = util.run_facteur(["-V", "-a"], cfg.path, check_rc=0)
    assert "listed and applied (first sync)" in out + err, out + err
    assert local_by_folder(cfg.maildir) == want
    moved = want["Archive"][0]
    imap.select("Archive")
    typ, data = imap.uid("SEARCH", "HEADER", "Message-ID", moved.strip("<>"))
    uid = data[0].split()[0].decode()
    assert imap.uid("MOVE", uid, "Work")[0] == "OK"
    rc, out, err = util.run_facteur(["-V", "-a"], cfg.path, check_rc=0)
    assert "first sync" not in out + err
    assert "pulled 0 " in out + err and "moved 0 far, 1 near" in out + err, out + err
    local = local_by_folder(cfg.maildir)
    assert moved in local["Work"] and moved not in local["Archive"]
    assert sum(map(len, local.values())) == sum(map(len, want.values()))
    imap.logout()


def test_no_whole_folders_where_a_move_is_possible(dovecot, tmp_path):
    """Folders the journal knows, or an mbsync state to take over, may hide
    moves: then every folder is listed before any is applied."""
    u = dovecot.new_user()
    imap = dovecot.imap(u)
    seed_folders(imap, 1300)
    cfg = util.make_config(tmp_path, u, dovecot.ports, dovecot.cert)
    # An mbsync state beside one folder (unusable: it is only looked at).
    state = os.path.join(cfg.maildir, "Sent")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(state, sub))
    with open(os.path.join(state, ".mbsyncstate"), "w") as f:
        f.write("FarUidValidity 1\n")
    rc, out, err = util.run_facteur(["-V", "-a"], cfg.path, check_rc=0)
    assert "first sync" not in out + err, out + err
    assert "mbsync state not imported" in out + err, out + err
    # A new folder beside known ones: listed with the others first.
    util.seed(imap, "Later", util.gen(1350, 5, max_body=5000))
    rc, out, err = util.run_facteur(["-V", "-a"], cfg.path, check_rc=0)
    assert "first sync" not in out + err, out + err
    assert len(util.maildir_messages(cfg.maildir)) == 5 * 20 + 5
    imap.logout()
