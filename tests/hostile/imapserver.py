"""A scripted, hostile IMAP server for facteur's tests.

HostileIMAP(scenario) listens on 127.0.0.1 (plain text: the client runs
with TLSType None) and serves one small, believable account -- INBOX and
Work with a few messages -- answering the commands facteur sends (LOGIN,
AUTHENTICATE PLAIN, CAPABILITY, ENABLE, NAMESPACE, LIST, SELECT/EXAMINE,
STATUS, UID FETCH, UID STORE, APPEND, EXPUNGE/UID EXPUNGE, CREATE, CLOSE,
UNSELECT, NOOP, ID, LOGOUT), until the scenario lies.

A scenario is a Scenario subclass overriding hooks:
    greeting(conn)                 send the greeting (default: a normal one)
    on_command(conn, tag, cmd, args, line) -> True if it answered itself
                                   (None/False: the normal answer follows)
    list_lines(conn)               untagged LIST lines (without CRLF)
    fetch_extra(conn, folder, msg) extra items for a FETCH response
and may use conn.send(bytes), conn.send_line(str|bytes), conn.stall(),
conn.close().  Every accepted connection gets its own Conn; state lives in
the scenario (folders, counters), so a reconnect sees the same account.
"""

import re
import socket
import threading
import time

CAPS = "IMAP4rev1 LITERAL+ UIDPLUS AUTH=PLAIN IDLE NAMESPACE"
DATE = '"01-Jan-2024 09:00:00 +0000"'


def make_msg(i, folder):
    return ("From: hostile@example.org\r\nTo: you@example.org\r\n"
            "Subject: message %d in %s\r\nMessage-ID: <h%d.%s@hostile.test>\r\n"
            "Date: Mon, 1 Jan 2024 09:00:00 +0000\r\n\r\nBody %d.\r\n"
            % (i, folder, i, folder.replace("/", "."), i)).encode()


class Folder:
    def __init__(self, name, uidvalidity, count):
        self.name = name
        self.uidvalidity = uidvalidity
        self.msgs = []   # [uid, set(flags), bytes]
        for i in range(1, count + 1):
            self.msgs.append([i, {"\\Seen"} if i % 2 else set(),
                              make_msg(i, name)])
        self.uidnext = count + 1


class Scenario:
    """The honest baseline; subclasses lie."""

    def __init__(self):
        self.folders = {"INBOX": Folder("INBOX", 1000, 3),
                        "Work": Folder("Work", 1001, 2)}
        self.lock = threading.Lock()
        self.commands = []   # every command line received, for the tests

    def greeting(self, conn):
        conn.send_line("* OK [CAPABILITY %s] hostile test server ready" % CAPS)

    def on_command(self, conn, tag, cmd, args, line):
        return False

    def list_lines(self, conn):
        return ['* LIST (\\HasNoChildren) "/" %s' % quote(n)
                for n in self.folders]

    def fetch_extra(self, conn, folder, msg):
        return b""


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_set(spec, maxuid):
    out = set()
    for part in spec.split(","):
        if ":" in part:
            a, b = part.split(":", 1)
            a = maxuid if a == "*" else int(a)
            b = maxuid if b == "*" else int(b)
            out.update(range(min(a, b), max(a, b) + 1))
        else:
            out.add(maxuid if part == "*" else int(part))
    return out


class Conn:
    def __init__(self, server, sock):
        self.server, self.sock = server, sock
        self.sc = server.scenario
        self.buf = b""
        self.selected = None
        self.closed = False
        self.sock.settimeout(60)

    # -- output ---------------------------------------------------------------

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def send_line(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogateescape")
        self.send(line + b"\r\n")

    def stall(self, seconds=60):
        """Say nothing more, keep the connection open (until the client
        goes away or the server stops)."""
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

    # -- input ----------------------------------------------------------------

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
        return line

    def read_bytes(self, n):
        while len(self.buf) < n:
            try:
                d = self.sock.recv(65536)
            except OSError:
                return None
            if not d:
                return None
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_command(self):
        """One command line with its literals inlined as bytes objects in a
        list of pieces; returns (line_text, literals) or None at EOF."""
        line = self.read_line()
        if line is None:
            return None
        literals = []
        full = line
        while True:
            m = re.search(rb"\{(\d+)(\+?)\}$", line)
            if not m:
                break
            if not m.group(2):
                self.send_line("+ go ahead")
            data = self.read_bytes(int(m.group(1)))
            if data is None:
                return None
            literals.append(data)
            line = self.read_line()
            if line is None:
                return None
            full += b"<lit>" + line
        return full.decode("utf-8", "replace"), literals

    # -- the session ----------------------------------------------------------

    def run(self):
        self.sc.greeting(self)
        while not self.closed:
            got = self.read_command()
            if got is None:
                break
            line, literals = got
            with self.sc.lock:
                self.sc.commands.append(line)
            parts = line.split(" ", 2)
            if len(parts) < 2:
                self.send_line("* BAD what?")
                continue
            tag, cmd = parts[0], parts[1].upper()
            args = parts[2] if len(parts) > 2 else ""
            if cmd == "UID" and args:
                sub = args.split(" ", 1)
                cmd = "UID " + sub[0].upper()
                args = sub[1] if len(sub) > 1 else ""
            if self.sc.on_command(self, tag, cmd, args, line):
                continue
            if self.closed:
                break
            self.default(tag, cmd, args, literals)
        self.close()

    def folder_arg(self, args):
        m = re.match(r'"((?:[^"\\]|\\.)*)"|(\S+)', args)
        name = m.group(1) if m.group(1) is not None else m.group(2)
        return re.sub(r"\\(.)", r"\1", name)

    def default(self, tag, cmd, args, literals):
        sc = self.sc
        if cmd == "CAPABILITY":
            self.send_line("* CAPABILITY " + CAPS)
        elif cmd in ("LOGIN", "AUTHENTICATE"):
            if cmd == "AUTHENTICATE" and len(args.split()) == 1:
                self.send_line("+ ")
                self.read_line()
        elif cmd == "LOGOUT":
            self.send_line("* BYE see you")
            self.send_line(tag + " OK bye")
            self.close()
            return
        elif cmd == "ENABLE":
            self.send_line("* ENABLED")
        elif cmd == "NAMESPACE":
            self.send_line('* NAMESPACE (("" "/")) NIL NIL')
        elif cmd in ("LIST", "LSUB"):
            if args.endswith('""') and args.count('"') == 4:
                self.send_line('* LIST (\\Noselect) "/" ""')
            else:
                for l in sc.list_lines(self):
                    self.send_line(l)
        elif cmd in ("SELECT", "EXAMINE", "STATUS"):
            name = self.folder_arg(args)
            f = sc.folders.get(name)
            if f is None:
                self.send_line(tag + " NO no such folder")
                return
            if cmd == "STATUS":
                self.send_line("* STATUS %s (MESSAGES %d UIDNEXT %d UIDVALIDITY %d)"
                               % (quote(name), len(f.msgs), f.uidnext,
                                  f.uidvalidity))
            else:
                self.selected = f
                self.send_line("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
                self.send_line("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ok")
                self.send_line("* %d EXISTS" % len(f.msgs))
                self.send_line("* OK [UIDVALIDITY %d] ok" % f.uidvalidity)
                self.send_line("* OK [UIDNEXT %d] ok" % f.uidnext)
        elif cmd in ("UID FETCH", "FETCH"):
            self.fetch(tag, cmd, args)   # sends its own tagged answer
            return
        elif cmd in ("UID STORE", "STORE"):
            self.store(args)
        elif cmd == "APPEND":
            name = self.folder_arg(args)
            f = sc.folders.get(name)
            if f is None or not literals:
                self.send_line(tag + " NO [TRYCREATE] no such folder")
                return
            m = re.search(r"\(([^)]*)\)", args)
            flags = set(m.group(1).split()) if m else set()
            uid = f.uidnext
            f.uidnext += 1
            f.msgs.append([uid, flags, literals[0]])
            self.send_line(tag + " OK [APPENDUID %d %d] appended"
                           % (f.uidvalidity, uid))
            hook = getattr(sc, "after_append", None)
            if hook:
                hook(self)
            return
        elif cmd == "CREATE":
            name = self.folder_arg(args)
            sc.folders.setdefault(name, Folder(name, 2000 + len(sc.folders), 0))
        elif cmd in ("EXPUNGE", "UID EXPUNGE", "CLOSE"):
            f = self.selected
            if f:
                keep = []
                for seq, m in enumerate(f.msgs, 1):
                    if "\\Deleted" in m[1]:
                        if cmd != "CLOSE":
                            # Earlier expunges renumber the later messages.
                            self.send_line("* %d EXPUNGE" % (len(keep) + 1))
                    else:
                        keep.append(m)
                f.msgs = keep
        elif cmd in ("NOOP", "CHECK", "UNSELECT", "ID", "IDLE"):
            if cmd == "ID":
                self.send_line("* ID NIL")
        else:
            self.send_line(tag + " BAD unknown command " + cmd)
            return
        self.send_line(tag + " OK done")

    def fetch(self, tag, cmd, args):
        f = self.selected
        if f is None:
            self.send_line(tag + " BAD nothing selected")
            return
        spec, _, items = args.partition(" ")
        maxuid = f.msgs[-1][0] if f.msgs else 0
        if cmd == "UID FETCH":
            want = parse_set(spec, max(maxuid, 1))
        else:
            want = {f.msgs[i - 1][0] for i in parse_set(spec, len(f.msgs))
                    if 0 < i <= len(f.msgs)}
        up = items.upper()
        order = list(enumerate(f.msgs, 1))
        if getattr(self.sc, "reverse_fetch", False):
            order.reverse()  # legal: FETCH answers carry their UID
        for seq, m in order:
            if m[0] not in want:
                continue
            parts = [b"UID %d" % m[0]]
            if "FLAGS" in up:
                parts.append(("FLAGS (%s)" % " ".join(sorted(m[1]))).encode())
            if "RFC822.SIZE" in up:
                parts.append(b"RFC822.SIZE %d" % len(m[2]))
            if "INTERNALDATE" in up:
                parts.append(b"INTERNALDATE " + DATE.encode())
            if "MODSEQ" in up:
                parts.append(b"MODSEQ (1)")
            if "HEADER.FIELDS" in up:
                mid = re.search(rb"Message-ID: [^\r]*\r\n", m[2]).group(0) + b"\r\n"
                parts.append(b"BODY[HEADER.FIELDS (MESSAGE-ID)] {%d}\r\n" % len(mid) + mid)
            elif "BODY" in up or "RFC822" in up.replace("RFC822.SIZE", ""):
                parts.append(b"BODY[] {%d}\r\n" % len(m[2]) + m[2])
            extra = self.sc.fetch_extra(self, f, m)
            if extra:
                parts.append(extra)
            self.send(b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n")
        self.send_line(tag + " OK fetched")

    def store(self, args):
        f = self.selected
        if f is None:
            return
        spec, op, flags = args.split(" ", 2)
        want = parse_set(spec, f.msgs[-1][0] if f.msgs else 1)
        flagset = set(flags.strip("()").split())
        for seq, m in enumerate(f.msgs, 1):
            if m[0] in want:
                o = op.upper()
                if o.startswith("+"):
                    m[1] |= flagset
                elif o.startswith("-"):
                    m[1] -= flagset
                else:
                    m[1] = set(flagset)
                if ".SILENT" not in o:
                    self.send_line("* %d FETCH (UID %d FLAGS (%s))"
                                   % (seq, m[0], " ".join(sorted(m[1]))))


class HostileIMAP:
    """tls: an ssl.SSLContext for implicit TLS (IMAPS) on every connection;
    a failed handshake is the client's verdict, recorded in handshakes."""

    def __init__(self, scenario, tls=None):
        self.scenario = scenario
        self.tls = tls
        self.handshakes = []
        self.stopped = threading.Event()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.errors = []
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
            if self.tls is not None:
                try:
                    c.sock = self.tls.wrap_socket(c.sock, server_side=True)
                    self.handshakes.append("ok")
                except (OSError, ValueError) as e:
                    self.handshakes.append(repr(e))
                    return
            c.run()
        except (OSError, ValueError, AttributeError, IndexError) as e:
            # The client hanging up mid-script is expected; a bug in a
            # scenario shows in the test through self.errors.
            if not isinstance(e, OSError):
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
