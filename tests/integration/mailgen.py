"""Reproducible test messages.

generate(seed, count) yields the same Message objects for the same
arguments on every machine and Python version (random.Random with an integer
seed is stable): RFC 5322 headers (From, To, Subject, Date, Message-ID,
MIME-Version, Content-Type), CRLF line ends, and body sizes drawn from a
realistic mix: mostly short notes, some longer mails, a few with a base64
attachment.
"""

import base64
import collections
import datetime
import hashlib
import random

Message = collections.namedtuple("Message", "message_id date data")
# message_id: "<...>" exactly as in the header; date: aware datetime (use it
# as the APPEND internal date); data: the whole message, bytes, CRLF.

DOMAIN = "mailgen.facteur.test"
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace",
         "heidi", "ivan", "judy", "mallory", "oscar", "peggy", "trent")
WORDS = ("the", "mail", "sync", "folder", "server", "message", "flag",
         "meeting", "tomorrow", "report", "draft", "please", "review",
         "attached", "thanks", "update", "question", "about", "invoice",
         "schedule", "project", "release", "notes", "weekly", "status",
         "lunch", "budget", "plan", "and", "of", "to", "for", "with", "on",
         "café", "naïve", "Grüße", "über")
BASE_DATE = datetime.datetime(2024, 1, 1, 9, 0, 0,
                              tzinfo=datetime.timezone.utc)


def _sentence(rng):
    n = rng.randint(4, 14)
    s = " ".join(rng.choice(WORDS) for _ in range(n))
    return s[0].upper() + s[1:] + "."


def _text(rng, size):
    """About `size` bytes of UTF-8 prose wrapped at 72 columns, CRLF."""
    lines, line, total = [], "", 0
    while total < size:
        word = _sentence(rng)
        for w in word.split(" "):
            if len(line) + len(w) + 1 > 72:
                lines.append(line)
                total += len(line.encode()) + 2
                line = ""
            line = (line + " " + w) if line else w
        if rng.random() < 0.15:
            lines.append(line)
            lines.append("")
            total += len(line.encode()) + 4
            line = ""
    if line:
        lines.append(line)
    # A line of only "." or "From " is legal mail; keep one of each now
    # and then to catch careless POP3/mbox-style handling.
    if rng.random() < 0.1:
        lines.insert(len(lines) // 2, ".")
    if rng.random() < 0.1:
        lines.insert(len(lines) // 2, "From the desk of " + rng.choice(NAMES))
    return "\r\n".join(lines) + "\r\n"


def _body_size(rng, max_body):
    r = rng.random()
    if r < 0.70:
        size = rng.randint(50, 4000)
    elif r < 0.95:
        size = rng.randint(4000, 60000)
    else:
        size = rng.randint(60000, 400000)
    return min(size, max_body)


def make_message(seed, index, max_body=400000):
    """Message number `index` of the stream for `seed`."""
    rng = random.Random(seed * 1000003 + index)
    sender, rcpt = rng.sample(NAMES, 2)
    date = BASE_DATE + datetime.timedelta(minutes=index * 37 + rng.randint(0, 30),
                                          seconds=rng.randint(0, 59))
    tag = hashlib.sha1(b"%d/%d" % (seed, index)).hexdigest()[:12]
    mid = "<%d.%d.%s@%s>" % (seed, index, tag, DOMAIN)
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
    size = _body_size(rng, max_body)
    headers = [
        "From: %s <%s@example.org>" % (sender.capitalize(), sender),
        "To: %s <%s@example.org>" % (rcpt.capitalize(), rcpt),
        "Subject: %s #%d" % (subject.encode("ascii", "replace").decode(), index),
        "Date: %s" % date.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "Message-ID: %s" % mid,
        "MIME-Version: 1.0",
    ]
    if size > 8000 and rng.random() < 0.3:
        boundary = "=_b_%s" % tag
        blob = rng.randbytes(size * 3 // 4)
        b64 = base64.encodebytes(blob).decode().replace("\n", "\r\n")
        body = ("This is a multi-part message in MIME format.\r\n"
                "--%s\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n%s"
                "--%s\r\n"
                "Content-Type: application/octet-stream; name=\"data-%d.bin\"\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                "Content-Disposition: attachment; filename=\"data-%d.bin\"\r\n"
                "\r\n%s--%s--\r\n") % (boundary, _text(rng, 200), boundary,
                                       index, index, b64, boundary)
        headers.append("Content-Type: multipart/mixed; boundary=\"%s\"" % boundary)
    else:
        body = _text(rng, size)
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 8bit")
    data = ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")
    return Message(mid, date, data)


def generate(seed, count, start=0, max_body=400000):
    """Messages start..start+count-1 of the stream for `seed`."""
    for i in range(start, start + count):
        yield make_message(seed, i, max_body=max_body)


def odd_messages(seed):
    """Legal but awkward messages, CRLF: no final line end, a 20 000-byte
    line, headers only, an empty body, 8-bit UTF-8 headers and body, a
    body of blank lines, a folded header.  Each has a Message-ID."""
    base = BASE_DATE + datetime.timedelta(days=seed)

    def msg(i, headers, body):
        mid = "<odd.%d.%d@%s>" % (seed, i, DOMAIN)
        head = ("From: Odd <odd@example.org>\r\nTo: x@example.org\r\n"
                "Date: %s\r\nMessage-ID: %s\r\n%s" % (
                    base.strftime("%a, %d %b %Y %H:%M:%S +0000"), mid, headers))
        return Message(mid, base, head.encode("utf-8") + body)

    rng = random.Random(seed)
    long_line = "".join(rng.choice("abcdefghij ") for _ in range(20000))
    return [
        msg(0, "Subject: no final newline\r\n\r\n", b"last line has no CRLF"),
        msg(1, "Subject: long line\r\n\r\n", long_line.encode() + b"\r\n"),
        msg(2, "Subject: headers only\r\n", b""),
        msg(3, "Subject: empty body\r\n\r\n", b""),
        msg(4, "Subject: Grüße aus Köln\r\nContent-Type: text/plain; "
               "charset=utf-8\r\n\r\n", "Ça va? Ünïcödé ✓\r\n".encode()),
        msg(5, "Subject: blank lines\r\n\r\n", b"\r\n\r\n\r\n"),
        msg(6, "Subject: a folded\r\n header line\r\n\r\n", b"body\r\n"),
    ]


if __name__ == "__main__":
    import sys
    for m in generate(int(sys.argv[1]) if len(sys.argv) > 1 else 1,
                      int(sys.argv[2]) if len(sys.argv) > 2 else 3):
        sys.stdout.write("%s %d bytes\n" % (m.message_id, len(m.data)))
