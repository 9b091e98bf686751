"""TLS: what facteur refuses by default, and that it never lets credentials
out in clear text unless the config says TLSType None.

A scripted IMAPS server (tests/hostile/imapserver.py with an ssl context)
presents certificates made here: expired, self-signed and not listed, or
issued for another host name.  Each must be refused with a message that
says which, before any command is sent.  A man in the middle who strips
STARTTLS (from the capabilities, or by refusing the command) must get no
credentials.  Against the real Dovecot: STARTTLS and IMAPS both work, and
the clear-text port is only used when TLSType None says so.
"""

import datetime
import ipaddress
import os
import ssl
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hostile"))

import harness  # noqa: E402
import imapserver  # noqa: E402
import util  # noqa: E402

SECRET = "tls-test-Secret-0x5eed"


def make_cert(directory, name, cn, sans, days=(-1, 30)):
    """A self-signed certificate (its own CA) for cn/sans, valid from
    now+days[0] to now+days[1] days; returns (cert_path, key_path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = []
    for s in sans:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(s)))
        except ValueError:
            alt.append(x509.DNSName(s))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .sign(key, hashes.SHA256()))
    cp = os.path.join(str(directory), name + ".pem")
    kp = os.path.join(str(directory), name + ".key")
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cp, kp


def server_ctx(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def tls_config(tmp, port, cafile, tls="IMAPS", extra=""):
    path, maildir = harness.imap_config(tmp, port, timeout=5, extra=extra)
    with open(path) as f:
        text = f.read()
    text = text.replace("TLSType None\n", "TLSType %s\n" % tls)
    text = text.replace("Pass not-a-secret\n", "Pass %s\n" % SECRET)
    text = text.replace("AuthMechs LOGIN\n", "")
    if cafile:
        text = text.replace("Timeout 5\n", "Timeout 5\nCertificateFile %s\n" % cafile)
    with open(path, "w") as f:
        f.write(text)
    return path, maildir


def refused(tmp_path, cert, key, cafile, words):
    sc = imapserver.Scenario()
    with imapserver.HostileIMAP(sc, tls=server_ctx(cert, key)) as srv:
        cfg, _ = tls_config(tmp_path, srv.port, cafile)
        r = harness.run_facteur(cfg, tmp_path, args=("-D", "-a"))
    where = "exit %d\n%s%s" % (r.rc, r.out, r.err)
    assert r.rc == 1, where
    low = r.err.lower()
    assert any(w in low for w in words), "message does not say why: " + where
    assert sc.commands == [], "commands sent over a refused TLS: %s" % sc.commands
    assert SECRET not in r.out + r.err
    return r


def test_expired_certificate_refused(tmp_path):
    cert, key = make_cert(tmp_path, "expired", "127.0.0.1", ["127.0.0.1"],
                          days=(-30, -1))
    refused(tmp_path, cert, key, cert, ["expired"])


def test_not_yet_valid_certificate_refused(tmp_path):
    cert, key = make_cert(tmp_path, "future", "127.0.0.1", ["127.0.0.1"],
                          days=(10, 40))
    refused(tmp_path, cert, key, cert, ["not yet valid", "not valid yet"])


def test_unlisted_self_signed_refused(tmp_path):
    cert, key = make_cert(tmp_path, "self", "127.0.0.1", ["127.0.0.1"])
    # Not given as CertificateFile: only the system store is trusted.
    refused(tmp_path, cert, key, None, ["self-signed", "self signed"])


def test_wrong_host_name_refused(tmp_path):
    cert, key = make_cert(tmp_path, "wrong", "mail.example.org",
                          ["mail.example.org"])
    # Trusted as a CA, but issued for another name.
    refused(tmp_path, cert, key, cert,
            ["host name", "hostname", "does not match", "mismatch"])


def test_listed_certificate_accepted(tmp_path):
    """The control: the same kind of certificate, right name, listed."""
    cert, key = make_cert(tmp_path, "good", "127.0.0.1", ["127.0.0.1"])
    with imapserver.HostileIMAP(imapserver.Scenario(),
                                tls=server_ctx(cert, key)) as srv:
        cfg, _ = tls_config(tmp_path, srv.port, cert)
        r = harness.run_facteur(cfg, tmp_path)
    assert r.rc == 0, r.err


def test_system_store_read_from_hashed_directory(tmp_path, monkeypatch):
    """The system store is read from OpenSSL's hashed directory (on demand)
    when it has one: a certificate linked there is trusted without
    CertificateFile, and the same one without its link is not."""
    import shutil
    import subprocess
    cert, key = make_cert(tmp_path, "sys", "127.0.0.1", ["127.0.0.1"])
    store = tmp_path / "certs"
    store.mkdir()
    shutil.copy(cert, str(store / "sys.pem"))
    subprocess.run(["openssl", "rehash", str(store)], check=True)
    links = [f for f in store.iterdir() if f.name.endswith(".0")]
    assert links, "openssl rehash made no link"
    monkeypatch.setenv("SSL_CERT_DIR", str(store))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with imapserver.HostileIMAP(imapserver.Scenario(),
                                tls=server_ctx(cert, key)) as srv:
        cfg, _ = tls_config(tmp_path, srv.port, None)
        r = harness.run_facteur(cfg, tmp_path)
    assert r.rc == 0, r.err
    for f in links:
        f.unlink()
    refused(tmp_path, cert, key, None, ["self-signed", "self signed"])


class NoStartTLS(imapserver.Scenario):
    """A man in the middle removed STARTTLS from the capabilities."""

    def greeting(self, conn):
        conn.send_line("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN] mitm")


class RefuseStartTLS(imapserver.Scenario):
    """STARTTLS advertised, then refused (the MITM's other trick)."""

    def greeting(self, conn):
        conn.send_line("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] mitm")

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "STARTTLS":
            conn.send_line(tag + " BAD STARTTLS not available today")
            return True
        return False


class FakeStartTLS(imapserver.Scenario):
    """STARTTLS accepted, then the server keeps talking in clear text
    (a buggy or hostile middlebox); the handshake must fail."""

    def greeting(self, conn):
        conn.send_line("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] mitm")

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "STARTTLS":
            conn.send_line(tag + " OK go ahead")
            conn.send_line("* OK still clear text")
            return True
        return False


@pytest.mark.parametrize("scenario", [NoStartTLS, RefuseStartTLS, FakeStartTLS],
                         ids=["stripped", "refused", "fake"])
def test_starttls_stripped_sends_no_credentials(tmp_path, scenario):
    sc = scenario()
    with imapserver.HostileIMAP(sc) as srv:
        cfg, _ = tls_config(tmp_path, srv.port, None, tls="STARTTLS")
        r = harness.run_facteur(cfg, tmp_path, args=("-D", "-a"))
    where = "exit %d; commands %s\n%s" % (r.rc, sc.commands, r.err)
    assert r.rc == 1, where
    for c in sc.commands:
        verb = c.split(" ")[1].upper() if " " in c else c
        assert verb not in ("LOGIN", "AUTHENTICATE"), where
        assert SECRET not in c, where
    assert "tls" in r.err.lower(), where
    assert SECRET not in r.out + r.err


def test_cleartext_only_with_tlstype_none(dovecot, tmp_path, user):
    """The clear-text port of the real Dovecot: with TLSType STARTTLS
    facteur upgrades (and syncs); with IMAPS it refuses to talk TLS to a
    clear-text port; only TLSType None logs in in clear, with a warning."""
    def cfg(tls, port_name):
        d = tmp_path / tls
        d.mkdir()
        return util.make_config(d, user, {"imaps": dovecot.ports[port_name],
                                          "imap": dovecot.ports[port_name]},
                                dovecot.cert, tls="starttls" if tls != "imaps" else "imaps",
                                account_opts={"TLSType": {"imaps": "IMAPS",
                                                          "starttls": "STARTTLS",
                                                          "none": "None"}[tls],
                                              "Timeout": 5})
    rc, out, err = util.run_facteur(["-a"], cfg("starttls", "imap"))
    assert rc == 0, err
    rc, out, err = util.run_facteur(["-a"], cfg("imaps", "imap"))
    assert rc == 1, err
    assert user.password not in out + err
    # Dovecot refuses plain-text auth on its clear port (the tests keep
    # disable_plaintext_auth): facteur may fail, but only after saying it
    # sends credentials without TLS -- and never on its own initiative.
    rc, out, err = util.run_facteur(["-a"], cfg("none", "imap"))
    assert "without tls" in err.lower(), err
    assert user.password not in out + err
