"""A private Cyrus IMAP 3.6 (IMAP + POP3) for the interoperability tests.

Runs the Cyrus master from cyrus-common with the imapd/pop3d binaries that
contrib/interop-deps.sh unpacked (installing cyrus-imapd would remove
Dovecot).  Everything -- config, sasldb, spool, sockets, logs -- lives under
one temporary directory; it listens on free loopback ports only.

sep="/": unixhierarchysep + altnamespace (folders at top level, "/");
sep=".": the standard namespace (personal prefix "INBOX.", ".").

    python3 -m servers.cyrus start DIR [/|.]   (from tests/integration)
    python3 -m servers.cyrus stop DIR

Startup failures raise ServerError with the tail of the master's log; the
tests never skip because the server is missing.
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
CYRUS_LIB = "/usr/lib/cyrus/bin"
SERVERNAME = "cyrus-test"

IMAPD_CONF = """\
# Generated for one test run; see tests/integration/servers/cyrus.py.
configdirectory: {root}/conf
partition-default: {root}/spool
defaultpartition: default
servername: {servername}
cyrus_user: {run_user}
admins: {admin}
altnamespace: {alt}
unixhierarchysep: {alt}
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {root}/sasldb2
sasl_mech_list: PLAIN LOGIN
autocreate_quota: 0
failedloginpause: 0
hashimapspool: false
lmtpsocket: {root}/sock/lmtp
idlesocket: {root}/sock/idle
notifysocket: {root}/sock/notify
proc_path: {root}/proc
mboxname_lockpath: {root}/lock
tls_server_cert: {cert}
tls_server_key: {key}
tls_versions: tls1_2 tls1_3
syslog_prefix: cyrus-test
"""

CYRUS_CONF = """\
# Generated for one test run; see tests/integration/servers/cyrus.py.
START {{
  recover cmd="{lib}/ctl_cyrusdb -C {conf} -r"
}}
SERVICES {{
  imap  cmd="{bin}/imapd -C {conf}" listen="{host}:{imap}" prefork=0
  imaps cmd="{bin}/imapd -s -C {conf}" listen="{host}:{imaps}" prefork=0
  pop3  cmd="{bin}/pop3d -C {conf}" listen="{host}:{pop3}" prefork=0
  pop3s cmd="{bin}/pop3d -s -C {conf}" listen="{host}:{pop3s}" prefork=0
}}
EVENTS {{
}}
DAEMON {{
}}
"""


class Cyrus(common.ClientMixin):
    """One private Cyrus.  Attributes valid after start(): host, ports
    (imap/imaps/pop3/pop3s), cert, root, sep ("/" or "."), prefix (the
    personal namespace prefix: "" or "INBOX.")."""

    kind = "cyrus"

    def __init__(self, root=None, sep="/"):
        if sep not in ("/", "."):
            raise ValueError("Cyrus separator must be / or .")
        self.own_root = root is None
        self.root = os.path.abspath(root or tempfile.mkdtemp(
            prefix="facteur-cyrus-"))
        self.sep = sep
        self.prefix = "" if sep == "/" else "INBOX."
        self.name = "cyrus" + ("-slash" if sep == "/" else "-dot")
        self.host = common.HOST
        self.ports = {}
        self.cert = os.path.join(self.root, "tls", "cert.pem")
        self.key = os.path.join(self.root, "tls", "key.pem")
        self.conf = os.path.join(self.root, "imapd.conf")
        self.log = os.path.join(self.root, "master.log")
        self.admin = User("cyrus", "admin-secret")
        self.proc = None
        self._lock = threading.Lock()
        self._serial = 0
        self.bindir = os.path.join(common.interop_root(), "usr/lib/cyrus/bin")
        if os.geteuid() == 0:
            self.run_user = "cyrus"
        else:
            self.run_user = pwd.getpwuid(os.getuid()).pw_name

    def _prepare(self):
        common.need(os.path.join(CYRUS_LIB, "master"), "Cyrus master")
        common.need(os.path.join(self.bindir, "imapd"), "Cyrus imapd")
        common.need(os.path.join(self.bindir, "pop3d"), "Cyrus pop3d")
        for d in ("tls", "conf", "spool", "sock", "proc", "lock"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        if not os.path.exists(self.cert):
            common.make_cert(os.path.join(self.root, "tls"))
        if not self.ports:
            self.ports = dict(zip(PORT_NAMES,
                                  common.free_ports(len(PORT_NAMES))))
        alt = "yes" if self.sep == "/" else "no"
        with open(self.conf, "w") as f:
            f.write(IMAPD_CONF.format(root=self.root, servername=SERVERNAME,
                                      run_user=self.run_user,
                                      admin=self.admin.name, alt=alt,
                                      cert=self.cert, key=self.key))
        with open(os.path.join(self.root, "cyrus.conf"), "w") as f:
            f.write(CYRUS_CONF.format(lib=CYRUS_LIB, bin=self.bindir,
                                      conf=self.conf, host=self.host,
                                      **self.ports))
        self._saslpasswd(self.admin)
        pw = pwd.getpwnam(self.run_user)
        os.chmod(self.root, 0o755)
        for d, dirs, files in os.walk(self.root):
            for n in dirs + files:
                os.chown(os.path.join(d, n), pw.pw_uid, pw.pw_gid)
        os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def _saslpasswd(self, user):
        path = os.path.join(self.root, "sasldb2")
        r = subprocess.run(["saslpasswd2", "-p", "-c", "-f", path,
                            "-u", SERVERNAME, user.name],
                           input=user.password.encode(), capture_output=True)
        if r.returncode != 0:
            raise ServerError("saslpasswd2 %s failed: %s" % (
                user.name, r.stderr.decode(errors="replace").strip()))
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.run_user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self):
        if self.proc is not None:
            raise ServerError("cyrus already running in " + self.root)
        self._prepare()
        out = open(os.path.join(self.root, "master.out"), "ab")
        try:
            self.proc = subprocess.Popen(
                [os.path.join(CYRUS_LIB, "master"), "-C", self.conf,
                 "-M", os.path.join(self.root, "cyrus.conf"),
                 "-p", os.path.join(self.root, "master.pid"),
                 "-L", self.log],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        finally:
            out.close()
        try:
            common.wait_ports(self.host, self.ports,
                              lambda: self.proc.poll() is None,
                              self.log_tail, what="cyrus master")
        except ServerError:
            self.stop()
            raise
        return self

    def stop(self):
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
        return common.tail([os.path.join(self.root, "master.out"), self.log],
                           lines)

    # -- users ----------------------------------------------------------

    def add_user(self, name, password):
        """A SASL user and its mailbox (created by the admin); usable at
        once."""
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("bad user name: %r" % name)
        user = User(name, password)
        self._saslpasswd(user)
        # Cyrus turns "." in user names into "^" in mailbox names; keep
        # to names without dots.
        box = "user" + self.sep + name
        c = self.imap(self.admin, mode="plain")
        try:
            typ, data = c.create(box)
            if typ != "OK":
                raise ServerError("cyrus: CREATE %s failed: %r" % (box, data))
        finally:
            c.logout()
        return user

    def new_user(self, prefix="u"):
        with self._lock:
            self._serial += 1
            name = "%s%d-%d" % (prefix, os.getpid(), self._serial)
        return self.add_user(name, "pw-" + name)

    def describe(self):
        lines = ["host=%s" % self.host, "root=%s" % self.root,
                 "cert=%s" % self.cert, "sep=%s" % self.sep]
        if self.proc is not None:
            lines.append("pid=%d" % self.proc.pid)
        lines += ["%s=%d" % (k, self.ports[k]) for k in PORT_NAMES]
        return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) >= 3 and argv[1] == "start":
        s = Cyrus(argv[2], sep=argv[3] if len(argv) > 3 else "/")
        s.start()
        sys.stdout.write(s.describe())
        # Detach: the master keeps running in its own session.
        s.proc = None
        return 0
    if len(argv) == 3 and argv[1] == "stop":
        try:
            with open(os.path.join(argv[2], "master.pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, signal.SIGTERM)
            # A master stopped while children are still starting can spin
            # instead of exiting: escalate after a while.
            for _ in range(100):
                time.sleep(0.05)
                os.kill(pid, 0)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return 0
        except (OSError, ValueError) as e:
            sys.stderr.write("cyrus: %s\n" % e)
            return 1
        return 0
    sys.stderr.write("usage: cyrus.py start DIR [/|.] | stop DIR\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
