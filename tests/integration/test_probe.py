"""`facteur probe` against the test Dovecot: every listener (IMAPS, IMAP with
STARTTLS, POP3S, POP3 with STLS), a closed port, a silent port, the --json
schema, and what the probe sends, recorded by a proxy in between."""
import base64
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

import util


def cert_fingerprint(path):
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


def port_args(ports, **skip):
    args = []
    for name in ("imaps", "imap", "pop3s", "pop3"):
        args += ["--%s-port" % name, str(0 if skip.get(name) else ports[name])]
    return args


def probe(args, tmp_path, timeout=60):
    """Run `facteur probe ...` with an empty HOME; returns CompletedProcess."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    return subprocess.run([util.facteur_binary(), "probe"] + args, env=env,
                          capture_output=True, text=True, timeout=timeout)


def probe_json(args, tmp_path):
    r = probe(args + ["--json"], tmp_path)
    try:
        return r, json.loads(r.stdout)
    except ValueError:
        raise AssertionError("probe --json printed no JSON (rc %d):\n%s\n%s"
                             % (r.returncode, r.stdout, r.stderr))


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- the JSON schema -------------------------------------------------------

PORT_KEYS = {"protocol": str, "kind": str, "port": int, "security": str,
             "reachable": bool, "tls": bool, "greeting": str,
             "capabilities": list, "auth": list, "auth_before_tls": list}
CERT_KEYS = {"verdict": str, "verified": bool, "fingerprint_sha256": str,
             "subject": str, "not_after": str}


def check_schema(doc):
    assert set(doc) == {"host", "ports", "recommendation", "advice"}, doc.keys()
    assert isinstance(doc["host"], str) and isinstance(doc["advice"], str)
    for p in doc["ports"]:
        assert set(p) == set(PORT_KEYS) | {"tls_version", "certificate", "error"}, p
        for k, t in PORT_KEYS.items():
            assert isinstance(p[k], t), (k, p)
        assert p["protocol"] in ("imap", "pop3", "unknown")
        assert p["security"] in ("implicit", "starttls")
        assert p["error"] is None or isinstance(p["error"], str)
        if p["tls"]:
            assert isinstance(p["tls_version"], str)
            assert set(p["certificate"]) == set(CERT_KEYS)
            for k, t in CERT_KEYS.items():
                assert isinstance(p["certificate"][k], t), (k, p)
        else:
            assert p["tls_version"] is None and p["certificate"] is None
        assert all(isinstance(x, str) for x in p["capabilities"] + p["auth"])
    rec = doc["recommendation"]
    if rec is not None:
        assert set(rec) == {"kind", "protocol", "port", "security", "advice", "config"}
        assert isinstance(rec["port"], int) and isinstance(rec["config"], str)


# -- tests -----------------------------------------------------------------

def test_all_listeners_self_signed(dovecot, tmp_path):
    r = probe(["127.0.0.1"] + port_args(dovecot.ports), tmp_path)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    for kind in ("IMAPS", "IMAP", "POP3S", "POP3"):
        key = "imaps" if kind == "IMAPS" else kind.lower()
        assert "%s port %d: reachable" % (kind, dovecot.ports[key]) in out, out
    assert out.count("certificate: self-signed") == 4, out
    assert out.count(cert_fingerprint(dovecot.cert)) >= 4
    assert out.count("(after STARTTLS)") == 2
    assert "no credentials are sent" in out
    rec = out.split("Recommendation:", 1)[1]
    assert "IMAP over implicit TLS on port %d" % dovecot.ports["imaps"] in rec
    assert "Port %d\nTLSType IMAPS\n" % dovecot.ports["imaps"] in rec
    assert "fingerprint" in rec  # not verified: the user is told to check it


def test_json_schema_and_facts(dovecot, tmp_path):
    r, doc = probe_json(["127.0.0.1"] + port_args(dovecot.ports), tmp_path)
    assert r.returncode == 0, r.stderr
    check_schema(doc)
    by_kind = {p["kind"]: p for p in doc["ports"]}
    assert set(by_kind) == {"IMAPS", "IMAP", "POP3S", "POP3"}
    fp = cert_fingerprint(dovecot.cert)
    for kind, p in by_kind.items():
        assert p["reachable"] and p["tls"] and p["error"] is None, p
        assert p["tls_version"].startswith("TLSv1."), p
        assert p["certificate"]["verdict"] == "self-signed"
        assert not p["certificate"]["verified"]
        assert p["certificate"]["fingerprint_sha256"] == fp
        assert "PLAIN" in p["auth"], p
        assert p["security"] == ("implicit" if kind.endswith("S") else "starttls")
    for kind in ("IMAPS", "IMAP"):
        assert by_kind[kind]["protocol"] == "imap"
        assert "IDLE" in by_kind[kind]["capabilities"]
        assert by_kind[kind]["greeting"].startswith("* OK")
    for kind in ("POP3S", "POP3"):
        assert by_kind[kind]["protocol"] == "pop3"
        for cap in ("UIDL", "TOP", "PIPELINING", "SASL"):
            assert cap in by_kind[kind]["capabilities"], by_kind[kind]
    # Before STARTTLS the capability list announced STARTTLS/STLS itself.
    assert "STARTTLS" not in by_kind["IMAP"]["capabilities"]
    assert by_kind["IMAP"]["auth_before_tls"]
    rec = doc["recommendation"]
    assert rec["kind"] == "IMAPS" and rec["port"] == dovecot.ports["imaps"]
    assert "TLSType IMAPS" in rec["config"]


def test_cafile_makes_it_valid(dovecot, tmp_path):
    r, doc = probe_json(["127.0.0.1", "--port", str(dovecot.ports["imaps"]),
                         "--cafile", dovecot.cert], tmp_path)
    check_schema(doc)
    (p,) = doc["ports"]
    assert p["kind"] == "IMAPS"  # found out on a non-standard port
    assert p["certificate"]["verdict"] == "valid (trusted via --cafile)"
    assert p["certificate"]["verified"] is True
    assert "CertificateFile %s" % dovecot.cert in doc["recommendation"]["config"]
    r = probe(["127.0.0.1", "--port", str(dovecot.ports["imaps"]),
               "--cafile", dovecot.cert], tmp_path)
    assert "certificate: valid (trusted via --cafile)" in r.stdout


def test_single_clear_port_detects_pop3(dovecot, tmp_path):
    r, doc = probe_json(["127.0.0.1", "--port", str(dovecot.ports["pop3"])], tmp_path)
    check_schema(doc)
    (p,) = doc["ports"]
    assert (p["kind"], p["security"], p["tls"]) == ("POP3", "starttls", True), p
    assert doc["recommendation"]["kind"] == "POP3"
    assert "one-way" in doc["recommendation"]["advice"]


def test_pop3_only_server(dovecot, tmp_path):
    r = probe(["127.0.0.1"] + port_args(dovecot.ports, imaps=1, imap=1), tmp_path)
    assert r.returncode == 0, r.stderr
    rec = r.stdout.split("Recommendation:", 1)[1]
    assert "POP3 on port %d (implicit TLS)" % dovecot.ports["pop3s"] in rec
    for cost in ("no flags", "no folders", "one-way", "offers no IMAP"):
        assert cost in rec, rec
    assert "POP3Account mail" in rec and "TLSType POP3S" in rec


def test_closed_port(tmp_path):
    port = closed_port()
    r, doc = probe_json(["127.0.0.1", "--port", str(port)], tmp_path)
    assert r.returncode == 1
    check_schema(doc)
    (p,) = doc["ports"]
    assert p["reachable"] is False and p["tls"] is False
    assert "refused" in p["error"].lower(), p
    assert doc["recommendation"] is None
    assert "No secure way" in doc["advice"]
    r = probe(["127.0.0.1", "--port", str(port)], tmp_path)
    assert "port %d: not reachable" % port in r.stdout


def test_silent_server_times_out(tmp_path):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    try:
        start = time.monotonic()
        r, doc = probe_json(["127.0.0.1", "--imap-port", str(ls.getsockname()[1]),
                             "--imaps-port", "0", "--pop3s-port", "0",
                             "--pop3-port", "0", "--timeout", "1"], tmp_path)
        elapsed = time.monotonic() - start
    finally:
        ls.close()
    (p,) = doc["ports"]
    assert p["reachable"] is True and p["error"], p
    assert elapsed < 10, elapsed
    assert r.returncode == 1


# -- what goes on the wire ---------------------------------------------------

class Proxy:
    """TCP proxy on a free loopback port to 127.0.0.1:target.  Records what
    the client sends.  strip=True removes STARTTLS/STLS from what the server
    says, so the whole session stays in clear text and can be read."""

    def __init__(self, target, strip=False):
        self.target, self.strip = target, strip
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, False), daemon=True).start()

    def _pump(self, src, dst, from_client):
        pending = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client:
                    with self.lock:
                        self.sent += data
                elif self.strip:
                    pending += data
                    lines = pending.split(b"\n")
                    pending = lines.pop()
                    data = b"".join(self._unstls(l + b"\n") for l in lines)
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def _unstls(line):
        if line.strip().upper() == b"STLS":
            return b""
        return re.sub(rb"(?i) STARTTLS\b", b"", line)

    def close(self):
        self.ls.close()


def commands(data):
    return [l.split(b" ")[1 if l[:1] == b"p" else 0].upper()
            for l in bytes(data).split(b"\r\n") if l]


def test_no_credentials_in_traffic(dovecot, user, tmp_path):
    # A configuration with the user's password where facteur looks for one:
    # probe must not use it (nor anything else that would be a credential).
    cfg = tmp_path / ".config" / "facteur" / "config"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("IMAPAccount a\nHost 127.0.0.1\nUser %s\nPass %s\n"
                   % (user.name, user.password))
    proxies = {k: Proxy(dovecot.ports[k]) for k in ("imaps", "imap", "pop3s", "pop3")}
    try:
        r = probe(["127.0.0.1"] + port_args({k: p.port for k, p in proxies.items()}),
                  tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        secrets = [user.name.encode(), user.password.encode(),
                   base64.b64encode(b"\0%s\0%s" % (user.name.encode(),
                                                   user.password.encode()))]
        for name, p in proxies.items():
            assert p.sent, "probe never connected through the %s proxy" % name
            for s in secrets:
                assert s not in p.sent, (name, s)
        # The clear-text parts are exactly the harmless commands.
        imap_clear = bytes(proxies["imap"].sent).split(b"STARTTLS\r\n")[0] + b"STARTTLS\r\n"
        assert commands(imap_clear) == [b"STARTTLS"]
        pop_clear = bytes(proxies["pop3"].sent).split(b"STLS\r\n")[0] + b"STLS\r\n"
        assert commands(pop_clear) == [b"CAPA", b"STLS"]
    finally:
        for p in proxies.values():
            p.close()


def test_clear_text_session_sends_no_login(dovecot, tmp_path):
    """With STARTTLS/STLS stripped by a man in the middle, the probe stays in
    clear text: every byte it sends is readable, and none is a login."""
    imap, pop = Proxy(dovecot.ports["imap"], strip=True), Proxy(dovecot.ports["pop3"], strip=True)
    try:
        r, doc = probe_json(["127.0.0.1", "--imap-port", str(imap.port), "--pop3-port",
                             str(pop.port), "--imaps-port", "0", "--pop3s-port", "0"],
                            tmp_path)
        check_schema(doc)
        assert all(not p["tls"] and p["reachable"] and p["error"] is None
                   for p in doc["ports"]), doc
        assert doc["recommendation"] is None and r.returncode == 1
        assert commands(imap.sent) == [b"LOGOUT"] or commands(imap.sent) == [
            b"CAPABILITY", b"LOGOUT"], imap.sent
        assert commands(pop.sent) == [b"CAPA", b"QUIT"], pop.sent
        text = probe(["127.0.0.1", "--imap-port", str(imap.port), "--imaps-port", "0",
                      "--pop3s-port", "0", "--pop3-port", "0"], tmp_path).stdout
        assert "TLS: none offered (no STARTTLS)" in text
        assert "(no TLS!)" in text
    finally:
        imap.close()
        pop.close()


def test_command_line(tmp_path):
    r = probe([], tmp_path)
    assert r.returncode == 1 and "usage: facteur probe HOST" in r.stderr
    r = probe(["127.0.0.1", "--port", "70000"], tmp_path)
    assert r.returncode == 1 and "bad value '70000' for --port" in r.stderr
    r = probe(["--help"], tmp_path)
    assert r.returncode == 0 and "--imaps-port" in r.stdout
    # Global options before the subcommand, the subcommand's own after it.
    port = closed_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run([util.facteur_binary(), "-V", "probe", "--port", str(port), "127.0.0.1",
                        "--json"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert json.loads(r.stdout)["ports"][0]["port"] == port


class FakeIMAPS:
    """Implicit-TLS IMAP greeting on 127.0.0.2 with the Dovecot certificate,
    whose names are 127.0.0.1, ::1 and localhost: a wrong host name."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.2", 0))
        self.ls.listen(4)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(c, server_side=True) as s:
                    s.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake\r\n")
                    f = s.makefile("rb")
                    for line in f:
                        tag = line.split(b" ")[0]
                        s.sendall(b"* BYE\r\n%s OK bye\r\n" % tag)
                        break
            except (OSError, ssl.SSLError):
                pass

    def close(self):
        self.ls.close()


def test_wrong_host_name(dovecot, tmp_path):
    fake = FakeIMAPS(dovecot.cert, dovecot.key)
    try:
        r, doc = probe_json(["127.0.0.2", "--port", str(fake.port), "--cafile", dovecot.cert],
                            tmp_path)
    finally:
        fake.close()
    check_schema(doc)
    (p,) = doc["ports"]
    assert p["kind"] == "IMAPS" and p["tls"], p
    assert p["certificate"] == dict(p["certificate"], verdict="wrong host name", verified=False)
    assert p["certificate"]["fingerprint_sha256"] == cert_fingerprint(dovecot.cert)
    # Still the way to connect, with a warning saying which name to use.
    assert doc["recommendation"]["kind"] == "IMAPS"
    assert "does not verify: wrong host name" in doc["advice"], doc["advice"]
    assert "subject CN=127.0.0.1): connect to that name instead of 127.0.0.2" in doc["advice"]
