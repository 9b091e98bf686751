"""The benchmark corpus: reproducible messages with a realistic size mix,
written straight into Maildir folders (the server's and local templates).

Sizes (fixed seed, same bytes on every machine): a text body drawn from a
log-normal around 4.5 KB (message median about 5 KB with headers), and 4% of
messages with one base64 attachment of 50 KB to 2 MB, so 20,000 messages
come to about 1 GB.  The metadata-heavy set is small notes (200 B - 2 KB
bodies).  Prose comes from the integration tests' generator (mailgen), so
the messages look like the ones the tests use.

Files are written with LF line ends, as a Maildir holds them, named
"<time>.M<n>P<seed>.bench:2,<flags>", with the message's date as mtime
(Dovecot takes it as the internal date).
"""

import base64
import datetime
import hashlib
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import mailgen  # noqa: E402

ATTACH_SHARE = 0.04
ATTACH_MIN, ATTACH_MAX = 50 * 1024, 2 * 1024 * 1024

# Where the main corpus lives on the server: (folder, share).
FOLDERS = (("INBOX", 0.5), ("Archive", 0.3), ("Lists/dev", 0.1),
           ("Sent", 0.1))


def _body_size(rng, small):
    if small:
        return rng.randint(200, 2000)
    return int(min(48000, max(300, rng.lognormvariate(8.4, 0.9))))


def message(seed, index, small=False):
    """Bytes (CRLF) and date of message `index` of the stream for `seed`."""
    rng = random.Random(seed * 7919 + index)
    sender, rcpt = rng.sample(mailgen.NAMES, 2)
    date = mailgen.BASE_DATE + datetime.timedelta(minutes=index * 7,
                                                  seconds=rng.randint(0, 59))
    tag = hashlib.sha1(b"bench/%d/%d" % (seed, index)).hexdigest()[:12]
    subject = " ".join(rng.choice(mailgen.WORDS)
                       for _ in range(rng.randint(2, 7)))
    headers = [
        "From: %s <%s@example.org>" % (sender.capitalize(), sender),
        "To: %s <%s@example.org>" % (rcpt.capitalize(), rcpt),
        # Header text stays ASCII, as RFC 5322 wants (raw UTF-8 in a
        # Subject makes OfflineIMAP 8.0.0 crash and hang on upload).
        "Subject: %s #%d" % (subject.encode("ascii", "replace").decode(),
                             index),
        "Date: %s" % date.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "Message-ID: <bench.%d.%d.%s@%s>" % (seed, index, tag, mailgen.DOMAIN),
        "MIME-Version: 1.0",
    ]
    text = mailgen._text(rng, _body_size(rng, small))
    if not small and rng.random() < ATTACH_SHARE:
        boundary = "=_bench_" + tag
        raw = rng.randbytes(rng.randint(ATTACH_MIN, ATTACH_MAX) * 3 // 4)
        b64 = base64.encodebytes(raw).decode().replace("\n", "\r\n")
        headers.append('Content-Type: multipart/mixed; boundary="%s"'
                       % boundary)
        body = ("--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n%s"
                "--%s\r\nContent-Type: application/octet-stream\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                'Content-Disposition: attachment; filename="f%d.bin"\r\n\r\n'
                "%s--%s--\r\n") % (boundary, text, boundary, index, b64,
                                   boundary)
    else:
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 8bit")
        body = text
    data = ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")
    return data, date


def folder_of(seed, index, folders):
    rng = random.Random(seed * 104729 + index)
    r, acc = rng.random(), 0.0
    for name, share in folders:
        acc += share
        if r < acc:
            return name
    return folders[-1][0]


def folder_dir(root, folder, inbox_at_root):
    """Maildir directory of `folder` under root: Dovecot's LAYOUT=fs keeps
    INBOX at the root, the local templates keep it in root/INBOX."""
    if folder == "INBOX" and inbox_at_root:
        return root
    return os.path.join(root, *folder.split("/"))


def write_maildir(root, seed, count, folders=FOLDERS, small=False,
                  flags=lambda i: "S" if i % 3 else "", inbox_at_root=True,
                  start=0):
    """Write messages start..start+count-1 into Maildir folders under root;
    returns (count, total bytes as written)."""
    made = set()
    total = 0
    for i in range(start, start + count):
        folder = folder_of(seed, i, folders)
        d = folder_dir(root, folder, inbox_at_root)
        if d not in made:
            # Parents of nested folders are mailboxes too (empty): with a
            # bare directory there, OfflineIMAP 8 stops ("getfolder() asked
            # for a nonexisting folder").
            parts = folder.split("/")
            for k in range(1, len(parts) + 1):
                pd = folder_dir(root, "/".join(parts[:k]), inbox_at_root)
                for sub in ("cur", "new", "tmp"):
                    os.makedirs(os.path.join(pd, sub), exist_ok=True)
            made.add(d)
        data, date = message(seed, i, small)
        data = data.replace(b"\r\n", b"\n")
        ts = int(date.timestamp())
        name = "%d.M%dP%d.bench:2,%s" % (ts, i, seed, flags(i))
        p = os.path.join(d, "cur", name)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (ts, ts))
        total += len(data)
    return count, total


def all_folders(folders):
    """Folder names with the parents of nested ones, parents first."""
    out = []
    for name, _ in folders:
        parts = name.split("/")
        for k in range(1, len(parts) + 1):
            if "/".join(parts[:k]) not in out:
                out.append("/".join(parts[:k]))
    return out


def spread(folder_count):
    """(folder, share) for the metadata-heavy set: INBOX plus folder_count-1
    folders, some nested."""
    names = ["INBOX"] + ["Meta/f%02d" % i if i % 2 else "m%02d" % i
                         for i in range(1, folder_count)]
    return tuple((n, 1.0 / folder_count) for n in names)


if __name__ == "__main__":
    sizes = sorted(len(message(1, i)[0]) for i in range(int(sys.argv[1])))
    n = len(sizes)
    print("n=%d median=%d mean=%d total=%d max=%d" % (
        n, sizes[n // 2], sum(sizes) // n, sum(sizes), sizes[-1]))
