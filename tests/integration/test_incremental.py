"""Incremental resynchronization: unchanged folders are skipped cheaply
(STATUS with HIGHESTMODSEQ on the server, directory stamps locally), and a
change on either side is never missed because of it, even one made right
after a sync.  Outcomes are checked with imaplib and mailbox.Maildir."""

import json
import os
import time

import util
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
