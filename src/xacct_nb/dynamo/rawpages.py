"""Scan/Query pages as raw wire-format JSON, without botocore's output parsing.

botocore's parser walks the output shape for every attribute value (~75 µs per ~300-byte item),
which makes it the main client-side cost of a large read. botocore emits
``before-parse.dynamodb.<Op>`` just before parsing, with the HTTP ``response_dict`` and a
``customized_response_dict`` that ``Endpoint._do_get_response`` merges over the parsed result
(``parsed_response.update(customized_response_dict)``; a private behaviour, listed in
``xacct_nb._botocore_private``). For our page calls the handler here puts the 200 body's bytes
in ``customized_response_dict`` and empties ``response_dict['body']``, so the parser, which still
runs, has nothing to walk and only adds ``ResponseMetadata``; the caller's decoder
(``pyarrow.json`` in :class:`.arrow_parse.ArrowPages`) reads the bytes.

What keeps working unchanged:

* Errors: non-200 responses are left alone, so throttling, AccessDenied and ValidationException
  are parsed by botocore and raised as the usual ``ClientError`` with the usual retries.
* Integrity — of every DynamoDB call on a client :func:`enable_raw_pages` was given, not only
  ours: a 200 body whose CRC32 does not match DynamoDB's ``x-amz-crc32`` header, or that is not
  one whole JSON object (a body cut short where no CRC32 shows it: a middlebox stripped the
  header or re-framed the cut body), is *damaged*. botocore would parse a cut body into an empty
  result (``{"message": body}`` has none of the output's members) — an empty page, a missing
  item, a BatchGetItem without its items — and its standard mode *returns* a body whose CRC32
  still mismatches after its last attempt. Here a damaged body is resent inside botocore's own
  loop (a ``needs-retry`` handler, like its CRC32 check), up to the client's
  ``total_max_attempts``, and then fails with one :class:`GarbledBody` line (``after-call``).
  Raw Scan/Query bodies for Arrow (:func:`page_body`) are checked cheaply here (their end) and
  then by the caller's own decoder (:func:`decoded_body`), which resends one it cannot read.
* Other callers: the bypass acts only inside :func:`decoded_body` / :func:`page_body` on the
  calling thread, so ``client.scan()`` and every other call keep botocore's normal output (their
  bodies are only checked), and other clients are untouched.

The bytes are the wire format as sent: ``B`` and ``BS`` values are base64 text. (Pages decoded
into dicts by ``json.loads``, the benchmarks' floor, are benchmarks/raw_items.py's.)
"""

from __future__ import annotations

import functools
import json
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any, Literal

from .. import retries
from ..errors import GarbledBody
from .gcpause import gc_paused


def _json_loads() -> Callable[[bytes], Any]:
    """A faster decoder if the environment happens to have one (orjson, which e.g. the test
    extra's policy_sentry brings); not a dependency. Typed the same whichever is installed."""
    try:
        from orjson import loads
    except ImportError:
        return json.loads
    return loads


_loads = _json_loads()

__all__ = ["GarbledBody", "decoded_body", "enable_raw_pages", "page_body"]

_OPERATIONS = ("Scan", "Query")
_HANDLER_ID = "xacct-nb-raw-pages-{}"
# Set ("body") only while decoded_body runs on this thread.
# botocore sends, retries and parses a call on the calling thread, so the flag scopes the
# handler to exactly our calls.
_active = threading.local()
_CRC_HEADER = "x-amz-crc32"
_DAMAGED = "XacctNbDamagedBody"  # the mark a damaged body leaves in the parsed response
# Seconds between resends of a damaged body: it is no sign of load (unlike throttling), so the
# wait is short; full jitter, doubling, capped.
_GARBLED_BACKOFF_BASE, _GARBLED_BACKOFF_CAP = 0.05, 1.0


def enable_raw_pages(client: Any) -> None:
    """Register the raw-page and body-integrity handlers on this client's own event system
    (idempotent). :func:`decoded_body` calls it; calling it up front is
    optional, and makes every DynamoDB call of the client resend a damaged body."""
    events = client.meta.events
    events.register("before-parse.dynamodb", _check_and_decode, unique_id=_HANDLER_ID.format("parse"))
    events.register_first("needs-retry.dynamodb",
                          functools.partial(_retry_damaged, limit=_attempts(client)),
                          unique_id=_HANDLER_ID.format("retry"))
    events.register("after-call.dynamodb", _raise_damaged, unique_id=_HANDLER_ID.format("raise"))


def _check_and_decode(response_dict: dict, customized_response_dict: dict, operation_model: Any,
                      **_: Any) -> None:
    if response_dict.get("status_code") != 200:
        return  # errors are botocore's to parse and retry
    body = response_dict["body"]
    mode = getattr(_active, "on", None) if operation_model.name in _OPERATIONS else None
    _active.crc = crc = _crc32_matches(body, response_dict.get("headers") or {})
    if crc is False:
        _damaged(response_dict, customized_response_dict,
                 f"its CRC32 does not match the {_CRC_HEADER} header")
    elif mode == "body":  # the bytes as they came, for a decoder that takes bytes (Arrow)
        # A whole JSON object ends with "}"; the caller's decoder (decoded_body) checks the rest.
        if not body[-256:].rstrip().endswith(b"}"):  # the tail only: no copy of the page
            _damaged(response_dict, customized_response_dict, "it does not end a JSON object")
        else:
            customized_response_dict["Body"] = body
            response_dict["body"] = b""
    elif mode is None and not body.strip():
        return  # an empty 200 is whole for some operations (TagResource); never for Scan/Query
    else:
        try:
            # json.loads makes no reference cycles, so the collector has nothing to find while
            # it builds a page's ~20 dicts per item — and pausing it makes decoding ~2-3x faster.
            with gc_paused():
                decoded = _loads(body)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):  # a 200 from DynamoDB is always one JSON object
            _damaged(response_dict, customized_response_dict, "it is not one whole JSON object")
        # else: botocore parses it as always (the check cost one decode of its own)


def _crc32_matches(body: bytes, headers: Any) -> bool | None:
    """Whether the body matches its x-amz-crc32 header; None without one."""
    expected = headers.get(_CRC_HEADER)
    if expected is None:
        return None
    return str(zlib.crc32(body) & 0xFFFFFFFF) == str(expected).strip()


def _damaged(response_dict: dict, customized_response_dict: dict, problem: str) -> None:
    customized_response_dict[_DAMAGED] = f"{problem}, {len(response_dict['body'])} bytes"
    response_dict["body"] = b""  # nothing for botocore's parser to make a result of


def _retry_damaged(response: Any, attempts: int, limit: int, **_: Any) -> float | None:
    """botocore's needs-retry: the delay before resending a damaged body, or None. ``limit``:
    the client's total attempts, as for a CRC32 mismatch."""
    if response is None or _DAMAGED not in response[1]:
        return None  # botocore's own retry handler decides
    if attempts >= limit:
        return None
    return retries.backoff(attempts, _GARBLED_BACKOFF_BASE, _GARBLED_BACKOFF_CAP) or 0.001


def _raise_damaged(parsed: dict, model: Any, **_: Any) -> None:
    """botocore's after-call: still damaged after the last attempt → one line."""
    problem = parsed.get(_DAMAGED)
    if problem:
        tries = parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        raise GarbledBody(operation=model.name, attempts=tries, problem=problem)


def page_body(client: Any, operation: Literal["scan", "query"], **kwargs: Any) -> bytes:
    """One Scan/Query response body as the raw JSON bytes the server sent (HTTP 200 only).

    Errors and retries are botocore's, as for any call; the body's CRC32 and ending are
    checked (see the module docstring), nothing else of it is decoded here (``LastEvaluatedKey``
    included: the caller's decoder has it) — :func:`decoded_body` resends one that its decoder
    cannot read.
    """
    return decoded_body(client, operation, _same, **kwargs)


def decoded_body(client: Any, operation: Literal["scan", "query"],
                 decode: Callable[[bytes], Any], **kwargs: Any) -> Any:
    """``decode(body)`` of one Scan/Query response body, the body resent (as a CRC32 mismatch
    is) when ``decode`` raises ValueError on it — a body cut or damaged where no CRC32 showed it.
    """
    enable_raw_pages(client)
    return _call(client, operation, kwargs, "body", lambda page: decode(page["Body"]))


def _same(body: bytes) -> bytes:
    return body


def _call(client: Any, operation: str, kwargs: dict[str, Any], mode: str,
          decode: Callable[[dict[str, Any]], Any]) -> Any:
    method = getattr(client, operation)
    attempts = _attempts(client)
    for attempt in range(1, attempts + 1):
        _active.on, _active.crc = mode, None
        try:
            page = method(**kwargs)
            try:
                return decode(page)
            except ValueError as err:
                if _active.crc:  # the server's own bytes: no transit damage to resend
                    raise
                problem = f"{err}, {len(page.get('Body', b''))} bytes"
        finally:
            _active.on = None
        if attempt < attempts:
            time.sleep(retries.backoff(attempt, _GARBLED_BACKOFF_BASE, _GARBLED_BACKOFF_CAP))
    raise GarbledBody(operation=operation.capitalize(), attempts=attempts, problem=problem)


def _attempts(client: Any) -> int:
    """The client's total attempts per request: a damaged body gets as many as a CRC32
    mismatch would."""
    configured = (getattr(client.meta.config, "retries", None) or {}).get("total_max_attempts")
    return int(configured or retries.DYNAMODB_ATTEMPTS)
