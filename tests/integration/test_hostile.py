"""facteur against hostile servers (tests/hostile): a scripted IMAP server
and a scripted POP3 server that lie about folder names, framing, literals,
nesting, UIDs, UIDVALIDITY, and say BYE (or -ERR) at every step.

For every scenario: no crash (exit 0 or 1 only, no sanitizer report), a
clear one-line error when it fails, peak memory bounded (the child's own
ru_maxrss), no hang beyond Timeout (plus the time the scenario itself
takes), and nothing created outside the Maildir anywhere in the temporary
tree.
"""

import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hostile"))

import harness  # noqa: E402
import imapserver  # noqa: E402
import pop3server  # noqa: E402
import scenarios  # noqa: E402
import util  # noqa: E402

TIMEOUT = 2
# The IMAP parser holds at most 8 MiB a response; a POP3 listing at most
# 32 MiB (proto/pop3_int.h), the largest bounded state.
MAX_RSS_MB = 200 * (3 if harness.is_sanitized() else 1)  # ASan's shadow
MAX_SECONDS = 3 * TIMEOUT + 4   # scenarios.TRICKLE_SECONDS is above


def common_checks(r, name):
    where = "%s: exit %d after %.1fs, %.0f MB\n%s%s" % (
        name, r.rc, r.elapsed, r.maxrss_mb, r.out, r.err[-3000:])
    assert r.rc in (0, 1), where
    for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer",
                "Segmentation", "core dumped", "Assertion"):
        assert bad not in r.err, where
    assert r.maxrss_mb < MAX_RSS_MB, where
    assert r.elapsed < MAX_SECONDS, where
    assert not r.outside, "%s: created outside the Maildir: %s" % (
        name, r.outside)
    if r.rc == 1:
        lines = [l for l in r.err.splitlines() if l.strip()]
        assert lines, where
        # One line per failure, not a dump of what the server sent.
        # (FCT_ERR_MAX is 768, plus the channel/box prefix.)
        assert all(len(l) < 1200 for l in lines), where
    return where


def local_changes(maildir):
    """Something to push: a new local message in INBOX and in a folder the
    server does not have (APPEND, CREATE)."""
    for i, m in enumerate(util.gen(77, 2, max_body=500)):
        util.maildir_deliver(maildir, "INBOX" if i == 0 else "LocalOnly", m)


def test_honest_baseline(tmp_path):
    """The scripted server is good enough for a clean two-way sync."""
    with imapserver.HostileIMAP(scenarios.Honest()) as srv:
        cfg, maildir = harness.imap_config(tmp_path, srv.port, TIMEOUT)
        local_changes(maildir)
        r = harness.run_facteur(cfg, tmp_path)
        where = common_checks(r, "honest")
        assert r.rc == 0, where
        assert not srv.errors, srv.errors
        ids = {mid for mid, _, _, _ in util.maildir_list(maildir)}
        assert "<h1.INBOX@hostile.test>" in ids and "<h2.Work@hostile.test>" in ids
        assert any(c.split(" ")[1].upper() == "APPEND"
                   for c in srv.scenario.commands)
        # And a second run is quiet.
        r = harness.run_facteur(cfg, tmp_path)
        assert r.rc == 0, common_checks(r, "honest rerun")


def test_bodies_answered_in_reverse_order(tmp_path):
    """A server may answer a UID FETCH in any order: every body still lands
    in the right file."""
    sc = scenarios.Honest()
    sc.reverse_fetch = True
    # INBOX first teaches facteur that this server names the UID before the
    # body; Work's bodies are then asked for together, and come reversed.
    sc.folders["Work"] = imapserver.Folder("Work", 1001, 20)
    with imapserver.HostileIMAP(sc) as srv:
        cfg, maildir = harness.imap_config(tmp_path, srv.port, TIMEOUT)
        r = harness.run_facteur(cfg, tmp_path)
        assert r.rc == 0, common_checks(r, "reverse")
        want = {}
        for name, folder in sc.folders.items():
            for uid, _, data in folder.msgs:
                want[util.parse(data)["Message-ID"]] = data.replace(b"\r\n", b"\n")
        got = {}
        for name in sc.folders:
            got.update({util.parse(b)["Message-ID"]: b
                        for b in util.maildir_bodies_list(maildir, name)})
        assert got == want


# Known failures, reported: they run (strict xfail), so a fix shows up as
# XPASS and the mark must then go.
KNOWN_BUGS = {
}


def imap_params():
    out = []
    for name in sorted(scenarios.SCENARIOS):
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name])] \
            if name in KNOWN_BUGS else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name", imap_params())
def test_hostile_imap(tmp_path, name):
    cls, want = scenarios.SCENARIOS[name]
    sc = cls()
    with imapserver.HostileIMAP(sc) as srv:
        cfg, maildir = harness.imap_config(tmp_path, srv.port, TIMEOUT)
        local_changes(maildir)
        r = harness.run_facteur(cfg, tmp_path)
        where = common_checks(r, name)
        assert not srv.errors, srv.errors
        trigger = getattr(sc, "trigger", None)

        def seen():
            return trigger is None or any(
                c.split(" ", 1)[1].upper().startswith(trigger)
                for c in sc.commands if " " in c)
        if not seen() and r.rc == 0:
            # The command comes only with changes to propagate (UID STORE,
            # EXPUNGE...): make some locally, then run again.
            for i, (mid, flags, folder, key) in enumerate(util.maildir_list(maildir)):
                if i % 2:
                    util.maildir_set_flags(maildir, mid, flags + "F")
                else:
                    util.maildir_delete(maildir, mid)
            r = harness.run_facteur(cfg, tmp_path)
            where = common_checks(r, name + " (second run)")
        seen = seen()
        if want == "fail" and seen:
            assert r.rc == 1, where
        # Whatever happened, what is in the Maildir came from the server or
        # the user, under the Maildir root (checked above), and a message
        # the user wrote is still there.
        ids = {mid for mid, _, _, _ in util.maildir_list(maildir)}
        if trigger is None:
            assert {m.message_id for m in util.gen(77, 2, max_body=500)} <= ids, where
        # A BYE scenario must have met its command, or it tested nothing.
        assert seen or trigger == "LOGOUT" or want == "either", \
            "%s: facteur never sent %s" % (name, trigger)


@pytest.mark.parametrize("name", sorted(pop3server.SCENARIOS))
def test_hostile_pop3(tmp_path, name):
    cls, want = pop3server.SCENARIOS[name]
    with pop3server.HostilePOP3(cls()) as srv:
        cfg, maildir = harness.pop3_config(tmp_path, srv.port, TIMEOUT)
        r = harness.run_facteur(cfg, tmp_path)
        where = common_checks(r, "pop3 " + name)
        assert not srv.errors, srv.errors
        if want == "fail":
            assert r.rc == 1, where
        elif want == "ok":
            assert r.rc == 0, where
        # Exactly once: never two files for one message.
        mids = [mid for mid, _, _, _ in util.maildir_list(maildir)]
        assert len(mids) == len(set(mids)), where


def test_pop3_endless_uidl_is_bounded(tmp_path):
    """A UIDL listing that never ends is refused once it would take more
    than 32 MiB (441,505 entries), with an error saying so, long before the
    3 million lines the server sends; memory stays far below the 150 MB
    the old 2^21-entry limit allowed."""
    import resource
    import tempfile
    gnu_time = "/usr/bin/time"
    with pop3server.HostilePOP3(pop3server.EndlessUidl()) as srv, \
            tempfile.NamedTemporaryFile(prefix="facteur-rss-") as rss:
        cfg, maildir = harness.pop3_config(tmp_path, srv.port, TIMEOUT)
        # The harness's wait4() also counts the pytest image facteur was
        # forked from (it grows over a session); GNU time, if there, sees
        # facteur alone.
        wrap = [gnu_time, "-f", "%M", "-o", rss.name] \
            if os.access(gnu_time, os.X_OK) else []
        r = harness._run(wrap + [util.facteur_binary(), "-c", cfg, "-a"],
                         str(tmp_path), harness.ALLOWED)
        where = common_checks(r, "pop3 endless UIDL")
        assert r.rc == 1, where
        assert "UIDL: more than 441505 messages listed (over 32 MiB)" in r.err, where
        if wrap:
            peak = int(open(rss.name).read().split()[-1]) / 1024.0
        else:
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            peak = r.maxrss_mb if r.maxrss_mb > own + 1 else 0
        assert peak < 64 * (3 if harness.is_sanitized() else 1), \
            "%.0f MB\n%s" % (peak, where)
        assert not util.maildir_list(maildir), where


# -- deletions that did not happen -------------------------------------------


def pop3_report(r):
    """The --json summary line of a run."""
    import json
    lines = [l for l in r.out.splitlines() if l.startswith("{")]
    assert len(lines) == 1, r.out + r.err
    return json.loads(lines[0])


@pytest.mark.parametrize("cls, deleted_first, words", [
    (pop3server.RefuseDeleOnce, {1, 3}, "DELE 2 refused"),
    (pop3server.QuitErrOnce, set(), "QUIT"),
    (pop3server.QuitHangupOnce, set(), "QUIT unanswered"),
])
def test_pop3_deletion_failure_is_an_error(tmp_path, cls, deleted_first, words):
    """Keep no, and the server does not delete everything it was asked to:
    the run fails (exit 1, the error in the summary) although every message
    is stored; the next run, the server well again, deletes the rest and
    downloads nothing twice."""
    sc = cls()
    with pop3server.HostilePOP3(sc) as srv:
        cfg, maildir = harness.pop3_config(tmp_path, srv.port, TIMEOUT,
                                           store="Keep no")
        r = harness.run_facteur(cfg, tmp_path, args=("-a", "--json"))
        where = common_checks(r, "pop3 " + cls.__name__)
        assert r.rc == 1, where
        rep = pop3_report(r)
        assert rep["ok"] is False, where
        assert words in rep["error"], where
        assert rep["pulled"] == 3, where
        assert rep["deleted_far"] == len(deleted_first), where
        assert sc.deleted == deleted_first, where
        assert len(util.maildir_list(maildir)) == 3, where

        r = harness.run_facteur(cfg, tmp_path, args=("-a", "--json"))
        where = common_checks(r, "pop3 %s, second run" % cls.__name__)
        assert r.rc == 0, where
        rep = pop3_report(r)
        assert rep["ok"] is True and rep["pulled"] == 0, where
        assert rep["deleted_far"] == 3 - len(deleted_first), where
        assert sc.deleted == {1, 2, 3}, where
        assert sorted(mid for mid, _, _, _ in util.maildir_list(maildir)) == \
            ["<p1@hostile.test>", "<p2@hostile.test>", "<p3@hostile.test>"], where
        assert not srv.errors, srv.errors


# -- fuzz regressions -----------------------------------------------------------


FUZZ = os.path.join(HERE, "..", "fuzz")


def fuzz_targets():
    return sorted(f[:-2] for f in os.listdir(FUZZ)
                  if f.startswith("fuzz_") and f.endswith(".c"))


@pytest.mark.parametrize("target", fuzz_targets())
def test_fuzz_inputs_replay(tmp_path, target):
    """Every input that once crashed a fuzz target (tests/fuzz/regress) and
    every seed (tests/fuzz/corpus) runs through the target built with the
    ordinary compiler against the library under test (ASan's when FACTEUR
    is the SANITIZE=1 build): the crashes found stay fixed."""
    import subprocess
    binary = util.facteur_binary()
    lib = os.path.join(os.path.dirname(binary), "libfacteur.a")
    if not os.path.exists(lib):   # the plain build keeps it in build/
        lib = os.path.join(os.path.dirname(binary), "build", "libfacteur.a")
    assert os.path.exists(lib), "library of %s not found" % binary
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"] \
        if harness.is_sanitized(binary) else []
    root = os.path.join(HERE, "..", "..")
    exe = str(tmp_path / target)
    r = subprocess.run(["cc", "-std=c11", "-g", "-O1", "-I", root, "-D_GNU_SOURCE"]
                       + san + ["-o", exe, os.path.join(FUZZ, target + ".c"),
                                os.path.join(FUZZ, "replay_main.c"), lib,
                                "-lssl", "-lcrypto", "-lz", "-llmdb"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    inputs = []
    for d in ("regress", "corpus"):
        p = os.path.join(FUZZ, d, target)
        if os.path.isdir(p):
            inputs += [os.path.join(p, f) for f in sorted(os.listdir(p))]
    assert inputs, "no seeds for " + target
    r = subprocess.run([exe] + inputs, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert r.stdout.count("ok ") == len(inputs)


def test_connection_lost_after_append_no_duplicate(tmp_path):
    """An APPEND that landed but whose answer was the last thing before the
    connection died (the same window as a crash between APPEND and the
    journal): the next run must pair the uploaded message, not download it
    back as new and upload it again."""
    sc = scenarios.DropAfterAppend()
    with imapserver.HostileIMAP(sc) as srv:
        cfg, maildir = harness.imap_config(tmp_path, srv.port, TIMEOUT)
        # One session: a first sync over several takes whole folders, and
        # the APPEND could be a worker's last command, its answer in hand.
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write("ParallelFolders 1\n" + text)
        local_changes(maildir)
        r = harness.run_facteur(cfg, tmp_path)
        common_checks(r, "drop after append")
        assert sc.dropped and r.rc == 1, r.err
        r = harness.run_facteur(cfg, tmp_path)
        where = common_checks(r, "rerun after the drop")
        assert r.rc == 0, where
        r = harness.run_facteur(cfg, tmp_path)
        assert r.rc == 0, common_checks(r, "settling run")
        near = [mid for mid, _, _, _ in util.maildir_list(maildir)]
        assert len(near) == len(set(near)), "duplicate in the Maildir: %s\n%s" % (
            sorted(near), where)
        for name, f in sc.folders.items():
            ids = [re.search(rb"Message-ID: (<[^>]*>)", m[2]).group(1) for m in f.msgs]
            assert len(ids) == len(set(ids)), "duplicate on the server in %s: %s" % (
                name, ids)
