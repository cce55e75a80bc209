"""A seeded fault-injecting HTTP proxy on loopback, in front of the sandbox (moto) or dynalite.

Ordinary boto3 sessions reach it through a profile's ``endpoint_url`` (see :func:`proxied_config`),
so every layer of the client — signing, pooling, botocore's retries, our raw-page decoding — meets
the faults exactly as it would meet them from a network:

* ``500`` / ``503``: DynamoDB's InternalServerError / ServiceUnavailable JSON bodies;
* ``throttle`` / ``ptee``: HTTP 400 with ``ThrottlingException`` /
  ``ProvisionedThroughputExceededException`` as ``__type``;
* ``reset``: the connection is reset (RST) instead of an answer;
* ``cut`` / ``cut_crc``: the upstream's 200 body cut at a random byte, framed as if whole
  (Content-Length of the cut body), without / with the ``x-amz-crc32`` of the real body;
* ``cut_inner``: cut right after a ``]}`` inside the body (the end of a list or set value),
  without CRC: a body whose start and end both look whole (a random cut rarely does that);
* ``garble_crc``: one byte of the 200 body changed, with the real body's ``x-amz-crc32``;
* ``stall``: no answer for ``stall_seconds`` (beyond the client's read timeout), then a close.

Which request gets which fault comes from ``random.Random(seed)``; ``rate`` and ``faults`` can
be changed between reads. Requests are served by a bounded pool of threads. ``on_write(action,
relayed)`` is called for each IAM/STS write the upstream answered, before the answer is relayed
(``relayed=False``: a test that kills its client there knows the write happened and the client
never learned it) and again after it.
"""

from __future__ import annotations

import http.client
import random
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULTS = ("500", "503", "throttle", "ptee", "reset", "cut", "cut_inner", "cut_crc", "garble_crc",
          "stall")
BODY_FAULTS = frozenset({"cut", "cut_inner", "cut_crc", "garble_crc"})
_DDB = "com.amazonaws.dynamodb.v20120810#"
_ERRORS = {
    "500": (500, "InternalServerError", "injected internal error"),
    "503": (503, "ServiceUnavailable", "injected unavailability"),
    "throttle": (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    "ptee": (400, "ProvisionedThroughputExceededException",
             "The level of configured provisioned throughput for the table was exceeded."),
}
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                  "proxy-connection", "upgrade", "te", "trailer"})
_WRITE_PREFIXES = ("Create", "Delete", "Put", "Attach", "Detach", "Update", "Tag", "Untag",
                   "Set", "Add", "Remove", "Upload")


class FaultProxy:
    """``with FaultProxy(upstream, seed=1, rate=0.3) as endpoint: ...`` — see the module doc."""

    def __init__(self, upstream: str, *, seed: int = 0, rate: float = 0.0,
                 faults: Iterable[str] = FAULTS, stall_seconds: float = 1.5, workers: int = 64,
                 fault_targets: Callable[[str], bool] | None = None):
        self.upstream = urlsplit(upstream)
        self.rng = random.Random(seed)
        self.rate = rate
        self.faults = tuple(faults)
        self.stall_seconds = stall_seconds
        self.workers = workers
        # which requests may be faulted, by X-Amz-Target (DynamoDB) or Action (IAM/STS form)
        self.fault_targets = fault_targets or (lambda target: target.startswith("DynamoDB"))
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self.on_write: Callable[[str, bool], None] | None = None
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self.endpoint = ""

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> str:
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.pool.shutdown(wait=False, cancel_futures=True)
            self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    @property
    def total_injected(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    # -- decisions -------------------------------------------------------------------------------
    def _choose(self, target: str) -> tuple[str | None, random.Random]:
        """The fault for this request (or None), and a private generator for its details."""
        with self._lock:
            self.requests += 1
            fault = None
            if self.faults and self.fault_targets(target) and self.rng.random() < self.rate:
                fault = self.rng.choice(self.faults)
            return fault, random.Random(self.rng.random())

    def _count(self, fault: str) -> None:
        with self._lock:
            self.injected[fault] += 1

    def forward(self, method: str, path: str, headers: list[tuple[str, str]],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            return response.status, [(k, v) for k, v in response.getheaders()
                                     if k.lower() not in _HOP], data
        finally:
            conn.close()


class _Server(socketserver.TCPServer):
    """A TCP server whose connections are served by a bounded thread pool."""

    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, proxy: FaultProxy):
        self.proxy = proxy
        self.pool = ThreadPoolExecutor(proxy.workers, thread_name_prefix="faultproxy")
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.pool.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except OSError:
            pass  # the client went away (timeouts, our own resets)
        finally:
            self.shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects
    timeout = 5  # an idle kept-alive connection frees its worker after this

    def log_message(self, *_: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:  # noqa: N802 — the http.server naming
        self._relay()

    def do_GET(self) -> None:  # noqa: N802
        self._relay()

    def _relay(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        action = _action(self.headers.get("X-Amz-Target", ""), body)
        fault, rng = proxy._choose(action)
        if fault == "reset":
            proxy._count(fault)
            self._reset()
            return
        if fault == "stall":
            proxy._count(fault)
            time.sleep(proxy.stall_seconds)
            self._reset()
            return
        if fault in _ERRORS:
            proxy._count(fault)
            status, code, message = _ERRORS[fault]
            payload = f'{{"__type":"{_DDB}{code}","message":"{message}"}}'.encode()
            self._answer(status, [("Content-Type", "application/x-amz-json-1.0")], payload)
            return
        status, headers, data = proxy.forward(self.command, self.path, list(self.headers.items()),
                                              body)
        if fault in BODY_FAULTS and status == 200 and len(data) > 2:
            proxy._count(fault)
            headers, data = _damaged(fault, headers, data, rng)
        write = status < 300 and _is_write(action)
        if write and proxy.on_write is not None:
            proxy.on_write(action, False)
        self._answer(status, headers, data)
        if write and proxy.on_write is not None:
            proxy.on_write(action, True)

    def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0), so the client sees a reset, not a clean end."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _action(target: str, body: bytes) -> str:
    """``DynamoDB_20120810.Scan`` for DynamoDB; ``iam:CreateRole``-like for form APIs."""
    if target:
        return target
    try:
        values = parse_qs(body.decode("utf-8", "replace"))
    except ValueError:
        return ""
    return values.get("Action", [""])[0]


def _is_write(action: str) -> bool:
    return not action.startswith("DynamoDB") and action.startswith(_WRITE_PREFIXES)


def _damaged(fault: str, headers: list[tuple[str, str]], data: bytes,
             rng: random.Random) -> tuple[list[tuple[str, str]], bytes]:
    crc = str(zlib.crc32(data) & 0xFFFFFFFF)  # the real body's, as DynamoDB sends it
    kept = [(k, v) for k, v in headers if k.lower() != "x-amz-crc32"]
    if fault == "cut":
        return kept, data[:rng.randrange(1, len(data))]
    if fault == "cut_inner":
        ends = [i + 2 for i in range(len(data) - 2) if data[i:i + 2] == b"]}"]
        return kept, data[:rng.choice(ends)] if ends else data[:len(data) // 2]
    if fault == "cut_crc":
        return [*kept, ("x-amz-crc32", crc)], data[:rng.randrange(1, len(data))]
    at = rng.randrange(len(data))
    changed = bytes([data[at] ^ (1 << rng.randrange(7))])
    return [*kept, ("x-amz-crc32", crc)], data[:at] + changed + data[at + 1:]


def proxied_config(source_config: Path, upstream: str, endpoint: str, target: Path) -> Path:
    """A copy of an AWS config file whose profiles reach ``endpoint`` instead of ``upstream``."""
    target.write_text(source_config.read_text().replace(upstream, endpoint))
    return target
