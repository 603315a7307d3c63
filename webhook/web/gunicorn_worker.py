"""How gunicorn serves the app: a worker that slow clients cannot starve, and JSON logs.

gunicorn's threaded worker (gthread) gives a connection a thread once its first byte has
arrived, and the thread then waits for the rest: ten sockets that send half a request and
stall hold all eight threads, and RAYNET's webhooks time out. ``BufferingWorker`` lets a
thread take only the bytes that have arrived. While a request is incomplete, its
connection goes back to the poller with what it sent so far (gunicorn's own deferral), so
a stalled socket holds no thread; a request not complete ``REQUEST_SECONDS`` after its first
byte is answered 408, one whose body would exceed ``MAX_BODY`` 413, both without reading on.
A buffering reverse proxy in front (``deploy/nginx.conf``) does the same at the edge.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import Any

from gunicorn.glogging import Logger
from gunicorn.workers.gthread import _DEFER, ThreadWorker

REQUEST_SECONDS = 10.0  # from a request's first byte to its last
MAX_HEAD = 32 * 1024
MAX_BODY = 1024 * 1024  # webhooks are far smaller; the app enforces WEBHOOK_MAX_BODY
UPLOADS = {b"/admin/reports": 64 * 1024 * 1024}  # Money S3's reports, uploaded (admin.py)
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large"}


class RequestRefused(Exception):
    """The request cannot be served as it stands; ``status`` says why."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def request_end(data: bytes | bytearray, max_head: int, max_body: int) -> int | None:
    """Where the first complete HTTP/1.1 request in ``data`` ends; None while incomplete.

    Reads only what framing needs: the end of the head, then ``Content-Length`` or the
    chunks of ``Transfer-Encoding: chunked``. Raises ``RequestRefused`` for a head over
    ``max_head``, a body over ``max_body`` (known before it arrives) or broken framing.
    """
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        if len(data) > max_head:
            raise RequestRefused(413)
        return None
    if head_end > max_head:
        raise RequestRefused(413)
    fields = {}
    for line in bytes(data[:head_end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip().lower()
    body_start = head_end + 4
    if b"chunked" in fields.get(b"transfer-encoding", b""):
        return _chunked_end(data, body_start, max_body)
    try:
        length = int(fields.get(b"content-length", b"0"))
    except ValueError:
        raise RequestRefused(400) from None
    if length < 0:
        raise RequestRefused(400)
    if length > max_body:
        raise RequestRefused(413)
    end = body_start + length
    return end if len(data) >= end else None


def _chunked_end(data: bytes | bytearray, position: int, max_body: int) -> int | None:
    body = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return None
        try:
            size = int(bytes(data[position:line_end]).split(b";")[0], 16)
        except ValueError:
            raise RequestRefused(400) from None
        body += size
        if size < 0 or body > max_body:
            raise RequestRefused(413 if body > max_body else 400)
        position = line_end + 2
        if size == 0:  # the last chunk; trailers end with an empty line
            end = data.find(b"\r\n", position)
            while end > position:
                position = end + 2
                end = data.find(b"\r\n", position)
            return None if end < 0 else end + 2
        position += size + 2
        if len(data) < position:
            return None


class BufferingWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn has no type hints
    """gthread, but a request is read whole before a thread waits on it."""

    def handle(self, conn: Any) -> Any:
        if conn.is_http2:
            return super().handle(conn)
        try:
            ready = self._gather(conn)
        except RequestRefused as refused:
            _refuse(conn.sock, refused.status)
            return False
        except OSError:
            return False
        return super().handle(conn) if ready is True else ready

    def _gather(self, conn: Any) -> Any:
        """True once a whole request is buffered for the parser; else _DEFER or False."""
        pending: bytearray = conn.__dict__.setdefault("pending", bytearray())
        if conn.initialized:  # a kept-alive connection: bytes read ahead come first
            pending[:0] = conn.parser.unreader.take_buffered()
        most = _body_limit(pending)
        closed = _receive(conn.sock, pending, MAX_HEAD + most)
        if not pending:
            return False if closed else _DEFER
        started = conn.__dict__.setdefault("started", time.monotonic())
        if request_end(pending, MAX_HEAD, _body_limit(pending)) is None:
            if closed:
                return False
            if time.monotonic() - started > REQUEST_SECONDS:
                raise RequestRefused(408)
            _continue_if_expected(conn, pending)
            return _DEFER
        conn.data_ready = True
        conn.init()
        conn.parser.unreader.unread(bytes(pending))
        pending.clear()
        del conn.started
        return True

    def murder_pending(self) -> None:
        """gthread closes a deferred connection ``keepalive`` seconds after it was deferred,
        without a word; one that has begun a request keeps its REQUEST_SECONDS from the
        first byte, then gets its 408. (gthread's deque is sorted by its own deadlines, not
        these: every pending connection is looked at.)"""
        now = time.monotonic()
        for conn in list(self.pending_conns):
            started = conn.__dict__.get("started")
            if (conn.timeout if started is None else started + REQUEST_SECONDS) > now:
                continue
            self.pending_conns.remove(conn)
            with contextlib.suppress(OSError, KeyError, ValueError):  # already unregistered
                self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            if started is not None:
                _refuse(conn.sock, 408)
            conn.close()


def _body_limit(pending: bytearray) -> int:
    """MAX_BODY, or more for the one page that takes uploads (its path on the first line)."""
    line = bytes(pending[: pending.find(b"\r\n")]) if b"\r\n" in pending else b""
    parts = line.split(b" ")
    path = parts[1].split(b"?")[0] if len(parts) > 1 else b""
    return UPLOADS.get(path, MAX_BODY)


def _receive(sock: socket.socket, pending: bytearray, most: int) -> bool:
    """Append what has arrived without waiting; True when the peer has closed."""
    sock.setblocking(False)
    try:
        while len(pending) <= most:
            try:
                data = sock.recv(64 * 1024)
            except BlockingIOError:
                return False
            if not data:
                return True
            pending += data
        return False
    finally:
        sock.setblocking(True)


def _continue_if_expected(conn: Any, pending: bytearray) -> None:
    """A client that sent ``Expect: 100-continue`` waits for this before its body."""
    head = bytes(pending[: pending.find(b"\r\n\r\n")]).lower()
    if b"\r\nexpect: 100-continue" in head and not conn.__dict__.get("continued"):
        conn.continued = True
        conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")


def _refuse(sock: socket.socket, status: int) -> None:
    body = json.dumps({"error": _REASONS[status].lower().replace(" ", "_")}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    try:
        sock.settimeout(1.0)
        sock.sendall(head.encode() + body)
    except OSError:
        pass  # the client is gone; nothing is lost


class JsonAccessLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """Access log lines as JSON objects built by ``json.dumps``: whatever a path holds
    (``%0a``, quotes), each request is exactly one valid line."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "remote": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": atoms["M"],
        }
        self.access_log.info("%s", json.dumps(entry, ensure_ascii=False))
