"""End-to-end scenarios for the two-way IMAP <-> Maildir sync.

Every scenario runs `facteur -c CONFIG -a` against the private Dovecot
with a fresh user and checks the outcome with imaplib (server side) and mailbox.Maildir (local side), never with facteur.

Semantics checked (mbsync's): Sync All, Create Both, Expunge Both unless a
test says otherwise; deletions propagate per Sync; \\Deleted / T are
expunged only on the sides Expunge names.
"""

import random
import re
import signal
import time

import pytest

import mailgen
import util

ALL_FLAG_SETS = ["", "S", "FS", "RS", "D", "PS", "DFPRS", "F", "R"]


class World:
    """One user, its imaplib connection and its facteur config."""

    def __init__(self, dovecot, tmp_path, **channel_opts):
        self.dovecot = dovecot
        self.user = dovecot.new_user()
        self.imap = dovecot.imap(self.user)
        self.tmp = tmp_path
        self.reconfigure(**channel_opts)

    def reconfigure(self, **channel_opts):
        self.cfg = util.make_config(self.tmp, self.user, self.dovecot.ports,
                                    self.dovecot.cert, **channel_opts)
        self.mail = self.cfg.maildir

    def sync(self, *extra):
        return util.sync(self.cfg, *extra)

    def far(self, folder="INBOX"):
        return util.server_messages(self.imap, folder)

    def far_all(self):
        """{Message-ID: (letters, folder)} over every server folder, with a
        duplicate anywhere failing the test."""
        out = {}
        for f in util.server_folders(self.imap):
            for mid, flags, _ in util.server_list(self.imap, f):
                assert mid not in out, "duplicate %s on the server (%s, %s)" % (
                    mid, out[mid][1], f)
                out[mid] = (util.letters(flags), f)
        return out

    def near(self):
        return util.maildir_messages(self.mail)

    def assert_converged(self):
        """Both sides hold the same messages with the same flags in the same
        folders, each exactly once."""
        far, near = self.far_all(), self.near()
        assert far == near

    def close(self):
        try:
            self.imap.logout()
        except Exception:
            pass


@pytest.fixture
def world(dovecot, tmp_path):
    w = World(dovecot, tmp_path)
    yield w
    w.close()


def make_world(dovecot, tmp_path, **opts):
    return World(dovecot, tmp_path, **opts)


def folder_exists(imap, folder):
    typ, data = imap.list('""', util.q(folder))
    return typ == "OK" and any(d for d in data if d)


def seed_far(w, folder, seed, count, flags=None, max_body=100000):
    msgs = util.gen(seed, count, max_body=max_body)
    return util.seed(w.imap, folder, msgs, flags_for=flags,
                     create=folder.upper() != "INBOX" and not folder_exists(w.imap, folder))


# -- initial pull --------------------------------------------------------


def test_initial_pull_several_folders(world):
    plan = {"INBOX": (1, 12), "Work": (2, 9), "Work/Projects": (3, 7),
            "Lists/facteur": (4, 5)}
    flags = lambda i: ALL_FLAG_SETS[i % len(ALL_FLAG_SETS)]
    sent = {}
    for folder, (s, n) in plan.items():
        for m in seed_far(world, folder, s, n, flags=flags):
            sent[m.message_id] = (m, folder)
    world.sync()
    near = world.near()
    assert set(near) == set(sent)
    for folder, (s, n) in plan.items():
        bodies = util.maildir_bodies(world.mail, folder)
        msgs = util.gen(s, n, max_body=100000)
        assert len(bodies) == n
        for i, m in enumerate(msgs):
            assert near[m.message_id] == (flags(i), folder)
            assert bodies[m.message_id] == util.crlf_to_lf(m.data)
    # The pull changed nothing on the server.
    for folder in plan:
        far = world.far(folder)
        assert {mid: util.letters(f) for mid, f in far.items()} == {
            mid: near[mid][0] for mid in far}


def test_initial_pull_over_starttls(dovecot, tmp_path):
    w = make_world(dovecot, tmp_path)
    try:
        w.cfg = util.make_config(tmp_path, w.user, dovecot.ports, dovecot.cert,
                                 tls="starttls")
        msgs = seed_far(w, "INBOX", 5, 4)
        w.sync()
        assert set(w.near()) == {m.message_id for m in msgs}
    finally:
        w.close()


def test_empty_account_creates_inbox_and_succeeds(world):
    world.sync()
    assert "INBOX" in util.maildir_folders(world.mail)
    assert world.near() == {}


def test_awkward_messages_round_trip(world):
    """Messages with no final line end, a 20 000-byte line, no body, 8-bit
    text...: pulled byte for byte (CRLF -> LF) and pushed byte for byte
    (LF -> CRLF)."""
    far_msgs = mailgen.odd_messages(1)
    util.seed(world.imap, "INBOX", far_msgs, create=False)
    near_msgs = mailgen.odd_messages(2)
    for m in near_msgs:
        util.maildir_deliver(world.mail, "Local", m)
    served = util.server_bodies(world.imap, "INBOX")
    world.sync()
    near = util.maildir_bodies(world.mail, "INBOX")
    for m in far_msgs:
        # Compared with what the server serves: Dovecot adds the blank line
        # a header-only message lacks.
        assert near[m.message_id] == util.crlf_to_lf(served[m.message_id]), \
            m.message_id
    far = util.server_bodies(world.imap, "Local")
    for m in near_msgs:
        got = far[m.message_id]
        if b"\r\n\r\n" not in m.data:
            got = got[:-2] if got.endswith(b"\r\n\r\n") else got
        assert got == m.data, m.message_id
    world.assert_converged()


# -- new messages ---------------------------------------------------------


def test_new_messages_each_way(world):
    first = seed_far(world, "INBOX", 10, 5) + seed_far(world, "Work", 11, 5)
    world.sync()
    later_far = seed_far(world, "Work", 12, 3, flags=lambda i: "S")
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
    bodies.update(util.server_bodies(world.imap, "Work"))
    for i, m in enumerate(later_near):
        # Uploaded with CRLF restored, byte for byte.
        assert bodies[m.message_id] == m.data
        assert far[m.message_id] == ("F" if i == 0 else "",
                                     "INBOX" if i % 2 else "Work")


# -- flags ----------------------------------------------------------------


def test_flags_each_way_and_both(world):
    a, b, c, d, e = seed_far(world, "INBOX", 20, 5,
                             flags=lambda i: "S" if i == 3 else "")
    world.sync()
    util.store_flags(world.imap, "INBOX", a.message_id, "+FLAGS", "S")
    util.maildir_set_flags(world.mail, b.message_id, "F")
    # Both sides changed different flags of c: the merge keeps both.
    util.store_flags(world.imap, "INBOX", c.message_id, "+FLAGS", "S")
    util.maildir_set_flags(world.mail, c.message_id, "R")
    # d: far drops \Seen while near adds F: F and no S.
    util.store_flags(world.imap, "INBOX", d.message_id, "-FLAGS", "S")
    util.maildir_set_flags(world.mail, d.message_id, "FS")
    # e: the same change on both sides.
    util.store_flags(world.imap, "INBOX", e.message_id, "+FLAGS", "P")
    util.maildir_set_flags(world.mail, e.message_id, "P")
    world.sync()
    want = {a.message_id: "S", b.message_id: "F", c.message_id: "RS",
            d.message_id: "F", e.message_id: "P"}
    far = {mid: util.letters(f) for mid, f in world.far("INBOX").items()}
    near = {mid: fl for mid, (fl, _) in world.near().items()}
    assert far == want
    assert near == want


# -- deletions and Expunge ------------------------------------------------


def test_deletions_each_way(world):
    msgs = seed_far(world, "INBOX", 30, 6)
    world.sync()
    util.expunge_message(world.imap, "INBOX", msgs[0].message_id)
    util.maildir_delete(world.mail, msgs[1].message_id)
    world.sync()
    left = {m.message_id for m in msgs[2:]}
    assert set(world.far("INBOX")) == left
    assert set(world.near()) == left
    world.assert_converged()


@pytest.mark.parametrize("expunge", ["None", "Far", "Near", "Both"])
def test_expunge_setting(dovecot, tmp_path, expunge):
    w = make_world(dovecot, tmp_path, Expunge=expunge)
    try:
        far_del, near_del, keep = seed_far(w, "INBOX", 40, 3)
        w.sync()
        util.store_flags(w.imap, "INBOX", far_del.message_id, "+FLAGS", "T")
        util.maildir_set_flags(w.mail, near_del.message_id, "T")
        w.sync()
        far, near = w.far("INBOX"), w.near()
        expunge_far = expunge in ("Far", "Both")
        expunge_near = expunge in ("Near", "Both")
        for m in (far_del, near_del):
            if expunge_far:
                assert m.message_id not in far
            else:
                assert far[m.message_id] == frozenset({"\\Deleted"})
            if expunge_far or expunge_near:
                # Gone from the near side: expunged there, or deleted there
                # because the far copy was expunged.
                assert m.message_id not in near
            else:
                assert near[m.message_id] == ("T", "INBOX")
        assert far[keep.message_id] == frozenset()
        assert near[keep.message_id] == ("", "INBOX")
        w.sync()
        assert w.far("INBOX") == far and w.near() == near
    finally:
        w.close()


# -- folders --------------------------------------------------------------


def test_folder_creation_each_way(world):
    seed_far(world, "INBOX", 50, 2)
    world.sync()
    far_new = seed_far(world, "Far/Made", 51, 3)
    near_new = util.gen(52, 3)
    for m in near_new:
        util.maildir_deliver(world.mail, "Near/Made", m)
    world.sync()
    assert "Far/Made" in util.maildir_folders(world.mail)
    assert "Near/Made" in util.server_folders(world.imap)
    assert set(world.far("Near/Made")) == {m.message_id for m in near_new}
    assert {mid for mid, (_, f) in world.near().items() if f == "Far/Made"} \
        == {m.message_id for m in far_new}
    world.assert_converged()


def test_non_ascii_folder_names_each_way(world):
    far_names = ["Entwürfe", "日本語/Sub"]
    near_names = ["Données/Été", "A&B"]
    sent = {}
    for i, n in enumerate(far_names):
        for m in seed_far(world, n, 150 + i, 2):
            sent[m.message_id] = n
    for i, n in enumerate(near_names):
        for m in util.gen(160 + i, 2):
            util.maildir_deliver(world.mail, n, m)
            sent[m.message_id] = n
    world.sync()
    # UTF-8 directory names locally, mUTF-7 on the server.
    local = util.maildir_folders(world.mail)
    remote = util.server_folders(world.imap)
    for n in far_names + near_names:
        assert n in local and n in remote, n
    assert {mid: f for mid, (_, f) in world.near().items()} == sent
    world.assert_converged()


def test_create_near_only_does_not_create_on_server(dovecot, tmp_path):
    w = make_world(dovecot, tmp_path, Create="Near")
    try:
        seed_far(w, "Server/Side", 55, 2)
        w.sync()
        for m in util.gen(56, 2):
            util.maildir_deliver(w.mail, "Local/Only", m)
        w.sync()
        assert "Server/Side" in util.maildir_folders(w.mail)
        assert "Local/Only" not in util.server_folders(w.imap)
    finally:
        w.close()


# -- one direction ------------------------------------------------------------


@pytest.mark.parametrize("direction", ["Pull", "Push"])
def test_one_direction_keeps_the_other_sides_changes(dovecot, tmp_path,
                                                     direction):
    """Sync Pull (Push) moves new mail and flag changes one way only; the
    other side's changes are neither lost nor reverted, and a later Sync All
    run carries them over."""
    w = make_world(dovecot, tmp_path)
    try:
        a, b = seed_far(w, "INBOX", 170, 2)
        w.sync()
        w.reconfigure(Sync=direction)
        far_new = seed_far(w, "INBOX", 171, 1)[0]
        near_new = util.gen(172, 1)[0]
        util.maildir_deliver(w.mail, "INBOX", near_new)
        util.store_flags(w.imap, "INBOX", a.message_id, "+FLAGS", "S")
        util.maildir_set_flags(w.mail, b.message_id, "F")
        w.sync()
        far = {mid: util.letters(f) for mid, f in w.far("INBOX").items()}
        near = {mid: fl for mid, (fl, _) in w.near().items()}
        if direction == "Pull":
            assert far == {a.message_id: "S", b.message_id: "",
                           far_new.message_id: ""}
            assert near == {a.message_id: "S", b.message_id: "F",
                            far_new.message_id: "", near_new.message_id: ""}
        else:
            assert far == {a.message_id: "S", b.message_id: "F",
                           far_new.message_id: "", near_new.message_id: ""}
            assert near == {a.message_id: "", b.message_id: "F",
                            near_new.message_id: ""}
        w.reconfigure()
        w.sync()
        w.assert_converged()
        assert {mid: fl for mid, (fl, _) in w.near().items()} == {
            a.message_id: "S", b.message_id: "F", far_new.message_id: "",
            near_new.message_id: ""}
    finally:
        w.close()


# -- idempotence ----------------------------------------------------------


def test_rerun_is_a_no_op(world):
    seed_far(world, "INBOX", 60, 8, flags=lambda i: ALL_FLAG_SETS[i % 5])
    seed_far(world, "Work", 61, 5)
    for m in util.gen(62, 4):
        util.maildir_deliver(world.mail, "INBOX", m, flags="S")
    world.sync()
    world.assert_converged()
    far_before = util.server_state(world.imap)
    near_before = util.maildir_snapshot(world.mail)
    time.sleep(1.1)  # so a rewritten file would show a new mtime
    world.sync()
    assert util.server_state(world.imap) == far_before
    assert util.maildir_snapshot(world.mail) == near_before


def test_messages_without_message_id(world):
    """Messages with no Message-ID cannot be matched by it: each side still
    ends with exactly one copy of each, and a rerun adds nothing."""
    msgs = util.gen(180, 3)
    bare = [m._replace(data=re.sub(rb"Message-ID: [^\r]*\r\n", b"", m.data),
                       message_id=None) for m in msgs]
    util.seed(world.imap, "INBOX", bare, create=False)
    local = util.gen(181, 2)
    for m in local:
        util.maildir_deliver(world.mail, "INBOX",
                             m._replace(data=re.sub(rb"Message-ID: [^\r]*\r\n",
                                                    b"", m.data)))
    world.sync()
    world.sync()
    far_bodies = sorted(util.crlf_to_lf(b) for b in
                        (util.server_bodies_list(world.imap, "INBOX")))
    near_bodies = sorted(util.maildir_bodies_list(world.mail, "INBOX"))
    assert len(far_bodies) == 5
    assert far_bodies == near_bodies


def test_large_initial_pull(world):
    """A few thousand small messages: all arrive, in reasonable time."""
    msgs = util.gen(190, 2000, max_body=3000)
    util.seed(world.imap, "INBOX", msgs, create=False)
    t0 = time.monotonic()
    util.sync(world.cfg, timeout=300)
    took = time.monotonic() - t0
    assert set(world.near()) == {m.message_id for m in msgs}
    assert took < 120, "2000 small messages took %.1fs" % took


def test_pull_across_batches_journals_every_message(world):
    """More messages than three download batches (256 each): every record
    names its own file, with that file's fingerprint and the UID of the
    message in it, on both sides of every batch's end."""
    msgs = util.gen(191, 700, max_body=1500)
    util.seed(world.imap, "INBOX", msgs, create=False)
    world.sync()
    assert len(util.file_fingerprints(world.mail, ("INBOX",))) == 700
    recs = util.assert_journal_matches(world.cfg, world.imap, world.mail, "INBOX")
    assert len(recs) == 700


def _big_body(rnd, size):
    """CRLF lines of 0-199 bytes, up to size."""
    base = b"abcdefghijklmnopqrstuvwxyz0123456789 =-" * 6
    out, n = [], 0
    while n < size:
        out.append(base[rnd.randrange(40):][:rnd.randrange(200)] + b"\r\n")
        n += len(out[-1])
    return b"".join(out)


def test_large_messages_arrive_byte_for_byte(world):
    """Messages of 70-300 KB, whose line ends fall on every side of the 64
    KB pieces a download is written in: each file holds the server's
    message with CRLF turned into LF, and the journal holds that file's
    fingerprint.  (Dovecot drops lone CRs; test_crlf covers them.)"""
    rnd = random.Random(193)
    msgs = []
    for i in range(24):
        mid = "<big%d@facteur.test>" % i
        head = ("From: a@example.org\r\nTo: b@example.org\r\n"
                "Subject: big %d\r\nMessage-ID: %s\r\n\r\n" % (i, mid))
        msgs.append(mailgen.Message(mid, time.time(), head.encode() +
                                    _big_body(rnd, rnd.randrange(70000, 300000))))
    util.seed(world.imap, "INBOX", msgs, create=False)
    world.sync()
    far = util.server_bodies(world.imap, "INBOX")
    near = util.maildir_bodies(world.mail, "INBOX")
    assert set(far) == set(near) == {m.message_id for m in msgs}
    assert all(len(util.crlf_to_lf(b)) > 65536 for b in far.values())
    for mid, data in far.items():
        assert near[mid] == util.crlf_to_lf(data), mid
    # and what was appended, not only what the server now says it holds
    assert {m.message_id: util.crlf_to_lf(m.data) for m in msgs} == near
    assert len(util.assert_journal_matches(world.cfg, world.imap, world.mail,
                                           "INBOX")) == 24


# -- crash safety ---------------------------------------------------------


def crash_world(dovecot, tmp_path, seed):
    """A world with work in both directions: 100 messages on the server
    (up to 400 KB), 40 local ones, two folders on each side only."""
    w = make_world(dovecot, tmp_path)
    far = seed_far(w, "INBOX", 70 + seed, 60, max_body=400000)
    far += seed_far(w, "Big", 80 + seed, 40, max_body=400000)
    near = util.gen(90 + seed, 40, max_body=200000)
    for i, m in enumerate(near):
        util.maildir_deliver(w.mail, "INBOX" if i % 2 else "Local", m)
    return w, {m.message_id for m in far + near}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_then_rerun_converges(dovecot, tmp_path, seed):
    rng = random.Random(seed)
    # How long does a whole run take here?  Time one on an identical twin,
    # then kill runs of the real world at random moments inside that span.
    twin, _ = crash_world(dovecot, tmp_path / "twin", seed)
    t0 = time.monotonic()
    twin.sync()
    span = time.monotonic() - t0
    twin.close()
    w, all_ids = crash_world(dovecot, tmp_path / "real", seed)
    try:
        delays = []
        for _ in range(3):
            delays.append(rng.uniform(0.02, 0.9) * span)
            p = util.start_facteur(["-a"], w.cfg)
            time.sleep(delays[-1])
            p.send_signal(signal.SIGKILL)
            p.communicate()
        rc, out, err = util.run_facteur(["-a"], w.cfg, timeout=300)
        assert rc == 0, "rerun after kills at %s (run takes %.2fs) failed:" \
            "\n%s" % (["%.2f" % d for d in delays], span, err)
        assert set(w.far_all()) == all_ids
        assert set(w.near()) == all_ids
        w.assert_converged()
        # And it has settled: one more run changes nothing.
        before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
        w.sync()
        assert (util.server_state(w.imap), util.maildir_snapshot(w.mail)) \
            == before
    finally:
        w.close()


class HoldingRelay:
    """Plain-TCP relay that, from the first client line holding APPEND on,
    keeps what the client sends; once the client is gone it hands that to
    the server after `late` seconds: an upload still on its way when its
    run was killed."""

    def __init__(self, target_port, late):
        import socket
        import threading
        self.late = late
        self.target = target_port
        self.seen = threading.Event()
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import select
        import socket
        cli, _ = self.lsock.accept()
        srv = socket.create_connection(("127.0.0.1", self.target))
        held = b""
        client_open = True
        while client_open:
            r, _, _ = select.select([cli, srv], [], [], 30)
            if not r:
                break
            if srv in r:
                data = srv.recv(65536)
                if not data:
                    break
                cli.sendall(data)
            if cli in r:
                try:
                    data = cli.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    client_open = False
                elif self.seen.is_set() or b"APPEND" in data:
                    held += data
                    self.seen.set()
                else:
                    srv.sendall(data)
        time.sleep(self.late)
        srv.sendall(held)
        srv.shutdown(socket.SHUT_WR)
        while srv.recv(65536):
            pass
        srv.close()
        cli.close()


def test_upload_landing_after_its_run_was_killed(dovecot, tmp_path):
    """A run killed with its APPEND still on the way: the server stores the
    message after the next run has listed the folder.  The next run must
    take that copy for the upload instead of uploading it again."""
    w = make_world(dovecot, tmp_path)
    try:
        msg = util.gen(331, 1, max_body=2000)[0]
        util.maildir_deliver(w.mail, "INBOX", msg)
        relay = HoldingRelay(dovecot.ports["imap"], late=0.4)
        plain = {"TLSType": "None", "Compress": "no"}
        slow = util.make_config(tmp_path, w.user, dict(dovecot.ports, imap=relay.port),
                                dovecot.cert, tls="starttls", account_opts=plain)
        p = util.start_facteur(["-a"], slow)
        assert relay.seen.wait(60), "no APPEND went through the relay"
        time.sleep(0.1)  # the whole command and its literal are sent
        p.send_signal(signal.SIGKILL)
        p.communicate()
        direct = util.make_config(tmp_path, w.user, dovecot.ports, dovecot.cert,
                                  tls="starttls", account_opts=plain)
        rc, out, err = util.run_facteur(["-V", "-a"], direct)
        assert rc == 0, err
        time.sleep(1)  # the held APPEND has certainly landed by now
        assert list(util.server_messages(w.imap, "INBOX")) == [msg.message_id]
        assert "not uploaded again" in out + err, out + err
        util.run_facteur(["-a"], direct, check_rc=0)
        assert list(util.server_messages(w.imap, "INBOX")) == [msg.message_id]
        assert list(util.maildir_messages(w.mail)) == [msg.message_id]
    finally:
        w.close()


def test_killed_run_leaves_no_lock_behind(world):
    seed_far(world, "INBOX", 95, 30, max_body=400000)
    p = util.start_facteur(["-a"], world.cfg)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    world.sync()  # a stale lock of a dead process must not block this run
    world.assert_converged()


def test_concurrent_runs_do_not_duplicate(world):
    """Three runs on one channel at once: the per-channel lock lets one
    work; a run without --wait that finds it taken fails with a message (both
    may, when the --wait run got there first), the --wait run runs in turn.
    No message ends up twice and everything arrives."""
    msgs = seed_far(world, "INBOX", 200, 80, max_body=200000)
    for m in util.gen(201, 20):
        util.maildir_deliver(world.mail, "Local", m)
    first = util.start_facteur(["-a"], world.cfg)
    second = util.start_facteur(["-a"], world.cfg)
    waiter = util.start_facteur(["-a", "--wait"], world.cfg)
    results = [(p.wait(timeout=300), p.communicate()[1].decode(errors="replace"))
               for p in (first, second, waiter)]
    assert results[2][0] == 0, "--wait run failed: " + results[2][1]
    for rc, err in results[:2]:
        if rc != 0:
            assert err.strip(), "a refused run must say why"
    want = {m.message_id for m in msgs} | {m.message_id for m in util.gen(201, 20)}
    assert set(world.far_all()) == want  # far_all fails on duplicates
    assert set(world.near()) == want     # so does near()


# -- limits ---------------------------------------------------------------


def sized(seed, count, lo, hi):
    """`count` mailgen messages whose size is within [lo, hi)."""
    out, i = [], 0
    while len(out) < count:
        m = mailgen.make_message(seed, i)
        if lo <= len(m.data) < hi:
            out.append(m)
        i += 1
        assert i < 10000, "mailgen cannot produce sizes in [%d, %d)" % (lo, hi)
    return out


def test_max_size(dovecot, tmp_path):
    w = make_world(dovecot, tmp_path, MaxSize="20k")
    try:
        small = sized(100, 4, 0, 15000)
        big = sized(101, 3, 30000, 300000)
        util.seed(w.imap, "INBOX", small + big, create=False)
        local_big = sized(102, 1, 40000, 300000)[0]
        local_small = sized(103, 1, 0, 10000)[0]
        util.maildir_deliver(w.mail, "INBOX", local_big)
        util.maildir_deliver(w.mail, "INBOX", local_small)
        w.sync()
        near, far = w.near(), w.far("INBOX")
        assert set(near) == {m.message_id for m in small + [local_big,
                                                           local_small]}
        assert set(far) == {m.message_id for m in small + big + [local_small]}
        # Reported once, not retried: the next run changes nothing.
        before = util.server_state(w.imap), util.maildir_snapshot(w.mail)
        w.sync()
        assert (util.server_state(w.imap), util.maildir_snapshot(w.mail)) \
            == before
    finally:
        w.close()


def test_max_messages(dovecot, tmp_path):
    w = make_world(dovecot, tmp_path, MaxMessages=4)
    try:
        first = seed_far(w, "INBOX", 110, 10, flags=lambda i: "S")
        w.sync()
        assert set(w.near()) == {m.message_id for m in first[-4:]}
        more = seed_far(w, "INBOX", 111, 3, flags=lambda i: "S")
        w.sync()
        # The newest 4 by far UID; the server keeps everything.
        assert set(w.near()) == {m.message_id for m in (first + more)[-4:]}
        assert len(w.far("INBOX")) == 13
    finally:
        w.close()


def test_max_messages_keeps_flagged_and_unread(dovecot, tmp_path):
    w = make_world(dovecot, tmp_path, MaxMessages=2)
    try:
        msgs = seed_far(w, "INBOX", 120, 3, flags=lambda i: "S")
        w.sync()
        assert set(w.near()) == {m.message_id for m in msgs[1:]}
        util.maildir_set_flags(w.mail, msgs[1].message_id, "FS")
        util.maildir_set_flags(w.mail, msgs[2].message_id, "")
        more = seed_far(w, "INBOX", 121, 2, flags=lambda i: "S")
        w.sync()
        near = w.near()
        # msgs[1] is flagged and msgs[2] unread: both stay despite the limit.
        assert set(near) == {m.message_id for m in msgs[1:] + more}
    finally:
        w.close()


# -- UIDVALIDITY ------------------------------------------------------------


def test_uidvalidity_change_without_duplicates(world):
    msgs = seed_far(world, "Work", 130, 8, flags=lambda i: "S" if i % 2 else "")
    world.sync()
    old = util.server_status(world.imap, "Work")["UIDVALIDITY"]
    world.imap.select("INBOX")
    util.check(world.imap.delete(util.q("Work")), "DELETE Work")
    time.sleep(1.1)  # a new UIDVALIDITY even where it derives from the clock
    util.seed(world.imap, "Work", msgs,
              flags_for=lambda i: "S" if i % 2 else "")
    assert util.server_status(world.imap, "Work")["UIDVALIDITY"] != old
    world.sync()
    want = {m.message_id for m in msgs}
    assert set(world.far("Work")) == want
    assert {mid for mid, (_, f) in world.near().items() if f == "Work"} == want
    world.assert_converged()


# -- server restarts ----------------------------------------------------------


def test_sync_after_server_restart(world):
    msgs = seed_far(world, "INBOX", 140, 5)
    world.sync()
    world.close()
    world.dovecot.restart()
    world.imap = world.dovecot.imap(world.user)
    more = seed_far(world, "INBOX", 141, 2)
    world.sync()
    assert set(world.near()) == {m.message_id for m in msgs + more}


def test_maildirpp_layout_without_path(dovecot, tmp_path):
    """SubFolders Maildir++ with no Path, as mbsync allows: every folder is
    a dot-directory inside the Inbox (Courier's and Dovecot's layout), and
    mail flows both ways."""
    import mailbox
    import os
    w = make_world(dovecot, tmp_path)
    try:
        seed_far(w, "INBOX", 401, 5, max_body=3000)
        seed_far(w, "Archive", 402, 3, max_body=3000)
        seed_far(w, "Lists/dev", 403, 2, max_body=3000)
        cfg = util.make_config(tmp_path / "pp", w.user, dovecot.ports, dovecot.cert,
                               near_opts={"Path": None, "SubFolders": "Maildir++"})
        util.run_facteur(["-a"], cfg, check_rc=0)
        inbox = os.path.join(str(tmp_path / "pp"), "Mail", "INBOX")
        md = mailbox.Maildir(inbox, create=False)
        assert len(md) == 5
        assert sorted(md.list_folders()) == ["Archive", "Lists.dev"]
        assert len(md.get_folder("Archive")) == 3
        assert len(md.get_folder("Lists.dev")) == 2
        local = util.gen(404, 1, max_body=2000)[0]
        arch = os.path.join(inbox, ".Archive")
        with open(os.path.join(arch, "tmp", "1.pp.test"), "wb") as f:
            f.write(local.data.replace(b"\r\n", b"\n"))
        os.rename(os.path.join(arch, "tmp", "1.pp.test"), os.path.join(arch, "new", "1.pp.test"))
        util.run_facteur(["-a"], cfg, check_rc=0)
        assert local.message_id in util.server_messages(w.imap, "Archive")
        assert len(util.server_messages(w.imap, "Archive")) == 4
    finally:
        w.close()


def test_journal_records_content_fingerprints(world):
    """Every message downloaded or uploaded is journaled with the SHA-256
    of the file as stored in the Maildir (checked here against the files
    themselves)."""
    import hashlib
    import os
    seed_far(world, "INBOX", 501, 4, max_body=20000)
    for m in util.gen(502, 3, max_body=20000):
        util.maildir_deliver(world.mail, "INBOX", m)
    world.sync()
    rc, out, err = util.run_facteur(["status", "--dump"], world.cfg, check_rc=0)
    dumped = re.findall(r"^  msg \d+: uid \d+ near (\S+) .* sha256 ([0-9a-f]{64})$",
                        out, re.M)
    files = {}
    for sub in ("cur", "new"):
        d = os.path.join(world.mail, "INBOX", sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                files[name.split(":")[0]] = hashlib.sha256(f.read()).hexdigest()
    assert len(files) == 7
    assert dict(dumped) == files, out
