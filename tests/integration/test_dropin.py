"""facteur as a drop-in for mbsync users: the command line (help, version,
listing, errors), a configuration using every keyword, the --json summary
schema, the PostSyncCommand environment, the progress line under a
pseudo-terminal, and the manual pages."""

import json
import os
import pty
import select
import shutil
import subprocess
import time

import pytest

import util

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "contrib", "man")


def run(args, timeout=30, **kw):
    return subprocess.run([util.facteur_binary()] + args, capture_output=True,
                          text=True, timeout=timeout, **kw)


# -- command line ------------------------------------------------------------


def test_help_names_subcommands_and_options():
    r = run(["--help"])
    assert r.returncode == 0
    for word in ("watch", "status", "check", "--dry-run", "--json", "-l",
                 "-a", "-C", "-R", "-X", "-V", "-q"):
        assert word in r.stdout, word
    assert r.stderr == ""


def test_version():
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("facteur ")


def test_subcommand_option_errors(tmp_path):
    cfg = tmp_path / "rc"
    cfg.write_text("MaildirStore a\nPath %s/a/\n\nMaildirStore b\nPath %s/b/\n\n"
                   "Channel c\nFar :a:\nNear :b:\n" % (tmp_path, tmp_path))
    r = run(["-c", str(cfg), "watch", "--interval", "soon"])
    assert r.returncode == 1 and "--interval" in r.stderr
    r = run(["-c", str(cfg), "watch", "--interval"])
    assert r.returncode == 1 and "--interval" in r.stderr
    r = run(["-c", str(cfg), "--dump", "c"])
    assert r.returncode == 1 and "--dump" in r.stderr
    r = run(["-c", str(cfg), "check", "nosuch"])
    assert r.returncode == 1 and "nosuch" in r.stderr
    r = run(["-c", str(cfg), "--bogus"])
    assert r.returncode == 1 and "--bogus" in r.stderr
    r = run(["-c", str(tmp_path / "missing"), "status"])
    assert r.returncode == 1 and "missing" in r.stderr


def test_channel_named_like_a_subcommand_wins(tmp_path):
    """A channel called "status" is synchronized, as with mbsync."""
    cfg = tmp_path / "rc"
    cfg.write_text("MaildirStore a\nPath %s/a/\n\nMaildirStore b\nPath %s/b/\n\n"
                   "Channel status\nFar :a:\nNear :b:\n" % (tmp_path, tmp_path))
    r = run(["-c", str(cfg), "-l", "status"])
    assert "last sync" not in r.stdout


# -- every keyword -------------------------------------------------------------

FULL = """\
# Every keyword, in an mbsync-style file; channel "main" talks to the test
# server, the other sections are parsed but not used.
FSync no
FieldDelimiter :
BufferLimit 8m
Parallel 1
PostSyncCommand true
MaxMessages 0
ExpireUnread no
ExpireSide Near
CopyArrivalDate no
Create Both
Remove None
Expunge None
ExpungeSolo None
Sync All
SyncState *

IMAPAccount main
Host 127.0.0.1
Port {imaps}
Timeout 30
User {user}
PassCmd "echo '{password}'"
UseKeychain no
AuthMechs PLAIN SCRAM-SHA-256
TLSType IMAPS
TLSVersions +1.3
SystemCertificates no
CertificateFile {cert}
ClientCertificate {cert}
ClientKey {key}
CipherString HIGH:!aNULL
PipelineDepth 8
DisableExtension COMPRESS

IMAPAccount other
Host imaps:mail.invalid
UserCmd "echo someone"
Pass secret
AuthMech LOGIN
SSLType STARTTLS
SSLVersions TLSv1.2 TLSv1.3
DisableExtensions QRESYNC

IMAPAccount tunnelled
Tunnel "openssl s_client -quiet -connect 127.0.0.1:{imaps}"
User nobody
Pass nothing

IMAPStore main-far
Account main
UseNamespace yes
PathDelimiter /
SubscribedOnly no
Trash Trash
TrashNewOnly no
TrashRemoteNew no
MaxSize 10M

IMAPStore other-far
Account other
MapInbox Inbox
Path Archive/

MaildirStore main-near
Path {mail}/
Inbox {mail}/INBOX
SubFolders Verbatim
InfoDelimiter :
Trash Trash
MaxSize 10M

MaildirStore other-near
Path {mail}-other/
Flatten .
AltMap no

POP3Account pop
Host 127.0.0.1
User pop
Pass pop

POP3Store pop-far
Account pop
Keep yes
DeleteAfter 30

Channel main
Far :main-far:
Near :main-near:
Patterns * !Trash
Pattern INBOX
MaxMessages 0
ExpireUnread no
ExpireSide Near
Sync Pull Push New ReNew Delete Flags
Create Near
Remove None
Expunge None
ExpungeSolo None
CopyArrivalDate yes
SyncState *
PostSyncCommand true
Watch yes

Channel old-names
Master :other-far:
Slave :other-near:
Sync Pull Old Upgrade Gone Flags
Create Slave
Remove Master
Expunge Slave
Watch no

Channel pop
Far :pop-far:
Near :other-near:inbox
Sync Pull

Group everything
Channels main old-names
Channel pop
"""


def test_every_keyword_lists(dovecot, tmp_path):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    util.seed(imap, "Lists/dev", util.gen(61, 1, max_body=500))
    util.seed(imap, "Trash", util.gen(62, 1, max_body=500))
    cfg = tmp_path / "mbsyncrc"
    cfg.write_text(FULL.format(imaps=dovecot.ports["imaps"], user=user.name,
                               password=user.password, cert=dovecot.cert,
                               key=dovecot.key, mail=tmp_path / "Mail"))
    r = run(["-c", str(cfg), "-l", "main"])
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == ["INBOX", "Lists/dev"]
    # Only the keywords documented as parsed-but-ignored are warned about.
    warned = [l for l in r.stderr.splitlines() if "warning" in l]
    assert len(warned) == 1, r.stderr
    assert "UseKeychain" in warned[0] and "AltMap" in warned[0]
    imap.logout()


# -- --json ------------------------------------------------------------------

SCHEMA = {"channel": str, "ok": bool, "dry_run": bool, "boxes": int,
          "boxes_failed": int, "pulled": int, "pushed": int, "flags_far": int,
          "flags_near": int, "deleted_far": int, "deleted_near": int,
          "expunged_far": int, "too_big": int, "ambiguous": int, "paired": int,
          "moved_far": int, "moved_near": int,
          "bytes_down": int, "bytes_up": int, "wire_in": int, "wire_out": int}


def check_schema(obj):
    assert set(obj) == set(SCHEMA) | {"error"}
    for k, t in SCHEMA.items():
        assert type(obj[k]) is t, (k, obj[k])
    assert obj["error"] is None or isinstance(obj["error"], str)


def test_json_summary_schema(dovecot, tmp_path):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    msgs = util.seed(imap, "INBOX", util.gen(71, 3, max_body=3000), create=False)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    rc, out, err = util.run_facteur(["--json", "-a"], cfg, check_rc=0)
    lines = out.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    check_schema(obj)
    assert obj["channel"] == "test" and obj["ok"] is True
    assert obj["pulled"] == 3
    assert obj["bytes_down"] >= sum(len(util.crlf_to_lf(m.data)) for m in msgs) - 3 * 200
    # A failing channel is an object too, with its error.
    bad = util.make_config(tmp_path, user.name, dovecot.ports, dovecot.cert,
                           password="wrong")
    rc, out, err = util.run_facteur(["--json", "-a"], bad)
    assert rc == 1
    obj = json.loads(out.splitlines()[0])
    check_schema(obj)
    assert obj["ok"] is False and obj["error"]
    imap.logout()


# -- PostSyncCommand ---------------------------------------------------------


def test_post_sync_command_environment(dovecot, tmp_path):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    msgs = util.seed(imap, "INBOX", util.gen(81, 2, max_body=1000), create=False)
    env_file = tmp_path / "env"
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert,
                           PostSyncCommand='"env > %s"' % env_file)
    util.sync(cfg)
    env = dict(l.split("=", 1) for l in env_file.read_text().splitlines() if "=" in l)
    assert env["FACTEUR_CHANNEL"] == "test"
    assert env["FACTEUR_PULLED"] == "2"
    assert env["FACTEUR_PUSHED"] == "0"
    assert env["FACTEUR_CHANGED_NEAR"] == "2"
    # Second run: a local flag change goes up; nothing comes down.
    util.maildir_set_flags(cfg.maildir, msgs[0].message_id, "S")
    util.sync(cfg)
    env = dict(l.split("=", 1) for l in env_file.read_text().splitlines() if "=" in l)
    assert env["FACTEUR_PULLED"] == "0"
    assert env["FACTEUR_FLAGS_FAR"] == "1"
    assert env["FACTEUR_CHANGED_NEAR"] == "0"
    # A failing sync does not run the hook.
    env_file.unlink()
    bad = util.make_config(tmp_path, user.name, dovecot.ports, dovecot.cert,
                           password="wrong",
                           PostSyncCommand='"env > %s"' % env_file)
    rc, _, _ = util.run_facteur(["-a"], bad)
    assert rc == 1 and not env_file.exists()
    imap.logout()


# -- progress ----------------------------------------------------------------


def run_with_pty_stderr(args, timeout=60):
    """Runs facteur with a pseudo-terminal as stderr (stdout a pipe);
    returns (rc, stdout, what the terminal received)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([util.facteur_binary()] + args, stdout=subprocess.PIPE,
                         stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            got += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    out = p.stdout.read().decode()
    p.stdout.close()
    return p.wait(timeout=10), out, got.decode(errors="replace")


def test_progress_on_a_terminal_only(dovecot, tmp_path):
    user = dovecot.new_user()
    imap = dovecot.imap(user)
    util.seed(imap, "INBOX", util.gen(91, 40, max_body=60000), create=False)
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    rc, out, tty = run_with_pty_stderr(["-c", cfg.path, "-a"])
    assert rc == 0, tty
    assert "\r\x1b[K" in tty
    assert "test INBOX: 40/40 msgs" in tty
    assert "B/s" in tty

    # Not a terminal: plain lines only.
    util.seed(imap, "Work", util.gen(92, 5, max_body=5000))
    rc, out, err = util.run_facteur(["-a"], cfg, check_rc=0)
    assert "\r" not in err and "\x1b" not in err
    assert "msgs" not in err

    # -q on a terminal: nothing but errors.
    util.seed(imap, "More", util.gen(93, 5, max_body=5000))
    rc, out, tty = run_with_pty_stderr(["-c", cfg.path, "-q", "-a"])
    assert rc == 0 and tty.strip() == ""
    imap.logout()


# -- manual pages ------------------------------------------------------------


@pytest.mark.parametrize("page", ["facteur.1", "facteur.conf.5"])
def test_man_page_renders_without_warnings(page):
    if not shutil.which("man"):
        pytest.skip("man is not installed (contrib/deps.sh installs man-db)")
    path = os.path.join(MAN, page)
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "--warnings=w", "-l", path], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert "facteur" in r.stdout and len(r.stdout.splitlines()) > 40
    r = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True,
                       text=True, timeout=30)
    assert r.stderr == "", r.stderr


# -- contrib -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(ROOT, "contrib", "examples"))))
def test_example_configs_parse(name, tmp_path):
    """Each example is a valid configuration (status reads it and touches
    no server, runs no PassCmd)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    r = run(["-c", os.path.join(ROOT, "contrib", "examples", name), "status"], env=env)
    assert r.returncode == 0, r.stderr
    assert "last sync never" in r.stdout
    assert r.stderr == ""


def test_bash_completion(tmp_path):
    if not shutil.which("bash"):
        pytest.skip("no bash")
    rc = tmp_path / "rc"
    rc.write_text("Channel work\nFar :a:\nNear :b:\n\nGroup both\nChannels work x\n"
                  "Channel y\n\nChannel other\nFar :a:\nNear :b:\n")
    script = ('source "%s"; COMP_WORDS=(facteur -c "%s" ""); COMP_CWORD=3; _facteur;'
              ' echo "${COMPREPLY[@]}"; COMP_WORDS=(facteur watch --i); COMP_CWORD=2;'
              ' _facteur; echo "${COMPREPLY[@]}"' % (
                  os.path.join(ROOT, "contrib", "completion", "facteur.bash"), rc))
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10)
    first, second = r.stdout.splitlines()
    assert sorted(first.split()) == sorted(["work", "both", "other", "watch", "status", "check"])
    assert second.split() == ["--interval"]


def test_post_sync_command_global_and_override(dovecot, tmp_path):
    """A global PostSyncCommand runs for channels without their own; a
    channel's own replaces it."""
    user = dovecot.new_user()
    cfg = util.make_config(tmp_path, user, dovecot.ports, dovecot.cert)
    text = open(cfg.path).read()
    glob, own = tmp_path / "global", tmp_path / "own"
    with open(cfg.path, "w") as f:
        f.write('PostSyncCommand "echo $FACTEUR_CHANNEL >> %s"\n\n' % glob + text)
    util.sync(cfg)
    assert glob.read_text() == "test\n"
    with open(cfg.path, "a") as f:
        f.write('PostSyncCommand "echo $FACTEUR_CHANNEL >> %s"\n' % own)
    util.sync(cfg)
    assert glob.read_text() == "test\n" and own.read_text() == "test\n"
