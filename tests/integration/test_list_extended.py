"""LIST-EXTENDED (RFC 5258) and LIST-STATUS (RFC 5819) against Dovecot,
which offers both: facteur's protocol trace (-D) shows the LIST form it
uses, the server's replies show the \\Noselect parents and \\NonExistent
subscriptions it has to skip, and hiding the extensions with
DisableExtension must give the same folders and messages (checked with
imaplib and mailbox.Maildir).  IMAP4rev2 is in test_imap4rev2.py."""

import re
import time

import pytest

import util

LIST_STATUS_CMD = re.compile(
    r'^\S+ LIST "" "\*" RETURN \(STATUS \(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ\)\)$')
PLAIN_LIST_CMD = re.compile(r'^\S+ LIST "" "\*"$')


def lines(trace, side):
    """Client ("imap> ") or server ("imap< ") lines of a -D trace."""
    prefix = "imap%s " % side
    return [l[len(prefix):] for l in trace.splitlines() if l.startswith(prefix)]


def run_traced(cfg):
    return util.run_facteur(["-a", "-D"], cfg, check_rc=0)[2]


def far_all(imap):
    out = {}
    for f in util.server_folders(imap):
        for mid, flags, _ in util.server_list(imap, f):
            out[mid] = (util.letters(flags), f)
    return out


def config(dovecot, tmp_path, user, hidden, store_opts=""):
    opts = {"DisableExtension": hidden} if hidden else {}
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert,
                           account_opts=opts)
    if store_opts:
        text = open(cfg.path).read()
        text = text.replace("\nAccount test\n", "\nAccount test\n" + store_opts, 1)
        open(cfg.path, "w").write(text)
    return cfg


@pytest.mark.parametrize("hidden", [None, "LIST-STATUS", "LIST-EXTENDED",
                                    "LIST-EXTENDED LIST-STATUS"])
def test_list_forms_and_noselect_parent(dovecot, tmp_path, hidden):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    try:
        cfg = config(dovecot, tmp_path, user, hidden)
        msgs = util.seed(imap, "INBOX", util.gen(91, 2), create=False)
        msgs += util.seed(imap, "Parent/Child", util.gen(92, 2))  # Parent: \Noselect
        msgs += util.seed(imap, "Solo", util.gen(93, 1))
        util.create_folder(imap, "Empty")
        trace = run_traced(cfg)

        sent, got = lines(trace, ">"), lines(trace, "<")
        assert any(re.match(r'\* LIST \(\\Noselect[^)]*\) "/" Parent$', l)
                   for l in got), got
        with_status = not hidden
        assert any(LIST_STATUS_CMD.match(l) for l in sent) == with_status, sent
        assert any(PLAIN_LIST_CMD.match(l) for l in sent) == (not with_status), sent
        if with_status:
            assert any(l.startswith("* STATUS ") for l in got)
        assert sorted(util.maildir_folders(cfg.maildir)) == [
            "Empty", "INBOX", "Parent/Child", "Solo"]
        assert "Parent" not in util.server_folders(imap)
        near = util.maildir_messages(cfg.maildir)
        assert near == far_all(imap)
        assert set(near) == {m.message_id for m in msgs}

        # Once the Maildir has settled (2 s) and a run recorded it, nothing
        # changed: every folder is found unchanged from its STATUS, which
        # LIST-STATUS brought along with the listing.
        time.sleep(2.1)
        util.run_facteur(["-a"], cfg, check_rc=0)
        sent = lines(run_traced(cfg), ">")
        assert not [l for l in sent if re.match(r"\S+ (SELECT|EXAMINE) ", l)], sent
        status = [l for l in sent if re.match(r"\S+ STATUS ", l)]
        assert len(status) == (0 if with_status else 4), sent
    finally:
        imap.logout()


@pytest.mark.parametrize("hidden", [None, "LIST-EXTENDED"])
def test_subscribed_only(dovecot, tmp_path, hidden):
    """SubscribedOnly: LIST (SUBSCRIBED) with LIST-EXTENDED, LSUB without;
    a subscription whose mailbox is gone and an unsubscribed folder are
    not synchronized either way."""
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    try:
        cfg = config(dovecot, tmp_path, user, hidden, "SubscribedOnly yes\n")
        inbox = util.seed(imap, "INBOX", util.gen(94, 1), create=False)
        sub = util.seed(imap, "Sub", util.gen(95, 2))
        deep = util.seed(imap, "Deep/Er", util.gen(96, 1))  # Deep: not subscribed
        util.seed(imap, "Unsub", util.gen(97, 1))
        util.create_folder(imap, "Gone")
        for f in ("INBOX", "Sub", "Deep/Er", "Gone"):
            util.check(imap.subscribe(util.q(f)), "SUBSCRIBE")
        util.check(imap.delete(util.q("Gone")), "DELETE")  # stays subscribed
        trace = run_traced(cfg)

        sent, got = lines(trace, ">"), lines(trace, "<")
        if hidden:
            assert any(re.match(r'^\S+ LSUB "" "\*"$', l) for l in sent), sent
        else:
            assert any(re.match(r'^\S+ LIST \(SUBSCRIBED\) "" "\*"$', l)
                       for l in sent), sent
            assert any(re.match(r'\* LIST \([^)]*\\NonExistent[^)]*\) "/" Gone$', l)
                       for l in got), got
        assert any(re.match(r"^\S+ LSUB ", l) for l in sent) == bool(hidden)
        assert sorted(util.maildir_folders(cfg.maildir)) == ["Deep/Er", "INBOX", "Sub"]
        assert "Gone" not in util.server_folders(imap)
        near = util.maildir_messages(cfg.maildir)
        assert set(near) == {m.message_id for m in inbox + sub + deep}
        util.run_facteur(["-a"], cfg, check_rc=0)
        assert sorted(util.maildir_folders(cfg.maildir)) == ["Deep/Er", "INBOX", "Sub"]
        assert "Gone" not in util.server_folders(imap)
    finally:
        imap.logout()


def test_special_use_on_cyrus(cyrus_slash, tmp_path):
    """Cyrus offers SPECIAL-USE (Dovecot as configured here does not): the
    listing asks for the special-use attributes along with the statuses,
    and mailboxes carrying one sync like any other."""
    server = cyrus_slash
    user = server.new_user()
    imap = server.imap(user)
    try:
        for name, use in (("Trash", "\\Trash"), ("Archive", "\\Archive")):
            util.check(imap._simple_command("CREATE", util.q(name),
                                            "(USE (%s))" % use), "CREATE " + name)
        msgs = util.seed(imap, "Archive", util.gen(98, 2), create=False)
        msgs += util.seed(imap, "Trash", util.gen(99, 1), create=False)
        cfg = util.make_config(tmp_path, user, server.ports, server.cert)
        trace = run_traced(cfg)

        sent, got = lines(trace, ">"), lines(trace, "<")
        assert any(re.match(r'^\S+ LIST "" "\*" RETURN \(SPECIAL-USE STATUS '
                            r'\(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ\)\)$', l)
                   for l in sent), sent
        for name, use in (("Trash", "Trash"), ("Archive", "Archive")):
            assert any(re.match(r'\* LIST \([^)]*\\%s[^)]*\) "/" "?%s"?$' % (use, name), l)
                       for l in got), got
        assert sorted(util.maildir_folders(cfg.maildir)) == ["Archive", "INBOX", "Trash"]
        near = util.maildir_messages(cfg.maildir)
        assert near == far_all(imap)
        assert set(near) == {m.message_id for m in msgs}
    finally:
        imap.logout()
