"""The hostile IMAP scenarios: each a Scenario subclass (imapserver.py)
that lies in one way.  SCENARIOS maps a short name to (class, what facteur
must do): "fail" (exit 1, a clear message) or "either" (exit 0 or 1: the
lie may be survivable, e.g. one bad folder skipped with a warning).  The
common checks -- no crash, bounded memory and time, nothing written outside
the Maildir -- apply to all.
"""

import time

from imapserver import Scenario

HUGE = 2 ** 63
TRICKLE_SECONDS = 11


class Honest(Scenario):
    """The baseline: must sync cleanly, or the other results mean nothing."""


# -- folder names -------------------------------------------------------------


class BadNames(Scenario):
    """LIST answers names that would escape or break a Maildir."""

    NAMES = [b'".."', b'"../escaped"', b'"../../escaped2"', b'"."',
             b'"/abs"', b'"a/../../escaped3"', b'"a//b"', b'"a/./b"',
             b'"~root"', b'{4}\r\nx\x00y.', b'{5}\r\nc\x01\x7fd\n',
             b'{6}\r\ncur/..', b'"' + b"x" * 300 + b'"',
             b'{100000}\r\n' + b"y" * 100000, b'"' + b"/".join([b"d"] * 400) + b'"']

    def list_lines(self, conn):
        lines = super().list_lines(conn)
        for n in self.NAMES:
            lines.append(b'* LIST (\\HasNoChildren) "/" ' + n)
        return lines

    def on_command(self, conn, tag, cmd, args, line):
        if cmd in ("SELECT", "EXAMINE", "STATUS") and "INBOX" not in args \
                and "Work" not in args:
            # Pretend the bad folder exists and holds a message.
            conn.send_line("* 1 EXISTS")
            conn.send_line("* OK [UIDVALIDITY 77] ok")
            conn.send_line("* OK [UIDNEXT 2] ok")
            conn.send_line(tag + " OK [READ-WRITE] selected")
            conn.bad_selected = True
            return True
        if cmd == "UID FETCH" and getattr(conn, "bad_selected", False):
            body = b"Subject: evil\r\nMessage-ID: <evil@x>\r\n\r\nevil\r\n"
            conn.send(b"* 1 FETCH (UID 1 FLAGS () RFC822.SIZE %d INTERNALDATE "
                      b'"01-Jan-2024 09:00:00 +0000" BODY[] {%d}\r\n'
                      % (len(body), len(body)) + body + b")\r\n")
            conn.send_line(tag + " OK fetched")
            return True
        conn.bad_selected = False
        return False


class BadDelimiter(Scenario):
    """A hierarchy delimiter of '.', then of a NUL byte and of '/' again
    within one listing."""

    def list_lines(self, conn):
        return [b'* LIST () "." INBOX', b'* LIST () "." "a.b.."',
                b'* LIST () {1}\r\n\x00 "x\\"y"',
                b'* LIST () "/" "Work"']


# -- framing ------------------------------------------------------------------


class EndlessGreeting(Scenario):
    """A greeting line that never ends: bytes as fast as the client reads."""

    def greeting(self, conn):
        conn.send(b"* OK ")
        chunk = b"A" * 65536
        for _ in range(2000):   # up to 128 MiB, stops when the client hangs up
            if conn.closed:
                return
            conn.send(chunk)
        conn.close()


class TrickleGreeting(Scenario):
    """A greeting that never ends, one byte every 0.2 s: no single read
    times out, so only an overall limit stops it.  Gives up (closes) after
    TRICKLE_SECONDS so a client without such a limit fails the time check
    instead of hanging the suite."""

    def greeting(self, conn):
        conn.send(b"* OK ")
        for _ in range(int(TRICKLE_SECONDS / 0.2)):
            if conn.closed:
                return
            conn.send(b"x")
            time.sleep(0.2)
        conn.close()


class SilentGreeting(Scenario):
    def greeting(self, conn):
        conn.stall()


class EndlessLine(Scenario):
    """After SELECT, an untagged line without end."""

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "SELECT":
            conn.send(b"* 1 EXISTS ")
            for _ in range(2000):
                if conn.closed:
                    break
                conn.send(b"Z" * 65536)
            conn.close()
            return True
        return False


def _fetch_hook(payload):
    """A scenario answering the first UID FETCH in INBOX with payload."""

    class S(Scenario):
        def on_command(self, conn, tag, cmd, args, line):
            if cmd == "UID FETCH" and conn.selected is not None \
                    and conn.selected.name == "INBOX":
                conn.send(payload(tag))
                if conn.closed:
                    return True
                conn.stall(30)
                return True
            return False
    return S


HugeLiteral = _fetch_hook(lambda tag: (
    b"* 1 FETCH (UID 1 FLAGS () BODY[] {%d}\r\nSubject: x\r\n" % HUGE))
HugeLiteral.__doc__ = "A literal announcing 2^63 bytes."

OverflowLiteral = _fetch_hook(lambda tag: (
    b"* 1 FETCH (UID 1 BODY[] {99999999999999999999999999}\r\nx"))
OverflowLiteral.__doc__ = "A literal size that does not fit 64 bits."

UnterminatedLiteral = _fetch_hook(lambda tag: (
    b"* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 1000 BODY[] {1000}\r\nSubject: only a few bytes\r\n"))
UnterminatedLiteral.__doc__ = "A literal of 1000 bytes of which 30 come, then silence."

DeepNesting = _fetch_hook(lambda tag: (
    b"* 1 FETCH (UID 1 BODYSTRUCTURE " + b"(" * 10000 + b")" * 10000 + b")\r\n"
    + tag.encode() + b" OK fetched\r\n"))
DeepNesting.__doc__ = "Lists nested 10,000 deep."

ManyTokens = _fetch_hook(lambda tag: (
    b"* 1 FETCH (UID 1 X (" + b"a " * 3000000 + b"))\r\n"
    + tag.encode() + b" OK fetched\r\n"))
ManyTokens.__doc__ = "Three million atoms in one response."


# -- lying about UIDs and UIDVALIDITY ----------------------------------------------


class DuplicateUIDs(Scenario):
    def fetch_extra(self, conn, folder, msg):
        return b""

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "UID FETCH" and "HEADER.FIELDS" in args.upper() \
                and conn.selected is not None and conn.selected.name == "INBOX":
            for seq in (1, 2, 3):
                body = b"Message-ID: <dup%d@x>\r\n\r\n" % seq
                conn.send(b"* %d FETCH (UID 5 FLAGS () RFC822.SIZE 40 "
                          b'INTERNALDATE "01-Jan-2024 09:00:00 +0000" '
                          b"BODY[HEADER.FIELDS (MESSAGE-ID)] {%d}\r\n" % (seq, len(body))
                          + body + b")\r\n")
            conn.send_line(tag + " OK fetched")
            return True
        return False


class UIDsOutOfRange(Scenario):
    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "UID FETCH" and "HEADER.FIELDS" in args.upper() \
                and conn.selected is not None and conn.selected.name == "INBOX":
            for seq, uid in ((1, b"0"), (2, b"4294967296"), (3, b"99999"),
                             (4, b"-1"), (5, b"18446744073709551617")):
                body = b"Message-ID: <r%d@x>\r\n\r\n" % seq
                conn.send(b"* %d FETCH (UID %s FLAGS () RFC822.SIZE 40 "
                          b"BODY[HEADER.FIELDS (MESSAGE-ID)] {%d}\r\n"
                          % (seq, uid, len(body)) + body + b")\r\n")
            conn.send_line(tag + " OK fetched")
            return True
        return False


class SeqOutOfRange(Scenario):
    """FETCH and EXPUNGE for sequence numbers the folder does not have."""

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "UID FETCH" and conn.selected is not None:
            conn.send_line("* 4000000000 FETCH (UID 3 FLAGS ())")
            conn.send_line("* 0 FETCH (UID 2 FLAGS ())")
            conn.send_line("* 999 EXPUNGE")
            conn.send_line("* 0 EXPUNGE")
        return False


class AppendUIDElsewhere(Scenario):
    """APPENDUID naming another folder's UIDVALIDITY, then a UID already
    taken."""

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "APPEND":
            conn.send_line(tag + " OK [APPENDUID 1001 1] appended somewhere")
            return True
        return False


class AppendUIDTaken(Scenario):
    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "APPEND":
            conn.send_line(tag + " OK [APPENDUID 1000 1] appended over UID 1")
            return True
        return False


class UIDValidityZero(Scenario):
    def __init__(self):
        super().__init__()
        self.folders["INBOX"].uidvalidity = 0


class UIDValidityChanges(Scenario):
    """UIDVALIDITY changes between two SELECTs of the same session."""

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "SELECT":
            for f in self.folders.values():
                f.uidvalidity += 1
        return False


class UIDValidityUntagged(Scenario):
    """An untagged OK [UIDVALIDITY] arrives in the middle of a FETCH while
    SELECT keeps answering the old value."""

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "UID FETCH":
            conn.send_line("* OK [UIDVALIDITY 424242] changed under you")
        return False


# -- BYE everywhere ---------------------------------------------------------------


class ByeGreeting(Scenario):
    def greeting(self, conn):
        conn.send_line("* BYE [UNAVAILABLE] go away")
        conn.close()


def bye_at(command, before_tagged=True):
    class S(Scenario):
        def on_command(self, conn, tag, cmd, args, line):
            if cmd == command:
                conn.send_line("* BYE server shutting down in " + command)
                conn.close()
                return True
            return False
    S.__name__ = "Bye" + command.replace(" ", "")
    S.trigger = command
    S.__doc__ = "BYE instead of answering " + command
    return S


# Every command facteur sends to this server (it offers UIDPLUS, so
# expunging is UID EXPUNGE; no ENABLE without CONDSTORE/QRESYNC).
BYE_COMMANDS = ["LOGIN", "CAPABILITY", "NAMESPACE", "LIST", "SELECT",
                "UID FETCH", "APPEND", "UID STORE", "CREATE", "UID EXPUNGE",
                "LOGOUT"]


class ByeMidFetch(Scenario):
    """BYE in the middle of a FETCH response list."""

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "UID FETCH":
            conn.send_line("* 1 FETCH (UID 1 FLAGS (\\Seen))")
            conn.send_line("* BYE no more")
            conn.close()
            return True
        return False


class TaggedGarbage(Scenario):
    """Answers with a tag the client never sent, a NUL in a status line and
    a continuation nobody asked for."""

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "LIST":
            conn.send_line("Z999 OK not yours")
            conn.send(b"* OK \x00 nul\r\n")
            conn.send_line("+ unasked")
        return False


class DuplicateTagged(Scenario):
    """Every command completed twice: the second tagged OK names a command
    that is no longer in flight."""

    def on_command(self, conn, tag, cmd, args, line):
        if cmd == "UID FETCH":
            conn.default(tag, cmd, args, [])
            conn.send_line(tag + " OK again")
            return True
        return False


SCENARIOS = {
    "duplicate-tagged": (DuplicateTagged, "fail"),
    "bad-names": (BadNames, "either"),
    "bad-delimiter": (BadDelimiter, "either"),
    "endless-greeting": (EndlessGreeting, "fail"),
    "trickle-greeting": (TrickleGreeting, "fail"),
    "silent-greeting": (SilentGreeting, "fail"),
    "endless-line": (EndlessLine, "fail"),
    "huge-literal": (HugeLiteral, "fail"),
    "overflow-literal": (OverflowLiteral, "fail"),
    "unterminated-literal": (UnterminatedLiteral, "fail"),
    "deep-nesting": (DeepNesting, "fail"),
    "many-tokens": (ManyTokens, "fail"),
    # facteur keeps one report of a UID listed twice (sync/box.c far_sort).
    "duplicate-uids": (DuplicateUIDs, "either"),
    "uids-out-of-range": (UIDsOutOfRange, "fail"),
    "seq-out-of-range": (SeqOutOfRange, "either"),
    "appenduid-elsewhere": (AppendUIDElsewhere, "either"),
    "appenduid-taken": (AppendUIDTaken, "either"),
    "uidvalidity-zero": (UIDValidityZero, "fail"),
    "uidvalidity-changes": (UIDValidityChanges, "fail"),
    "uidvalidity-untagged": (UIDValidityUntagged, "fail"),
    "bye-greeting": (ByeGreeting, "fail"),
    "bye-mid-fetch": (ByeMidFetch, "fail"),
    "tagged-garbage": (TaggedGarbage, "either"),
}
for _c in BYE_COMMANDS:
    # LOGOUT: everything is done by then; a BYE there is only rude.
    SCENARIOS["bye-at-" + _c.lower().replace(" ", "-")] = (
        bye_at(_c), "either" if _c == "LOGOUT" else "fail")


class DropAfterAppend(Scenario):
    """The first APPEND succeeds (stored, OK with APPENDUID), then the
    connection drops before the client can record it; afterwards the server
    is honest.  The next run must recognise the message it uploaded."""

    def __init__(self):
        super().__init__()
        self.dropped = False

    def on_command(self, conn, tag, cmd, args, line):
        return False

    def after_append(self, conn):
        if not self.dropped:
            self.dropped = True
            conn.close()
