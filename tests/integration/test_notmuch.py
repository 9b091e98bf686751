"""facteur's Maildir as notmuch sees it: after a sync, `notmuch new` with
maildir.synchronize_flags derives its tags from the file names facteur
wrote (unread, replied, flagged, draft, passed), and a tag changed in
notmuch (which renames the file) goes back to the server on the next sync.

Needs Debian's notmuch (contrib/deps.sh installs it).  notmuch runs with a
private configuration (NOTMUCH_CONFIG) and its database outside the
Maildir, so nothing of the user's is read or written.
"""

import os
import shutil
import subprocess

import pytest

import util

# Maildir letters of each seeded message.
SEED_FLAGS = ["", "S", "RS", "FS", "DS", "PS", "FR", "SPF"]

# notmuch's tag for each Maildir letter (unread is the absence of S).
LETTER_TAGS = {"D": "draft", "F": "flagged", "P": "passed", "R": "replied"}


def expected_tags(letters):
    tags = {LETTER_TAGS[c] for c in letters if c in LETTER_TAGS}
    if "S" not in letters:
        tags.add("unread")
    return tags


class Notmuch:
    def __init__(self, tmp, maildir):
        self.binary = shutil.which("notmuch")
        assert self.binary, "notmuch is not installed: run contrib/deps.sh"
        self.config = os.path.join(tmp, "notmuch-config")
        db = os.path.join(tmp, "notmuch-db")
        os.makedirs(db, exist_ok=True)
        with open(self.config, "w") as f:
            f.write("[database]\npath=%s\nmail_root=%s\n\n"
                    "[user]\nname=Test\nprimary_email=test@example.org\n\n"
                    "[new]\ntags=inbox;\nignore=\n\n"
                    "[search]\nexclude_tags=\n\n"
                    "[maildir]\nsynchronize_flags=true\n" % (db, maildir))
        self.env = dict(os.environ, NOTMUCH_CONFIG=self.config)
        self.env.pop("NOTMUCH_PROFILE", None)

    def run(self, *args):
        r = subprocess.run([self.binary] + list(args), env=self.env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, "notmuch %s: %s" % (" ".join(args), r.stderr)
        return r.stdout

    def tags(self, message_id):
        out = self.run("search", "--output=tags", "id:" + message_id.strip("<>"))
        return set(out.split()) - {"inbox", "attachment", "signed", "encrypted"}

    def count(self, query):
        return int(self.run("count", query).strip())


@pytest.fixture
def world(dovecot, user, imap, tmp_path):
    msgs = util.gen(31, len(SEED_FLAGS), max_body=5000)
    util.seed(imap, "INBOX", msgs[:4], lambda i: SEED_FLAGS[i])
    util.seed(imap, "Archive", msgs[4:], lambda i: SEED_FLAGS[4 + i])
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    util.sync(cfg)
    nm = Notmuch(str(tmp_path), cfg.maildir)
    nm.run("new", "--quiet")
    return msgs, cfg, nm


def test_tags_follow_flags(world):
    msgs, cfg, nm = world
    assert nm.count("*") == len(msgs)
    for m, letters in zip(msgs, SEED_FLAGS):
        assert nm.tags(m.message_id) == expected_tags(letters), (m.message_id, letters)
    for tag in ("unread", "replied", "flagged", "draft", "passed"):
        want = sum(1 for f in SEED_FLAGS if tag in expected_tags(f))
        assert nm.count("tag:" + tag) == want, tag


def test_notmuch_tag_changes_reach_the_server(world, imap):
    msgs, cfg, nm = world
    first, second = msgs[0], msgs[2]   # unread; replied and seen
    nm.run("tag", "+flagged", "-unread", "--", "id:" + first.message_id.strip("<>"))
    nm.run("tag", "-replied", "--", "id:" + second.message_id.strip("<>"))
    util.sync(cfg)
    server = util.server_messages(imap, "INBOX")
    assert util.letters(server[first.message_id]) == "FS"
    assert util.letters(server[second.message_id]) == "S"
    # And notmuch still agrees after rescanning what facteur left.
    nm.run("new", "--quiet")
    assert nm.tags(first.message_id) == {"flagged"}
    assert nm.tags(second.message_id) == set()
