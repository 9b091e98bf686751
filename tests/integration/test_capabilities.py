"""The capability matrix: the same two-way scenario against Dovecot with one
extension hidden from facteur at a time (DisableExtension), so the
documented fallbacks run against a real server:

  CONDSTORE, QRESYNC  full flag fetch instead of CHANGEDSINCE / VANISHED
  MOVE                UID COPY + STORE \\Deleted + EXPUNGE
  UIDPLUS             appended messages found again by Message-ID; plain
                      EXPUNGE instead of UID EXPUNGE
  LITERAL+            synchronizing literals (wait for "+" before the data)
  COMPRESS            no COMPRESS DEFLATE
  LIST-STATUS, ESEARCH  plain LIST / STATUS / SEARCH

A last case hides all of them at once, as a bare IMAP4rev1 server would be.
Each case checks the outcome (both sides converged, each message exactly
once, a rerun changes nothing) and, from facteur's own protocol trace (-D),
that the client never used the disabled extension.  Only client lines
("imap> ") are inspected: Dovecot still advertises and may volunteer
response codes such as APPENDUID.
"""

import os
import re
import time

import pytest

import util

# Extension -> regexes that must not match any client line when disabled.
FORBIDDEN = {
    "CONDSTORE": [r"\bCONDSTORE\b", r"\bMODSEQ\b", r"\bCHANGEDSINCE\b",
                  r"\bQRESYNC\b"],
    "QRESYNC": [r"\bQRESYNC\b", r"\bVANISHED\b"],
    "MOVE": [r"^\S+ (UID )?MOVE\b"],
    "UIDPLUS": [r"^\S+ UID EXPUNGE\b"],
    "LITERAL+": [r"\{\d+\+\}"],
    "COMPRESS": [r"\bCOMPRESS\b"],
    "LIST-STATUS": [r"\bRETURN \([^)]*STATUS"],
    "ESEARCH": [r"\bSEARCH RETURN\b", r"\bESEARCH\b"],
}

USED_BY_BASELINE = ("CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS", "LITERAL+",
                    "COMPRESS")

# Extension -> regexes some client line must match when it is hidden.
FALLBACK = {
    "MOVE": [r"^\S+ UID COPY \d"],
    "UIDPLUS": [r"^\S+ EXPUNGE$"],
    "LITERAL+": [r"APPEND .*\{\d+\}$"],
}


def client_lines(trace):
    return [line[len("imap> "):] for line in trace.splitlines()
            if line.startswith("imap> ")]


def far_all(imap):
    out = {}
    for f in util.server_folders(imap):
        for mid, flags, _ in util.server_list(imap, f):
            assert mid not in out, "duplicate %s on the server (%s, %s)" % (
                mid, out[mid][1], f)
            out[mid] = (util.letters(flags), f)
    return out


def local_move(root, message_id, dst):
    folder, key = [(f, k) for mid, _, f, k in util.maildir_list(root)
                   if mid == message_id][0]
    dirs = util.maildir_folders(root)
    for sub in ("cur", "new"):
        d = os.path.join(dirs[folder], sub)
        for name in os.listdir(d):
            if name.split(":", 1)[0] == key:
                os.rename(os.path.join(d, name),
                          os.path.join(dirs[dst], sub, name))
                return
    raise AssertionError("%s not found locally" % message_id)


def run_traced(cfg):
    rc, out, err = util.run_facteur(["-a", "-D"], cfg, check_rc=0)
    return err


ALL = "ALL"  # every extension above at once: a bare IMAP4rev1 server


@pytest.mark.parametrize("ext", [None] + sorted(FORBIDDEN) + [ALL])
def test_scenario_with_extension_disabled(dovecot, tmp_path, ext):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    try:
        hidden = sorted(FORBIDDEN) if ext == ALL else [ext] if ext else []
        opts = {"DisableExtension": " ".join(hidden)} if hidden else {}
        cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert,
                               account_opts=opts)
        inbox = util.seed(imap, "INBOX", util.gen(1, 6), create=False,
                          flags_for=lambda i: "S" if i % 2 else "")
        work = util.seed(imap, "Work", util.gen(2, 3))
        traces = [run_traced(cfg)]
        # Every kind of change, on both sides.
        far_new = util.seed(imap, "Work", util.gen(3, 2), create=False)
        near_new = util.gen(4, 3)
        for m in near_new:
            util.maildir_deliver(cfg.maildir, "INBOX", m)
        util.maildir_deliver(cfg.maildir, "Made/Here", util.gen(5, 1)[0])
        util.store_flags(imap, "INBOX", inbox[0].message_id, "+FLAGS", "F")
        util.maildir_set_flags(cfg.maildir, inbox[2].message_id, "RS")
        util.expunge_message(imap, "Work", work[0].message_id)
        util.maildir_delete(cfg.maildir, work[1].message_id)
        local_move(cfg.maildir, inbox[3].message_id, "Work")
        util.check(imap.select("INBOX"), "SELECT INBOX")
        uid = util.find_uid(imap, inbox[4].message_id)
        util.check(imap.uid("COPY", str(uid), "Work"), "COPY")
        util.check(imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)"),
                   "STORE")
        util.check(imap.expunge(), "EXPUNGE")
        traces.append(run_traced(cfg))

        far, near = far_all(imap), util.maildir_messages(cfg.maildir)
        assert far == near
        gone = {work[0].message_id, work[1].message_id}
        want = {m.message_id for m in inbox + work + far_new + near_new} - gone
        assert set(far) - {util.gen(5, 1)[0].message_id} == want
        assert far[inbox[0].message_id] == ("F", "INBOX")
        assert far[inbox[2].message_id] == ("RS", "INBOX")
        assert far[inbox[3].message_id] == ("S", "Work")
        assert far[inbox[4].message_id] == ("", "Work")
        assert far[util.gen(5, 1)[0].message_id] == ("", "Made/Here")

        # Settled: a rerun changes nothing on either side.
        before = util.server_state(imap), util.maildir_snapshot(cfg.maildir)
        time.sleep(1.1)
        traces.append(run_traced(cfg))
        assert (util.server_state(imap),
                util.maildir_snapshot(cfg.maildir)) == before

        sent = [line for t in traces for line in client_lines(t)]
        assert sent, "no protocol trace from facteur -D"
        for e in hidden:
            for pat in FORBIDDEN[e]:
                bad = [line for line in sent if re.search(pat, line)]
                assert not bad, "%s disabled but sent: %s" % (e, bad[:3])
        if ext is None:
            # The baseline uses these, so their hidden cases prove a
            # fallback.  facteur issues no LIST-STATUS or ESEARCH: those
            # cases only prove that hiding them is harmless.
            for e in USED_BY_BASELINE:
                assert any(re.search(p, line) for p in FORBIDDEN[e]
                           for line in sent), "baseline never used " + e
        # The fallbacks themselves, where the wire shows them (one at a
        # time: with UIDPLUS hidden too, a local move is uploaded again
        # rather than copied).
        for e in hidden if ext != ALL else []:
            for pat in FALLBACK.get(e, []):
                assert any(re.search(pat, line) for line in sent), (
                    "%s hidden but no %r sent" % (e, pat))
    finally:
        imap.logout()
