"""A scripted, hostile POP3 server for facteur's tests (plain text: the
client runs with TLSType None).

HostilePOP3(scenario) serves a mailbox of three small messages with CAPA,
USER/PASS, STAT, LIST, UIDL, RETR, DELE, RSET, NOOP and QUIT, until the
scenario lies.  Scenario hooks, as for the IMAP server: greeting(conn) and
on_command(conn, cmd, arg) -> True when answered; conn.send/send_line/
stall/close.  SCENARIOS maps names to (class, expectation): "fail" (exit 1),
"ok" (exit 0) or "either".
"""

import socket
import threading
import time


def msg(i):
    return ("Subject: pop %d\r\nMessage-ID: <p%d@hostile.test>\r\n\r\n"
            "body %d\r\n.leading dot\r\n" % (i, i, i)).encode()


class Scenario:
    def __init__(self):
        self.msgs = {1: msg(1), 2: msg(2), 3: msg(3)}
        self.uidl = {1: "uid-one", 2: "uid-two", 3: "uid-three"}
        self.deleted = set()
        self.commands = []

    def greeting(self, conn):
        conn.send_line("+OK hostile POP3 ready")

    def on_command(self, conn, cmd, arg):
        return False


class Conn:
    def __init__(self, server, sock):
        self.server, self.sock, self.sc = server, sock, server.scenario
        self.buf = b""
        self.closed = False
        self.sock.settimeout(60)
        self.marked = set()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def send_line(self, line):
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def stall(self, seconds=60):
        end = time.monotonic() + seconds
        self.sock.settimeout(0.2)
        while time.monotonic() < end and not self.server.stopped.is_set():
            try:
                if self.sock.recv(65536) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        self.closed = True

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def read_line(self):
        while b"\r\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except OSError:
                return None
            if not d:
                return None
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def multiline(self, lines):
        for l in lines:
            self.send_line(l)
        self.send_line(".")

    def run(self):
        sc = self.sc
        sc.greeting(self)
        while not self.closed:
            line = self.read_line()
            if line is None:
                break
            sc.commands.append(line)
            cmd, _, arg = line.partition(" ")
            cmd = cmd.upper()
            if sc.on_command(self, cmd, arg) or self.closed:
                continue
            live = {n: m for n, m in sc.msgs.items() if n not in sc.deleted}
            if cmd == "CAPA":
                self.send_line("+OK")
                self.multiline(["USER", "UIDL", "TOP"])
            elif cmd in ("USER", "PASS", "NOOP", "RSET"):
                if cmd == "RSET":
                    self.marked.clear()
                self.send_line("+OK")
            elif cmd == "STAT":
                self.send_line("+OK %d %d" % (len(live), sum(map(len, live.values()))))
            elif cmd == "LIST":
                self.send_line("+OK")
                self.multiline(["%d %d" % (n, len(m)) for n, m in sorted(live.items())])
            elif cmd == "UIDL":
                self.send_line("+OK")
                self.multiline(["%d %s" % (n, sc.uidl[n]) for n in sorted(live)])
            elif cmd == "RETR":
                n = int(arg) if arg.isdigit() else 0
                if n not in live:
                    self.send_line("-ERR no such message")
                    continue
                self.send_line("+OK %d octets" % len(live[n]))
                body = live[n].replace(b"\r\n.", b"\r\n..")
                self.send(body + b".\r\n")
            elif cmd == "DELE":
                self.marked.add(int(arg) if arg.isdigit() else 0)
                self.send_line("+OK")
            elif cmd == "QUIT":
                sc.deleted |= self.marked
                self.send_line("+OK bye")
                self.close()
            else:
                self.send_line("-ERR unknown command")


class HostilePOP3:
    def __init__(self, scenario):
        self.scenario = scenario
        self.stopped = threading.Event()
        self.errors = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopped.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c = Conn(self, s)
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.run()
        except OSError:
            pass
        except Exception as e:  # a bug in a scenario must fail the test
            self.errors.append(repr(e))
        finally:
            c.close()

    def close(self):
        self.stopped.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        for c in self.conns:
            c.close()
        self.thread.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- scenarios -----------------------------------------------------------------


class Honest(Scenario):
    pass


class EndlessGreeting(Scenario):
    def greeting(self, conn):
        conn.send(b"+OK ")
        for _ in range(2000):
            if conn.closed:
                return
            conn.send(b"G" * 65536)
        conn.close()


class SilentGreeting(Scenario):
    def greeting(self, conn):
        conn.stall()


class ErrGreeting(Scenario):
    def greeting(self, conn):
        conn.send_line("-ERR go away")
        conn.close()


def err_at(command):
    class S(Scenario):
        def on_command(self, conn, cmd, arg):
            if cmd == command:
                conn.send_line("-ERR [SYS/TEMP] refusing " + command)
                return True
            return False
    S.__name__ = "Err" + command
    return S


def hangup_at(command):
    class S(Scenario):
        def on_command(self, conn, cmd, arg):
            if cmd == command:
                conn.close()
                return True
            return False
    S.__name__ = "Hangup" + command
    return S


class UnterminatedList(Scenario):
    """A multi-line LIST without its final '.', then silence."""

    def on_command(self, conn, cmd, arg):
        if cmd == "LIST":
            conn.send_line("+OK")
            conn.send_line("1 10")
            conn.stall(30)
            return True
        return False


class EndlessUidl(Scenario):
    """UIDL lines forever (unique ids, all valid)."""

    def on_command(self, conn, cmd, arg):
        if cmd == "UIDL":
            conn.send_line("+OK")
            i = 1
            while not conn.closed and i < 3000000:
                conn.send(b"".join(b"%d u%d\r\n" % (j, j) for j in range(i, i + 10000)))
                i += 10000
            conn.close()
            return True
        return False


class DuplicateUidl(Scenario):
    def __init__(self):
        super().__init__()
        self.uidl[2] = "uid-one"


class BadUidlChars(Scenario):
    def __init__(self):
        super().__init__()
        self.uidl[2] = "../../etc/passwd\x01"


class LongUidl(Scenario):
    def __init__(self):
        super().__init__()
        self.uidl[2] = "u" * 5000


class HugeListSize(Scenario):
    def on_command(self, conn, cmd, arg):
        if cmd == "LIST":
            conn.send_line("+OK")
            conn.multiline(["1 18446744073709551615", "2 99999999999999999999999",
                            "3 -5"])
            return True
        return False


class BodyWithoutEnd(Scenario):
    """RETR sends a body that never ends (no terminating dot)."""

    def on_command(self, conn, cmd, arg):
        if cmd == "RETR":
            conn.send_line("+OK")
            for _ in range(300):
                if conn.closed:
                    break
                conn.send(b"line of an endless body\r\n" * 4000)
            conn.close()
            return True
        return False


class EndlessBodyLine(Scenario):
    """RETR sends one line without end: the body streams, so facteur may
    take it, but memory must stay flat and the next run must not duplicate."""

    def on_command(self, conn, cmd, arg):
        if cmd == "RETR":
            conn.send_line("+OK")
            for _ in range(200):
                if conn.closed:
                    break
                conn.send(b"x" * 65536)
            conn.close()
            return True
        return False


class NulInResponse(Scenario):
    def on_command(self, conn, cmd, arg):
        if cmd == "STAT":
            conn.send(b"+OK 3\x00 9999\r\n")
            return True
        return False


SCENARIOS = {
    "honest": (Honest, "ok"),
    "endless-greeting": (EndlessGreeting, "fail"),
    "silent-greeting": (SilentGreeting, "fail"),
    "err-greeting": (ErrGreeting, "fail"),
    "unterminated-list": (UnterminatedList, "fail"),
    "endless-uidl": (EndlessUidl, "fail"),
    "duplicate-uidl": (DuplicateUidl, "fail"),
    "bad-uidl-chars": (BadUidlChars, "fail"),
    "long-uidl": (LongUidl, "fail"),
    "huge-list-size": (HugeListSize, "either"),
    "body-without-end": (BodyWithoutEnd, "fail"),
    "endless-body-line": (EndlessBodyLine, "fail"),
    "nul-in-response": (NulInResponse, "either"),
}
# A refused RETR is a message removed meanwhile (skipped with a warning); a
# refused or unanswered DELE/QUIT leaves delivered (and journaled) messages
# on the server for the next run: nothing is lost either way.
LENIENT = ("CAPA", "STAT", "RETR", "DELE", "QUIT")
for _c in ("CAPA", "USER", "PASS", "STAT", "LIST", "UIDL", "RETR", "DELE", "QUIT"):
    # CAPA -ERR is legal (RFC 2449 is optional); the rest make the run fail
    # except QUIT, after which only the deletion is lost.
    SCENARIOS["err-at-" + _c.lower()] = (
        err_at(_c), "either" if _c in LENIENT else "fail")
    SCENARIOS["hangup-at-" + _c.lower()] = (
        hangup_at(_c), "either" if _c in LENIENT else "fail")


# -- deletion failures (run with Keep no; see test_hostile.py) -----------------


class _FirstSession(Scenario):
    """Misbehaves in the first session only, as a server whose trouble
    passes: the next run must finish the job."""

    def __init__(self):
        super().__init__()
        self.sessions = 0

    def greeting(self, conn):
        self.sessions += 1
        super().greeting(conn)


class RefuseDeleOnce(_FirstSession):
    """DELE 2 answered -ERR (message 1 and 3 deleted at QUIT)."""

    def on_command(self, conn, cmd, arg):
        if cmd == "DELE" and arg == "2" and self.sessions == 1:
            conn.send_line("-ERR [SYS/TEMP] message 2 is locked")
            return True
        return False


class QuitErrOnce(_FirstSession):
    """QUIT answered -ERR: RFC 1939 says the marked messages may not all
    have been removed; this server removes none."""

    def on_command(self, conn, cmd, arg):
        if cmd == "QUIT" and self.sessions == 1:
            conn.send_line("-ERR [SYS/TEMP] could not remove the messages")
            conn.close()
            return True
        return False


class QuitHangupOnce(_FirstSession):
    """The connection drops at QUIT, unanswered; nothing is removed."""

    def on_command(self, conn, cmd, arg):
        if cmd == "QUIT" and self.sessions == 1:
            conn.close()
            return True
        return False
