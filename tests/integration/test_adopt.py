"""Adoption without re-transfer: facteur's first run on a Maildir that
another tool (mbsync, OfflineIMAP, an earlier facteur) already filled must
download and upload (almost) nothing and duplicate nothing.

The bytes on the wire are counted by a relay in the test (counting_proxy),
the two sides are read with imaplib and the standard library.  The corpus
size is FACTEUR_ADOPT_N messages (2,000 by default; the issue's 20,000 on
demand: FACTEUR_ADOPT_N=20000 make integration)."""

import glob
import hashlib
import os
import re
import shutil
import subprocess

import pytest

import util
from counting_proxy import CountingProxy
from test_sync import World, seed_far

N = int(os.environ.get("FACTEUR_ADOPT_N", "2000"))
FOLDERS = ["INBOX", "Work", "Work/Projects", "Lists/facteur"]
FLAG_SETS = ["", "S", "FS", "RS", "", "PS", "S", "DS"]
MBSYNC = shutil.which("mbsync")


def flags_for(i):
    return FLAG_SETS[i % len(FLAG_SETS)]


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


def seed_corpus(w, n=N, seed=900):
    """n messages over FOLDERS, with varied flags; returns the total size."""
    total, per = 0, n // len(FOLDERS)
    for k, folder in enumerate(FOLDERS):
        count = per if k < len(FOLDERS) - 1 else n - per * (len(FOLDERS) - 1)
        msgs = seed_far(w, folder, seed + k, count, flags=flags_for)
        total += sum(len(m.data) for m in msgs)
    return total


def near_count(w):
    return len(util.maildir_list(w.mail))


def far_count(w):
    return sum(len(util.server_list(w.imap, f)) for f in util.server_folders(w.imap))


def assert_adopted(w, proxy, corpus, n):
    """Nothing moved but metadata; each message once per side, same flags."""
    print("adopt: %d messages, corpus %d bytes, down %d, up %d" % (n, corpus, proxy.down, proxy.up))
    assert proxy.down < 0.01 * corpus, (proxy.down, corpus)
    assert proxy.up < 0.01 * corpus, (proxy.up, corpus)
    assert near_count(w) == n
    assert far_count(w) == n
    w.assert_converged()


def assert_changes_propagate(w, seed=990):
    """A flag change on each side and a new message on each side go across."""
    far = w.far_all()
    mids = sorted(far)
    util.store_flags(w.imap, far[mids[0]][1], mids[0], "+FLAGS", "F")
    util.maildir_set_flags(w.mail, mids[1], "RS")
    new_far = util.gen(seed, 1)[0]
    new_near = util.gen(seed + 1, 1)[0]
    util.append(w.imap, "Work", new_far)
    util.maildir_deliver(w.mail, "INBOX", new_near)
    w.sync()
    near = w.near()
    assert "F" in near[mids[0]][0]
    assert w.far_all()[mids[1]][0] == near[mids[1]][0]
    assert "R" in near[mids[1]][0]
    assert near[new_far.message_id][1] == "Work"
    assert w.far_all()[new_near.message_id][1] == "INBOX"
    w.assert_converged()


# -- mbsync -----------------------------------------------------------------


def write_mbsyncrc(w, dovecot, sync_state="SyncState *\n"):
    """An mbsync (isync 1.4) config equivalent to the test's facteur one,
    talking to the server directly (not through the relay)."""
    path = os.path.join(str(w.tmp), "mbsyncrc")
    with open(path, "w") as f:
        f.write("IMAPAccount test\nHost 127.0.0.1\nPort %d\nUser %s\nPass %s\n"
                "SSLType IMAPS\nCertificateFile %s\n\n"
                "IMAPStore test-far\nAccount test\n\n"
                "MaildirStore test-near\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n"
                "Channel test\nFar :test-far:\nNear :test-near:\nPatterns *\n"
                "Create Both\nExpunge Both\n%s"
                % (dovecot.ports["imaps"], w.user.name, w.user.password, dovecot.cert,
                   w.mail, w.mail, sync_state))
    os.chmod(path, 0o600)
    return path


def run_mbsync(w, dovecot, sync_state="SyncState *\n"):
    rc = write_mbsyncrc(w, dovecot, sync_state)
    os.makedirs(w.mail, exist_ok=True)
    env = dict(os.environ, HOME=str(w.tmp))
    r = subprocess.run([MBSYNC, "-c", rc, "-a"], capture_output=True, text=True,
                       env=env, timeout=1800)
    assert r.returncode == 0, (r.stdout, r.stderr)


def state_files(w):
    return glob.glob(os.path.join(w.mail, "**", ".mbsyncstate*"), recursive=True)


needs_mbsync = pytest.mark.skipif(MBSYNC is None, reason="mbsync (Debian isync) not installed")


@needs_mbsync
def test_mbsync_state_imported(proxied, dovecot):
    w, proxy = proxied
    corpus = seed_corpus(w)
    run_mbsync(w, dovecot)
    assert len([p for p in state_files(w) if p.endswith("/.mbsyncstate")]) == len(FOLDERS)
    assert near_count(w) == N
    proxy.reset()
    _, out, err = w.sync()
    assert (out + err).count("pairs from the mbsync state") == len(FOLDERS), out + err
    assert_adopted(w, proxy, corpus, N)
    assert_changes_propagate(w)


@needs_mbsync
def test_mbsync_copy_without_state(proxied, dovecot):
    w, proxy = proxied
    corpus = seed_corpus(w)
    run_mbsync(w, dovecot)
    for p in state_files(w):
        os.unlink(p)
    proxy.reset()
    w.sync()
    assert_adopted(w, proxy, corpus, N)
    assert_changes_propagate(w)


@needs_mbsync
def test_mbsync_state_stale_uidvalidity_falls_back(proxied, dovecot):
    """A state whose far UIDVALIDITY is not the server's is not trusted."""
    w, proxy = proxied
    n = 40
    corpus = seed_corpus(w, n)
    run_mbsync(w, dovecot)
    for p in state_files(w):
        if p.endswith("/.mbsyncstate"):
            with open(p) as f:
                text = f.read()
            lines = text.split("\n")
            lines = ["FarUidValidity 1" if ln.startswith("FarUidValidity ") else ln
                     for ln in lines]
            with open(p, "w") as f:
                f.write("\n".join(lines))
    proxy.reset()
    _, out, err = w.sync()
    assert "not imported" in out + err, out + err
    assert near_count(w) == n and far_count(w) == n
    w.assert_converged()
    assert proxy.down < corpus


def _corrupt_line(path):
    with open(path) as f:
        lines = f.read().split("\n")
    lines[-2] = "12 x S"  # the last pair line
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return ".mbsyncstate:%d: malformed entry" % (len(lines) - 1)


def _pending_journal(path):
    with open(path + ".journal", "w") as f:
        f.write("5\n")
    return ".mbsyncstate.journal exists"


def _other_uidvalidity(path):
    with open(os.path.join(os.path.dirname(path), ".uidvalidity"), "w") as f:
        f.write("4242\n1\n")
    return "differs from the state's NearUidValidity"


@needs_mbsync
@pytest.mark.parametrize("spoil", [_corrupt_line, _pending_journal, _other_uidvalidity])
def test_unusable_mbsync_state_falls_back(proxied, dovecot, spoil):
    """A corrupt, unfinished or stale state is reported (naming the file and
    line) and not imported; identity matching still transfers nothing."""
    w, proxy = proxied
    n = 80
    corpus = seed_corpus(w, n)
    run_mbsync(w, dovecot)
    why = spoil(os.path.join(w.mail, "Work", ".mbsyncstate"))
    proxy.reset()
    _, out, err = w.sync()
    assert why in out + err, out + err
    assert (out + err).count("pairs from the mbsync state") == len(FOLDERS) - 1, out + err
    assert near_count(w) == n and far_count(w) == n
    w.assert_converged()
    assert proxy.down < 0.05 * corpus, (proxy.down, corpus)


@needs_mbsync
def test_mbsync_state_in_home(proxied, dovecot, monkeypatch):
    """Without SyncState mbsync keeps its state in ~/.mbsync/, named after
    the stores and boxes; facteur finds it there."""
    w, proxy = proxied
    monkeypatch.setenv("HOME", str(w.tmp))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    ports = dict(dovecot.ports, imaps=proxy.port)
    w.cfg = util.make_config(w.tmp, w.user, ports, dovecot.cert, SyncState=None)
    n = 200
    corpus = seed_corpus(w, n)
    run_mbsync(w, dovecot, sync_state="")
    names = os.listdir(os.path.join(str(w.tmp), ".mbsync"))
    assert ":test-far:Work!Projects_:test-near:Work!Projects" in names, names
    proxy.reset()
    _, out, err = w.sync()
    assert (out + err).count("pairs from the mbsync state") == len(FOLDERS), out + err
    assert near_count(w) == n and far_count(w) == n
    w.assert_converged()
    assert proxy.down < 0.05 * corpus, (proxy.down, corpus)


# -- an earlier facteur ------------------------------------------------------


def test_facteur_copy_without_journal(proxied):
    w, proxy = proxied
    corpus = seed_corpus(w)
    w.sync()
    # SyncState * keeps the journal beside the Maildir root.
    journal = w.mail.rstrip("/") + ".facteur-state"
    assert os.path.isdir(journal), os.listdir(str(w.tmp))
    shutil.rmtree(journal)
    proxy.reset()
    w.sync()
    assert_adopted(w, proxy, corpus, N)
    assert_changes_propagate(w)


# -- OfflineIMAP -------------------------------------------------------------


def write_offlineimap_copy(w):
    """The server's messages written as OfflineIMAP leaves them:
    <time>_<n>.<pid>.<host>,U=<uid>,FMD5=<md5 of the folder name>:2,<flags>,
    LF line ends, in cur/."""
    n = 0
    for folder in util.server_folders(w.imap):
        d = os.path.join(w.mail, folder)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        md5 = hashlib.md5(folder.encode()).hexdigest()
        util.check(w.imap.select(util.q(folder), readonly=True), "SELECT")
        data = util.check(w.imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])"), "FETCH")
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, body = item
            uid = int(util._UID_RE.search(meta).group(1))
            flags = util.letters(f.decode() for f in
                                 util._FLAGS_RE.search(meta).group(1).split())
            name = "1700000000_%d.4242.testhost,U=%d,FMD5=%s:2,%s" % (n, uid, md5, flags)
            with open(os.path.join(d, "cur", name), "wb") as f:
                f.write(util.crlf_to_lf(body))
            n += 1
    return n


def test_offlineimap_copy(proxied):
    w, proxy = proxied
    corpus = seed_corpus(w)
    assert write_offlineimap_copy(w) == N
    proxy.reset()
    w.sync()
    assert_adopted(w, proxy, corpus, N)
    assert_changes_propagate(w)


# -- ambiguous identities -----------------------------------------------------


def odd_corpus(w):
    """Two different messages sharing a Message-ID, two identical copies of
    one, and two without any; appended to the server.  Returns them."""
    base = util.gen(950, 4)
    same_id = base[0].message_id
    twin_a = base[0].data
    twin_b = base[1].data.replace(base[1].message_id.encode(), same_id.encode())
    copy = base[2].data
    no_id = [m.data.replace(b"Message-ID: %s\r\n" % m.message_id.encode(), b"")
             for m in (base[3], util.gen(951, 1)[0])]
    msgs = [twin_a, twin_b, copy, copy] + no_id
    for data in msgs:
        util.check(w.imap.append("INBOX", None, None, data), "APPEND")
    return msgs


_TUID_RE = re.compile(rb"^X-TUID: [^\n]*\n", re.M)


def bodies(w):
    """Sorted message bodies of INBOX on each side, LF line ends, without
    the X-TUID line mbsync adds to its copies."""
    far = sorted(util.crlf_to_lf(b) for b in util.server_bodies_list(w.imap, "INBOX"))
    near = sorted(_TUID_RE.sub(b"", util.crlf_to_lf(b))
                  for b in util.maildir_bodies_list(w.mail, "INBOX"))
    return far, near


@needs_mbsync
def test_ambiguous_with_mbsync_state(proxied, dovecot):
    """Paired by UID through the state: each message stays exactly once per
    side, whatever its Message-ID."""
    w, _ = proxied
    msgs = odd_corpus(w)
    run_mbsync(w, dovecot)
    w.sync()
    far, near = bodies(w)
    want = sorted(util.crlf_to_lf(m) for m in msgs)
    assert far == want
    assert near == want
    w.sync()
    assert bodies(w) == (far, near)


def test_ambiguous_never_merged(proxied):
    """Matched by identity: messages whose Message-ID is shared or missing are
    never paired with (and so never stand in for) another one; none is lost
    and each distinct message is on both sides."""
    w, _ = proxied
    msgs = odd_corpus(w)
    assert write_offlineimap_copy(w) == len(msgs)
    w.sync()
    far, near = bodies(w)
    want = set(util.crlf_to_lf(m) for m in msgs)
    assert set(far) == want and set(near) == want
    # Not merged: each ambiguous message went across as new, so it is
    # there twice; the unambiguous one (the identical twins' ID is
    # shared too) is not special either.
    assert len(far) == len(near)
    for b in want:
        assert far.count(b) == near.count(b) >= 1
    w.sync()
    assert bodies(w) == (far, near)
