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
