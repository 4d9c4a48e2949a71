"""The transform-process side of subprocess-transform, for Python: standard library only, Python 3.8 or later.

A pool started with ``command: ['python3', 'render.py']`` writes one HTTP/1.1 response per message to the
process's stdin and reads one answer per message from its stdout. ``serve_transform(fn)`` does the protocol:
it reads each message strictly (Content-Length or chunked), calls ``fn(response, request)``, frames the answer
with Content-Length, echoes Transform-Request-Id, flushes, answers Transform-Error when ``fn`` raises (the
traceback goes to stderr) and goes on, and returns when stdin ends::

    from subprocess_transform import Response, serve_transform

    def shout(response, request):
        return Response(response.status, response.headers, response.body.upper())

    serve_transform(shout)

Stray output never reaches the protocol: ``print()`` goes to stderr, and so does anything written to file
descriptor 1 (a C library, a subprocess). In a process a pool started (it sets SUBPROCESS_TRANSFORM_CHILD=1)
that holds from the import of this module on, and what was printed before it and is still buffered goes to
stderr too; in any other program from the call of ``serve_transform``.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from http import HTTPStatus
from wsgiref.headers import Headers

__all__ = ["Request", "Response", "ProtocolError", "serve_transform"]

MAX_HEAD_BYTES = 64 * 1024
MAX_FIELDS = 256
REASON_MAX_CHARS = 200
DEFAULT_URL = "http://localhost/"
CONTEXT_PREFIX = "transform-request-"
HEADER_PREFIX = "transform-request-header-"

# RFC 9110 section 5.6.2: a field name is a token.
TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
STATUS_LINE = re.compile(rb"^HTTP/1\.1 ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?$")
# RFC 9112 section 7.1: chunk-size in hex, then extensions the body does not need.
CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?$")
# Framing is ours: what fn says about it would contradict the bytes written.
FRAMING_FIELDS = frozenset(
    ["content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade"]
)


class ProtocolError(Exception):
    """Input that is not a well-framed HTTP/1.1 response: the framing is lost, serving stops."""


@dataclass
class Request:
    """The request the response answers, from the Transform-Request-* fields the pool sends."""

    method: str = "GET"
    url: str = DEFAULT_URL
    #: The request headers the pool forwards (its ``requestContext`` option).
    headers: Headers = field(default_factory=lambda: Headers([]))


@dataclass
class Response:
    """A response: what ``fn`` is given, and one shape of what it returns.

    ``headers`` may be a ``wsgiref.headers.Headers``, a dict or a list of (name, value) pairs; ``body`` is
    bytes or str (sent as UTF-8). A 3-tuple ``(status, headers, body)`` is the same answer.
    """

    status: int = 200
    headers: Headers = field(default_factory=lambda: Headers([]))
    body: bytes = b""


def _flush_stdout():
    try:
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):
        pass


def _route_stdout_to_stderr(started_by_pool):
    """Give the protocol a private copy of fd 1, then point fd 1 and sys.stdout at stderr."""
    global _protocol_out
    if _protocol_out is not None:
        return _protocol_out
    # Printed before, still in sys.stdout's buffer: in a process a pool started, stdout is the protocol's from
    # its first byte, so it goes to stderr (after the switch); in any other program it was meant for stdout.
    if not started_by_pool:
        _flush_stdout()
    _protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _flush_stdout()
    sys.stdout = sys.stderr
    return _protocol_out


_protocol_out = None
if os.environ.get("SUBPROCESS_TRANSFORM_CHILD") == "1":
    _route_stdout_to_stderr(started_by_pool=True)


def _read_line(stream, limit):
    """One CRLF-terminated line without its CRLF; None at a clean end of input."""
    line = stream.readline(limit + 1)
    if not line:
        return None
    if len(line) > limit:
        raise ProtocolError(f"Head too large: over {MAX_HEAD_BYTES} bytes")
    if not line.endswith(b"\r\n"):
        if line.endswith(b"\n"):
            raise ProtocolError("Bare LF: lines must end with CRLF")
        raise ProtocolError("Input ended in the middle of a line")
    line = line[:-2]
    if b"\r" in line:
        raise ProtocolError("Bare CR in a line")
    return line


def _read_exactly(stream, size):
    data = stream.read(size)
    if len(data) != size:
        raise ProtocolError(f"Input ended in the middle of a body: {len(data)} of {size} bytes")
    return data


def _read_head(stream):
    """(status, [(name, value)]) of the next message, or None when stdin ends between messages."""
    budget = MAX_HEAD_BYTES
    line = _read_line(stream, budget)
    if line is None:
        return None
    budget -= len(line) + 2
    match = STATUS_LINE.match(line)
    if match is None:
        raise ProtocolError(f"Malformed status line: {line[:80]!r}")
    fields = []
    while True:
        line = _read_line(stream, max(budget, 0))
        if line is None:
            raise ProtocolError("Input ended in the middle of a head")
        budget -= len(line) + 2
        if line == b"":
            return int(match.group(1)), fields
        # RFC 9112 section 5.2: obs-fold is rejected.
        if line[:1] in (b" ", b"\t"):
            raise ProtocolError("Obsolete line folding")
        name, colon, value = line.partition(b":")
        if not colon or TOKEN.match(name) is None:
            raise ProtocolError(f"Malformed field line: {line[:80]!r}")
        if len(fields) == MAX_FIELDS:
            raise ProtocolError(f"Too many fields: over {MAX_FIELDS}")
        fields.append((name.decode("ascii"), value.strip(b" \t").decode("latin-1")))


def _get_content_length(values):
    # RFC 9110 section 8.6: a list of identical values is one length; anything else is an error.
    lengths = {part.strip() for value in values for part in value.split(",")}
    if len(lengths) != 1:
        raise ProtocolError(f"Conflicting Content-Length: {values!r}")
    (length,) = lengths
    if not length.isdigit() or not length.isascii():
        raise ProtocolError(f"Bad Content-Length: {length!r}")
    return int(length)


def _read_chunked(stream):
    """A chunked body, RFC 9112 section 7.1, trailer fields dropped."""
    parts = []
    while True:
        line = _read_line(stream, MAX_HEAD_BYTES)
        if line is None:
            raise ProtocolError("Input ended in the middle of a chunked body")
        match = CHUNK_SIZE.match(line)
        if match is None:
            raise ProtocolError(f"Bad chunk size: {line[:80]!r}")
        size = int(match.group(1), 16)
        if size == 0:
            break
        parts.append(_read_exactly(stream, size))
        if _read_exactly(stream, 2) != b"\r\n":
            raise ProtocolError("A chunk does not end with CRLF")
    while True:
        line = _read_line(stream, MAX_HEAD_BYTES)
        if line is None:
            raise ProtocolError("Input ended in the trailer of a chunked body")
        if line == b"":
            return b"".join(parts)


def _read_body(stream, status, fields):
    # RFC 9112 section 6.3: these have no body whatever their fields say.
    if status in (204, 304) or status < 200:
        return b""
    lengths = [value for name, value in fields if name.lower() == "content-length"]
    codings = [value for name, value in fields if name.lower() == "transfer-encoding"]
    if lengths and codings:
        raise ProtocolError("Both Content-Length and Transfer-Encoding")
    if codings:
        if len(codings) != 1 or codings[0].lower() != "chunked":
            raise ProtocolError(f"Transfer-Encoding other than chunked: {codings!r}")
        return _read_chunked(stream)
    if lengths:
        return _read_exactly(stream, _get_content_length(lengths))
    raise ProtocolError("A message with neither Content-Length nor Transfer-Encoding")


def _read_message(stream):
    """(id, Response, Request) of the next message, or None when stdin ends between messages."""
    head = _read_head(stream)
    if head is None:
        return None
    status, fields = head
    body = _read_body(stream, status, fields)
    message_id = None
    request = Request()
    headers = []
    for name, value in fields:
        lower = name.lower()
        if lower == "transform-request-id":
            message_id = value
        elif lower == "transform-request-method":
            request.method = value
        elif lower == "transform-request-url":
            request.url = value
        elif lower.startswith(HEADER_PREFIX):
            request.headers.add_header(name[len(HEADER_PREFIX) :], value)
        elif lower.startswith(CONTEXT_PREFIX) or lower in FRAMING_FIELDS:
            continue
        else:
            headers.append((name, value))
    return message_id, Response(status, Headers(headers), body), request


def _to_response(result):
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple) and len(result) == 3:
        return Response(*result)
    raise TypeError(f"Expected the transform to return a Response or (status, headers, body), got {result!r}")


def _get_fields(headers):
    if isinstance(headers, Headers):
        return headers.items()
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers)


def _format_answer(result, message_id):
    """The answer's bytes, framed by Content-Length; a ValueError or TypeError for an answer that cannot be sent."""
    response = _to_response(result)
    status = response.status
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise ValueError(f"Expected a status from 200 to 599, got {status!r}")
    body = response.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    elif not isinstance(body, bytes):
        raise TypeError(f"Expected the body as bytes or str, got {type(body).__name__}")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    lines = [f"HTTP/1.1 {status} {phrase}".rstrip()]
    if message_id is not None:
        lines.append(f"Transform-Request-Id: {message_id}")
    for name, value in _get_fields(response.headers):
        name, value = str(name), str(value)
        lower = name.lower()
        if lower in FRAMING_FIELDS or lower.startswith(CONTEXT_PREFIX):
            continue
        if TOKEN.match(name.encode("latin-1", "replace")) is None:
            raise ValueError(f"Invalid header name: {name!r}")
        if re.search(r"[\x00\r\n]", value):
            raise ValueError(f"Invalid value of header {name}: {value!r}")
        lines.append(f"{name}: {value}")
    if status in (204, 304):
        if body:
            raise ValueError(f"A {status} answer cannot have a body")
    else:
        lines.append(f"Content-Length: {len(body)}")
    # Values above U+00FF cannot be sent in a field: encode raises, and the answer becomes a Transform-Error.
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def _to_reason(error):
    """A Transform-Error value: one line of visible ASCII, short."""
    lines = str(error).split("\n")
    line = re.sub(r"[^\x20-\x7e]", "?", lines[0]).strip()
    return (line or type(error).__name__)[:REASON_MAX_CHARS]


def _format_failure(error, message_id):
    lines = ["HTTP/1.1 500 Internal Server Error"]
    if message_id is not None:
        lines.append(f"Transform-Request-Id: {message_id}")
    lines += [f"Transform-Error: {_to_reason(error)}", "Content-Length: 0"]
    return "\r\n".join(lines).encode("ascii") + b"\r\n\r\n"


def serve_transform(fn):
    """Serve ``fn`` over stdin and stdout until stdin ends; then return.

    ``fn(response, request)`` is called once per message, in order. ``response`` is a :class:`Response`
    (``status``, ``headers`` as a ``wsgiref.headers.Headers``, ``body`` as bytes); ``request`` is a
    :class:`Request` (``method``, ``url``, ``headers``). It returns a :class:`Response` (the one it was given,
    changed, will do) or a tuple ``(status, headers, body)``. If it raises, or returns an answer that cannot be
    sent, the answer is a Transform-Error (the traceback goes to stderr) and serving goes on. Input that breaks
    the framing stops serving with exit status 1.
    """
    if not callable(fn):
        raise TypeError(f"Expected a transform function, got {type(fn).__name__}")
    out = _route_stdout_to_stderr(started_by_pool=False)
    stream = sys.stdin.buffer
    # The protocol owns stdin: input() in fn reads nothing instead of eating the next message.
    sys.stdin = open(os.devnull)
    try:
        while True:
            try:
                message = _read_message(stream)
            except ProtocolError as error:
                print(f"subprocess-transform: stopped serving: {error}", file=sys.stderr)
                sys.exit(1)
            if message is None:
                return
            message_id, response, request = message
            try:
                answer = _format_answer(fn(response, request), message_id)
            except Exception as error:
                traceback.print_exc()
                answer = _format_failure(error, message_id)
            out.write(answer)
            out.flush()
    except BrokenPipeError:
        # The pool closed our stdout: nobody reads the answers any more, and nothing left is worth flushing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        sys.exit(1)
