"""
The web UI's files themselves: what the strict policy and the safety model
rely on, checked in the source (the browser tests check the behaviour).
"""

from __future__ import annotations

import re

from tempmail.tap import web_root

WEB = web_root()


def test_no_script_parses_text_as_markup() -> None:
    # Names, subjects and file names must only ever become text nodes.
    markup_sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(")
    scripts = sorted((WEB / "js").glob("*.js"))
    assert len(scripts) >= 10
    for script in scripts:
        assert not markup_sinks.search(script.read_text()), script.name


def test_the_page_has_no_inline_script_or_style() -> None:
    # The page's policy is script-src 'self' and style-src 'self'.
    page = (WEB / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)


def test_every_module_the_page_imports_is_shipped() -> None:
    for script in (WEB / "js").glob("*.js"):
        for name in re.findall(r'from "\./([\w-]+\.js)"', script.read_text()):
            assert (WEB / "js" / name).is_file(), f"{script.name} imports {name}"
