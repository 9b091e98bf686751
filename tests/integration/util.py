"""Helpers for facteur's integration tests: an IMAP client side built on
imaplib, Maildir inspection with Python's mailbox.Maildir, writing a facteur
(mbsync-style) config and running the facteur binary.

Nothing here uses facteur to check facteur: the server side is read over
IMAP with imaplib, the local side with the standard library.
"""

import base64
import collections
import email.parser
import email.policy
import imaplib
import itertools
import mailbox
import os
import re
import subprocess
import time

import mailgen

Config = collections.namedtuple("Config", "path maildir")
# path: the config file; maildir: the MaildirStore Path (Inbox is INBOX in it)

IMAP_TO_LETTER = {"\\Draft": "D", "\\Flagged": "F", "$Forwarded": "P",
                  "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}
LETTER_TO_IMAP = {v: k for k, v in IMAP_TO_LETTER.items()}


# -- flags ------------------------------------------------------------------


def letters(imap_flags):
    """IMAP flag names -> Maildir letters in ASCII order ("FS"); flags with
    no Maildir letter (\\Recent, keywords) are dropped."""
    return "".join(sorted(IMAP_TO_LETTER[f] for f in imap_flags
                          if f in IMAP_TO_LETTER))


def imap_flags(letter_str):
    """Maildir letters -> IMAP flag list string "(\\Seen \\Flagged)"."""
    return "(" + " ".join(LETTER_TO_IMAP[c] for c in sorted(letter_str)
                          if c in LETTER_TO_IMAP) + ")"


# -- IMAP side --------------------------------------------------------------


def mutf7_encode(name):
    """UTF-8 folder name -> IMAP modified UTF-7 (RFC 3501 5.1.3)."""
    out, run = [], []

    def flush():
        if run:
            b = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=")
                       .replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(name):
    def dec(m):
        if m.group(1) == "":
            return "&"
        b64 = m.group(1).replace(",", "/")
        return base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-16-be")
    return re.sub(r"&([^-]*)-", dec, name)


def q(name):
    """An IMAP quoted string for a UTF-8 mailbox name (mUTF-7 encoded)."""
    name = mutf7_encode(name)
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check(resp, what):
    typ, data = resp
    if typ != "OK":
        raise AssertionError("IMAP %s failed: %s %r" % (what, typ, data))
    return data


def create_folder(imap, folder, exist_ok=False):
    if folder.upper() == "INBOX":
        return
    typ, data = imap.create(q(folder))
    if typ != "OK" and not (exist_ok and b"[ALREADYEXISTS]" in data[0]):
        raise AssertionError("IMAP CREATE %s failed: %s %r" % (folder, typ, data))


def append(imap, folder, msg, flags=""):
    """APPEND one mailgen.Message (internal date = its Date) with Maildir
    letters `flags`."""
    check(imap.append(q(folder), imap_flags(flags) if flags else None,
                      imaplib.Time2Internaldate(msg.date), msg.data),
          "APPEND to " + folder)


def seed(imap, folder, messages, flags_for=None, create=True):
    """Create `folder` unless it exists and APPEND every message;
    flags_for(i) may return Maildir letters for message i.  Returns the list
    appended."""
    if create:
        create_folder(imap, folder, exist_ok=True)
    out = []
    for i, m in enumerate(messages):
        append(imap, folder, m, flags_for(i) if flags_for else "")
        out.append(m)
    return out


_MID_RE = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.I | re.M)
_FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)")
_UID_RE = re.compile(rb"UID (\d+)")


def _message_id(header_bytes):
    m = _MID_RE.search(header_bytes)
    return m.group(1).decode() if m else None


def _fetch(imap, folder, items):
    typ, data = imap.select(q(folder), readonly=True)
    if typ != "OK":
        raise AssertionError("SELECT %s failed: %r" % (folder, data))
    if int(data[0]) == 0:
        return []
    return check(imap.uid("FETCH", "1:*", items), "FETCH in " + folder)


def server_list(imap, folder):
    """Every message in `folder` as (Message-ID, frozenset of IMAP flags,
    UID), \\Recent left out; duplicates kept, for counting."""
    out = []
    for part in _fetch(imap, folder,
                       "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"):
        if not isinstance(part, tuple):
            continue
        meta, hdr = part
        flags = frozenset(f.decode() for f in
                          _FLAGS_RE.search(meta).group(1).split()) - {"\\Recent"}
        out.append((_message_id(hdr), flags, int(_UID_RE.search(meta).group(1))))
    return out


def server_messages(imap, folder):
    """{Message-ID: frozenset of IMAP flags} for `folder`; a duplicate
    Message-ID fails the calling test."""
    out = {}
    for mid, flags, uid in server_list(imap, folder):
        assert mid not in out, "duplicate %s in server folder %s" % (mid, folder)
        out[mid] = flags
    return out


def server_bodies(imap, folder):
    """{Message-ID: full message bytes} for `folder`."""
    out = {}
    for part in _fetch(imap, folder, "(UID BODY.PEEK[])"):
        if isinstance(part, tuple):
            out[_message_id(part[1].split(b"\r\n\r\n", 1)[0])] = part[1]
    return out


def server_bodies_list(imap, folder):
    """Every message's bytes in `folder`, for messages without Message-ID."""
    return [part[1] for part in _fetch(imap, folder, "(UID BODY.PEEK[])")
            if isinstance(part, tuple)]


def server_folders(imap):
    """Names of all selectable folders, decoded to UTF-8."""
    names = []
    for line in check(imap.list(), "LIST"):
        m = re.match(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (.*)$', line)
        if not m or b"\\Noselect" in m.group(1):
            continue
        name = m.group(2).decode()
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        names.append(mutf7_decode(name))
    return sorted(names)


def store_flags(imap, folder, message_id, op, letters_):
    """UID STORE on the message with `message_id`: op "+FLAGS"/"-FLAGS"/
    "FLAGS" with Maildir letters."""
    check(imap.select(q(folder)), "SELECT " + folder)
    uid = find_uid(imap, message_id)
    check(imap.uid("STORE", str(uid), op, imap_flags(letters_)), "STORE")


def find_uid(imap, message_id):
    data = check(imap.uid("SEARCH", None, "HEADER", "Message-ID",
                          '"%s"' % message_id), "SEARCH")
    uids = data[0].split()
    assert len(uids) == 1, "%s found %d times" % (message_id, len(uids))
    return int(uids[0])


def expunge_message(imap, folder, message_id):
    check(imap.select(q(folder)), "SELECT " + folder)
    uid = find_uid(imap, message_id)
    check(imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)"), "STORE")
    check(imap.expunge(), "EXPUNGE")


# -- Maildir side -----------------------------------------------------------


def maildir_folders(root):
    """{folder name: directory} for every Maildir under `root` (a directory
    holding cur/ new/ tmp/), named by path relative to root with "/"."""
    out = {}
    if not os.path.isdir(root):
        return out
    for d, subdirs, _ in os.walk(root):
        if {"cur", "new", "tmp"} <= set(subdirs):
            rel = os.path.relpath(d, root)
            out["" if rel == "." else rel.replace(os.sep, "/")] = d
        subdirs[:] = [s for s in subdirs if s not in ("cur", "new", "tmp")]
    return out


def _open_md(root, folder):
    return mailbox.Maildir(maildir_folders(root)[folder], factory=None,
                           create=False)


def maildir_list(root):
    """Every local message as (Message-ID, Maildir letters, folder, key);
    duplicates kept, for counting."""
    out = []
    for folder, d in sorted(maildir_folders(root).items()):
        md = mailbox.Maildir(d, factory=None, create=False)
        for key in md.keys():
            with md.get_file(key) as f:
                hdr = f.read(65536).split(b"\n\n", 1)[0]
            out.append((_message_id(hdr),
                        "".join(sorted(md.get_message(key).get_flags())),
                        folder, key))
    return out


def maildir_messages(root):
    """{Message-ID: (Maildir letters, folder)}; a duplicate Message-ID
    anywhere under `root` fails the calling test."""
    out = {}
    for mid, flags, folder, _ in maildir_list(root):
        assert mid not in out, "duplicate %s: %s and %s" % (
            mid, out[mid][1], folder)
        out[mid] = (flags, folder)
    return out


def maildir_bodies(root, folder):
    """{Message-ID: file bytes} for one local folder."""
    out = {}
    for mid, _, f, key in maildir_list(root):
        if f == folder:
            out[mid] = _open_md(root, f).get_bytes(key)
    return out


def maildir_bodies_list(root, folder):
    """Every local message's file bytes in `folder`."""
    md = _open_md(root, folder)
    return [md.get_bytes(k) for k in md.keys()]


def maildir_snapshot(root):
    """{relative file path: (size, mtime_ns, inode)} of every message file
    under root (cur/ and new/ only: facteur's own state files may change),
    to prove a run left the mail alone."""
    out = {}
    for d, _, files in os.walk(root):
        if os.path.basename(d) not in ("cur", "new"):
            continue
        for name in files:
            p = os.path.join(d, name)
            st = os.stat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns,
                                             st.st_ino)
    return out


_deliveries = itertools.count()


def maildir_deliver(root, folder, msg, flags=""):
    """Write one message into local `folder` as a mail delivery agent would:
    the exact bytes (CRLF turned to LF) into tmp/, then renamed into cur/
    with `flags` if any, else new/.  Creates the folder.  Returns the key.
    (mailbox.Maildir.add would re-serialize the message: not byte-exact.)"""
    d = maildir_folders(root).get(folder) or os.path.join(root, folder)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    key = "%d.M%dP%dQ%d.facteur-test" % (time.time(), time.time_ns() % 10**6,
                                         os.getpid(), next(_deliveries))
    tmp = os.path.join(d, "tmp", key)
    with open(tmp, "wb") as f:
        f.write(msg.data.replace(b"\r\n", b"\n"))
    if flags:
        os.rename(tmp, os.path.join(d, "cur", key + ":2," + "".join(sorted(flags))))
    else:
        os.rename(tmp, os.path.join(d, "new", key))
    return key


def _find_local(root, message_id):
    hits = [(f, k) for mid, _, f, k in maildir_list(root) if mid == message_id]
    assert len(hits) == 1, "%s found %d times in the Maildir" % (
        message_id, len(hits))
    return hits[0]


def maildir_set_flags(root, message_id, flags):
    """Replace the Maildir letters of the local message `message_id`."""
    # A rename, as mail clients do: same file, same content.
    folder, key = _find_local(root, message_id)
    d = maildir_folders(root)[folder]
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(d, sub)):
            if name.split(":", 1)[0] == key:
                os.rename(os.path.join(d, sub, name),
                          os.path.join(d, "cur", "%s:2,%s" % (
                              key, "".join(sorted(flags)))))
                return
    raise AssertionError("%s vanished from %s" % (message_id, d))


def maildir_delete(root, message_id):
    folder, key = _find_local(root, message_id)
    _open_md(root, folder).remove(key)


def journal_dump(config):
    """{(box, near uniq): (far UID, sha256 hex)} for every record of
    `facteur status --dump` that has both."""
    rc, out, err = run_facteur(["status", "--dump"], config, check_rc=0)
    recs, box = {}, None
    for line in out.splitlines():
        b = re.match(r"^box (\S+):", line)
        if b:
            box = b.group(1)
        m = re.match(r"^  msg \d+: uid (\d+) near (\S+) .* sha256 ([0-9a-f]{64})$", line)
        if m:
            recs[(box, m.group(2))] = (int(m.group(1)), m.group(3))
    return recs


def dumped_fingerprints(config):
    """{(box, near uniq): sha256 hex} from the journal dump."""
    return {k: fp for k, (uid, fp) in journal_dump(config).items()}


def file_fingerprints(root, folders):
    """{(folder, uniq): sha256 hex} of the Maildir files in `folders`."""
    import hashlib
    fps = {}
    for folder in folders:
        for sub in ("cur", "new"):
            d = os.path.join(root, folder, sub)
            for name in os.listdir(d):
                with open(os.path.join(d, name), "rb") as f:
                    fps[(folder, name.split(":")[0])] = hashlib.sha256(f.read()).hexdigest()
    return fps


def assert_journal_matches(config, imap, root, folder):
    """Every record of `folder` in the journal names a file of the Maildir
    folder, with that file's SHA-256 (hashed here) and the UID the server
    gives the message in it (by Message-ID), and every file has one.
    Returns the records, as journal_dump."""
    recs = {k: v for k, v in journal_dump(config).items() if k[0] == folder}
    files = file_fingerprints(root, (folder,))
    assert {k: fp for k, (uid, fp) in recs.items()} == files
    key_of = {mid: key for mid, _, f, key in maildir_list(root) if f == folder}
    uids = {(folder, key_of[mid]): uid for mid, _, uid in server_list(imap, folder)}
    assert uids == {k: uid for k, (uid, fp) in recs.items()}
    return recs


def crlf_to_lf(data):
    return data.replace(b"\r\n", b"\n")


def parse(data):
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)


# -- facteur ----------------------------------------------------------------


def make_config(tmp, user, ports, cert, password=None, tls="imaps",
                account_opts=None, near_opts=None, name="test",
                **channel_opts):
    """Write an mbsync-style config for `user` (a dovecot.User or a name with
    `password`) into directory `tmp`, Maildir in tmp/Mail.  channel_opts are
    Channel keywords, e.g. MaxSize="10k", Expunge="None", Sync="Pull";
    they override the defaults Patterns */Create Both/Expunge Both/
    SyncState *; a value of None drops the keyword.  tls is "imaps" or
    "starttls".  Returns a Config."""
    channel = {"Patterns": "*", "Create": "Both", "Expunge": "Both",
               "SyncState": "*"}
    channel.update(channel_opts)
    return _write_config(tmp, user, password, "IMAP", ports, cert, tls,
                         account_opts, {}, near_opts, name, channel)


def make_pop3_config(tmp, user, ports, cert, password=None, tls="pop3s",
                     account_opts=None, store_opts=None, near_opts=None,
                     name="pop", **channel_opts):
    """The same for POP3 ingestion: POP3Account + POP3Store (store_opts,
    e.g. Keep="no", DeleteAfter=3, MaxSize="50k") into a MaildirStore.
    tls is "pop3s" or "starttls" (STLS).  Returns a Config."""
    channel = {"SyncState": "*"}
    channel.update(channel_opts)
    return _write_config(tmp, user, password, "POP3", ports, cert, tls,
                         account_opts, store_opts, near_opts, name, channel)


def _write_config(tmp, user, password, proto, ports, cert, tls,
                  account_opts, store_opts, near_opts, name, channel_opts):
    tmp = str(tmp)
    os.makedirs(tmp, exist_ok=True)
    if hasattr(user, "password"):
        user, password = user.name, user.password
    maildir = os.path.join(tmp, "Mail")
    implicit = tls in ("imaps", "pop3s")
    port_key = proto.lower() + ("s" if implicit else "")
    account = {
        "Host": "127.0.0.1",
        "Port": ports[port_key],
        "User": user,
        "Pass": password,
        "TLSType": (proto + "S") if implicit else "STARTTLS",
        "CertificateFile": cert,
    }
    if proto == "IMAP":
        # facteur leaves COMPRESS off over loopback by default; the suite
        # keeps it on, as users of a remote server get it.
        account["Compress"] = "yes"
    account.update(account_opts or {})
    far = {"Account": name}
    far.update(store_opts or {})
    near = {"Path": maildir + "/", "Inbox": maildir + "/INBOX",
            "SubFolders": "Verbatim"}
    near.update(near_opts or {})
    channel = {"Far": ":%s-far:" % name, "Near": ":%s-near:" % name}
    channel.update(channel_opts)

    def section(kind, sname, kv):
        lines = ["%s %s" % (kind, sname)]
        lines += ["%s %s" % (k, v) for k, v in kv.items() if v is not None]
        return "\n".join(lines) + "\n"

    text = "# facteur test config\n\n" + "\n".join([
        section(proto + "Account", name, account),
        section(proto + "Store", name + "-far", far),
        section("MaildirStore", name + "-near", near),
        section("Channel", name, channel),
    ])
    path = os.path.join(tmp, "facteurrc")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return Config(path, maildir)


def facteur_binary():
    path = os.environ.get("FACTEUR")
    if not path:
        raise AssertionError("FACTEUR is not set: run through `make "
                             "integration` or set FACTEUR=/path/to/facteur")
    return path


def run_facteur(args, config, timeout=120, check_rc=None):
    """Run `facteur -c CONFIG ARGS...` (config: a path or a Config).
    Returns (rc, stdout, stderr) as text.  check_rc: expected exit code,
    asserted with the output in the message."""
    cfg = config.path if hasattr(config, "path") else config
    r = subprocess.run([facteur_binary(), "-c", cfg] + list(args),
                       capture_output=True, text=True, timeout=timeout,
                       errors="replace")
    if check_rc is not None:
        assert r.returncode == check_rc, (
            "facteur %s exited %d (want %d)\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(args), r.returncode, check_rc, r.stdout, r.stderr))
    return r.returncode, r.stdout, r.stderr


def start_facteur(args, config):
    """Start facteur without waiting (for kill tests); returns the Popen."""
    cfg = config.path if hasattr(config, "path") else config
    return subprocess.Popen([facteur_binary(), "-c", cfg] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def sync(config, *extra, timeout=120):
    """`facteur -c CONFIG -a` expecting success."""
    return run_facteur(["-a"] + list(extra), config, timeout=timeout,
                       check_rc=0)


def gen(seed_, count, start=0, max_body=400000):
    return list(mailgen.generate(seed_, count, start=start, max_body=max_body))


def server_status(imap, folder):
    """{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ": int}: any
    APPEND, flag change or expunge moves UIDNEXT or HIGHESTMODSEQ."""
    data = check(imap.status(q(folder),
                             "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"),
                 "STATUS " + folder)
    inner = re.search(rb"\(([^)]*)\)", data[0]).group(1).split()
    return {inner[i].decode(): int(inner[i + 1]) for i in range(0, len(inner), 2)}


def server_state(imap):
    """A picture of the whole account to prove a run changed nothing:
    {folder: (STATUS dict, sorted (Message-ID, flags, UID) list)}."""
    return {f: (server_status(imap, f), sorted(server_list(imap, f),
                                               key=lambda t: t[2]))
            for f in server_folders(imap)}
