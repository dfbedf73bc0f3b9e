"""The agent's link to the acquirer: asyncio TCP (optionally TLS), 2-byte length + TPDU + header frames.

`HostLink.exchange(request)` connects if needed (retrying with backoff within the connect timeout),
sends one frame and waits for the answer whose MTI is the request's + 10 with the same STAN (11) and
terminal id (41).  A reader task receives every frame; anything that matches no waiting request
(a late answer, a duplicate, a wrong STAN) goes to `on_unmatched(frame_or_bytes, reason)` and the wait
goes on.  Every failure is a `LinkError` whose `.sent` says whether the request may have reached the
host — the engine reverses exactly when `sent` is true.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import select
import socket
import ssl
from typing import Callable

from agent import catalogue
from agent.errors import PosagentError
from agent.iso8583 import CodecError, Dialect, Frame, Message

log = logging.getLogger("posagent.hostlink")

#: first retry after a failed connect, doubling up to the maximum, within the connect timeout
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 2.0
#: unmatched answers one connection may send before it is dropped (a flood, or a host out of step): a
#: count, never a rate, so the same answers drop the peer however fast or slow either side is scheduled
MAX_UNMATCHED = 32
#: unmatched answers are logged at most once per this many seconds, as one line with the count
UNMATCHED_LOG_INTERVAL = 10.0
#: TCP keepalive: first probe after this many idle seconds, then every KEEPALIVE_INTERVAL, KEEPALIVE_COUNT times
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 30, 10, 3


class LinkError(PosagentError):
    """The acquirer link failed; `sent` is True when the request may have reached the host."""

    def __init__(self, message: str, *, sent: bool):
        self.sent = sent
        super().__init__(message)


class LinkTimeout(LinkError):
    """No matching answer in time: the outcome is unknown (the caller reverses with reason 98)."""


class LinkClosed(LinkError):
    """The connection dropped before the answer arrived."""


class LinkConnectError(LinkError):
    """No connection could be made (TLS failure, unreachable host, connect timeout): nothing was sent."""


class LinkRefused(LinkConnectError):
    """The host refused the connection: nothing was sent."""


class FrameError(LinkError):
    """The host sent bytes that are not a valid frame (garbage, over-long, undecodable)."""

    def __init__(self, message: str, *, sent: bool, length: int | None = None, offset: int | None = None,
                 field: int | str | None = None):
        self.length = length
        self.offset = offset
        self.field = field
        super().__init__(message, sent=sent)


Unmatched = Callable[[object, str], None]

#: what a link failure says to the cashier and the technician, key → (English, Chinese): `HostLink(language=)`;
#: addresses, ports, MTIs and traces stay as they are
TEXTS: catalogue.Texts = {
    "tls_failed": ("TLS handshake with {where} failed: {reason}", "与 {where} 的 TLS 握手失败：{reason}"),
    "refused": ("the acquirer at {where} refused the connection", "收单机构 {where} 拒绝连接"),
    "cannot_connect": ("cannot connect to the acquirer at {where}: {reason}", "无法连接收单机构 {where}：{reason}"),
    "timed_out": ("timed out", "连接超时"),
    "os_error": ("{strerror}", "网络错误（错误码 {errno}）"),
    "too_long": ("the acquirer announced a frame of {length} bytes, over the limit of {most}",
                 "收单机构的应答长度 {length} 字节，超过上限 {most}"),
    "undecodable": ("undecodable answer from the acquirer ({length} bytes): {detail}",
                    "收单机构的应答无法解析（{length} 字节）"),
    "flood": ("the acquirer sent {count} answers that match no request (at most {most} on one connection); "
              "connection dropped", "收单机构发来 {count} 个无对应请求的应答（每个连接最多 {most} 个）；连接已断开"),
    "closed": ("the acquirer closed the connection before answering", "收单机构在应答前关闭了连接"),
    "busy_stan": ("a request with stan {stan} is already waiting for its answer", "流水号 {stan} 的请求仍在等待应答"),
    "cannot_encode": ("cannot encode the request: {detail}", "请求报文无法组包：{detail}"),
    "broke": ("the connection broke while sending the request", "发送请求时连接中断"),
    "no_answer": ("no answer to {mti} stan {stan} within {wait:g}s", "{wait:g} 秒内未收到 {mti} 报文（流水号 {stan}）的应答"),
}
#: an OS error's cause in Chinese (the English is the system's own text)
_ERRNO_ZH = {errno.ETIMEDOUT: "连接超时", errno.EHOSTUNREACH: "主机不可达", errno.ENETUNREACH: "网络不可达",
             errno.ECONNRESET: "连接被重置", errno.ECONNABORTED: "连接中止"}


def match_key(msg: Message, *, response: bool) -> tuple[str, str, str]:
    mti = msg.response_mti if not response else msg.mti
    return mti, str(msg.get(11) or ""), str(msg.get(41) or "")


class HostLink:
    def __init__(self, host: str, port: int, *, dialect: Dialect, tpdu: bytes, header: bytes, connect_timeout: float,
                 response_timeout: float, ssl_context: ssl.SSLContext | None = None, max_frame_bytes: int = 8192,
                 on_unmatched: Unmatched | None = None, server_hostname: str | None = None, language: str = "en"):
        self.language = language
        self.host = host
        self.port = port
        self.dialect = dialect
        self.tpdu = bytes(tpdu)
        self.header = bytes(header)
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.max_frame_bytes = max_frame_bytes
        self.on_unmatched = on_unmatched or self._log_unmatched
        self.unmatched = 0  # every unmatched answer since start
        self._unmatched_here = 0  # on the current connection
        self._unmatched_unlogged = 0
        self._unmatched_logged_at: float | None = None
        self.drops = 0  # connections closed by us after a timeout, a bad frame or a flood
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._waiting: dict[tuple[str, str, str], asyncio.Future[Message]] = {}
        self._connect_lock = asyncio.Lock()
        self._backoff = BACKOFF_FIRST
        self.connects = 0

    def _say(self, key: str, **values: object) -> str:
        return catalogue.say(TEXTS, self.language, key, **values)

    def _os_reason(self, exc: Exception | None) -> str:
        if exc is None or isinstance(exc, asyncio.TimeoutError):
            return self._say("timed_out")
        number = getattr(exc, "errno", None)
        if self.language == "zh" and number in _ERRNO_ZH:
            return _ERRNO_ZH[number]
        return self._say("os_error", strerror=getattr(exc, "strerror", None) or str(exc), errno=number or "?")

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    # -- connection ----------------------------------------------------------------------------
    async def _connect(self, once: float | None = None) -> None:
        async with self._connect_lock:
            if self.connected:
                return
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (self.connect_timeout if once is None else min(once, self.connect_timeout))
            last: Exception | None = None
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(
                        self.host, self.port, ssl=self.ssl_context, limit=self.max_frame_bytes + 2,
                        server_hostname=self.server_hostname if self.ssl_context else None), remaining)
                except ssl.SSLError as exc:
                    raise LinkConnectError(self._say("tls_failed", where=f"{self.host}:{self.port}",
                                                     reason=exc.reason or exc), sent=False) from None
                except (OSError, asyncio.TimeoutError) as exc:
                    last = exc
                    if once is not None:
                        break
                    await asyncio.sleep(min(self._backoff, max(0.0, deadline - loop.time())))
                    self._backoff = min(self._backoff * 2, BACKOFF_MAX)
                    continue
                self._backoff = BACKOFF_FIRST
                _keepalive(writer)
                self._reader, self._writer = reader, writer
                self._unmatched_here = 0
                self.connects += 1
                self._read_task = loop.create_task(self._read_frames(reader, writer))
                return
            where = f"{self.host}:{self.port}"
            if isinstance(last, ConnectionRefusedError) or getattr(last, "errno", None) == errno.ECONNREFUSED:
                raise LinkRefused(self._say("refused", where=where), sent=False)
            raise LinkConnectError(self._say("cannot_connect", where=where, reason=self._os_reason(last)), sent=False)

    async def connect(self, *, once: float | None = None) -> None:
        """Open the connection now if it is not up (retrying with backoff within the connect timeout; `once`:
        a single attempt of at most `once` seconds, or the connect timeout if shorter — a refused one fails
        at once)."""
        if not self.connected:
            await self._connect(once)

    async def close(self) -> None:
        writer, task = self._writer, self._read_task
        self._writer = self._reader = self._read_task = None
        if task is not None:
            task.cancel()
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass
        self._fail_all(LinkClosed("the link was closed", sent=True))

    async def drop(self, reason: str) -> None:
        """Close the connection now (the next request opens a fresh one): after a timeout the peer is
        mid-frame or dead, and nothing more may be read from or written to it."""
        if self._writer is None:
            return
        self.drops += 1
        log.warning("dropping the acquirer connection: %s", reason)
        await self.close()

    def _peer_closed(self) -> bool:
        """True when the kernel already holds the peer's close (FIN or reset) that the reader task has not
        seen yet: a request written now would be lost in a connection the host has left, and counted as
        sent.  A host that closes idle connections makes this the common case, not a race."""
        sock = self._writer.get_extra_info("socket") if self._writer is not None else None
        if sock is None or not hasattr(select, "poll"):
            return False
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | getattr(select, "POLLRDHUP", 0))
        return any(events & (getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR)
                   for _, events in poller.poll(0))

    def _fail_all(self, error: LinkError) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()

    # -- reading -------------------------------------------------------------------------------
    async def _read_frames(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        error: LinkError
        try:
            while True:
                prefix = await reader.readexactly(2)
                length = int.from_bytes(prefix, "big")
                if length > self.max_frame_bytes:
                    error = FrameError(self._say("too_long", length=length, most=self.max_frame_bytes), sent=True,
                                       length=length, offset=0)
                    break
                body = await reader.readexactly(length)
                try:
                    frame = self.dialect.unpack_frame(body)
                except CodecError as exc:
                    error = FrameError(self._say("undecodable", length=length, detail=exc), sent=True,
                                       length=length, offset=exc.offset, field=exc.field)
                    self.on_unmatched(body, f"undecodable frame: {exc}")
                    break
                if not self._deliver(frame):
                    error = FrameError(self._say("flood", count=self._unmatched_here, most=MAX_UNMATCHED),
                                       sent=True, length=length)
                    self.drops += 1
                    log.warning("dropping the acquirer connection: %s", error)
                    break
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            error = LinkClosed(self._say("closed"), sent=True)
        if self._writer is writer:
            self._writer = self._reader = None
            self._read_task = None
        writer.close()
        self._fail_all(error)

    def _deliver(self, frame: Frame) -> bool:
        """Hand an answer to its waiting request; False when the peer has sent too many unmatched ones."""
        msg = frame.message
        if not msg.is_response:
            return self._unmatched(frame, f"the acquirer sent a request {msg.mti}, not an answer")
        key = match_key(msg, response=True)
        future = self._waiting.get(key)
        if future is None or future.done():
            return self._unmatched(frame, f"no request waiting for {key[0]} stan {key[1]} terminal {key[2].strip()}")
        future.set_result(msg)
        return True

    def _unmatched(self, frame: Frame, reason: str) -> bool:
        """Count an answer nobody waits for; False on the one past `MAX_UNMATCHED` on this connection."""
        self.unmatched += 1
        self._unmatched_here += 1
        self.on_unmatched(frame, reason)
        return self._unmatched_here <= MAX_UNMATCHED

    def _log_unmatched(self, item: object, reason: str) -> None:
        """At most one line per interval, with how many arrived since the last line."""
        self._unmatched_unlogged += 1
        now = asyncio.get_running_loop().time()
        if self._unmatched_logged_at is None or now - self._unmatched_logged_at >= UNMATCHED_LOG_INTERVAL:
            log.warning("%d unmatched answer(s) from the acquirer; the last: %s", self._unmatched_unlogged, reason)
            self._unmatched_unlogged, self._unmatched_logged_at = 0, now

    # -- exchange ------------------------------------------------------------------------------
    async def exchange(self, msg: Message, *, timeout: float | None = None) -> Message:
        """Send `msg` and return its matching answer; see the module doc for the errors."""
        key = match_key(msg, response=False)
        if key in self._waiting:
            raise LinkError(self._say("busy_stan", stan=key[1]), sent=False)
        try:
            data = self.dialect.pack_frame(msg, self.tpdu, self.header)
        except CodecError as exc:
            raise LinkError(self._say("cannot_encode", detail=exc), sent=False) from None
        if self.connected and self._peer_closed():
            log.info("the acquirer had closed the connection: opening a new one before sending")
            if self._read_task is not None:  # it reads what came before the close (an answer another request
                await asyncio.wait({self._read_task}, timeout=1.0)  # waits for) and then ends the connection
            if self.connected:
                await self.close()
        if not self.connected:
            await self._connect()
        writer = self._writer
        assert writer is not None
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        try:
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, ssl.SSLError, OSError):
                raise LinkClosed(self._say("broke"), sent=True) from None
            wait = self.response_timeout if timeout is None else timeout
            try:
                async with asyncio.timeout(wait):  # no task per request, unlike wait_for
                    return await asyncio.shield(future)
            except TimeoutError:
                error = LinkTimeout(self._say("no_answer", mti=msg.mti, stan=key[1], wait=wait), sent=True)
                if self._writer is writer:  # a stalled or half-sent answer: this connection is done
                    del self._waiting[key]
                    future.cancel()
                    await self.drop(str(error))
                raise error from None
        finally:
            if self._waiting.get(key) is future:
                del self._waiting[key]
            if not future.done():
                future.cancel()


def _keepalive(writer: asyncio.StreamWriter) -> None:
    """TCP keepalive on the acquirer connection, so a peer that vanished is noticed between messages."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
                            ("TCP_KEEPCNT", KEEPALIVE_COUNT)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    except OSError as exc:  # not fatal: the response timeout still bounds every exchange
        log.warning("cannot turn on TCP keepalive: %s", exc)
