"""`facteur setup --yes` with its dry run, then a real `facteur -c CONFIG -a` with the configuration it wrote, checked on the
Maildir side with mailbox.Maildir against what the server holds."""
import mailbox
import os
import subprocess

import util
from test_setup import DNSServer, DOMAIN, publish, run_setup


def test_setup_then_sync(dovecot, user, imap, tmp_path):
    sent = util.seed(imap, "INBOX", util.gen(61, 5, max_body=20000), create=False)
    util.seed(imap, "Work", util.gen(62, 3, max_body=20000))
    dns = DNSServer()
    try:
        publish(dns, dovecot.ports)
        r = run_setup(["%s@%s" % (user.name, DOMAIN), "--yes", "--user", user.name,
                       "--pass-cmd", "printf %%s '%s'" % user.password,
                       "--cafile", dovecot.cert], tmp_path, dns, timeout=180)
    finally:
        dns.close()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "First sync preview" in r.stdout
    maildir = tmp_path / "Mail" / "example"
    # The dry run changed nothing.
    assert not (maildir / "INBOX" / "cur").exists() or not os.listdir(maildir / "INBOX" / "cur")

    config = tmp_path / "cfg" / "facteur" / "config"
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    run = subprocess.run([util.facteur_binary(), "-c", str(config), "-a"], env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr

    inbox = mailbox.Maildir(str(maildir / "INBOX"), factory=None, create=False)
    got = sorted(m["Message-ID"] for m in inbox)
    assert got == sorted(m.message_id for m in sent)
    work = mailbox.Maildir(str(maildir / "Work"), factory=None, create=False)
    assert len(work) == 3
    assert util.server_messages(imap, "INBOX").keys() == set(got)


def test_setup_pop3_then_sync(dovecot, user, imap, tmp_path):
    sent = util.seed(imap, "INBOX", util.gen(63, 4, max_body=20000), create=False)
    dns = DNSServer()
    try:
        publish(dns, dovecot.ports, services=("pop3s",))
        r = run_setup(["%s@%s" % (user.name, DOMAIN), "--yes", "--user", user.name,
                       "--pass-cmd", "printf %%s '%s'" % user.password,
                       "--cafile", dovecot.cert, "--name", "pop"], tmp_path, dns, timeout=180)
    finally:
        dns.close()
    assert r.returncode == 0, r.stdout + r.stderr
    config = tmp_path / "cfg" / "facteur" / "config"
    assert "POP3Account pop" in config.read_text()
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    run = subprocess.run([util.facteur_binary(), "-c", str(config), "-a"], env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    inbox = mailbox.Maildir(str(tmp_path / "Mail" / "pop" / "INBOX"), factory=None,
                            create=False)
    assert sorted(m["Message-ID"] for m in inbox) == sorted(m.message_id for m in sent)
    # Keep yes: the server still has every message.
    assert len(util.server_messages(imap, "INBOX")) == len(sent)
