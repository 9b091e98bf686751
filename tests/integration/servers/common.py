"""What the Cyrus and Courier controllers share: where the unpacked server
packages live, waiting for listeners, and imaplib/poplib clients."""

import imaplib
import os
import poplib
import socket
import ssl
import time

import dovecot

HOST = dovecot.HOST
User = dovecot.User
free_ports = dovecot.free_ports
make_cert = dovecot.make_cert

_HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(_HERE, "..", "..", ".."))


class ServerError(RuntimeError):
    pass


def interop_root():
    """The directory contrib/interop-deps.sh unpacked the server .debs into
    (FACTEUR_INTEROP_DIR, default build/interop/root of the repository)."""
    base = os.environ.get("FACTEUR_INTEROP_DIR",
                          os.path.join(REPO, "build", "interop"))
    return os.path.join(base, "root")


def need(path, what):
    if not os.access(path, os.X_OK):
        raise ServerError("%s: %s not found (run contrib/interop-deps.sh)"
                          % (what, path))
    return path


def wait_ports(host, ports, alive, log_tail, timeout=20.0, what="server"):
    """Wait until every port in `ports` (dict name -> port) accepts; alive()
    says whether the server still runs.  Raises ServerError with log_tail()."""
    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending:
        if not alive():
            raise ServerError("%s exited at startup:\n%s" % (what, log_tail()))
        for name in sorted(pending):
            try:
                socket.create_connection((host, ports[name]), timeout=1).close()
                pending.discard(name)
            except OSError:
                pass
        if pending and time.monotonic() > deadline:
            raise ServerError("%s did not open %s within %ds:\n%s" % (
                what, ", ".join(sorted(pending)), timeout, log_tail()))
        if pending:
            time.sleep(0.05)


def tail(paths, lines=40):
    text = []
    for p in paths:
        try:
            with open(p, errors="replace") as f:
                text.extend(f.read().splitlines()[-lines:])
        except OSError:
            pass
    return "\n".join(text[-lines:]) or "(no log)"


class ClientMixin:
    """imap()/pop3() like dovecot.Dovecot's; needs host, ports, cert."""

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.cert)

    def imap(self, user=None, password=None, mode="imaps", login=True):
        if isinstance(user, User):
            user, password = user.name, user.password
        if mode == "imaps":
            c = imaplib.IMAP4_SSL(self.host, self.ports["imaps"],
                                  ssl_context=self.ssl_context(), timeout=30)
        else:
            c = imaplib.IMAP4(self.host, self.ports["imap"], timeout=30)
            if mode == "starttls":
                c.starttls(ssl_context=self.ssl_context())
        if login:
            c.login(user, password)
        return c

    def pop3(self, user=None, password=None, mode="pop3s", login=True):
        if isinstance(user, User):
            user, password = user.name, user.password
        if mode == "pop3s":
            c = poplib.POP3_SSL(self.host, self.ports["pop3s"],
                                context=self.ssl_context(), timeout=30)
        else:
            c = poplib.POP3(self.host, self.ports["pop3"], timeout=30)
            if mode == "stls":
                c.stls(context=self.ssl_context())
        if login:
            c.user(user)
            c.pass_(password)
        return c
