"""The test server itself: each listener works as the other tests assume,
checked with Python's own imaplib, poplib and ssl."""

import imaplib
import os
import poplib
import socket
import ssl
import subprocess

import pytest

import dovecot as dovecot_mod
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


def scram_client(user, password, hash_name):
    """A minimal RFC 5802 client for imaplib.authenticate: returns the
    callback and a dict that receives the server signature check."""
    import base64, hashlib, hmac, secrets
    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    first_bare = "n=%s,r=%s" % (user, nonce)
    state = {"step": 0, "verified": False}

    def h(data):
        return hashlib.new(hash_name, data).digest()

    def mac(key, data):
        return hmac.new(key, data, hash_name).digest()

    def step(challenge):
        if state["step"] == 0:
            state["step"] = 1
            return ("n,," + first_bare).encode()
        if state["step"] == 1:
            state["step"] = 2
            attrs = dict(kv.split("=", 1) for kv in challenge.decode().split(","))
            assert attrs["r"].startswith(nonce)
            salted = hashlib.pbkdf2_hmac(hash_name, password.encode(),
                                         base64.b64decode(attrs["s"]),
                                         int(attrs["i"]))
            final_bare = "c=biws,r=" + attrs["r"]
            auth_msg = ",".join([first_bare, challenge.decode(), final_bare])
            client_key = mac(salted, b"Client Key")
            sig = mac(h(client_key), auth_msg.encode())
            proof = bytes(a ^ b for a, b in zip(client_key, sig))
            state["server_sig"] = mac(mac(salted, b"Server Key"),
                                      auth_msg.encode())
            return (final_bare + ",p=" + base64.b64encode(proof).decode()).encode()
        attrs = dict(kv.split("=", 1) for kv in challenge.decode().split(","))
        state["verified"] = (base64.b64decode(attrs["v"]) == state["server_sig"])
        return b""

    return step, state


@pytest.mark.parametrize("mech,hash_name", [("SCRAM-SHA-256", "sha256"),
                                            ("SCRAM-SHA-1", "sha1")])
def test_scram_login(dovecot, user, mech, hash_name):
    c = dovecot.imap(login=False)
    try:
        step, state = scram_client(user.name, user.password, hash_name)
        typ, _ = c.authenticate(mech, step)
        assert typ == "OK"
        assert state["verified"], "server signature did not verify"
    finally:
        c.logout()


def test_scram_wrong_password_refused(dovecot, user):
    c = dovecot.imap(login=False)
    try:
        step, _ = scram_client(user.name, "x" + user.password, "sha256")
        with pytest.raises(imaplib.IMAP4.error):
            c.authenticate("SCRAM-SHA-256", step)
    finally:
        c.logout()


def test_enable_qresync(imap):
    typ, data = imap._simple_command("ENABLE", "QRESYNC")
    assert typ == "OK"
    assert b"QRESYNC" in b" ".join(imap.untagged_responses.pop("ENABLED", [b""]))


def test_compress_deflate_works(dovecot, user):
    """COMPRESS DEFLATE on a raw TLS socket: a NOOP sent compressed gets a
    compressed OK back (imaplib cannot do this by itself)."""
    import zlib
    ctx = dovecot.ssl_context()
    with socket.create_connection((dovecot.host, dovecot.ports["imaps"])) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
            f = tls.makefile("rb")
            f.readline()
            tls.sendall(b'a LOGIN "%s" "%s"\r\n' % (user.name.encode(),
                                                    user.password.encode()))
            while not f.readline().startswith(b"a OK"):
                pass
            tls.sendall(b"b COMPRESS DEFLATE\r\n")
            assert f.readline().startswith(b"b OK")
            comp = zlib.compressobj(wbits=-15)
            tls.sendall(comp.compress(b"c NOOP\r\n") +
                        comp.flush(zlib.Z_SYNC_FLUSH))
            decomp, text = zlib.decompressobj(wbits=-15), b""
            while b"c OK" not in text:
                chunk = tls.recv(4096)
                assert chunk, "connection closed under COMPRESS"
                text += decomp.decompress(chunk)


def test_loopback_counts_as_secure(dovecot, user):
    """Dovecot treats 127.0.0.1 -> 127.0.0.1 as secured, so plain-text LOGIN
    works without STARTTLS here.  A test that needs a server refusing
    plain-text must not rely on this server to do it."""
    c = dovecot.imap(mode="plain", login=False)
    try:
        assert "LOGINDISABLED" not in c.capabilities
        typ, _ = c.login(user.name, user.password)
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


def test_fixed_users_alice_and_bob(dovecot):
    for name in ("alice", "bob"):
        u = dovecot.users[name]
        c = dovecot.imap(u)
        try:
            assert c.state == "AUTH"
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


def test_pop3s(pop3):
    assert isinstance(pop3.sock, ssl.SSLSocket)
    assert pop3.stat() == (0, 0)


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


def test_non_ascii_folder_names(dovecot, user, imap):
    names = ["Entwürfe", "Données/Été", "日本語", "A&B"]
    for i, n in enumerate(names):
        util.seed(imap, n, util.gen(300 + i, 2))
    typ, data = imap.list()
    raw = b" ".join(data)
    assert b"Entw&APw-rfe" in raw and b"A&-B" in raw  # mUTF-7 on the wire
    assert set(names) <= set(util.server_folders(imap))
    for n in names:
        assert len(util.server_messages(imap, n)) == 2
    r = dovecot.doveadm("mailbox", "status", "-u", user.name, "messages",
                        "Entwürfe")
    assert "messages=2" in r.stdout.decode().split()


def test_doveadm_sees_user(dovecot, user, imap):
    util.seed(imap, "Work", util.gen(5, 4))
    r = dovecot.doveadm("mailbox", "status", "-u", user.name, "messages",
                        "Work")
    assert "messages=4" in r.stdout.decode().split()


def test_startup_failure_raises_with_log():
    """A port already taken: start() raises, naming the problem from
    Dovecot's own log, and leaves nothing running."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    srv = dovecot_mod.Dovecot()
    try:
        srv.ports = dict(zip(dovecot_mod.PORT_NAMES,
                             dovecot_mod.free_ports(3) + [busy.getsockname()[1]]))
        with pytest.raises(dovecot_mod.DovecotError) as ei:
            srv.start()
        assert "in use" in str(ei.value)
        assert "master: Fatal" in str(ei.value)  # the log tail is there
        assert srv.proc is None
    finally:
        busy.close()
        srv.cleanup()


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
    if int(data[0]) and not len(md):  # the demo runs it twice
        for part in c.fetch("1:*", "(BODY.PEEK[])")[1]:
            if isinstance(part, tuple):
                md.add(part[1].replace(b"\r\n", b"\n"))
                if os.environ.get("FAKE_LOSE_MAIL") and name == "Work":
                    break
c.logout()
'''


def run_demo(tmp_path, facteur, **env_extra):
    env = dict(os.environ, FACTEUR_DEMO_DIR=str(tmp_path / "demo"),
               FACTEUR_DEMO_SMALL="1", **env_extra)
    r = subprocess.run(["sh", os.path.join(TOP, "contrib", "demo.sh"), facteur],
                       capture_output=True, text=True, env=env, timeout=300)
    pids = [int(l.split("=")[1]) for l in r.stdout.split()
            if l.startswith("pid=")]
    assert len(pids) == 1, r.stdout + r.stderr
    assert not dovecot_mod._pid_alive(pids[0]), "demo left Dovecot running"
    return r


def test_demo_end_to_end_with_stand_in(tmp_path):
    fake = tmp_path / "fake-facteur"
    fake.write_text(FAKE_FACTEUR)
    fake.chmod(0o755)
    r = run_demo(tmp_path, str(fake))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "42 messages in " in r.stdout
    got = util.maildir_messages(str(tmp_path / "demo" / "Mail"))
    assert len(got) == 42
    assert {f for _, f in got.values()} == {
        "INBOX", "Archive", "Work", "Work/Projects", "Lists/facteur"}


def test_demo_reports_failed_sync_and_stops_server(tmp_path):
    r = run_demo(tmp_path, "/bin/false")
    assert r.returncode == 1
    assert "the sync failed" in r.stderr
    assert "Archive" in r.stdout  # seeding happened before the sync step


def test_demo_notices_missing_mail(tmp_path):
    fake = tmp_path / "fake-facteur"
    fake.write_text(FAKE_FACTEUR)
    fake.chmod(0o755)
    r = run_demo(tmp_path, str(fake), FAKE_LOSE_MAIL="1")
    assert r.returncode == 1
    assert "differs from the server's in: Work" in r.stderr


def _sections(path):
    out, cur = {}, None
    with open(path) as f:
        text = f.read()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        k, _, v = line.partition(" ")
        if k in ("IMAPAccount", "POP3Account", "IMAPStore", "POP3Store",
                 "MaildirStore", "Channel"):
            cur = out.setdefault(k, {})
        else:
            cur[k] = v
    return out


def test_make_config_imap_and_pop3(dovecot, user, tmp_path):
    c = util.make_config(tmp_path / "a", user, dovecot.ports, dovecot.cert,
                         tls="starttls", Expunge=None, MaxSize="20k")
    s = _sections(c.path)
    assert s["IMAPAccount"]["Port"] == str(dovecot.ports["imap"])
    assert s["IMAPAccount"]["TLSType"] == "STARTTLS"
    assert s["IMAPAccount"]["Pass"] == user.password
    assert s["MaildirStore"]["Path"] == c.maildir + "/"
    assert "Expunge" not in s["Channel"] and s["Channel"]["MaxSize"] == "20k"
    assert os.stat(c.path).st_mode & 0o077 == 0  # holds a password
    p = util.make_pop3_config(tmp_path / "b", user, dovecot.ports,
                              dovecot.cert, store_opts={"Keep": "no"})
    s = _sections(p.path)
    assert s["POP3Account"]["Port"] == str(dovecot.ports["pop3s"])
    assert s["POP3Account"]["TLSType"] == "POP3S"
    assert s["POP3Store"] == {"Account": "pop", "Keep": "no"}
