"""The test server itself: each listener works as the other tests assume,
checked with Python's own imaplib, poplib and ssl."""

import imaplib
import os
import poplib
import socket
import ssl
import subprocess

import pytest

import mailgen
import util

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def post_login_caps(conn):
    typ, data = conn.capability()
    assert typ == "OK"
    return set(data[0].decode().upper().split())


def test_starttls_then_login(dovecot, user):
    c = dovecot.imap(user, mode="starttls", login=False)
    try:
        assert "STARTTLS" not in c.capabilities  # refreshed after TLS
        assert isinstance(c.sock, ssl.SSLSocket)
        c.login(user.name, user.password)
        assert c.state == "AUTH"
    finally:
        c.logout()


def test_plain_port_offers_starttls(dovecot):
    c = imaplib.IMAP4(dovecot.host, dovecot.ports["imap"], timeout=30)
    try:
        assert "STARTTLS" in c.capabilities
    finally:
        c.logout()


def test_imaps_certificate_verifies(dovecot, user):
    ctx = ssl.create_default_context(cafile=dovecot.cert)
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection((dovecot.host, dovecot.ports["imaps"])) as s:
            with ctx.wrap_socket(s, server_hostname=host) as tls:
                assert tls.getpeercert()["subject"]
                assert tls.recv(5) == b"* OK "


def test_imaps_rejects_wrong_host_name(dovecot):
    ctx = ssl.create_default_context(cafile=dovecot.cert)
    with socket.create_connection((dovecot.host, dovecot.ports["imaps"])) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname="not-this-host.example")


def test_imaps_untrusted_without_cert_file(dovecot):
    ctx = ssl.create_default_context()
    with socket.create_connection((dovecot.host, dovecot.ports["imaps"])) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname="127.0.0.1")


def test_capabilities_after_login(imap):
    caps = post_login_caps(imap)
    for want in ("COMPRESS=DEFLATE", "CONDSTORE", "QRESYNC", "UIDPLUS",
                 "ENABLE", "LITERAL+"):
        assert want in caps, (want, caps)


def test_auth_mechanisms_offered(dovecot):
    c = dovecot.imap(mode="imaps", login=False)
    try:
        for mech in ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1",
                     "SCRAM-SHA-256"):
            assert "AUTH=" + mech in c.capabilities
    finally:
        c.logout()


def test_cram_md5_login(dovecot, user):
    c = dovecot.imap(login=False)
    try:
        typ, _ = c.login_cram_md5(user.name, user.password)
        assert typ == "OK"
    finally:
        c.logout()


def test_wrong_password_refused(dovecot, user):
    c = dovecot.imap(login=False)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            c.login(user.name, "not-" + user.password)
    finally:
        c.logout()


def test_users_are_isolated(dovecot):
    a, b = dovecot.new_user(), dovecot.new_user()
    assert a.name != b.name
    ca = dovecot.imap(a)
    util.seed(ca, "INBOX", util.gen(7, 1))
    ca.logout()
    cb = dovecot.imap(b)
    try:
        assert util.server_messages(cb, "INBOX") == {}
    finally:
        cb.logout()


def test_pop3_stls_uidl(dovecot, user):
    c = dovecot.imap(user)
    msgs = util.seed(c, "INBOX", util.gen(11, 3))
    c.logout()
    p = poplib.POP3(dovecot.host, dovecot.ports["pop3"], timeout=30)
    try:
        assert "STLS" in p.capa()
        p.stls(context=dovecot.ssl_context())
        p.user(user.name)
        p.pass_(user.password)
        resp, lines, _ = p.uidl()
        assert resp.startswith(b"+OK")
        uidls = [ln.split()[1] for ln in lines]
        assert len(uidls) == len(set(uidls)) == len(msgs)
        _, body, _ = p.retr(1)
        assert util._message_id(b"\r\n".join(body)) == msgs[0].message_id
    finally:
        p.quit()


def test_pop3s(dovecot, user):
    p = dovecot.pop3(user, mode="pop3s")
    try:
        assert isinstance(p.sock, ssl.SSLSocket)
        count, size = p.stat()
        assert (count, size) == (0, 0)
    finally:
        p.quit()


def test_mailgen_is_deterministic():
    a = [m.data for m in mailgen.generate(42, 30)]
    b = [m.data for m in mailgen.generate(42, 30)]
    c = [m.data for m in mailgen.generate(43, 30)]
    assert a == b
    assert a != c
    assert all(b"\r\n" in m and b"\n" not in m.replace(b"\r\n", b"") for m in a)
    sizes = sorted(len(m.data) for m in mailgen.generate(1, 200))
    assert sizes[0] < 2000 and sizes[-1] > 20000  # a realistic spread


def test_seed_200_and_read_back(dovecot, user, imap):
    msgs = util.gen(1234, 200, max_body=100000)
    flags = lambda i: "S" if i % 3 == 0 else ("FS" if i % 7 == 0 else "")
    util.seed(imap, "Archive/2024", msgs, flags_for=flags)
    got = util.server_messages(imap, "Archive/2024")
    assert set(got) == {m.message_id for m in msgs}
    for i, m in enumerate(msgs):
        assert util.letters(got[m.message_id]) == flags(i)
    bodies = util.server_bodies(imap, "Archive/2024")
    for m in msgs[:20]:
        assert bodies[m.message_id] == m.data
    assert "Archive/2024" in util.server_folders(imap)


def test_doveadm_sees_user(dovecot, user, imap):
    util.seed(imap, "Work", util.gen(5, 4))
    r = dovecot.doveadm("mailbox", "status", "-u", user.name, "messages",
                        "Work")
    assert "messages=4" in r.stdout.decode().split()


def test_restart_keeps_data(dovecot, user):
    c = dovecot.imap(user)
    msgs = util.seed(c, "Keep", util.gen(99, 5), flags_for=lambda i: "S")
    c.logout()
    old_ports = dict(dovecot.ports)
    dovecot.restart()
    assert dovecot.ports == old_ports
    c = dovecot.imap(user)
    try:
        got = util.server_messages(c, "Keep")
        assert got == {m.message_id: frozenset({"\\Seen"}) for m in msgs}
    finally:
        c.logout()


# -- contrib/demo.sh --------------------------------------------------------

# Stands in for facteur until the sync engine lands: reads the demo's config
# and copies every folder into the Maildir, so the demo's server, seeding
# and summary steps are exercised end to end.
FAKE_FACTEUR = r'''#!/usr/bin/env python3
import imaplib, mailbox, os, re, ssl, sys
conf = {}
for line in open(sys.argv[sys.argv.index("-c") + 1]):
    if line.strip() and not line.startswith("#"):
        k, _, v = line.strip().partition(" ")
        conf.setdefault(k, v)
ctx = ssl.create_default_context(cafile=conf["CertificateFile"])
c = imaplib.IMAP4_SSL(conf["Host"], int(conf["Port"]), ssl_context=ctx)
c.login(conf["User"], conf["Pass"])
for line in c.list()[1]:
    if b"\\Noselect" in line or b"\\NonExistent" in line:
        continue
    name = re.match(rb'\(.*?\) ".*?" "?(.*?)"?$', line).group(1).decode()
    d = conf["Inbox"] if name == "INBOX" else os.path.join(conf["Path"], name)
    os.makedirs(os.path.dirname(d), exist_ok=True)
    md = mailbox.Maildir(d, factory=None, create=True)
    typ, data = c.select('"%s"' % name, readonly=True)
    if int(data[0]):
        for part in c.fetch("1:*", "(BODY.PEEK[])")[1]:
            if isinstance(part, tuple):
                md.add(part[1].replace(b"\r\n", b"\n"))
c.logout()
'''


def run_demo(tmp_path, facteur):
    env = dict(os.environ, FACTEUR_DEMO_DIR=str(tmp_path / "demo"))
    r = subprocess.run(["sh", os.path.join(TOP, "contrib", "demo.sh"), facteur],
                       capture_output=True, text=True, env=env, timeout=300)
    pids = [int(l.split("=")[1]) for l in r.stdout.split()
            if l.startswith("pid=")]
    assert len(pids) == 1, r.stdout + r.stderr
    assert not os.path.exists("/proc/%d" % pids[0]), "demo left Dovecot running"
    return r


def test_demo_end_to_end_with_stand_in(tmp_path):
    fake = tmp_path / "fake-facteur"
    fake.write_text(FAKE_FACTEUR)
    fake.chmod(0o755)
    r = run_demo(tmp_path, str(fake))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "420 messages in " in r.stdout
    got = util.maildir_messages(str(tmp_path / "demo" / "Mail"))
    assert len(got) == 420
    assert {f for _, f in got.values()} == {
        "INBOX", "Archive", "Work", "Work/Projects", "Lists/facteur"}


def test_demo_reports_failed_sync_and_stops_server(tmp_path):
    r = run_demo(tmp_path, "/bin/false")
    assert r.returncode == 1
    assert "the sync failed" in r.stderr
    assert "Archive" in r.stdout  # seeding happened before the sync step
