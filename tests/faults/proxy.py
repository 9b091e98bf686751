"""A TCP fault proxy for the tests: sits between facteur and a server on
loopback and misbehaves on purpose.

    p = FaultProxy(target_port, mode="cut", at=1234)   # starts listening
    ... point facteur at p.port ...
    p.close()

Modes (byte offsets count both directions together, in the order the proxy
forwarded them, so one number walks the whole session):
    "pass"   forward everything (counts bytes: p.total after a run tells how
             long a whole session is, to choose offsets inside it);
    "cut"    forward `at` bytes, then close both connections abruptly (RST);
    "stall"  forward `at` bytes, then forward nothing more while keeping both
             connections open: the client must give up by its Timeout;
    "delay"  forward everything, sleeping `delay` seconds before each chunk.

Every accepted connection is handled the same way with its own counter
(facteur may reconnect); p.connections counts them.  TLS passes through
untouched: the proxy only sees ciphertext, which is the point (a cut inside
a TLS record must be handled like any other cut).
"""

import select
import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, target_port, mode="pass", at=0, delay=0.0,
                 target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.mode, self.at, self.delay = mode, at, delay
        self.total = 0            # bytes forwarded in the last connection
        self.connections = 0
        self.cut_done = False
        self._stop = threading.Event()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(8)
        self.port = self._lsock.getsockname()[1]
        self._threads = []
        self._socks = []
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._lsock], [], [], 0.1)
            except (OSError, ValueError):
                return   # closed under us by close()
            if not r:
                continue
            try:
                client, _ = self._lsock.accept()
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(client,),
                                 daemon=True)
            t.start()
            self._threads.append(t)

    @staticmethod
    def _reset(s):
        # SO_LINGER 0: close sends RST, as a dying middlebox would.
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def _serve(self, client):
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            self._reset(client)
            return
        self._socks += [client, server]
        peer = {client: server, server: client}
        count = 0
        stalled = False
        try:
            while not self._stop.is_set():
                r, _, _ = select.select([client, server], [], [], 0.1)
                if stalled:
                    continue   # hold both ends open, read nothing
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self.mode in ("cut", "stall") and count + len(data) >= self.at:
                        keep = max(0, self.at - count)
                        if keep:
                            peer[s].sendall(data[:keep])
                        count += keep
                        self.total = count
                        if self.mode == "cut":
                            self.cut_done = True
                            return
                        stalled = True
                        break
                    if self.mode == "delay" and self.delay:
                        time.sleep(self.delay)
                    peer[s].sendall(data)
                    count += len(data)
                    self.total = count
        except OSError:
            pass
        finally:
            if not stalled or self._stop.is_set():
                self._reset(client)
                self._reset(server)

    def close(self):
        self._stop.set()
        try:
            self._lsock.close()
        except OSError:
            pass
        for s in self._socks:
            self._reset(s)
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
