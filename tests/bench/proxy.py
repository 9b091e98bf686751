"""Counting (and optionally delaying) TCP relays for the benchmarks.

A Relay listens on a free 127.0.0.1 port and forwards every connection to a
target port on 127.0.0.1, blindly: TLS stays end to end between the tool and
Dovecot (the test certificate names 127.0.0.1, so any port verifies).  It
counts the bytes each way, which is what "bytes on the wire" means in the
results, TLS records included.  With delay > 0 every chunk is held for that
long in each direction before it is forwarded, without limiting throughput:
25 ms each way stands for a real network's 50 ms round trip.

Delaying relays share one asyncio loop in a daemon thread (RelayLoop); the
tools under test are separate processes, so the driver's GIL only costs the
relay itself.  Relays without delay move the bytes with splice(2) instead
(SpliceRelay): on a small machine the tools, Dovecot and the relay share the
cores, and copying every byte through Python cost the fastest tool the most.
"""

import asyncio
import os
import socket
import threading
import time

CHUNK = 256 * 1024


class Relay:
    def __init__(self, loop, target_port, delay=0.0):
        self.loop = loop
        self.target_port = target_port
        self.delay = delay
        self.up = 0      # client -> server
        self.down = 0    # server -> client
        self.port = None
        self._server = None

    def reset(self):
        """Zero the counters (between measured runs; the tool is not
        running, so no relay task touches them meanwhile)."""
        self.up = self.down = 0

    def counts(self):
        return self.up, self.down

    async def _start(self):
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(self, creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection("127.0.0.1",
                                                             self.target_port)
        except OSError:
            cwriter.close()
            return
        for w in (cwriter, swriter):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(self._pipe(creader, swriter, "up"),
                             self._pipe(sreader, cwriter, "down"),
                             return_exceptions=True)

    async def _pipe(self, reader, writer, direction):
        queue = asyncio.Queue() if self.delay > 0 else None
        sender = None
        if queue is not None:
            sender = asyncio.ensure_future(self._delayed(queue, writer))
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if direction == "up":
                    self.up += len(data)
                else:
                    self.down += len(data)
                if queue is None:
                    writer.write(data)
                    await writer.drain()
                else:
                    queue.put_nowait((time.monotonic() + self.delay, data))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if queue is not None:
                queue.put_nowait((0, None))
                await asyncio.gather(sender, return_exceptions=True)
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                writer.close()

    @staticmethod
    async def _delayed(queue, writer):
        while True:
            due, data = await queue.get()
            if data is None:
                return
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()


class SpliceRelay:
    """A relay without delay: two threads per connection, each moving one
    direction socket -> pipe -> socket inside the kernel."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.up = self.down = 0
        self._lock = threading.Condition()
        self._open = 0  # connections still relaying
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listen.bind(("127.0.0.1", 0))
        self._listen.listen(64)
        self.port = self._listen.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        with self._lock:
            self.up = self.down = 0

    def counts(self):
        """Called once the tool has exited: its connections close at once,
        and the last bytes it sent are counted when they have."""
        with self._lock:
            self._lock.wait_for(lambda: self._open == 0, 2.0)
            return self.up, self.down

    def close(self):
        self._listen.close()

    def _accept(self):
        while True:
            try:
                client, _ = self._listen.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1",
                                                   self.target_port))
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            left = [2]
            with self._lock:
                self._open += 1
            for src, dst, way in ((client, server, "up"),
                                  (server, client, "down")):
                threading.Thread(target=self._pipe,
                                 args=(src, dst, way, left, client, server),
                                 daemon=True).start()

    def _count(self, way, n):
        with self._lock:
            if way == "up":
                self.up += n
            else:
                self.down += n

    def _pipe(self, src, dst, way, left, client, server):
        r, w = os.pipe()
        try:
            while True:
                n = os.splice(src.fileno(), w, CHUNK)
                if n == 0:
                    break
                self._count(way, n)
                while n:
                    n -= os.splice(r, dst.fileno(), n)
        except OSError:
            pass
        finally:
            os.close(r)
            os.close(w)
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            with self._lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                client.close()
                server.close()
                with self._lock:
                    self._open -= 1
                    self._lock.notify_all()


class RelayLoop:
    """One asyncio loop in a daemon thread; relay(target, delay) starts a
    Relay on it and returns it once it listens."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever,
                                       daemon=True)
        self.thread.start()
        self.splice = []

    def relay(self, target_port, delay=0.0):
        if delay <= 0 and hasattr(os, "splice"):
            r = SpliceRelay(target_port)
            self.splice.append(r)
            return r
        r = Relay(self.loop, target_port, delay)
        asyncio.run_coroutine_threadsafe(r._start(), self.loop).result(10)
        return r

    def close(self):
        for r in self.splice:
            r.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
