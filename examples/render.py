# examples/render.py
# A transform in Python, standard library only: JSON in, an HTML page out, one message at a time.
import json
import re
import sys
from urllib.parse import urlsplit

stdin, stdout = sys.stdin.buffer, sys.stdout.buffer


def escape_html(text):
    """As render.js escapes: each of & < > " ' as a numeric reference."""
    return re.sub(r"[&<>\"']", lambda match: f"&#{ord(match[0])};", text)


def read_message():
    """One HTTP/1.1 response from stdin: (status line, [(name, value)], body), or None when stdin ends."""
    status = stdin.readline()
    if not status:
        return None
    fields = []
    while (line := stdin.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        fields.append((name, value.strip()))
    names = {name.lower(): value for name, value in fields}
    if names.get("transfer-encoding") == "chunked":  # a body that was still streaming
        body = b""
        while size := int(stdin.readline().split(b";")[0], 16):
            body += stdin.read(size)
            stdin.readline()  # the CRLF after each chunk
        while stdin.readline() not in (b"\r\n", b""):
            pass  # trailer fields, if any
    else:
        body = stdin.read(int(names.get("content-length", "0")))
    return status.decode("latin-1").rstrip("\r\n"), fields, body


def write_answer(status, message_id, fields, body):
    """One answer: the id of the message it answers (required), framed by Content-Length."""
    head = [status, f"Transform-Request-Id: {message_id}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in fields]
    stdout.write("\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body)
    stdout.flush()


while (message := read_message()) is not None:
    status, fields, body = message
    names = {name.lower(): value for name, value in fields}
    message_id = names["transform-request-id"]
    try:
        data = json.loads(body)
    except ValueError as error:  # cannot transform this one: the server applies onError, this process stays
        write_answer("HTTP/1.1 500 Internal Server Error", message_id, [("Transform-Error", str(error))], b"")
        continue
    path = urlsplit(names.get("transform-request-url", "")).path  # the title render.js gives: the URL's path
    page = f"<h1>{escape_html(path)}</h1>"
    page += f"<pre>{escape_html(json.dumps(data, indent=2, ensure_ascii=False))}</pre>"
    write_answer(status, message_id, [("Content-Type", "text/html; charset=utf-8")], page.encode())
