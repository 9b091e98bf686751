"""facteur against an IMAP4rev2-only server (RFC 9051), scripted with the
test server of tests/hostile: it advertises nothing but IMAP4rev2 (the
extensions that version includes are not listed), speaks UTF-8 mailbox
names, has no LSUB, sends no \\Recent, and adds \\NonExistent and extended
data to LIST replies.  Dovecot 2.3 and Cyrus 3.6 in the suite are IMAP4rev1
servers, so this is where the version is exercised end to end; the
protocol details are in tests/unit/test_imap_rev2.c."""

import mailbox
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hostile"))

import harness  # noqa: E402
import imapserver  # noqa: E402
import util  # noqa: E402

CAPS = "IMAP4rev2 AUTH=PLAIN"
FRUH = "Fr\u00fch"
LOCAL = "Lokal-\u00e4"


class Rev2Only(imapserver.Scenario):
    def __init__(self):
        super().__init__()
        self.folders = {"INBOX": imapserver.Folder("INBOX", 1000, 3),
                        FRUH: imapserver.Folder(FRUH, 1001, 2),
                        "Archiv/2024": imapserver.Folder("Archiv/2024", 1002, 1)}

    def greeting(self, conn):
        conn.send_line("* OK [CAPABILITY %s] rev2 server ready" % CAPS)

    def list_lines(self, conn):
        out = ['* LIST (\\NonExistent \\HasChildren) "/" Archiv '
               '("CHILDINFO" ("SUBSCRIBED"))']
        for name in self.folders:
            out.append('* LIST (\\HasNoChildren) "/" %s ("OLDNAME" ("Old"))'
                       % imapserver.quote(name))
        return out

    def status_line(self, name):
        f = self.folders[name]
        return "* STATUS %s (MESSAGES %d UIDNEXT %d UIDVALIDITY %d SIZE 1)" % (
            imapserver.quote(name), len(f.msgs), f.uidnext, f.uidvalidity)

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "CAPABILITY":
            conn.send_line("* CAPABILITY " + CAPS)
        elif cmd in ("LSUB", "ENABLE") or "&" in args:
            # Not IMAP4rev2: LSUB is gone, names are UTF-8, not mUTF-7.
            conn.send_line(tag + " BAD not IMAP4rev2: " + cmd)
        elif cmd == "LIST" and "RETURN" in args and "STATUS" in args:
            for l in self.list_lines(conn):
                conn.send_line(l)
                m = re.search(r'"/" "((?:[^"\\]|\\.)*)"', l)
                if m and m.group(1) in self.folders:
                    conn.send_line(self.status_line(m.group(1)))
        else:
            return False
        conn.send_line(tag + " OK done")
        return True


def test_rev2_only_server_syncs_both_ways(tmp_path):
    sc = Rev2Only()
    with imapserver.HostileIMAP(sc) as srv:
        cfg, maildir = harness.imap_config(tmp_path, srv.port, timeout=5)
        r = harness.run_facteur(cfg, tmp_path)
        assert r.rc == 0, r.err
        assert not srv.errors, srv.errors
        # Every selectable folder, by its UTF-8 name; the \NonExistent
        # parent is no folder.
        assert sorted(util.maildir_folders(maildir)) == sorted(
            ["INBOX", FRUH, "Archiv/2024"])
        near = util.maildir_messages(maildir)
        assert len(near) == 6
        assert near["<h1.%s@hostile.test>" % FRUH] == ("S", FRUH)
        sent = list(sc.commands)
        assert any(re.match(r"A\d+ NAMESPACE$", c) for c in sent)
        assert any(re.match(r'A\d+ LIST "" "\*" RETURN \(STATUS \(', c) for c in sent)
        assert any(c.endswith('"%s"' % FRUH) and " SELECT " in c for c in sent), sent

        # Local changes: a new folder with a non-ASCII name, a new message,
        # a deletion to expunge on the server.
        util.maildir_deliver(maildir, LOCAL, util.gen(81, 1, max_body=300)[0])
        util.maildir_set_flags(maildir, "<h2.INBOX@hostile.test>", "T")
        del sc.commands[:]
        r = harness.run_facteur(cfg, tmp_path)
        assert r.rc == 0, r.err
        sent = list(sc.commands)
        assert [c for c in sent if " CREATE " in c] == [
            c for c in sent if c.endswith(' CREATE "%s"' % LOCAL)] != []
        assert len(sc.folders[LOCAL].msgs) == 1
        assert [m[0] for m in sc.folders["INBOX"].msgs] == [1, 3]
        # UID EXPUNGE: UIDPLUS is part of IMAP4rev2.
        assert any(re.match(r"A\d+ UID EXPUNGE 2$", c) for c in sent), sent
        assert not any(re.match(r"A\d+ EXPUNGE$", c) for c in sent), sent
        assert not any(" BAD " in c for c in sent)
        assert "<h2.INBOX@hostile.test>" not in util.maildir_messages(maildir)
        local = mailbox.Maildir(util.maildir_folders(maildir)[LOCAL], create=False)
        assert len(local) == 1
