"""
Finding one-time codes and verification links in a message, ranked, each
with the text around it: what an agent testing a sign-up or a password
reset needs from the mail.

Pure functions over the subject, text and HTML bodies (no I/O).  HTML is
read with the standard library's parser: script and style are skipped,
links keep their anchor text, and emphasised text (bold, headings, code,
large table cells) is remembered because codes are usually shown that way.
Codes may be split by spaces or dashes (C{4 8 2 9 1 7}, C{482-917}); links
wrapped in a tracking redirect are reported with the URL they lead to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_RESULTS = 10
CONTEXT = 60
# Scores from which a candidate is good enough to be "the" code or link.
BEST_CODE = 5.0
BEST_LINK = 4.0

_BLOCKS = frozenset(
    {"p", "div", "br", "tr", "td", "th", "li", "h1", "h2", "h3", "h4", "table", "section"}
)
_EMPHASIS = frozenset({"b", "strong", "h1", "h2", "h3", "code", "span", "td", "div", "p"})
_SKIPPED = frozenset({"script", "style", "head", "title"})

_CODE_WORDS = re.compile(
    r"code|verif|otp|one[- ]time|passcode|\bpin\b|security|confirm|log ?in|sign ?in|"
    r"\benter\b|token|2fa|authenticat|access|password",
    re.IGNORECASE,
)
_NOT_CODE_WORDS = re.compile(
    r"order|invoice|ref(erence)?\b|ticket|account (number|no)|phone|call|tel\b|fax|suite|"
    r"street|\bst\b|zip|postal|po box|copyright|©|year|version",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+", re.IGNORECASE)
_CODE_PATTERNS: tuple[tuple[re.Pattern[str], float], ...] = (
    # 4 8 2 9 1 7: one digit at a time.
    (re.compile(r"(?<![\w.,-])(\d(?:[ \u00a0]\d){3,7})(?![\w-]|[.,]\d)"), 3.0),
    # 482-917, 482 917, 4829 1735.
    (re.compile(r"(?<![\w.,-])(\d{3,4}[ \u00a0-]\d{3,4})(?![\w.,-]|\.\d)"), 2.5),
    # G-482917: a letter prefix, the digits are the code.
    (re.compile(r"(?<![\w-])[A-Z]-(\d{4,8})(?![\w-])"), 3.0),
    # 482917.
    (re.compile(r"(?<![\w.,:/#$€£+-])(\d{4,8})(?![\w%:/-]|[.,]\d)"), 2.0),
    # K7P-2QX or K7P2QX: upper case letters and digits, both present.
    (re.compile(r"(?<![\w-])([A-Z0-9]{3,4}-[A-Z0-9]{3,4}|[A-Z0-9]{6,10})(?![\w-])"), 2.0),
)
_LINK_TEXT_WORDS = re.compile(
    r"verif|confirm|activat|validat|sign ?in|log ?in|magic|reset|complete|get started|"
    r"set (a |your )?(new )?password|continue|join|accept",
    re.IGNORECASE,
)
_LINK_URL_WORDS = re.compile(
    r"verif|confirm|activat|validat|magic|token=|code=|reset|password|auth|login|signin|"
    r"sign-in|otp|invite|onboard|register|email-?confirm",
    re.IGNORECASE,
)
_BAD_LINK = re.compile(
    r"unsubscribe|opt-?out|preferences|privacy|terms|legal|/help|support|facebook\.|"
    r"twitter\.|x\.com/|linkedin\.|instagram\.|youtube\.|apps\.apple|play\.google|"
    r"\.(png|jpe?g|gif|svg|css|js)(\?|$)|view (it )?(in|on) (your )?browser|view online|"
    r"/open\b|/track/open|pixel|remove",
    re.IGNORECASE,
)
_REDIRECT_KEYS = frozenset(
    {
        "url",
        "u",
        "target",
        "redirect",
        "redirect_url",
        "redirect_uri",
        "r",
        "q",
        "dest",
        "destination",
        "link",
        "next",
        "to",
        "goto",
    }
)


@dataclass(frozen=True)
class Found:
    """
    One code or link.

    @ivar value: the code without separators, or the link as written.
    @ivar shown: the code as the mail shows it (separators kept).
    @ivar target: for a link wrapped in a tracking redirect, where it leads.
    @ivar label: a link's anchor text.
    @ivar context: the text around it.
    """

    value: str
    score: float
    context: str
    shown: str = ""
    target: str | None = None
    label: str = ""


@dataclass(frozen=True)
class Extraction:
    """
    The codes and links of one message, best first.
    """

    codes: tuple[Found, ...]
    links: tuple[Found, ...]

    @property
    def best_code(self) -> str | None:
        """
        The likeliest code, if one is likely enough.
        """
        return self.codes[0].value if self.codes and self.codes[0].score >= BEST_CODE else None

    @property
    def best_link(self) -> str | None:
        """
        The likeliest link (where it leads, if redirected), if one is likely
        enough.
        """
        if not self.links or self.links[0].score < BEST_LINK:
            return None
        return self.links[0].target or self.links[0].value


class _Reader(HTMLParser):
    """
    Text, anchors and emphasised text of an HTML body.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.anchors: list[tuple[str, str]] = []
        self.emphasised: list[str] = []
        self._skipping = 0
        self._href: str | None = None
        self._anchor: list[str] = []
        # Open elements that may be emphasised: tag, where their text
        # starts in parts, whether they are.
        self._stack: list[tuple[str, int, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
            return
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._anchor = []
        if tag in _EMPHASIS:
            style = (dict(attrs).get("style") or "").replace(" ", "").lower()
            big = re.search(r"font-size:(\d+)px", style)
            strong = tag in ("b", "strong", "h1", "h2", "h3", "code") or "letter-spacing" in style
            emphasised = strong or (big is not None and int(big.group(1)) >= 20)
            self._stack.append((tag, len(self.parts), emphasised))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
            return
        if tag == "a" and self._href is not None:
            self.anchors.append((self._href, " ".join("".join(self._anchor).split())))
            self._href = None
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                _, start, emphasised = self._stack.pop(i)
                if emphasised:
                    self.emphasised.append(" ".join("".join(self.parts[start:]).split()))
                break
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        self.parts.append(data)
        if self._href is not None:
            self._anchor.append(data)


def _around(text: str, start: int, end: int) -> str:
    return " ".join(text[max(0, start - CONTEXT) : end + CONTEXT].split())


def _inner_url(url: str) -> str | None:
    parts = urlsplit(url)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in _REDIRECT_KEYS and value.lower().startswith(("http://", "https://")):
            return value
    # Amazon SES and others put the encoded URL in the path: /L0/https:%2F%2F...
    embedded = re.search(r"(https?(?::|%3A)%2F%2F[^/]+)", parts.path, re.IGNORECASE)
    return unquote(embedded.group(1)) if embedded else None


def _unwrap(url: str) -> str | None:
    """
    Where a tracking redirect leads (a redirect may wrap another), or
    C{None} if C{url} is not one that says.
    """
    target = None
    for _ in range(3):
        inner = _inner_url(url)
        if inner is None:
            break
        target = url = inner
    return target


def _code_score(text: str, start: int, end: int, base: float, subject: str, raw: str) -> float:
    before = text[max(0, start - 80) : start]
    after = text[end : end + 40]
    near = text[max(0, start - 30) : start] + " " + after[:20]
    score = base
    if _CODE_WORDS.search(near):
        score += 5
    elif _CODE_WORDS.search(before) or _CODE_WORDS.search(after):
        score += 4
    if _NOT_CODE_WORDS.search(text[max(0, start - 25) : start]):
        score -= 4
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    if line.strip(" \t:.-") == raw:
        score += 2
    digits = raw.replace(" ", "").replace("-", "").replace("\u00a0", "")
    if digits.isdigit() and len(digits) == 4 and digits[:2] in ("19", "20"):
        score -= 3
    if digits.isdigit() and len(digits) == 6:
        score += 1
    if raw in subject or digits in subject:
        score += 2
    return score


def _codes(subject: str, text: str, emphasised: list[str]) -> list[Found]:
    urls = [(m.start(), m.end()) for m in _URL.finditer(text)]
    taken: list[tuple[int, int]] = []
    found: dict[str, Found] = {}
    for pattern, base in _CODE_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span(1)
            if any(a <= start < b for a, b in urls) or any(a < end and start < b for a, b in taken):
                continue
            raw = match.group(1)
            value = re.sub(r"[ \u00a0]", "", raw)
            if value.replace("-", "").isdigit():
                value = value.replace("-", "")
            elif not (re.search(r"[A-Z]", value) and re.search(r"\d", value)):
                continue
            taken.append((start, end))
            score = _code_score(text, start, end, base, subject, raw)
            if any(raw in e or value in e.replace(" ", "") for e in emphasised):
                score += 2
            if score > 0 and (value not in found or found[value].score < score):
                found[value] = Found(value, score, _around(text, start, end), shown=raw)
    return sorted(found.values(), key=lambda f: -f.score)[:MAX_RESULTS]


def _links(text: str, anchors: list[tuple[str, str]]) -> list[Found]:
    candidates: list[tuple[str, str, str]] = []
    for href, label in anchors:
        if href.lower().startswith(("http://", "https://")):
            candidates.append((href.strip(), label, label))
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?*>")
        candidates.append((url, "", _around(text, match.start(), match.end())))
    found: dict[str, Found] = {}
    for url, label, context in candidates:
        target = _unwrap(url)
        seen = f"{url} {target or ''}"
        score = 1.0
        if _LINK_TEXT_WORDS.search(label):
            score += 5
        if _LINK_URL_WORDS.search(target or url):
            score += 4
        elif _LINK_TEXT_WORDS.search(context) and not label:
            score += 1
        if _BAD_LINK.search(seen) or _BAD_LINK.search(label):
            score -= 8
        if re.search(r"[A-Za-z0-9_-]{20,}", urlsplit(target or url).query + (target or url)):
            score += 1
        if score <= 0:
            continue
        known = found.get(url)
        if known is None or known.score < score or (known.label == "" and label):
            best = max(score, known.score if known else 0)
            found[url] = Found(url, best, context or label, target=target, label=label)
    return sorted(found.values(), key=lambda f: -f.score)[:MAX_RESULTS]


def html_text(html: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    """
    An HTML body's text, its links (href and anchor text) and its
    emphasised text.
    """
    reader = _Reader()
    reader.feed(html)
    reader.close()
    text = re.sub(r"[ \t\u00a0]*\n[\s]*", "\n", "".join(reader.parts))
    return text.strip(), reader.anchors, reader.emphasised


def extract(subject: str, text: str, html: str) -> Extraction:
    """
    The codes and links of a message.
    """
    anchors: list[tuple[str, str]] = []
    emphasised: list[str] = []
    if html:
        html_body, anchors, emphasised = html_text(html)
        text = text if text.strip() else html_body
    body = f"{subject}\n{text}"
    return Extraction(tuple(_codes(subject, body, emphasised)), tuple(_links(text, anchors)))
