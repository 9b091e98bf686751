"""The tools under test: how to configure and run facteur, mbsync (isync
1.4), OfflineIMAP 3 and mpop against one benchmark account.

Each Tool instance owns one working directory: its config, its local Maildir
(`maildir`, INBOX in maildir/INBOX, folders below by name with "/") and its
sync state.  reset() forgets both the mail and the state, as on a machine
that never ran the tool.  command() is what the driver runs, as a fresh
process, once per measured run.
"""

import os

import trash
import util  # tests/integration/util.py, for facteur's config


# Set on some test machines, seldom on a user's: with SSL_CERT_FILE set,
# facteur loads that whole CA bundle as asked (about 25 ms a run) instead of
# OpenSSL's hashed directory.  Every tool runs without them.
UNSET_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR")


class Tool:
    name = "?"
    kind = "imap"  # or "pop3"

    def __init__(self, workdir, user, password, port, cert):
        self.dir = workdir
        self.user, self.password, self.port, self.cert = (user, password,
                                                          port, cert)
        self.maildir = os.path.join(workdir, "Mail")
        self.home = os.path.join(workdir, "home")
        os.makedirs(self.home, exist_ok=True)
        self.config = self.write_config()

    def env(self):
        e = dict(os.environ)
        e["HOME"] = self.home
        for k in ("XDG_CONFIG_HOME", "XDG_STATE_HOME") + UNSET_ENV:
            e.pop(k, None)
        return e

    def state_paths(self):
        return []

    def reset(self):
        """Remove the local mail and every piece of sync state; leave an
        empty store root (mbsync does not create it)."""
        for p in [self.maildir] + self.state_paths():
            trash.discard(p)
        os.makedirs(self.maildir)

    def forget_state(self):
        """Remove the sync state only (the mail stays): for adoption."""
        for p in self.state_paths():
            trash.discard(p)

    def _write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path


class Facteur(Tool):
    name = "facteur"
    binary = None  # set by the driver
    wrap = []      # a profiler's command prefix, if any

    def write_config(self):
        cfg = util.make_config(self.dir, self.user, {"imaps": self.port},
                               self.cert, password=self.password,
                               name="bench",
                               # facteur's own default, not the test suite's
                               account_opts={"Compress": None})
        return cfg.path

    def state_paths(self):
        return [os.path.join(self.dir, "Mail.facteur-state")]

    def command(self):
        return self.wrap + [self.binary, "-c", self.config, "-a", "--json",
                            "-q"]


class FacteurPop(Facteur):
    name = "facteur"
    kind = "pop3"

    def write_config(self):
        return self._write("facteurrc", """\
POP3Account bench
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
TLSType POP3S
CertificateFile {cert}

POP3Store bench-far
Account bench
Keep yes

MaildirStore bench-near
Path {md}/
Inbox {md}/INBOX

Channel bench
Far :bench-far:
Near :bench-near:
Sync Pull
SyncState *
""".format(port=self.port, user=self.user, password=self.password,
           cert=self.cert, md=self.maildir))


class Mbsync(Tool):
    name = "mbsync"

    def write_config(self):
        return self._write("mbsyncrc", """\
IMAPAccount bench
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
SSLType IMAPS
CertificateFile {cert}

IMAPStore bench-far
Account bench

MaildirStore bench-near
Path {md}/
Inbox {md}/INBOX
SubFolders Verbatim

Channel bench
Far :bench-far:
Near :bench-near:
Patterns *
Create Both
Expunge Both
SyncState *
""".format(port=self.port, user=self.user, password=self.password,
           cert=self.cert, md=self.maildir))

    def state_paths(self):
        # SyncState * keeps .mbsyncstate* inside each local folder; the
        # UIDs in the file names (",U=") go with the state.
        out = []
        if os.path.isdir(self.maildir):
            for d, _, files in os.walk(self.maildir):
                out += [os.path.join(d, f) for f in files
                        if f.startswith(".mbsyncstate") or f == ".uidvalidity"]
        return out

    def command(self):
        return ["mbsync", "-c", self.config, "-a", "-q"]


class OfflineImap(Tool):
    name = "offlineimap"

    def write_config(self):
        return self._write("offlineimaprc", """\
[general]
accounts = bench
metadata = {meta}
ui = quiet

[Account bench]
localrepository = bench-local
remoterepository = bench-remote

[Repository bench-local]
type = Maildir
localfolders = {md}
sep = /

[Repository bench-remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = {port}
remoteuser = {user}
remotepass = {password}
ssl = yes
sslcacertfile = {cert}
""".format(meta=os.path.join(self.dir, "meta"), port=self.port,
           user=self.user, password=self.password, cert=self.cert,
           md=self.maildir))

    def state_paths(self):
        return [os.path.join(self.dir, "meta")]

    def command(self):
        return ["offlineimap", "-c", self.config, "-o", "-u", "quiet"]


class Mpop(Tool):
    name = "mpop"
    kind = "pop3"

    def write_config(self):
        return self._write("mpoprc", """\
defaults
tls on
tls_starttls off
tls_trust_file {cert}

account bench
host 127.0.0.1
port {port}
user {user}
password {password}
keep on
uidls_file {uidls}
delivery maildir {md}/INBOX

account default : bench
""".format(port=self.port, user=self.user, password=self.password,
           cert=self.cert, uidls=os.path.join(self.dir, "uidls"),
           md=self.maildir))

    def state_paths(self):
        return [os.path.join(self.dir, "uidls")]

    def reset(self):
        super().reset()
        # mpop delivers into an existing Maildir only.
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.maildir, "INBOX", sub))

    def command(self):
        return ["mpop", "-C", self.config, "-q"]


IMAP_TOOLS = {"facteur": Facteur, "mbsync": Mbsync,
              "offlineimap": OfflineImap}
POP3_TOOLS = {"facteur": FacteurPop, "mpop": Mpop}
