"""Runs facteur against a hostile server and measures what matters:
exit status, output, wall time, peak memory (the child's own ru_maxrss via
wait4), and every file created in the whole temporary tree.

    r = run_imap(scenario, tmp_path, timeout=2)
    r.rc, r.out, r.err, r.elapsed, r.maxrss_mb, r.outside

The Maildir lives two levels below tmp_path (tmp/a/b/Mail) so that a
folder name climbing out with "../.." still lands where the check sees it;
r.outside lists files and directories created anywhere except the Maildir,
its state directory and the config.
"""

import collections
import os
import signal
import subprocess
import tempfile
import time

import util

Result = collections.namedtuple(
    "Result", "rc out err elapsed maxrss_mb outside maildir")

HARD_LIMIT = 40.0   # seconds: a run still alive then has hung


def _tree(root):
    out = set()
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def _run(cmd, tmp, allowed):
    before = _tree(tmp)
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe)
        hung = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > HARD_LIMIT:
                os.kill(p.pid, signal.SIGKILL)
                hung = True
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out = fo.read().decode("utf-8", "replace")
        err = fe.read().decode("utf-8", "replace")
    if hung:
        err += "\n[test: killed after %.0fs: hung]" % HARD_LIMIT
    after = _tree(tmp)
    outside = sorted(p_ for p_ in after - before
                     if not any(p_ == a or p_.startswith(a + os.sep)
                                for a in allowed))
    return Result(p.returncode, out, err, elapsed, ru.ru_maxrss / 1024.0,
                  outside, None)


def is_sanitized(binary=None):
    """True if the facteur under test is an ASan build (make SANITIZE=1):
    its memory use is several times larger, and valgrind cannot run it."""
    path = binary or util.facteur_binary()
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def imap_config(tmp, port, timeout=2, extra=""):
    work = os.path.join(str(tmp), "a", "b")
    os.makedirs(work, exist_ok=True)
    maildir = os.path.join(work, "Mail")
    text = """# hostile IMAP server test
IMAPAccount h
Host 127.0.0.1
Port %d
User hostile
Pass not-a-secret
TLSType None
AuthMechs LOGIN
Timeout %d
%s
IMAPStore h-far
Account h

MaildirStore h-near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel h
Far :h-far:
Near :h-near:
Patterns *
Create Both
Expunge Both
SyncState *
""" % (port, timeout, extra, maildir, maildir)
    path = os.path.join(work, "facteurrc")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path, maildir


def pop3_config(tmp, port, timeout=2, extra="", store=""):
    work = os.path.join(str(tmp), "a", "b")
    os.makedirs(work, exist_ok=True)
    maildir = os.path.join(work, "Mail")
    text = """# hostile POP3 server test
POP3Account p
Host 127.0.0.1
Port %d
User hostile
Pass not-a-secret
TLSType None
Timeout %d
%s
POP3Store p-far
Account p
%s

MaildirStore p-near
Path %s/
Inbox %s/INBOX

Channel p
Far :p-far:
Near :p-near:
SyncState *
""" % (port, timeout, extra, store, maildir, maildir)
    path = os.path.join(work, "facteurrc")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path, maildir


ALLOWED = [os.path.join("a", "b", "Mail"), os.path.join("a", "b", "Mail.facteur-state"),
           os.path.join("a", "b", "facteurrc")]


def run_facteur(cfg_path, tmp, args=("-a",), prlimit_as=None):
    cmd = [util.facteur_binary(), "-c", cfg_path] + list(args)
    if prlimit_as:
        cmd = ["prlimit", "--as=%d" % prlimit_as, "--"] + cmd
    r = _run(cmd, str(tmp), ALLOWED)
    return r._replace(maildir=os.path.join(str(tmp), "a", "b", "Mail"))
