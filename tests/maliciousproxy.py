"""A malicious acquirer on loopback: a TCP proxy in front of the real simulator that, when told to, turns
hostile on the next request — stalls mid-frame, or floods well-formed answers nobody asked for."""

from __future__ import annotations

import socket
import threading


def _read_frame(sock: socket.socket) -> bytes | None:
    prefix = _read_exactly(sock, 2)
    if prefix is None:
        return None
    body = _read_exactly(sock, int.from_bytes(prefix, "big"))
    return None if body is None else prefix + body


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class MaliciousProxy:
    """`mode` applies to the next request only: "stall" (forward it, then send a length prefix of 8,000,
    101 bytes and nothing more on that connection) or "flood" (forward it, answer it, then send the same
    answer exactly `flood_count` more times: well-formed, matching no request).  After a flood the proxy
    goes on serving that connection; `hung_up` is set when the peer closes it (what a test waits for,
    rather than guessing from how much of the flood went out in time)."""

    FLOOD_BATCH = 1000

    def __init__(self, upstream_port: int, *, flood_count: int = 1_000_000):
        self.upstream_port = upstream_port
        self.flood_count = flood_count
        self.mode: str | None = None
        self.connections = 0
        self.flood_sent = 0
        self.flood_stopped_by_peer = False
        self.hung_up = threading.Event()  # the peer closed a flooded connection
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            self._sockets.append(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        self._sockets.append(upstream)
        flooded = False
        try:
            while not self._stop.is_set():
                try:
                    request = _read_frame(client)
                except OSError:  # reset: the peer closed with answers still unread
                    request = None
                if request is None:
                    if flooded:
                        self.hung_up.set()
                    return
                upstream.sendall(request)
                answer = _read_frame(upstream)
                if answer is None:
                    return
                mode, self.mode = self.mode, None
                if mode == "stall":
                    client.sendall((8000).to_bytes(2, "big") + b"\x00" * 101)
                    self._stop.wait()  # never another byte on this connection
                    return
                client.sendall(answer)
                if mode == "flood":
                    flooded = True
                    try:
                        while self.flood_sent < self.flood_count:
                            count = min(self.FLOOD_BATCH, self.flood_count - self.flood_sent)
                            client.sendall(answer * count)
                            self.flood_sent += count
                    except OSError:
                        self.flood_stopped_by_peer = True
                        self.hung_up.set()
                        return
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                try:
                    sock.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
