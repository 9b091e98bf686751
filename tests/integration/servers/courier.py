"""A private Courier IMAP 5.0 (IMAP + POP3) for the interoperability tests.

Courier's login library has compiled-in paths (/etc/courier/authdaemonrc,
/etc/courier/userdb.dat, /run/courier/authdaemon/socket) with no override,
so the instance lives in its own mount namespace: authdaemond starts under
`unshare --mount` with our etc/ and run/ bind-mounted over /etc/courier and
/run/courier, and each couriertcpd listener joins that namespace with
nsenter.  The host's /etc/courier is never written.  imapd, imaplogin and
the POP3 programs come from the .debs contrib/interop-deps.sh unpacked
(installing courier-imap would remove Dovecot).

Courier's personal namespace is "INBOX." with "." as separator; it has no
MOVE, CONDSTORE, QRESYNC or COMPRESS.  Wrong passwords take ~5 s to fail.

Startup failures raise ServerError with the log tail; never a skip.
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "servers"  # noqa: A001

from servers import common  # noqa: E402
from servers.common import ServerError, User  # noqa: E402

PORT_NAMES = ("imap", "imaps", "pop3", "pop3s")
AUTHDAEMOND = "/usr/lib/courier/courier-authlib/authdaemond"
GAM_SERVER = "/usr/libexec/gam_server"

AUTHDAEMONRC = """\
authmodulelist="authuserdb"
authmodulelistorig="authuserdb"
daemons=2
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=0
DEFAULTOPTIONS=""
LOGGEROPTS=""
"""

IMAP_CAPABILITY = ("IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT "
                   "THREAD=REFERENCES SORT QUOTA IDLE")


class Courier(common.ClientMixin):
    """One private Courier.  Attributes valid after start(): host, ports
    (imap/imaps/pop3/pop3s), cert, root, sep ".", prefix "INBOX."."""

    kind = "courier"
    name = "courier"
    sep = "."
    prefix = "INBOX."

    def __init__(self, root=None):
        self.own_root = root is None
        self.root = os.path.abspath(root or tempfile.mkdtemp(
            prefix="facteur-courier-"))
        self.host = common.HOST
        self.ports = {}
        self.cert = os.path.join(self.root, "tls", "cert.pem")
        self.key = os.path.join(self.root, "tls", "key.pem")
        self.etc = os.path.join(self.root, "etc")
        self.run = os.path.join(self.root, "run")
        self.mail_root = os.path.join(self.root, "mail")
        self.log = os.path.join(self.root, "courier.log")
        self.auth = None
        self.gam = None
        self.gam_id = "facteur-%d-%d" % (os.getpid(), id(self))
        self.listeners = []
        self._lock = threading.Lock()
        self._serial = 0
        base = common.interop_root()
        self.imapd = os.path.join(base, "usr/bin/imapd")
        self.imaplogin = os.path.join(base, "usr/lib/courier/courier/imaplogin")
        self.pop3d = os.path.join(base, "usr/lib/courier/courier/courierpop3d")
        self.pop3login = os.path.join(
            base, "usr/lib/courier/courier/courierpop3login")
        if os.geteuid() != 0:
            raise ServerError("courier: the private instance needs root "
                              "(mount namespace for its compiled-in paths)")
        pw = pwd.getpwnam("courier")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def _prepare(self):
        for p, what in ((AUTHDAEMOND, "authdaemond"), (self.imapd, "imapd"),
                        (self.imaplogin, "imaplogin"), (self.pop3d, "pop3d"),
                        (self.pop3login, "pop3login"),
                        (GAM_SERVER, "gam_server (package gamin)")):
            common.need(p, "Courier " + what)
        for p in ("couriertcpd", "couriertls", "unshare", "nsenter", "setpriv",
                  "makeuserdb", "maildirmake"):
            if shutil.which(p) is None:
                raise ServerError("courier: %s not found (run "
                                  "contrib/interop-deps.sh)" % p)
        for d in ("tls", "etc", "run/authdaemon", "mail"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chown(self.mail_root, self.uid, self.gid)
        os.chown(os.path.join(self.run, "authdaemon"), self.uid, self.gid)
        os.chmod(os.path.join(self.run, "authdaemon"), 0o750)
        if not os.path.exists(self.cert):
            common.make_cert(os.path.join(self.root, "tls"))
        # couriertls wants key and certificate in one file.
        pem = os.path.join(self.root, "tls", "courier.pem")
        with open(pem, "w") as out:
            for p in (self.key, self.cert):
                with open(p) as f:
                    out.write(f.read())
        os.chmod(pem, 0o600)
        # STARTTLS runs couriertls after imaplogin dropped to courier.
        os.chown(pem, self.uid, self.gid)
        with open(os.path.join(self.etc, "authdaemonrc"), "w") as f:
            f.write(AUTHDAEMONRC)
        userdb = os.path.join(self.etc, "userdb")
        if not os.path.exists(userdb):
            open(userdb, "w").close()
        os.chmod(userdb, 0o600)
        self._makeuserdb()
        if not self.ports:
            self.ports = dict(zip(PORT_NAMES,
                                  common.free_ports(len(PORT_NAMES))))

    def _env(self, tls):
        env = {
            "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
            "IMAP_CAPABILITY": IMAP_CAPABILITY,
            "IMAP_CAPABILITY_TLS": IMAP_CAPABILITY + " AUTH=PLAIN",
            "IMAP_KEYWORDS": "1", "IMAP_ACL": "1",
            "IMAP_IDLE_TIMEOUT": "5", "IMAP_MAILBOX_SANITY_CHECK": "1",
            "IMAP_TRASHFOLDERNAME": "Trash", "IMAP_EMPTYTRASH": "",
            "IMAP_MOVE_EXPUNGE_TO_TRASH": "0", "IMAP_USELOCKS": "1",
            "IMAP_UMASK": "022", "IMAP_TLS_REQUIRED": "0",
            "IMAP_STARTTLS": "YES",
            "POP3AUTH": "PLAIN LOGIN", "POP3AUTH_TLS": "PLAIN LOGIN",
            "POP3_PROXY": "0", "POP3_STARTTLS": "YES", "POP3_TLS_REQUIRED": "0",
            "COURIERTLS": shutil.which("couriertls"),
            "TLS_CERTFILE": os.path.join(self.root, "tls", "courier.pem"),
            "TLS_VERIFYPEER": "NONE",
            "TLS_PROTOCOL": "TLSv1.2+", "TLS_STARTTLS_PROTOCOL": "TLSv1.2+",
            # Our own gam_server (see start()); a failing one costs 1.2 s
            # per login while the client library retries.
            "GAMIN_DEBUG_SERVER": "/bin/false",
            "GAM_CLIENT_ID": self.gam_id,
            "MAILDIRPATH": "Maildir",
        }
        if tls:
            env["IMAP_TLS"] = "1"
            env["POP3_TLS"] = "1"
        return env

    def _listener(self, port, tls, login, daemon):
        cmd = ["nsenter", "-t", str(self.auth.pid), "-m", "--",
               shutil.which("couriertcpd"), "-address=" + self.host,
               "-maxprocs=100", "-maxperip=100", "-nodnslookup",
               "-noidentlookup", str(port)]
        if tls:
            cmd += [shutil.which("couriertls"), "-server", "-tcpd"]
        cmd += [login, daemon, "Maildir"]
        return self._spawn(cmd, self._env(tls))

    def _spawn(self, cmd, env):
        out = open(self.log, "ab")
        try:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=out, env=env,
                                    start_new_session=True)
        finally:
            out.close()

    def start(self):
        if self.auth is not None:
            raise ServerError("courier already running in " + self.root)
        self._prepare()
        script = ("mount --bind %s /etc/courier && mount --bind %s "
                  "/run/courier && exec %s" % (self.etc, self.run, AUTHDAEMOND))
        env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
               "GAMIN_DEBUG_SERVER": "/bin/false"}
        self.auth = self._spawn(["unshare", "--mount", "--propagation",
                                 "private", "--", "sh", "-c", script], env)
        try:
            sock = os.path.join(self.run, "authdaemon", "socket")
            deadline = time.monotonic() + 10
            while not os.path.exists(sock):
                if self.auth.poll() is not None:
                    raise ServerError("courier authdaemond exited:\n"
                                      + self.log_tail())
                if time.monotonic() > deadline:
                    raise ServerError("courier authdaemond made no socket:\n"
                                      + self.log_tail())
                time.sleep(0.05)
            # Courier's imapd watches the Maildir through gamin (FAM); a
            # private gam_server as the mail user, reached through
            # GAM_CLIENT_ID, keeps the host's untouched and dies with us.
            self.gam = self._spawn(["setpriv", "--reuid", "courier",
                                    "--regid", "courier", "--clear-groups",
                                    GAM_SERVER, "--notimeout"],
                                   {"PATH": "/usr/bin:/bin",
                                    "GAM_CLIENT_ID": self.gam_id})
            p = self.ports
            self.listeners = [
                self._listener(p["imap"], False, self.imaplogin, self.imapd),
                self._listener(p["imaps"], True, self.imaplogin, self.imapd),
                self._listener(p["pop3"], False, self.pop3login, self.pop3d),
                self._listener(p["pop3s"], True, self.pop3login, self.pop3d),
            ]
            common.wait_ports(
                self.host, self.ports,
                lambda: all(x.poll() is None
                            for x in self.listeners + [self.auth]),
                self.log_tail, what="courier")
        except ServerError:
            self.stop()
            raise
        return self

    def stop(self):
        procs, self.listeners = self.listeners + [self.auth, self.gam], []
        self.auth = self.gam = None
        for proc in procs:
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def restart(self):
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
        return common.tail([self.log], lines)

    # -- users ----------------------------------------------------------

    def _makeuserdb(self):
        r = subprocess.run(["makeuserdb", "-f",
                            os.path.join(self.etc, "userdb")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ServerError("courier: makeuserdb failed: " + r.stderr.strip())

    def add_user(self, name, password):
        """A userdb user with an empty Maildir; usable at once."""
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("bad user name: %r" % name)
        r = subprocess.run(["openssl", "passwd", "-1", "-stdin"],
                           input=password, capture_output=True, text=True)
        if r.returncode != 0:
            raise ServerError("openssl passwd failed: " + r.stderr.strip())
        home = os.path.join(self.mail_root, name)
        os.makedirs(home)
        maildir = os.path.join(home, "Maildir")
        subprocess.run(["maildirmake", maildir], check=True)
        for d, dirs, files in os.walk(home):
            for n in [d] + [os.path.join(d, x) for x in dirs + files]:
                os.chown(n, self.uid, self.gid)
        line = "%s\tuid=%d|gid=%d|home=%s|mail=%s|systempw=%s\n" % (
            name, self.uid, self.gid, home, maildir, r.stdout.strip())
        with self._lock:
            with open(os.path.join(self.etc, "userdb"), "a") as f:
                f.write(line)
            self._makeuserdb()
        return User(name, password)

    def new_user(self, prefix="u"):
        with self._lock:
            self._serial += 1
            name = "%s%d-%d" % (prefix, os.getpid(), self._serial)
        return self.add_user(name, "pw-" + name)

    def describe(self):
        lines = ["host=%s" % self.host, "root=%s" % self.root,
                 "cert=%s" % self.cert]
        lines += ["%s=%d" % (k, self.ports[k]) for k in PORT_NAMES]
        return "\n".join(lines) + "\n"
