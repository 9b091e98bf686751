"""`facteur setup ADDRESS`: server discovery through RFC 6186 SRV records
served by a tiny DNS server on loopback (FACTEUR_TEST_DNS), probing of the
test Dovecot, the configuration written (or appended byte for byte), and the
questions asked without --yes."""
import os
import socket
import socketserver
import stat
import struct
import subprocess
import threading

import pytest

import util

DOMAIN = "example.test"
T_A, T_SRV = 1, 33


# -- a DNS server answering SRV and A queries ---------------------------------

def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        if len(data) < 17:
            return
        i, labels = 12, []
        while i < len(data) and data[i]:
            n = data[i]
            labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        qtype, _qclass = struct.unpack(">HH", data[i + 1:i + 5])
        question = data[12:i + 5]
        name = ".".join(labels).lower()
        srv = self.server
        with srv.lock:
            srv.queries.append((name, qtype))
        known = name in srv.records
        answers = [rdata for rtype, rdata in srv.records.get(name, []) if rtype == qtype]
        rcode = 0 if known else 3
        header = data[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, len(answers), 0, 0)
        body = b"".join(struct.pack(">HHHIH", 0xC00C, qtype, 1, 60, len(r)) + r
                        for r in answers)
        sock.sendto(header + question + body, self.client_address)


class DNSServer:
    """UDP DNS server on 127.0.0.1; records: {name: [(type, rdata)]}."""

    def __init__(self):
        self.srv = socketserver.ThreadingUDPServer(("127.0.0.1", 0), _Handler)
        self.srv.records, self.srv.queries = {}, []
        self.srv.lock = threading.Lock()
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def add_srv(self, name, target, port, prio=0, weight=0):
        rdata = struct.pack(">HHH", prio, weight, port) + encode_name(target)
        self.srv.records.setdefault(name.lower(), []).append((T_SRV, rdata))

    def add_a(self, name, addr):
        self.srv.records.setdefault(name.lower(), []).append((T_A, socket.inet_aton(addr)))

    @property
    def queries(self):
        with self.srv.lock:
            return list(self.srv.queries)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def dns():
    d = DNSServer()
    yield d
    d.close()


def publish(dns, ports, services=("imaps", "imap", "pop3s", "pop3")):
    """SRV records for DOMAIN pointing at the test Dovecot ("localhost", a
    name in its certificate that the system resolver knows)."""
    for svc in services:
        dns.add_srv("_%s._tcp.%s" % (svc, DOMAIN), "localhost.", ports[svc])
    dns.add_a(DOMAIN, "127.0.0.1")


def run_setup(args, home, dns=None, stdin=None, timeout=90):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / "cfg")}
    if dns is not None:
        env["FACTEUR_TEST_DNS"] = "127.0.0.1:%d" % dns.port
    # A new session has no controlling terminal, so questions (if any) are
    # read from stdin; with --yes a read would meet end of input and fail.
    return subprocess.run([util.facteur_binary(), "setup"] + args, env=env,
                          input=stdin or "", capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


def loads(config, home):
    """The file loads: naming an unknown channel fails only at target resolution."""
    r = subprocess.run([util.facteur_binary(), "-c", str(config), "no-such-channel"],
                       env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=30)
    assert "no channel or group named 'no-such-channel'" in r.stderr, r.stderr


def yes_args(dovecot, user, *extra):
    return ["%s@%s" % (user.name, DOMAIN), "--yes", "--user", user.name,
            "--pass-cmd", "printf %%s '%s'" % user.password, "--cafile", dovecot.cert,
            "--no-dry-run", "--timeout", "5"] + list(extra)


# -- tests -----------------------------------------------------------------

def test_yes_writes_config_from_srv(dovecot, user, dns, tmp_path):
    publish(dns, dovecot.ports)
    r = run_setup(yes_args(dovecot, user), tmp_path, dns)
    assert r.returncode == 0, r.stdout + r.stderr
    config = tmp_path / "cfg" / "facteur" / "config"
    text = config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert ("_imaps._tcp.%s" % DOMAIN, T_SRV) in dns.queries
    assert "IMAPAccount example\nHost localhost\nPort %d\nTLSType IMAPS\n" \
        % dovecot.ports["imaps"] in text, text
    assert "User %s\n" % user.name in text
    assert "PassCmd \"printf %%s '%s'\"\n" % user.password in text
    assert "CertificateFile %s\n" % os.path.realpath(dovecot.cert) in text
    assert "Channel example\nFar :example-remote:\nNear :example-local:\n" in text
    assert "# Server found through the DNS SRV: localhost port %d, IMAPS" \
        % dovecot.ports["imaps"] in text
    assert (tmp_path / "Mail" / "example").is_dir()
    assert "Wrote %s" % config in r.stdout
    loads(config, tmp_path)


def test_srv_without_imaps_uses_starttls(dovecot, user, dns, tmp_path):
    publish(dns, dovecot.ports, services=("imap", "pop3s"))
    r = run_setup(yes_args(dovecot, user), tmp_path, dns)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (tmp_path / "cfg" / "facteur" / "config").read_text()
    assert "Port %d\nTLSType STARTTLS\n" % dovecot.ports["imap"] in text, text
    assert "POP3Account" not in text


def test_pop3_only_domain(dovecot, user, dns, tmp_path):
    publish(dns, dovecot.ports, services=("pop3s",))
    r = run_setup(yes_args(dovecot, user, "--name", "pop"), tmp_path, dns)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (tmp_path / "cfg" / "facteur" / "config").read_text()
    assert "POP3Account pop\nHost localhost\nPort %d\nTLSType POP3S\n" \
        % dovecot.ports["pop3s"] in text, text
    assert "Keep yes\n" in text and "Patterns INBOX\n" in text
    assert "one-way" in r.stderr and "no folders" in r.stderr
    loads(tmp_path / "cfg" / "facteur" / "config", tmp_path)


def test_append_keeps_existing_bytes(dovecot, user, dns, tmp_path):
    publish(dns, dovecot.ports)
    config = tmp_path / "my.rc"
    old = ("# my own config, with odd spacing\n"
           "MaildirStore  old\n"
           "Path   %s/old/\n"
           "# a comment at the end, and no final newline" % tmp_path).encode()
    config.write_bytes(old)
    r = run_setup(["-c", str(config)] + yes_args(dovecot, user), tmp_path, dns)
    assert r.returncode == 0, r.stdout + r.stderr
    new = config.read_bytes()
    assert new.startswith(old)
    added = new[len(old):].decode()
    assert added.startswith("\n\n# ---- Added by `facteur setup`"), added[:80]
    assert "IMAPAccount example\n" in added and "MaildirStore old" not in added
    assert "Appended to %s" % config in r.stdout
    loads(config, tmp_path)

    # Same name again: refused, file untouched; another name: appended.
    r = run_setup(["-c", str(config)] + yes_args(dovecot, user), tmp_path, dns)
    assert r.returncode == 1 and "already uses the name 'example'" in r.stderr, r.stderr
    assert config.read_bytes() == new
    r = run_setup(["-c", str(config)] + yes_args(dovecot, user, "--name", "second"),
                  tmp_path, dns)
    assert r.returncode == 0, r.stderr
    assert config.read_bytes().startswith(new)
    assert "Channel second\n" in config.read_text()
    loads(config, tmp_path)


def test_broken_existing_config_is_not_touched(dovecot, user, dns, tmp_path):
    publish(dns, dovecot.ports)
    config = tmp_path / "bad.rc"
    config.write_text("IMAPStore orphan\nAccount nowhere\n")
    r = run_setup(["-c", str(config)] + yes_args(dovecot, user), tmp_path, dns)
    assert r.returncode == 1
    assert "does not load" in r.stderr, r.stderr
    assert config.read_text() == "IMAPStore orphan\nAccount nowhere\n"


def test_self_signed_without_cafile_is_refused(dovecot, user, dns, tmp_path):
    publish(dns, dovecot.ports)
    args = [a for a in yes_args(dovecot, user) if a not in ("--cafile", dovecot.cert)]
    r = run_setup(args, tmp_path, dns)
    assert r.returncode == 1
    assert "self-signed" in r.stderr and "--cafile" in r.stderr, r.stderr
    assert not (tmp_path / "cfg").exists()


def test_no_server_found(dns, tmp_path):
    # SRV records naming loopback ports where nothing listens (so no name is
    # guessed and nothing leaves this machine).
    for svc in ("imaps", "pop3s"):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dns.add_srv("_%s._tcp.%s" % (svc, DOMAIN), "127.0.0.1", s.getsockname()[1])
        s.close()
    r = run_setup(["me@%s" % DOMAIN, "--yes", "--timeout", "2"], tmp_path, dns)
    assert r.returncode == 1
    assert "no IMAP or POP3 server with TLS was found for %s" % DOMAIN in r.stderr
    assert r.stderr.count("Connection refused") == 2, r.stderr
    for svc in ("imaps", "imap", "pop3s", "pop3"):
        assert ("_%s._tcp.%s" % (svc, DOMAIN), T_SRV) in dns.queries
    assert not (tmp_path / "cfg").exists()


def test_interactive_questions(dovecot, user, dns, tmp_path):
    publish(dns, dovecot.ports)
    answers = "y\n%s\n1\nprintf %%s secret\n" % user.name
    r = run_setup(["someone@%s" % DOMAIN, "--cafile", dovecot.cert, "--no-dry-run"],
                  tmp_path, dns, stdin=answers)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "names a server outside it: localhost" in r.stderr
    assert "Use this server? (y/n) [y]" in r.stderr
    assert "Login name [someone@%s]" % DOMAIN in r.stderr
    assert "How should facteur get the password?" in r.stderr
    text = (tmp_path / "cfg" / "facteur" / "config").read_text()
    assert "User %s\n" % user.name in text
    assert 'PassCmd "printf %s secret"\n' in text


def test_interactive_refused_server(dovecot, dns, tmp_path):
    publish(dns, dovecot.ports)
    r = run_setup(["someone@%s" % DOMAIN, "--cafile", dovecot.cert], tmp_path, dns,
                  stdin="n\n")
    assert r.returncode == 1 and "localhost not accepted" in r.stderr, r.stderr
    assert "Login name" not in r.stderr
    assert not (tmp_path / "cfg").exists()


def test_interactive_end_of_input_writes_nothing(dovecot, dns, tmp_path):
    publish(dns, dovecot.ports)
    r = run_setup(["someone@%s" % DOMAIN, "--cafile", dovecot.cert], tmp_path, dns,
                  stdin="")
    assert r.returncode == 1 and "nothing written" in r.stderr, r.stderr
    assert not (tmp_path / "cfg").exists()


def test_bad_address(tmp_path):
    r = run_setup(["not-an-address", "--yes"], tmp_path)
    assert r.returncode == 1 and "not an e-mail address" in r.stderr


def test_clear_text_password_appended_to_readable_file(dovecot, user, dns, tmp_path):
    publish(dns, dovecot.ports)
    config = tmp_path / "shared.rc"
    config.write_text("# shared\n")
    config.chmod(0o644)
    args = [a for a in yes_args(dovecot, user) if not a.startswith("printf")]
    args[args.index("--pass-cmd")] = "--pass"
    args.insert(args.index("--pass") + 1, user.password)
    r = run_setup(["-c", str(config)] + args, tmp_path, dns)
    assert r.returncode == 0, r.stderr
    text = config.read_text()
    assert "Pass %s\n" % user.password in text and "PassCmd" not in text.split("# shared")[1]
    assert "others can read it: chmod 600 %s" % config in r.stdout
    # The password is never echoed in what setup prints.
    assert user.password not in r.stdout + r.stderr
