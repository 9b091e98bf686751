"""The IMAP client end to end: the real facteur binary against the private
Dovecot, checked with imaplib and mailbox.Maildir (never with facteur).

Covers how the connection is made (STARTTLS on the plain port, IMAPS with
and without a CertificateFile), every authentication mechanism Dovecot
offers, a refused login, COMPRESS on and off as seen on the wire, -D output
without the password, and memory staying flat while a very large message
streams through IMAP and POP3.
"""

import base64
import hashlib
import os
import subprocess
import sys
import time

import pytest

import util
from counting_proxy import CountingProxy

# Maildir letters per message, cycled: every flag facteur maps.
LETTERS = ["", "S", "FS", "RS", "DS", "PS", "F"]

# The large-message tests: size and the peak RSS facteur may reach.
BIG_SIZE = int(os.environ.get("FACTEUR_BIG_MB", "200")) * 1024 * 1024
RSS_LIMIT_KB = 64 * 1024


def seed_world(imap, seed=7, n=10, max_body=30000):
    """n messages over INBOX and Work with varied flags; returns
    {Message-ID: (letters, folder)} as facteur should reproduce it."""
    msgs = util.gen(seed, n, max_body=max_body)
    want = {}
    for i, m in enumerate(msgs):
        folder = "INBOX" if i % 2 == 0 else "Work"
        util.create_folder(imap, folder, exist_ok=True)
        util.append(imap, folder, m, LETTERS[i % len(LETTERS)])
        want[m.message_id] = ("".join(sorted(LETTERS[i % len(LETTERS)])), folder)
    return want


def local_view(root):
    return {mid: (flags, folder)
            for mid, (flags, folder) in util.maildir_messages(root).items()}


def check_pulled(cfg, want):
    got = local_view(cfg.maildir)
    assert got == want


def check_push(dovecot, user, cfg, seed=11, n=4):
    """Deliver n local messages, sync, and find them on the server with
    their flags: the upload path (pipelined APPEND) works over this
    connection too."""
    msgs = util.gen(seed, n, max_body=20000)
    for i, m in enumerate(msgs):
        util.maildir_deliver(cfg.maildir, "INBOX", m, LETTERS[i % len(LETTERS)])
    util.sync(cfg)
    c = dovecot.imap(user)
    try:
        server = util.server_messages(c, "INBOX")
    finally:
        c.logout()
    for i, m in enumerate(msgs):
        assert m.message_id in server, m.message_id
        assert util.letters(server[m.message_id]) == \
            "".join(sorted(LETTERS[i % len(LETTERS)]))


def debug_run(cfg, *extra, check_rc=0):
    return util.run_facteur(["-D", "-a"] + list(extra), cfg, check_rc=check_rc)


def assert_no_secret(text, user):
    """Neither the password nor any encoding of it a mechanism sends."""
    pw = user.password
    assert pw not in text
    for blob in (("\0%s\0%s" % (user.name, pw)).encode(), pw.encode()):
        assert base64.b64encode(blob).decode() not in text


# -- connection security ------------------------------------------------------


def test_starttls_on_plain_port(dovecot, user, imap, tmp_path):
    want = seed_world(imap)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert,
                           tls="starttls")
    rc, out, err = debug_run(cfg)
    check_pulled(cfg, want)
    # The credentials went after STARTTLS: -D shows the upgrade first.
    text = out + err
    assert "STARTTLS" in text
    assert 0 <= text.index("STARTTLS") < text.index("authenticating to")
    check_push(dovecot, user, cfg)


def test_imaps_with_certificate_file(dovecot, user, imap, tmp_path):
    want = seed_world(imap)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    util.sync(cfg)
    check_pulled(cfg, want)
    check_push(dovecot, user, cfg)


@pytest.mark.parametrize("tls", ["imaps", "starttls"])
def test_self_signed_refused_without_certificate_file(dovecot, user, imap, tmp_path, tls):
    seed_world(imap, n=2)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert, tls=tls,
                           account_opts={"CertificateFile": None})
    rc, out, err = debug_run(cfg, check_rc=None)
    assert rc != 0
    assert "self-signed" in err, err
    # Nothing was synced and no credential left the client.
    assert util.maildir_messages(cfg.maildir) == {}
    assert "authenticating to" not in out + err
    assert_no_secret(out + err, user)


# -- authentication -------------------------------------------------------------

MECHS = ["PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"]


@pytest.mark.parametrize("mech", MECHS)
def test_auth_mechanism(dovecot, user, imap, tmp_path, mech):
    want = seed_world(imap, n=4)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert,
                           account_opts={"AuthMechs": mech})
    rc, out, err = debug_run(cfg)
    check_pulled(cfg, want)
    text = out + err
    assert "authenticating to 127.0.0.1 with %s\n" % mech in text, text[-3000:]
    # Dovecot's side of the story: the login used that method.
    logins = [line for line in dovecot.log_tail(400).splitlines()
              if "user=<%s>" % user.name in line and "Login:" in line]
    assert logins, dovecot.log_tail(40)
    assert "method=%s" % (mech if mech != "LOGIN" else "PLAIN") in logins[-1] or \
        "method=%s" % mech in logins[-1], logins[-1]
    assert_no_secret(text, user)


def test_wrong_password_fails_once(dovecot, user, imap, tmp_path):
    seed_world(imap, n=2)
    cfg = util.make_config(tmp_path, user.name, dovecot.ports, dovecot.cert,
                           password="not-" + user.password)
    t0 = time.monotonic()
    rc, out, err = debug_run(cfg, check_rc=1)
    took = time.monotonic() - t0
    # The server's own words reach the user.
    assert "AUTHENTICATIONFAILED" in err or "Authentication failed" in err, err
    # One attempt, no retry loop (Dovecot delays each failure by ~2 s).
    text = out + err
    attempts = text.count("authenticating to")
    assert attempts == 1, text[-3000:]
    assert took < 30
    assert util.maildir_messages(cfg.maildir) == {}


# -- COMPRESS -------------------------------------------------------------------


def test_compress_on_and_off(dovecot, user, imap, tmp_path):
    want = seed_world(imap, seed=21, n=30, max_body=40000)
    down = {}
    modes = (("on", {"Compress": "yes"}), ("off", {"DisableExtension": "COMPRESS"}),
             ("loopback-default", {"Compress": None}), ("no", {"Compress": "no"}))
    for mode, opts in modes:
        proxy = CountingProxy(dovecot.ports["imap"])
        try:
            ports = dict(dovecot.ports, imap=proxy.port)
            cfg = util.make_config(tmp_path / mode, user, ports, dovecot.cert,
                                   tls="starttls", account_opts=opts)
            rc, out, err = debug_run(cfg)
            check_pulled(cfg, want)
            down[mode] = proxy.down
            assert ("COMPRESS DEFLATE" in out + err) == (mode == "on")
        finally:
            proxy.close()
    # Text mail deflates well: the compressed session moves far fewer bytes.
    assert down["on"] < 0.7 * down["off"], down
    # Over loopback there is no link to save bytes on: by default facteur
    # does not ask for COMPRESS, and moves as many bytes as without it.
    assert down["loopback-default"] > 0.9 * down["off"], down


# -- large messages ---------------------------------------------------------------

# Both run in their own small Python so that this process never holds the
# big message: on Linux a child's ru_maxrss starts from the high-water mark
# of the process that forked it.
APPEND_BIG = r"""
import hashlib, imaplib, os, ssl, sys
host, port, cafile, user, pw, size = sys.argv[1:7]
line = b"%09d The quick brown fox jumps over the lazy dog; facteur streams.\r\n"
mid = "<big.%d@facteur.test>" % os.getpid()
parts = [("From: Big <big@example.org>\r\nTo: a@example.org\r\n"
          "Subject: big\r\nMessage-ID: %s\r\n"
          "Date: Mon, 20 Nov 2023 10:00:00 +0000\r\n\r\n" % mid).encode()]
total, n = len(parts[0]), 0
while total < int(size):
    chunk = b"".join(line % (n + k) for k in range(4096))
    n += 4096
    parts.append(chunk)
    total += len(chunk)
h = hashlib.sha256()
for p in parts:
    h.update(p.replace(b"\r\n", b"\n"))
data = b"".join(parts)
del parts
c = imaplib.IMAP4_SSL(host, int(port),
                      ssl_context=ssl.create_default_context(cafile=cafile))
c.login(user, pw)
typ, resp = c.append("INBOX", None, None, data)
assert typ == "OK", resp
c.logout()
print(h.hexdigest(), total)
"""

MEASURE = r"""
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), ru.ru_maxrss)
"""


@pytest.fixture(scope="module")
def big(dovecot):
    """A user whose INBOX holds one very large message: (user, sha256 of
    the message with LF line ends, its size with CRLF)."""
    user = dovecot.new_user("big")
    r = subprocess.run([sys.executable, "-c", APPEND_BIG, dovecot.host,
                        str(dovecot.ports["imaps"]), dovecot.cert, user.name,
                        user.password, str(BIG_SIZE)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    digest, size = r.stdout.split()
    return user, digest, int(size)


def run_measured(cfg):
    """facteur -a with its peak RSS (kB) from wait4."""
    log = os.path.join(os.path.dirname(cfg.path), "out.log")
    r = subprocess.run([sys.executable, "-c", MEASURE, log, util.facteur_binary(),
                        "-c", cfg.path, "-a"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rc, rss = (int(v) for v in r.stdout.split())
    print("facteur peak RSS: %d kB" % rss)
    with open(log) as f:
        assert rc == 0, f.read()
    return rss


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def only_file(root):
    files = [os.path.join(d, f) for d, _, fs in os.walk(root)
             for f in fs if os.path.basename(d) in ("cur", "new")]
    assert len(files) == 1, files
    return files[0]


def test_big_message_imap_streams(dovecot, big, tmp_path):
    user, digest, size = big
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    rss = run_measured(cfg)
    path = only_file(cfg.maildir)
    assert os.path.getsize(path) >= BIG_SIZE * 0.95
    assert file_digest(path) == digest
    assert rss < RSS_LIMIT_KB, "peak RSS %d kB" % rss


def test_big_message_pop3_streams(dovecot, big, tmp_path):
    user, digest, size = big
    cfg = util.make_pop3_config(tmp_path, user, dovecot.ports, dovecot.cert)
    rss = run_measured(cfg)
    path = only_file(cfg.maildir)
    assert file_digest(path) == digest
    assert rss < RSS_LIMIT_KB, "peak RSS %d kB" % rss


# -- pipelined APPEND -------------------------------------------------------------


def test_uploads_are_pipelined(dovecot, user, imap, tmp_path):
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    util.sync(cfg)
    msgs = util.gen(41, 60, max_body=3000)
    for i, m in enumerate(msgs):
        util.maildir_deliver(cfg.maildir, "INBOX", m, LETTERS[i % len(LETTERS)])
    rc, out, err = debug_run(cfg)
    lines = (out + err).splitlines()
    sent = [i for i, l in enumerate(lines) if l.startswith("imap> ") and " APPEND " in l]
    done = [i for i, l in enumerate(lines) if l.startswith("imap< ") and "APPENDUID" in l]
    assert len(sent) == len(msgs) and len(done) == len(msgs), (len(sent), len(done))
    # Several APPENDs went out before the first answer came back.
    assert sum(1 for i in sent if i < done[0]) > 1
    server = util.server_messages(imap, "INBOX")
    for i, m in enumerate(msgs):
        assert util.letters(server[m.message_id]) == \
            "".join(sorted(LETTERS[i % len(LETTERS)]))
    # The journal knows them: a second run uploads nothing again.
    util.sync(cfg)
    assert len(util.server_list(imap, "INBOX")) == len(msgs)


def test_big_upload_streams(dovecot, user, imap, tmp_path):
    """The upload path (pipelined APPEND) streams too: a large local file
    reaches the server byte for byte (LF -> CRLF) with flat memory."""
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    util.sync(cfg)
    mid = "<up.%d@facteur.test>" % os.getpid()
    d = os.path.join(cfg.maildir, "INBOX")
    lf = hashlib.sha256()
    crlf_size = 0
    tmp = os.path.join(d, "tmp", "big")
    with open(tmp, "wb") as f:
        head = ("From: a@example.org\nSubject: up\nMessage-ID: %s\n\n" % mid).encode()
        f.write(head)
        lf.update(head.replace(b"\n", b"\r\n"))
        crlf_size += len(head) + head.count(b"\n")
        n = 0
        while crlf_size < BIG_SIZE:
            chunk = b"".join(b"%09d upload line of text, repeated.\n" % (n + k)
                             for k in range(4096))
            n += 4096
            f.write(chunk)
            lf.update(chunk.replace(b"\n", b"\r\n"))
            crlf_size += len(chunk) + chunk.count(b"\n")
    os.rename(tmp, os.path.join(d, "cur", "big:2,S"))
    rss = run_measured(cfg)
    assert rss < RSS_LIMIT_KB, "peak RSS %d kB" % rss
    # Read it back from the server in slices: the bytes as sent, CRLF.
    util.check(imap.select("INBOX", readonly=True), "SELECT")
    uid = util.find_uid(imap, mid)
    got = hashlib.sha256()
    step = 16 << 20
    for off in range(0, crlf_size, step):
        data = util.check(imap.uid("FETCH", str(uid), "(BODY.PEEK[]<%d.%d>)" % (off, step)),
                          "FETCH")
        got.update(data[0][1])
    assert got.hexdigest() == lf.hexdigest()
    assert util.server_messages(imap, "INBOX")[mid] == frozenset({"\\Seen"})
