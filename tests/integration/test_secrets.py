"""Secrets -- Pass, PassCmd output, OAuth tokens -- never appear in facteur's
output: not in -D protocol traces, not in -V logs, not in error messages,
not even when a hostile server echoes them back.  Every captured byte is
searched for the secret itself and for the encodings a mechanism puts on
the wire (base64 of SASL PLAIN and XOAUTH2 initial responses, IMAP quoted
forms).
"""

import base64
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hostile"))

import harness  # noqa: E402
import imapserver  # noqa: E402
import pop3server  # noqa: E402
import util  # noqa: E402


def forms(user, secret):
    """The secret and what it looks like on the wire."""
    out = {secret, util.q(secret)}
    for raw in ("\0%s\0%s" % (user, secret), "%s\0%s\0%s" % (user, user, secret),
                "user=%s\x01auth=Bearer %s\x01\x01" % (user, secret),
                "n,a=%s,\x01auth=Bearer %s\x01\x01" % (user, secret)):
        out.add(base64.b64encode(raw.encode()).decode())
    # base64 of the secret alone, at each of the three alignments it can
    # take inside a longer base64 string.
    for pad in ("", "x", "xx"):
        enc = base64.b64encode((pad + secret).encode()).decode()
        out.add(enc[len(pad) * 2:][:-4])
    return {f for f in out if len(f) >= 8}


def assert_no_secret(text, user, secret, what):
    for f in forms(user, secret):
        assert f not in text, "%s: secret (as %r) in the output:\n%s" % (
            what, f, text[-4000:])


@pytest.mark.parametrize("mech", [None, "PLAIN", "LOGIN", "SCRAM-SHA-1"])
def test_imap_debug_output_has_no_password(dovecot, tmp_path, user, mech):
    opts = {"AuthMechs": mech} if mech else {}
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert,
                           account_opts=opts)
    rc, out, err = util.run_facteur(["-D", "-V", "-a"], cfg)
    assert rc == 0, err
    assert "imap>" in err or "imap>" in out, "no protocol trace to search"
    assert_no_secret(out + err, user.name, user.password, "-D with %s" % mech)


def test_passcmd_output_not_shown(dovecot, tmp_path, user):
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert,
                           account_opts={"Pass": None,
                                         "PassCmd": '"printf %%s %s"' % user.password})
    rc, out, err = util.run_facteur(["-D", "-V", "-a"], cfg)
    assert rc == 0, err
    assert_no_secret(out + err, user.name, user.password, "PassCmd")


def test_wrong_password_message_has_no_password(dovecot, tmp_path, user):
    wrong = "Wr0ng-" + user.password[::-1]
    cfg = util.make_config(tmp_path, user.name, dovecot.ports, dovecot.cert,
                           password=wrong)
    # (Dovecot delays each failed login by seconds: one run, all outputs.)
    for args in (["-D", "-V", "-a"],):
        rc, out, err = util.run_facteur(args, cfg)
        assert rc == 1, err
        assert "auth" in err.lower() or "login" in err.lower(), err
        assert_no_secret(out + err, user.name, wrong, "wrong password")


def test_failing_passcmd_message_has_no_secret(tmp_path):
    secret = "PassCmd-Secret-42xyz"
    d = tmp_path / "pc"
    d.mkdir()
    cfg = util.make_config(d, "someone", {"imaps": 9}, "/nonexistent",
                           password=None,
                           account_opts={"Pass": None,
                                         "PassCmd": '"echo %s; exit 3"' % secret})
    rc, out, err = util.run_facteur(["-D", "-a"], cfg)
    assert rc == 1, err
    assert_no_secret(out + err, "someone", secret, "failing PassCmd")


class EchoSecret(imapserver.Scenario):
    """Refuses the login quoting what it received, as a careless (or
    malicious) server might: facteur must not repeat it."""

    def greeting(self, conn):
        conn.send_line("* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN "
                       "AUTH=XOAUTH2 AUTH=OAUTHBEARER] echo server")

    def on_command(self, conn, tag, cmd, args, line):
        if cmd in ("LOGIN", "AUTHENTICATE"):
            if cmd == "AUTHENTICATE" and len(args.split()) == 1:
                conn.send_line("+ ")
                args += " " + (conn.read_line() or b"").decode("utf-8", "replace")
                self.commands.append(args)
            if "XOAUTH2" in args.upper():
                # RFC 7628 error challenge first, as Gmail does.
                conn.send_line("+ " + base64.b64encode(
                    b'{"status":"401","schemes":"bearer"}').decode())
                conn.read_line()
            conn.send_line("%s NO [AUTHENTICATIONFAILED] rejected: %s" % (tag, args))
            return True
        return False



@pytest.mark.parametrize("mech", ["LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER"])
def test_server_echoing_the_secret_is_not_repeated(tmp_path, mech):
    secret = "Echoed-Token-7f3a9c"
    sc = EchoSecret()
    with imapserver.HostileIMAP(sc) as srv:
        cfg, _ = harness.imap_config(tmp_path, srv.port, 2)
        with open(cfg) as f:
            text = f.read()
        text = text.replace("Pass not-a-secret", "Pass " + secret)
        text = text.replace("AuthMechs LOGIN", "AuthMechs " + mech)
        with open(cfg, "w") as f:
            f.write(text)
        r = harness.run_facteur(cfg, tmp_path, args=("-D", "-V", "-a"))
    assert r.rc == 1, r.err
    sent = "\n".join(sc.commands)
    assert any(f in sent for f in forms("hostile", secret)), \
        "the secret never reached the server: the test proves nothing"
    assert_no_secret(r.out + r.err, "hostile", secret, "echoed " + mech)


def test_pop3_debug_output_has_no_password(dovecot, tmp_path, user):
    maildir = os.path.join(str(tmp_path), "Pop")
    path = os.path.join(str(tmp_path), "poprc")
    with open(path, "w") as f:
        f.write("POP3Account p\nHost 127.0.0.1\nPort %d\nUser %s\nPass %s\n"
                "TLSType POP3S\nCertificateFile %s\nAuthMechs USER\n\n"
                "POP3Store p-far\nAccount p\n\nMaildirStore p-near\nPath %s/\n"
                "Inbox %s/INBOX\n\nChannel p\nFar :p-far:\nNear :p-near:\n"
                "SyncState *\n" % (dovecot.ports["pop3s"], user.name,
                                   user.password, dovecot.cert, maildir, maildir))
    os.chmod(path, 0o600)
    rc, out, err = util.run_facteur(["-D", "-V", "-a"], path)
    assert rc == 0, err
    assert_no_secret(out + err, user.name, user.password, "POP3 USER/PASS -D")


def test_pop3_server_echoing_password(tmp_path):
    secret = "Pop-Echo-Secret-991"

    class Echo(pop3server.Scenario):
        def on_command(self, conn, cmd, arg):
            if cmd == "PASS":
                conn.send_line("-ERR [AUTH] wrong password " + arg)
                return True
            return False

    sc = Echo()
    with pop3server.HostilePOP3(sc) as srv:
        cfg, _ = harness.pop3_config(tmp_path, srv.port, 2)
        with open(cfg) as f:
            text = f.read().replace("Pass not-a-secret", "Pass " + secret)
        with open(cfg, "w") as f:
            f.write(text)
        r = harness.run_facteur(cfg, tmp_path, args=("-D", "-V", "-a"))
    assert r.rc == 1, r.err
    assert any(secret in c for c in sc.commands), sc.commands
    assert_no_secret(r.out + r.err, "hostile", secret, "POP3 echo")
