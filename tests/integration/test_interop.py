"""The server-independent scenarios against every server: Dovecot, Cyrus
with "/" (unixhierarchysep, altnamespace) and "." (prefix INBOX.)
separators, and Courier (prefix INBOX., ".", no MOVE/CONDSTORE/QRESYNC).

facteur runs with one and the same config on every server (UseNamespace
default): whatever the server's namespace, the local layout must be the
same, so every assertion is written in local folder names and mapped to the
server's with conftest_servers.far_name.  The server side is read with
imaplib, the local side with mailbox.Maildir, never with facteur.
"""

import json
import os
import re
import signal
import time

import pytest

import util
from conftest_servers import far_name, local_name


# What each server must (and must not) advertise for the matrix to mean
# what the README says: the point of Courier is that it lacks these.
EXPECTED_CAPS = {
    "dovecot": ({"CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS"}, set()),
    "cyrus": ({"CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS", "OBJECTID"}, set()),
    "courier": ({"UIDPLUS", "NAMESPACE"},
                {"MOVE", "CONDSTORE", "QRESYNC", "COMPRESS=DEFLATE"}),
}


def test_server_is_what_the_scenarios_assume(server):
    """The personal namespace and capabilities the controllers claim are the
    ones the server announces, so a passing scenario covered them."""
    user = server.new_user()
    imap = server.imap(user)
    try:
        data = util.check(imap.namespace(), "NAMESPACE")[0]
        personal = re.match(rb'\(\("([^"]*)" "(.)"\)', data)
        assert personal, "unexpected NAMESPACE %r" % data
        prefix, sep = personal.group(1).decode(), personal.group(2).decode()
        assert (prefix, sep) == (getattr(server, "prefix", ""),
                                 getattr(server, "sep", "/"))
        # After login: Dovecot announces less before it.
        caps = set(util.check(imap.capability(), "CAPABILITY")[0]
                   .decode().upper().split())
        must, must_not = EXPECTED_CAPS[getattr(server, "kind", "dovecot")]
        assert must <= caps
        assert not (must_not & caps)
    finally:
        imap.logout()


class World:
    """One fresh user on `server`, its imaplib connection, a facteur config."""

    def __init__(self, server, tmp_path, near_opts=None, **channel_opts):
        self.server = server
        self.user = server.new_user()
        self.imap = server.imap(self.user)
        self.tmp = tmp_path
        self.cfg = util.make_config(tmp_path, self.user, server.ports,
                                    server.cert, near_opts=near_opts,
                                    **channel_opts)
        self.mail = self.cfg.maildir

    def sync(self, *extra):
        return util.sync(self.cfg, *extra)

    def fn(self, folder):
        return far_name(self.server, folder)

    def far(self, folder="INBOX"):
        return util.server_messages(self.imap, self.fn(folder))

    def far_folders(self):
        return sorted(local_name(self.server, f)
                      for f in util.server_folders(self.imap))

    def far_all(self):
        """{Message-ID: (letters, local folder name)} over the server."""
        out = {}
        for f in util.server_folders(self.imap):
            for mid, flags, _ in util.server_list(self.imap, f):
                assert mid not in out, "duplicate %s on the server (%s, %s)" % (
                    mid, out[mid][1], f)
                out[mid] = (util.letters(flags), local_name(self.server, f))
        return out

    def near(self):
        return util.maildir_messages(self.mail)

    def assert_converged(self):
        assert self.far_all() == self.near()

    def seed(self, folder, seed, count, flags=None, max_body=50000):
        msgs = util.gen(seed, count, max_body=max_body)
        name = self.fn(folder)
        exists = name == "INBOX" or name in util.server_folders(self.imap)
        return util.seed(self.imap, name, msgs, flags_for=flags,
                         create=not exists)

    def close(self):
        try:
            self.imap.logout()
        except Exception:
            pass


@pytest.fixture
def world(server, tmp_path):
    w = World(server, tmp_path)
    yield w
    w.close()


def test_namespace_maps_to_the_same_local_layout(world):
    world.seed("INBOX", 1, 2)
    world.seed("Work", 2, 2)
    world.seed("Lists/Dev", 3, 2)
    world.sync()
    local = sorted(util.maildir_folders(world.mail))
    # The same names on both sides, whatever the server's prefix and
    # separator; Cyrus also makes the parent "Lists" a real mailbox.
    assert local == world.far_folders()
    assert set(local) - {"INBOX", "Work", "Lists/Dev"} <= {"Lists"}
    for m, (_, folder) in world.near().items():
        assert folder in ("INBOX", "Work", "Lists/Dev")
    world.assert_converged()
    # And back: a local nested folder lands under the personal namespace.
    for m in util.gen(4, 2):
        util.maildir_deliver(world.mail, "Local/Sub", m)
    world.sync()
    assert world.fn("Local/Sub") in util.server_folders(world.imap)
    world.assert_converged()


def test_new_messages_each_way(world):
    first = world.seed("INBOX", 10, 3) + world.seed("Work", 11, 3)
    world.sync()
    later_far = world.seed("Work", 12, 2, flags=lambda i: "S")
    later_near = util.gen(13, 4)
    for i, m in enumerate(later_near):
        util.maildir_deliver(world.mail, "INBOX" if i % 2 else "Work", m,
                             flags="F" if i == 0 else "")
    world.sync()
    world.assert_converged()
    far = world.far_all()
    assert len(far) == len(first) + len(later_far) + len(later_near)
    for m in later_far:
        assert far[m.message_id] == ("S", "Work")
    bodies = util.server_bodies(world.imap, "INBOX")
    bodies.update(util.server_bodies(world.imap, world.fn("Work")))
    for i, m in enumerate(later_near):
        assert bodies[m.message_id] == m.data
        assert far[m.message_id] == ("F" if i == 0 else "",
                                     "INBOX" if i % 2 else "Work")
    near_bodies = util.maildir_bodies(world.mail, "Work")
    for m in later_far:
        assert near_bodies[m.message_id] == util.crlf_to_lf(m.data)


def test_flags_each_way_and_both(world):
    a, b, c, d, e, f = world.seed("INBOX", 20, 6,
                                  flags=lambda i: "S" if i == 3 else "")
    world.sync()
    # $Forwarded (P) is a keyword, not a system flag: servers store those
    # differently (Courier in a side file).
    util.store_flags(world.imap, "INBOX", e.message_id, "+FLAGS", "P")
    util.maildir_set_flags(world.mail, f.message_id, "DP")
    util.store_flags(world.imap, "INBOX", a.message_id, "+FLAGS", "S")
    util.maildir_set_flags(world.mail, b.message_id, "F")
    util.store_flags(world.imap, "INBOX", c.message_id, "+FLAGS", "S")
    util.maildir_set_flags(world.mail, c.message_id, "R")
    util.store_flags(world.imap, "INBOX", d.message_id, "-FLAGS", "S")
    util.maildir_set_flags(world.mail, d.message_id, "FS")
    world.sync()
    want = {a.message_id: "S", b.message_id: "F", c.message_id: "RS",
            d.message_id: "F", e.message_id: "P", f.message_id: "DP"}
    far = {mid: util.letters(f) for mid, f in world.far("INBOX").items()}
    near = {mid: fl for mid, (fl, _) in world.near().items()}
    assert far == want
    assert near == want


def test_deletions_each_way(world):
    msgs = world.seed("Work", 30, 5)
    world.sync()
    util.expunge_message(world.imap, world.fn("Work"), msgs[0].message_id)
    util.maildir_delete(world.mail, msgs[1].message_id)
    world.sync()
    left = {m.message_id for m in msgs[2:]}
    assert set(world.far("Work")) == left
    assert set(world.near()) == left
    world.assert_converged()


def test_folder_creation_each_way(world):
    world.seed("INBOX", 50, 1)
    world.sync()
    far_new = world.seed("Far/Made", 51, 2)
    near_new = util.gen(52, 2)
    for m in near_new:
        util.maildir_deliver(world.mail, "Near/Made", m)
    world.sync()
    assert "Far/Made" in util.maildir_folders(world.mail)
    assert "Near/Made" in world.far_folders()
    assert set(world.far("Near/Made")) == {m.message_id for m in near_new}
    assert {mid for mid, (_, f) in world.near().items() if f == "Far/Made"} \
        == {m.message_id for m in far_new}
    world.assert_converged()


def _server_move(w, src, dst, message_id):
    """Move with COPY + \\Deleted + EXPUNGE: every server has these."""
    util.check(w.imap.select(util.q(w.fn(src))), "SELECT " + src)
    uid = util.find_uid(w.imap, message_id)
    util.check(w.imap.uid("COPY", str(uid), util.q(w.fn(dst))), "COPY")
    util.check(w.imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)"),
               "STORE")
    util.check(w.imap.expunge(), "EXPUNGE")


def _local_move(w, dst, message_id):
    src_folder, key = [(f, k) for mid, _, f, k in util.maildir_list(w.mail)
                       if mid == message_id][0]
    folders = util.maildir_folders(w.mail)
    for sub in ("cur", "new"):
        d = os.path.join(folders[src_folder], sub)
        for name in os.listdir(d):
            if name.split(":", 1)[0] == key:
                os.rename(os.path.join(d, name),
                          os.path.join(folders[dst], sub, name))
                return
    raise AssertionError("%s not found locally" % message_id)


def test_moves_each_way(world):
    inbox = world.seed("INBOX", 60, 4, flags=lambda i: "S" if i % 2 else "")
    world.seed("Archive", 61, 1)
    world.sync()
    _server_move(world, "INBOX", "Archive", inbox[0].message_id)
    _local_move(world, "Archive", inbox[1].message_id)
    rc, out, err = util.run_facteur(["-a", "--json"], world.cfg, check_rc=0)
    summary = json.loads(out.strip().splitlines()[-1])
    # Settled as moves on the other side (a rename locally, UID MOVE or
    # COPY + EXPUNGE on the server), not as a download plus an upload.
    assert (summary["pulled"], summary["pushed"]) == (0, 0), summary
    assert summary["moved_near"] + summary["moved_far"] == 2, summary
    world.assert_converged()
    near = world.near()
    assert near[inbox[0].message_id] == ("", "Archive")
    assert near[inbox[1].message_id] == ("S", "Archive")
    assert set(world.far("INBOX")) == {m.message_id for m in inbox[2:]}
    # Settled: another run changes nothing on either side.
    before = util.server_state(world.imap), util.maildir_snapshot(world.mail)
    world.sync()
    assert (util.server_state(world.imap),
            util.maildir_snapshot(world.mail)) == before


def _uids(w, folder):
    """(UIDVALIDITY, sorted UIDs) of a server folder."""
    return (util.server_status(w.imap, w.fn(folder))["UIDVALIDITY"],
            sorted(uid for _, _, uid in util.server_list(w.imap, w.fn(folder))))


def test_folder_renames_each_way(world):
    """A folder renamed on the server is renamed locally and one renamed
    locally is renamed on the server (RENAME: the UIDs stay), nothing is
    transferred, and the next run has nothing left to do."""
    world.seed("Projects", 62, 4, flags=lambda i: "S" if i % 2 else "")
    notes = world.seed("Notes", 63, 4)
    util.expunge_message(world.imap, world.fn("Notes"), notes[0].message_id)
    world.sync()
    folders = util.maildir_folders(world.mail)
    ino = os.stat(folders["Projects"]).st_ino
    uids = _uids(world, "Notes")
    assert min(uids[1]) > 1  # a copy would start at 1
    util.check(world.imap.select("INBOX"), "SELECT")
    util.check(world.imap.rename(util.q(world.fn("Projects")), util.q(world.fn("Archive"))),
               "RENAME")
    os.rename(folders["Notes"], os.path.join(os.path.dirname(folders["Notes"]), "Attic"))
    rc, out, err = util.run_facteur(["-a", "--json"], world.cfg, check_rc=0)
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["pulled"], summary["pushed"]) == (0, 0), summary
    assert "Projects: renamed to Archive on the near side" in err, err
    assert "Notes: renamed to Attic on the far side" in err, err
    assert os.stat(util.maildir_folders(world.mail)["Archive"]).st_ino == ino
    if getattr(world.server, "kind", "dovecot") == "courier":
        # Courier's RENAME renumbers (a new UIDVALIDITY): the moves stay
        # pending and the next run pairs them by Message-ID and size.
        assert _uids(world, "Attic")[0] != uids[0]
        rc, out, err = util.run_facteur(["-a", "--json"], world.cfg, check_rc=0)
        summary = json.loads(out.strip().splitlines()[-1])
        assert (summary["pulled"], summary["pushed"]) == (0, 0), summary
    else:
        assert _uids(world, "Attic") == uids
    assert {"Projects", "Notes"}.isdisjoint(world.far_folders())
    world.assert_converged()
    before = util.server_state(world.imap), util.maildir_snapshot(world.mail)
    world.sync()
    assert (util.server_state(world.imap), util.maildir_snapshot(world.mail)) == before


def test_uidvalidity_change_without_duplicates(world):
    msgs = world.seed("Work", 70, 4, flags=lambda i: "S" if i % 2 else "")
    world.sync()
    name = world.fn("Work")
    old = util.server_status(world.imap, name)["UIDVALIDITY"]
    world.imap.select("INBOX")
    util.check(world.imap.delete(util.q(name)), "DELETE " + name)
    time.sleep(1.1)  # a new UIDVALIDITY even where it derives from the clock
    util.seed(world.imap, name, msgs, flags_for=lambda i: "S" if i % 2 else "")
    assert util.server_status(world.imap, name)["UIDVALIDITY"] != old
    world.sync()
    want = {m.message_id for m in msgs}
    assert set(world.far("Work")) == want
    assert {mid for mid, (_, f) in world.near().items() if f == "Work"} == want
    world.assert_converged()


def count_local_files(root):
    """Message files under root, tolerant of a facteur renaming them."""
    n = 0
    for d, subdirs, files in os.walk(root):
        if os.path.basename(d) in ("cur", "new"):
            n += len(files)
    return n


def test_kill_9_then_rerun_converges(world):
    far = world.seed("INBOX", 80, 25, max_body=200000)
    far += world.seed("Big", 81, 15, max_body=200000)
    near = util.gen(82, 15, max_body=100000)
    for i, m in enumerate(near):
        util.maildir_deliver(world.mail, "INBOX" if i % 2 else "Local", m)
    # Kill once the first messages have landed locally: mid-run for sure,
    # whatever this machine's and this server's speed.
    probe = util.start_facteur(["-a"], world.cfg)
    deadline = time.monotonic() + 60
    while probe.poll() is None and time.monotonic() < deadline:
        if count_local_files(world.mail) >= len(near) + 3:
            break
        time.sleep(0.005)
    assert probe.poll() is None, "facteur finished before it could be killed"
    probe.send_signal(signal.SIGKILL)
    probe.communicate()
    rc, out, err = util.run_facteur(["-a"], world.cfg, timeout=300)
    assert rc == 0, "rerun after kill failed:\n%s" % err
    all_ids = {m.message_id for m in far + near}
    assert set(world.far_all()) == all_ids
    assert set(world.near()) == all_ids
    world.assert_converged()


# -- POP3 -------------------------------------------------------------------


def pop3_config(tmp, server, user, **store_opts):
    maildir = os.path.join(str(tmp), "PopMail")
    lines = [
        "POP3Account pop", "Host 127.0.0.1", "Port %d" % server.ports["pop3s"],
        "User %s" % user.name, "Pass %s" % user.password, "TLSType POP3S",
        "CertificateFile %s" % server.cert, "",
        "POP3Store pop-far", "Account pop",
    ] + ["%s %s" % kv for kv in store_opts.items()] + [
        "", "MaildirStore pop-near", "Path %s/" % maildir,
        "Inbox %s/INBOX" % maildir, "",
        # SyncState * keeps the state beside the mail, in this test's
        # directory: the default (~/.local/state) is shared by every run.
        "Channel pop", "Far :pop-far:", "Near :pop-near:", "Sync Pull",
        "SyncState *", "",
    ]
    path = os.path.join(str(tmp), "poprc")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    os.chmod(path, 0o600)
    return util.Config(path, maildir)


def test_pop3_ingestion(server, tmp_path):
    user = server.new_user()
    imap = server.imap(user)
    try:
        msgs = util.seed(imap, "INBOX", util.gen(90, 5), create=False)
    finally:
        imap.logout()
    cfg = pop3_config(tmp_path, server, user)
    util.sync(cfg)
    got = util.maildir_bodies(cfg.maildir, "INBOX")
    assert set(got) == {m.message_id for m in msgs}
    for m in msgs:
        assert got[m.message_id] == util.crlf_to_lf(m.data)
    # A second run fetches nothing twice.
    util.sync(cfg)
    assert len(util.maildir_list(cfg.maildir)) == len(msgs)


# -- namespace configuration ---------------------------------------------------


def far_store_options(cfg, **opts):
    """Add IMAPStore keywords to a util.make_config file (it writes none)."""
    with open(cfg.path) as f:
        text = f.read()
    head = "IMAPStore test-far\nAccount test\n"
    assert head in text
    extra = "".join("%s %s\n" % kv for kv in opts.items())
    with open(cfg.path, "w") as f:
        f.write(text.replace(head, head + extra))


def test_explicit_path_and_delimiter_give_the_same_layout(server, tmp_path):
    """UseNamespace no with Path set to the personal prefix and PathDelimiter
    to the server's separator: the layout NAMESPACE would have given."""
    w = World(server, tmp_path)
    try:
        ns_prefix = getattr(server, "prefix", "")
        opts = {"UseNamespace": "no", "PathDelimiter": getattr(server, "sep", "/")}
        if ns_prefix:
            opts["Path"] = ns_prefix
        far_store_options(w.cfg, **opts)
        w.seed("INBOX", 100, 1)
        w.seed("Lists/Dev", 101, 2)
        for m in util.gen(102, 1):
            util.maildir_deliver(w.mail, "Local/Sub", m)
        w.sync()
        assert {"INBOX", "Lists/Dev", "Local/Sub"} <= set(
            util.maildir_folders(w.mail))
        assert w.fn("Local/Sub") in util.server_folders(w.imap)
        w.assert_converged()
    finally:
        w.close()


def test_flatten_maps_nested_folders_on_every_server(server, tmp_path):
    """Flatten . on the Maildir side: "Lists/Dev" is the one local folder
    "Lists.Dev"; a local "Local.Sub" becomes nested on the server."""
    w = World(server, tmp_path, near_opts={"Flatten": "."})
    try:
        far = w.seed("Lists/Dev", 110, 2)
        near = util.gen(111, 2)
        for m in near:
            util.maildir_deliver(w.mail, "Local.Sub", m)
        w.sync()
        local = util.maildir_folders(w.mail)
        assert "Lists.Dev" in local and "Lists/Dev" not in local
        assert w.fn("Local/Sub") in util.server_folders(w.imap)
        assert set(w.far("Local/Sub")) == {m.message_id for m in near}
        got = {mid: f for mid, (_, f) in w.near().items()}
        for m in far:
            assert got[m.message_id] == "Lists.Dev"
    finally:
        w.close()


def test_gmail_style_all_mail_excluded_by_patterns(server, tmp_path):
    """Gmail shows every message again in "[Gmail]/All Mail"; the README
    recommends excluding it with Patterns.  Simulated with a plain folder:
    the excluded folder is neither synced nor touched, nothing is doubled."""
    w = World(server, tmp_path, Patterns='* "![Gmail]/All Mail"')
    try:
        inbox = w.seed("INBOX", 120, 3)
        util.seed(w.imap, w.fn("[Gmail]/All Mail"), inbox)
        before = util.server_state(w.imap)[w.fn("[Gmail]/All Mail")]
        w.sync()
        near = w.near()  # a duplicate Message-ID would fail here
        assert set(near) == {m.message_id for m in inbox}
        assert "[Gmail]/All Mail" not in util.maildir_folders(w.mail)
        util.maildir_delete(w.mail, inbox[0].message_id)
        w.sync()
        assert set(w.far("INBOX")) == {m.message_id for m in inbox[1:]}
        assert util.server_state(w.imap)[w.fn("[Gmail]/All Mail")] == before
    finally:
        w.close()


# -- transport and names ------------------------------------------------------


def test_starttls_and_plain_port(server, tmp_path):
    """The clear port with STARTTLS: Courier offers no AUTH= before TLS,
    Cyrus and Dovecot do; every server must end up authenticated over TLS."""
    user = server.new_user()
    imap = server.imap(user)
    try:
        msgs = util.seed(imap, "INBOX", util.gen(140, 2), create=False)
    finally:
        imap.logout()
    cfg = util.make_config(tmp_path, user, server.ports, server.cert,
                           tls="starttls")
    util.sync(cfg)
    assert set(util.maildir_messages(cfg.maildir)) == {
        m.message_id for m in msgs}


# (UTF-8 name, its modified UTF-7 wire form, RFC 3501 5.1.3)
INTL = [("Entwürfe", "Entw&APw-rfe"), ("Café/Menü", "Caf&AOk-/Men&APw-"),
        ("日本語", "&ZeVnLIqe-")]


def raw_list(imap):
    """Mailbox names exactly as the server sent them (no decoding)."""
    out = []
    for line in util.check(imap.list(), "LIST"):
        m = re.match(rb'\([^)]*\) (?:"[^"]*"|NIL) (.*)$', line)
        if m:
            out.append(m.group(1).decode().strip('"'))
    return out


def test_international_folder_names(server, tmp_path):
    """mUTF-7 on the wire, UTF-8 on disk, both ways, under each server's
    prefix and separator.  (util.q encodes and util.server_folders decodes;
    the wire form is checked on the raw LIST.)"""
    w = World(server, tmp_path)
    try:
        far_side = {}
        for i, (name, _) in enumerate(INTL[:2]):
            far_side[name] = util.seed(w.imap, far_name(server, name),
                                       util.gen(150 + i, 1))
        name, wire = INTL[2]
        near_msgs = util.gen(160, 1)
        util.maildir_deliver(w.mail, name, near_msgs[0])
        w.sync()
        folders = util.maildir_folders(w.mail)
        for local_f, msgs in far_side.items():
            assert local_f in folders
            got = {mid for mid, (_, f) in w.near().items() if f == local_f}
            assert got == {m.message_id for m in msgs}
        assert far_name(server, wire) in raw_list(w.imap)
        assert set(util.server_messages(w.imap, far_name(server, name))) == {
            near_msgs[0].message_id}
        before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
        w.sync()
        assert (util.server_state(w.imap),
                util.maildir_snapshot(w.mail)) == before
    finally:
        w.close()


def test_local_name_holding_the_server_separator(server, tmp_path):
    """A local folder "v1.2": on a "/" server a plain name, synced as is; on
    a "." server it cannot be represented, so it stays local, is named on
    stderr, and the other folders still sync."""
    w = World(server, tmp_path)
    try:
        odd, good = util.gen(170, 2)
        util.maildir_deliver(w.mail, "v1.2", odd)
        util.maildir_deliver(w.mail, "Good", good)
        rc, out, err = util.run_facteur(["-a"], w.cfg)
        assert set(w.far("Good")) == {good.message_id}
        if getattr(server, "sep", "/") == "/":
            assert rc == 0, err
            assert set(w.far("v1.2")) == {odd.message_id}
            w.assert_converged()
        else:
            assert "v1.2" in err
            assert not any("v1" in f for f in util.server_folders(w.imap))
            assert w.near()[odd.message_id] == ("", "v1.2")
    finally:
        w.close()
