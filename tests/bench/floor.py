"""The physical floor of an initial pull, measured in its own process.

    floor.py fetch HOST PORT CAFILE USER PASSWORD FOLDER...
        One TLS connection; LOGIN, then for every folder SELECT and
        `UID FETCH 1:* BODY.PEEK[]`, all sent at once (pipelined); the
        answers are read and thrown away.  Prints the bytes received.
    floor.py retr HOST PORT CAFILE USER PASSWORD
        The floor of scenario 8: one POP3S connection; USER, PASS, STAT,
        then `RETR 1` to `RETR n`, at most 256 in flight (facteur's default
        pipeline depth); the answers are read and thrown away.  Prints the
        bytes received.
    floor.py write SRC DEST [BATCH_MSGS [BATCH_BYTES]]
        The durable write of the same messages: every message file under
        SRC (any cur/ or new/) is written into DEST/tmp, and every batch
        (default 100 messages or 16 MiB, facteur's delivery batch) is
        fsync'ed file by file, renamed into DEST/new and the directory
        fsync'ed.  The caller times the whole process, reading included;
        the source files were just written, so they come from the page
        cache.

The driver runs each as a fresh process and takes wall time, CPU and peak
RSS from wait4(), like for the tools.
"""

import os
import socket
import ssl
import sys

TAG_END = b"\r\nZF9 OK"


def fetch(host, port, cafile, user, password, folders):
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection((host, int(port)), timeout=600)
    s = ctx.wrap_socket(raw, server_hostname=host)
    cmds = [b'ZF0 LOGIN "%s" "%s"\r\n' % (user.encode(), password.encode())]
    for i, f in enumerate(folders):
        cmds.append(b'ZS%d SELECT "%s"\r\n' % (i, f.encode()))
        cmds.append(b"ZU%d UID FETCH 1:* BODY.PEEK[]\r\n" % i)
    cmds.append(b"ZF9 LOGOUT\r\n")
    s.sendall(b"".join(cmds))
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    tail = b""
    total = 0
    while True:
        n = s.recv_into(view)
        if n == 0:
            break
        total += n
        tail = (tail + bytes(view[max(0, n - 64):n]))[-64:]
        if TAG_END in tail:
            break
    s.close()
    return total


POP_END = b"\r\n.\r\n"
POP_DEPTH = 256


def _pop_line(s, buf):
    while b"\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("POP3 server closed the connection")
        buf += chunk
    line, _, rest = buf.partition(b"\r\n")
    if not line.startswith(b"+OK"):
        raise OSError("POP3 server said: %r" % line[:200])
    return line, rest


def retr(host, port, cafile, user, password):
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection((host, int(port)), timeout=600)
    s = ctx.wrap_socket(raw, server_hostname=host)
    buf = b""
    _, buf = _pop_line(s, buf)
    for cmd in (b"USER %s" % user.encode(), b"PASS %s" % password.encode(),
                b"STAT"):
        s.sendall(cmd + b"\r\n")
        line, buf = _pop_line(s, buf)
    n = int(line.split()[1])
    # Each answer ends with CRLF "." CRLF, which dot-stuffing keeps out of
    # bodies; counting them tells how many answers arrived.
    sent = done = total = 0
    tail = buf[-4:]
    done += buf.count(POP_END)
    view = memoryview(bytearray(1 << 20))
    while done < n:
        if sent < n and sent - done <= POP_DEPTH // 2:
            k = min(n, done + POP_DEPTH)
            s.sendall(b"".join(b"RETR %d\r\n" % (i + 1)
                               for i in range(sent, k)))
            sent = k
        got = s.recv_into(view)
        if got == 0:
            raise OSError("POP3 server closed the connection")
        total += got
        chunk = tail + bytes(view[:got])
        done += chunk.count(POP_END)
        tail = chunk[-4:]
    s.sendall(b"QUIT\r\n")
    s.close()
    return total


def sources(src):
    out = []
    for d, subdirs, files in os.walk(src):
        if os.path.basename(d) in ("cur", "new"):
            out.extend(os.path.join(d, f) for f in files)
    return sorted(out)


def write(src, dest, batch_msgs=100, batch_bytes=16 << 20):
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
    tmp = os.path.join(dest, "tmp")
    new = os.path.join(dest, "new")
    batch, size, total = [], 0, 0

    def flush():
        for fd, name in batch:
            os.fsync(fd)
            os.close(fd)
        for fd, name in batch:
            os.rename(os.path.join(tmp, name), os.path.join(new, name))
        dfd = os.open(new, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        batch.clear()

    for i, path in enumerate(sources(src)):
        with open(path, "rb") as f:
            data = f.read()
        name = "floor.%d" % i
        fd = os.open(os.path.join(tmp, name),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        batch.append((fd, name))
        size += len(data)
        total += len(data)
        if len(batch) >= batch_msgs or size >= batch_bytes:
            flush()
            size = 0
    if batch:
        flush()
    return total


def main(argv):
    if len(argv) >= 7 and argv[1] == "fetch":
        print(fetch(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7:]))
        return 0
    if len(argv) == 7 and argv[1] == "retr":
        print(retr(*argv[2:7]))
        return 0
    if len(argv) >= 4 and argv[1] == "write":
        args = [int(a) for a in argv[4:6]]
        print(write(argv[2], argv[3], *args))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
