"""A TCP relay on 127.0.0.1 that counts the bytes each way, for tests that
check what facteur put on the wire independently of facteur's own counters.
Bytes are relayed blindly (TLS stays end to end); on_up, if given, sees
each chunk the client sends before it is passed on (and may stall it)."""

import socket
import threading


class CountingProxy:
    def __init__(self, target_port, target_host="127.0.0.1", on_up=None):
        self.target = (target_host, target_port)
        self.on_up = on_up
        self.down = 0  # server -> client
        self.up = 0    # client -> server
        self._lock = threading.Lock()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def reset(self):
        with self._lock:
            self.down = self.up = 0

    def _pump(self, src, dst, attr):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    setattr(self, attr, getattr(self, attr) + len(data))
                if attr == "up" and self.on_up:
                    self.on_up(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept(self):
        while not self._stop:
            try:
                client, _ = self._lsock.accept()
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=30)
            server.settimeout(None)
            for a, b, attr in ((client, server, "up"), (server, client, "down")):
                threading.Thread(target=self._pump, args=(a, b, attr),
                                 daemon=True).start()

    def close(self):
        self._stop = True
        self._lsock.close()
