"""A private Dovecot 2.3 for facteur's integration tests and demo.

Owns one throwaway server: its config, TLS certificate, passwd-file, state,
logs and mail root all live under one temporary directory, and it listens on
free loopback ports only.  Imported by the pytest fixtures (conftest.py) and
run as a small CLI by contrib/demo.sh:

    python3 dovecot.py start DIR      start, print "key=value" lines, detach
    python3 dovecot.py stop DIR       stop the server started in DIR
    python3 dovecot.py adduser DIR NAME PASSWORD

Startup failures raise DovecotError carrying the tail of Dovecot's log; the
tests never skip because the server is missing or broken.
"""

import collections
import grp
import imaplib
import os
import poplib
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
PORT_NAMES = ("imap", "imaps", "pop3", "pop3s")
START_TIMEOUT = 20.0

User = collections.namedtuple("User", "name password")
# Always present; tests that write mail should prefer new_user().
FIXED_USERS = (("alice", "alice-secret"), ("bob", "bob-secret"))


class DovecotError(RuntimeError):
    pass


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound together, then released:
    a small race with other processes is accepted)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent():
    """In the child before exec: ask Linux for SIGTERM when the parent
    dies (prctl PR_SET_PDEATHSIG); silently nothing elsewhere."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _find(prog):
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        p = os.path.join(d, prog)
        if os.access(p, os.X_OK):
            return p
    p = shutil.which(prog)
    if p is None:
        raise DovecotError("%s not found (run contrib/deps.sh)" % prog)
    return p


def make_cert(directory):
    """Self-signed certificate for 127.0.0.1, ::1 and localhost; returns
    (cert_path, key_path).  The cert is its own trust anchor: clients verify
    with it as the CA file, host-name checks included."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    cmd = [_find("openssl"), "req", "-x509", "-newkey", "ec",
           "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", key, "-out", cert, "-days", "7",
           "-subj", "/CN=127.0.0.1",
           "-addext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
           "-addext", "basicConstraints=critical,CA:TRUE"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise DovecotError("openssl req failed: " + r.stderr.strip())
    os.chmod(key, 0o600)
    return cert, key


CONFIG_TEMPLATE = """\
# Generated for one test run; see tests/integration/dovecot.py.
protocols = imap pop3
listen = {host}
instance_name = {instance}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
auth_verbose = yes
auth_verbose_passwords = no
verbose_ssl = no
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:~/Maildir:LAYOUT=fs
mail_plugins = $mail_plugins zlib

# Loopback connections count as secured for Dovecot (client IP == server
# IP), so plain-text LOGIN would work on the clear port anyway; keep the
# default and leave login_trusted_networks empty so the tests exercise the
# same rules a remote client meets.
disable_plaintext_auth = yes
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256

ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2

# One passwd-file per user: Dovecot re-reads a changed passwd-file at most
# once a second, so users added in quick succession to one shared file would
# be "unknown" for a moment; a new file is read on first use.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {root}/users/%n
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {root}/users/%n
}}

namespace inbox {{
  inbox = yes
  separator = /
}}

protocol imap {{
  mail_plugins = $mail_plugins imap_zlib
  mail_max_userip_connections = 100
}}

service imap-login {{
  {chroot}
  inet_listener imap {{
    address = {host}
    port = {imap}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  {chroot}
  inet_listener pop3 {{
    address = {host}
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = {host}
    port = {pop3s}
    ssl = yes
  }}
}}
service imap {{
  process_limit = 256
}}
# Every test client comes from 127.0.0.1: without this, one wrong-password
# test would slow every later login by up to 15 s (anvil's per-IP penalty).
service anvil {{
  {chroot}
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
auth_failure_delay = 0
"""


class Dovecot:
    """One private Dovecot.  `root` is its directory (created if None);
    start() writes the config and runs `dovecot -F -c CONFIG` as a child.
    Attributes valid after start(): host, ports (dict imap/imaps/pop3/pop3s),
    cert, config, root, users (alice and bob)."""

    def __init__(self, root=None):
        self.own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="facteur-dovecot-")
        self.root = os.path.abspath(self.root)
        self.host = HOST
        self.ports = {}
        self.cert = os.path.join(self.root, "tls", "cert.pem")
        self.key = os.path.join(self.root, "tls", "key.pem")
        self.config = os.path.join(self.root, "dovecot.conf")
        self.users_dir = os.path.join(self.root, "users")
        self.mail_root = os.path.join(self.root, "mail")
        self.log = os.path.join(self.root, "log", "dovecot.log")
        self.proc = None
        self.users = {}  # name -> User, the FIXED_USERS
        self._lock = threading.Lock()
        self._serial = 0
        if os.geteuid() == 0:
            # Dovecot refuses to run mail processes as root.
            self.uid, self.gid = 65534, 65534
            self.internal = ("dovecot", "dovecot", "dovenull")
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            # Unprivileged: every Dovecot process runs as the caller.
            me = pwd.getpwuid(self.uid).pw_name
            self.internal = (me, grp.getgrgid(self.gid).gr_name, me)

    # -- set-up ---------------------------------------------------------

    def _prepare(self):
        for d in ("tls", "log", "mail", "users"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        # mkdtemp makes 0700 dirs; the mail user must traverse the chain.
        os.chmod(self.root, 0o755)
        d = os.path.dirname(self.root)
        while d != "/":
            if os.stat(d).st_mode & 0o001 == 0:
                raise DovecotError("%s is not traversable by the mail user "
                                   "(uid %d): chmod o+x it or use another "
                                   "directory" % (d, self.uid))
            d = os.path.dirname(d)
        os.chown(self.mail_root, self.uid, self.gid)
        for name, pw in FIXED_USERS:
            self.users[name] = self.add_user(name, pw)
        if not os.path.exists(self.cert):
            make_cert(os.path.join(self.root, "tls"))
        names = PORT_NAMES
        if not self.ports:
            self.ports = dict(zip(names, free_ports(len(names))))
        text = CONFIG_TEMPLATE.format(
            host=self.host, root=self.root, cert=self.cert, key=self.key,
            uid=self.uid, gid=self.gid,
            internal_user=self.internal[0], internal_group=self.internal[1],
            login_user=self.internal[2],
            # chroot needs root; unprivileged runs go without.
            chroot="" if os.geteuid() == 0 else "chroot =",
            instance="facteur-test-%d" % os.getpid(), **self.ports)
        with open(self.config, "w") as f:
            f.write(text)

    def start(self, detach=False):
        """Start the server and wait until all four listeners accept.
        Unless `detach`, the server gets SIGTERM when this process dies, so
        a killed test run leaves no Dovecot behind.  Raises DovecotError
        with the log tail on failure."""
        if self.proc is not None:
            raise DovecotError("dovecot already running in " + self.root)
        chosen_here = not self.ports
        for attempt in range(3):
            try:
                return self._start_once(detach)
            except DovecotError as e:
                # Another process took a port between bind(0) and Dovecot's
                # own bind: pick new ones, unless the caller fixed them.
                if not chosen_here or "in use" not in str(e) or attempt == 2:
                    raise
                self.ports = {}

    def _start_once(self, detach):
        self._prepare()
        try:
            log_from = os.path.getsize(self.log)
        except OSError:
            log_from = 0
        out = open(os.path.join(self.root, "log", "master.out"), "ab")
        try:
            self.proc = subprocess.Popen(
                [_find("dovecot"), "-F", "-c", self.config],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True,
                preexec_fn=None if detach else _die_with_parent)
        finally:
            out.close()
        deadline = time.monotonic() + START_TIMEOUT
        pending = set(PORT_NAMES) | {"log"}
        while pending:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise DovecotError("dovecot exited with %d at startup:\n%s"
                                   % (rc, self.log_tail()))
            self._probe(pending, log_from)
            if pending and time.monotonic() > deadline:
                self.stop()
                raise DovecotError("dovecot did not open %s within %ds:\n%s"
                                   % (", ".join(sorted(pending)),
                                      START_TIMEOUT, self.log_tail()))
            if pending:
                time.sleep(0.05)
        return self

    def _probe(self, pending, log_from):
        """Strike from `pending` the listeners that accept, and "log" once
        the master has logged that it started: it binds its listeners one
        by one and exits if a later one fails, so accepting ports alone do
        not prove it is up."""
        for name in sorted(pending - {"log"}):
            try:
                socket.create_connection((self.host, self.ports[name]),
                                         timeout=1).close()
                pending.discard(name)
            except OSError:
                pass
        if "log" in pending:
            try:
                with open(self.log, "rb") as f:
                    f.seek(log_from)
                    if b"master: Info: Dovecot v" in f.read():
                        pending.discard("log")
            except OSError:
                pass

    def stop(self):
        """Stop the master (and with it every child); safe to call twice."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def restart(self):
        """Stop and start again on the same ports, config and data."""
        self.stop()
        self.start()

    def cleanup(self):
        self.stop()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def log_tail(self, lines=40):
        text = []
        for p in (os.path.join(self.root, "log", "master.out"), self.log):
            try:
                with open(p, errors="replace") as f:
                    text.extend(f.read().splitlines()[-lines:])
            except OSError:
                pass
        return "\n".join(text[-lines:]) or "(no dovecot log)"

    # -- users ----------------------------------------------------------

    def add_user(self, name, password):
        """Add NAME with plain-text PASSWORD (CRAM-MD5 and SCRAM need the
        clear text); usable at once."""
        if any(c in name + password for c in ":\n\r") or \
                not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("bad user name or password: %r" % name)
        home = os.path.join(self.mail_root, name)
        line = "%s:{PLAIN}%s:%d:%d::%s::\n" % (name, password, self.uid,
                                               self.gid, home)
        path = os.path.join(self.users_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(line)
        os.rename(tmp, path)
        return User(name, password)

    def new_user(self, prefix="u"):
        """A fresh user with an empty mailbox, unique within this server."""
        with self._lock:
            self._serial += 1
            name = "%s%d-%d" % (prefix, os.getpid(), self._serial)
        return self.add_user(name, "pw-" + name)

    # -- clients --------------------------------------------------------

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.cert)

    def imap(self, user=None, password=None, mode="imaps", login=True):
        """An imaplib connection; mode is "imaps", "starttls" or "plain".
        `user` may be a User.  Logged in unless login=False."""
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
        """A poplib connection; mode is "pop3s", "stls" or "plain"."""
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

    def doveadm(self, *args, check=True, input=None):
        """Run `doveadm -c CONFIG ARGS...`; returns the CompletedProcess."""
        r = subprocess.run([_find("doveadm"), "-c", self.config] + list(args),
                           capture_output=True, input=input)
        if check and r.returncode != 0:
            raise DovecotError("doveadm %s failed (%d): %s" % (
                " ".join(args), r.returncode,
                r.stderr.decode(errors="replace").strip()))
        return r

    def describe(self):
        """key=value lines for the CLI and the demo script."""
        lines = ["host=%s" % self.host, "root=%s" % self.root,
                 "config=%s" % self.config, "cert=%s" % self.cert]
        if self.proc is not None:
            lines.append("pid=%d" % self.proc.pid)
        lines += ["%s=%d" % (k, self.ports[k]) for k in PORT_NAMES]
        return "\n".join(lines) + "\n"


# -- CLI ----------------------------------------------------------------


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an unreaped zombie is as good as gone
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _read_pid(root):
    try:
        with open(os.path.join(root, "master.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _cli_start(root):
    os.makedirs(root, exist_ok=True)
    pid = _read_pid(root)
    if pid is not None and _pid_alive(pid):
        raise DovecotError("a server started in %s is still running (pid %d):"
                           " stop it first" % (root, pid))
    d = Dovecot(os.path.abspath(root))
    d.start(detach=True)
    # The server outlives this process; `stop` finds it through the pid file.
    with open(os.path.join(d.root, "master.pid"), "w") as f:
        f.write("%d\n" % d.proc.pid)
    sys.stdout.write(d.describe())
    d.proc = None  # do not stop it when this object goes away


def _cli_stop(root):
    pid = _read_pid(root)
    if pid is None:
        return 0  # nothing was started here
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
    os.unlink(os.path.join(root, "master.pid"))
    return 0


def main(argv):
    usage = ("usage: dovecot.py start DIR | stop DIR | "
             "adduser DIR NAME PASSWORD\n")
    if len(argv) < 3:
        sys.stderr.write(usage)
        return 2
    cmd, root = argv[1], argv[2]
    try:
        if cmd == "start" and len(argv) == 3:
            _cli_start(root)
            return 0
        if cmd == "stop" and len(argv) == 3:
            return _cli_stop(root)
        if cmd == "adduser" and len(argv) == 5:
            d = Dovecot(os.path.abspath(root))
            d.add_user(argv[3], argv[4])
            return 0
    except DovecotError as e:
        sys.stderr.write("dovecot.py: %s\n" % e)
        return 1
    sys.stderr.write(usage)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
