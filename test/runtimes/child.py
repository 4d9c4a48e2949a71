"""A transform in Python, standard library only: the same transform as child.ts.

Reads one HTTP/1.1 response message at a time from stdin (Content-Length or chunked), upper-cases a
text/plain body, and answers with Content-Length, echoing Transform-Request-Id.
"""

import platform
import sys

RUNTIME = f"python {platform.python_version()}"


def read_line(stream):
    line = stream.readline()
    if line and not line.endswith(b"\r\n"):
        raise ValueError(f"line without CRLF: {line!r}")
    return line


def read_exactly(stream, size):
    data = stream.read(size)
    if len(data) != size:
        raise ValueError(f"input ended after {len(data)} of {size} bytes")
    return data


def read_chunked(stream):
    parts = []
    while True:
        size = int(read_line(stream).split(b";")[0].strip(), 16)
        if size == 0:
            while read_line(stream) not in (b"\r\n", b""):
                pass  # trailer fields
            return b"".join(parts)
        parts.append(read_exactly(stream, size))
        read_exactly(stream, 2)  # CRLF


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        status_line = read_line(stdin)
        if not status_line:
            return  # stdin ended: exit
        fields = {}
        while True:
            line = read_line(stdin)
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            body = read_exactly(stdin, int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            body = read_chunked(stdin)
        else:
            body = b""
        content_type = fields.get("content-type", "")
        if content_type.startswith("text/plain"):
            body = body.upper()
        head = [status_line.decode("latin-1").rstrip("\r\n")]
        if content_type:
            head.append(f"Content-Type: {content_type}")
        head.append(f"Transform-Request-Id: {fields.get('transform-request-id', '')}")
        head.append(f"X-Transform: {RUNTIME}")
        head.append(f"Content-Length: {len(body)}")
        stdout.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        stdout.flush()


if __name__ == "__main__":
    main()
