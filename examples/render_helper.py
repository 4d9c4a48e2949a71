# examples/render_helper.py
# render.js in Python with the package's helper: serve_transform reads each message, frames and flushes
# each answer, echoes the request id and keeps print() off stdout.
import json
import re
from urllib.parse import urlsplit

from subprocess_transform import Response, serve_transform


def escape_html(text):
    return re.sub(r"[&<>\"']", lambda match: f"&#{ord(match[0])};", text)


def render(response, request):
    data = json.loads(response.body)  # not JSON: it raises, and this one response fails with Transform-Error
    page = f"<h1>{escape_html(urlsplit(request.url).path)}</h1>"
    page += f"<pre>{escape_html(json.dumps(data, indent=2, ensure_ascii=False))}</pre>"
    return Response(response.status, {"Content-Type": "text/html"}, page)


serve_transform(render)
