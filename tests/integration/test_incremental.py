"""Incremental resynchronization: unchanged folders are skipped cheaply
(STATUS with HIGHESTMODSEQ on the server, directory stamps locally), and a
change on either side is never missed because of it, even one made right
after a sync.  Outcomes are checked with imaplib and mailbox.Maildir."""

import json
import os
import threading
import time

import pytest

import util
from counting_proxy import CountingProxy
from test_sync import World, seed_far


def sync_json(w):
    rc, out, err = util.run_facteur(["-a", "--json"], w.cfg, check_rc=0)
    return json.loads(out.strip().splitlines()[-1])


def settle():
    # The engine trusts a folder stamp only once the folder has been quiet
    # for 2 s; wait past that so the next sync may skip.
    time.sleep(2.2)


def test_change_right_after_sync_is_not_missed(dovecot, tmp_path):
    w = World(dovecot, tmp_path)
    try:
        msgs = seed_far(w, "INBOX", 41, 5)
        w.sync()
        settle()
        w.sync()  # records settled stamps: the next unchanged run may skip
        # Immediately change a flag locally and one on the server.
        util.maildir_set_flags(w.mail, msgs[0].message_id, "FS")
        util.store_flags(w.imap, "INBOX", msgs[1].message_id, "+FLAGS", "R")
        w.sync()
        far, near = w.far(), w.near()
        assert util.letters(far[msgs[0].message_id]) == "FS"
        assert "R" in near[msgs[1].message_id][0]
        w.assert_converged()
    finally:
        w.close()


def test_quick_local_change_after_skipping_run(dovecot, tmp_path):
    w = World(dovecot, tmp_path)
    try:
        msgs = seed_far(w, "INBOX", 42, 3)
        w.sync()
        settle()
        w.sync()
        w.sync()  # skips: nothing changed
        util.maildir_delete(w.mail, msgs[2].message_id)
        w.sync()
        assert msgs[2].message_id not in w.far()
        w.assert_converged()
    finally:
        w.close()


def test_noop_resync_is_small_on_the_wire(dovecot, tmp_path):
    w = World(dovecot, tmp_path)
    try:
        for folder, seed in (("INBOX", 43), ("Lists", 44), ("Archive", 45)):
            seed_far(w, folder, seed, 100, max_body=2000)
        w.sync()
        settle()
        w.sync()
        s = sync_json(w)
        assert s["pulled"] == 0 and s["pushed"] == 0
        # Measured below TLS and COMPRESS; the TLS handshake and SCRAM
        # dominate, whatever the number of messages.
        assert s["wire_in"] + s["wire_out"] < 5000, s
        assert len(w.near()) == 300
    finally:
        w.close()


def test_dry_run_counts_and_touches_nothing(dovecot, tmp_path):
    w = World(dovecot, tmp_path)
    try:
        msgs = seed_far(w, "INBOX", 46, 7) + seed_far(w, "Lists", 47, 4)
        before = sorted(os.listdir(tmp_path))
        rc, out, err = util.run_facteur(["-a", "--dry-run", "--json"], w.cfg, check_rc=0)
        s = json.loads(out.strip().splitlines()[-1])
        assert s["dry_run"] and s["pulled"] == len(msgs)
        assert s["bytes_down"] == sum(len(m.data) for m in msgs)
        assert sorted(os.listdir(tmp_path)) == before  # no Maildir, no journal
        w.sync()
        assert len(w.near()) == len(msgs)
    finally:
        w.close()


def test_run_right_after_a_pull_skips_and_misses_nothing(dovecot, tmp_path):
    # The pull checks each folder it changed against the journal, so the
    # very next run may skip it without waiting for the folder to settle.
    w = World(dovecot, tmp_path)
    try:
        msgs = seed_far(w, "INBOX", 48, 6) + seed_far(w, "Lists", 49, 4)
        w.sync()
        rc, out, err = util.run_facteur(["-a", "-V"], w.cfg, check_rc=0)
        assert err.count("unchanged on both sides") == 2, err
        # Then changes made at once on both sides are all taken.
        util.maildir_set_flags(w.mail, msgs[0].message_id, "FS")
        util.store_flags(w.imap, "Lists", msgs[7].message_id, "+FLAGS", "R")
        new = util.gen(50, 1)[0]
        util.maildir_deliver(w.mail, "INBOX", new)
        w.sync()
        far, near = w.far(), w.near()
        assert util.letters(far[msgs[0].message_id]) == "FS"
        assert "R" in near[msgs[7].message_id][0]
        assert new.message_id in far
        w.assert_converged()
    finally:
        w.close()


def test_run_right_after_pushing_flags_skips(dovecot, tmp_path):
    # The run that pushed local flag changes checks, for all its folders
    # at once, that the server's changes since it selected them are its
    # own, so the very next run may skip them instead of listing them.
    w = World(dovecot, tmp_path)
    try:
        msgs = seed_far(w, "INBOX", 51, 6) + seed_far(w, "Lists", 52, 3)
        w.sync()
        settle()
        w.sync()
        util.maildir_set_flags(w.mail, msgs[0].message_id, "FS")
        util.maildir_set_flags(w.mail, msgs[1].message_id, "R")
        util.maildir_set_flags(w.mail, msgs[7].message_id, "F")
        # Both runs in clear text through a relay that keeps what facteur
        # sends: what it asked the server, seen from outside.
        sent = []
        relay = CountingProxy(dovecot.ports["imap"], on_up=sent.append)
        plain = util.make_config(tmp_path, w.user, dict(dovecot.ports, imap=relay.port),
                                 dovecot.cert, tls="starttls",
                                 account_opts={"TLSType": "None", "Compress": "no"})
        try:
            rc, out, err = util.run_facteur(["-a", "-V"], plain, check_rc=0)
            assert err.count("unchanged on both sides") == 0, err
            pushed = b"".join(sent)
            assert b'EXAMINE "INBOX"' in pushed and b'EXAMINE "Lists"' in pushed, pushed
            del sent[:]
            rc, out, err = util.run_facteur(["-a", "-V"], plain, check_rc=0)
            assert err.count("unchanged on both sides") == 2, err
            after = b"".join(sent)
            assert b"SELECT" not in after and b"EXAMINE" not in after, after
        finally:
            relay.close()
        assert util.letters(w.far()[msgs[0].message_id]) == "FS"
        assert util.letters(w.far()[msgs[1].message_id]) == "R"
        assert util.letters(w.far("Lists")[msgs[7].message_id]) == "F"
        # Then a change on the server is taken.
        util.store_flags(w.imap, "INBOX", msgs[2].message_id, "+FLAGS", "P")
        w.sync()
        assert "P" in w.near()[msgs[2].message_id][0]
        w.assert_converged()
    finally:
        w.close()


@pytest.mark.parametrize("change", ["other-flag", "same-message", "expunge", "new"])
def test_change_during_a_flag_push_is_not_missed(dovecot, tmp_path, change):
    """A change another client makes while facteur pushes flags: facteur
    must not take it for its own, and the next run, right after, takes it.
    (A new message also moves UIDNEXT, which alone stops a skip.)"""
    w = World(dovecot, tmp_path)
    other = dovecot.imap(w.user)
    new = util.gen(54, 1)[0]
    try:
        msgs = seed_far(w, "INBOX", 53, 5)
        w.sync()

        def hook():
            if change == "other-flag":
                util.store_flags(other, "INBOX", msgs[3].message_id, "+FLAGS", "P")
            elif change == "same-message":
                util.store_flags(other, "INBOX", msgs[0].message_id, "+FLAGS", "R")
            elif change == "expunge":
                util.expunge_message(other, "INBOX", msgs[4].message_id)
            else:
                util.append(other, "INBOX", new)

        fired = threading.Event()

        def before_store(data):
            # Another client's change after facteur's SELECT, before its STORE.
            if b"UID STORE" in data and not fired.is_set():
                hook()
                fired.set()

        relay = CountingProxy(dovecot.ports["imap"], on_up=before_store)
        plain = {"TLSType": "None", "Compress": "no"}
        hooked = util.make_config(tmp_path, w.user, dict(dovecot.ports, imap=relay.port),
                                  dovecot.cert, tls="starttls", account_opts=plain)
        util.maildir_set_flags(w.mail, msgs[0].message_id, "F")
        util.run_facteur(["-a"], hooked, check_rc=0)
        relay.close()
        assert fired.is_set(), "facteur sent no UID STORE"
        w.sync()
        far, near = w.far(), w.near()
        if change == "other-flag":
            assert "P" in near[msgs[3].message_id][0]
        elif change == "same-message":
            assert near[msgs[0].message_id][0] == "FR"
        elif change == "expunge":
            assert msgs[4].message_id not in near
        else:
            assert new.message_id in near
        assert util.letters(far[msgs[0].message_id]) in ("F", "FR")
        w.assert_converged()
    finally:
        other.logout()
        w.close()
