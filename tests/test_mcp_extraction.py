"""
extract_verification's ranking on a corpus of realistic sign-up, login and
reset mails (C{tests/data/verification}): HTML-only, text-only, codes split
by spaces or dashes, tracking redirects, and distractors (phone numbers,
prices, dates, order numbers, colours).  Each mail is read as a stored
message is: its subject as delivery parses it, its bodies as a read derives
them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tempmail.mcp.extraction import extract
from tempmail.parsing import parse_message, read_content

CORPUS = Path(__file__).parent / "data" / "verification"
EXPECTED: dict[str, dict[str, str | None]] = json.loads((CORPUS / "expected.json").read_text())


def test_the_corpus_is_large_enough_and_all_listed() -> None:
    files = {path.name for path in CORPUS.glob("*.eml")}
    assert files == set(EXPECTED) and len(files) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_best_code_and_link(name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    content = read_content(raw)
    found = extract(parse_message(raw).subject, content.text, content.html)
    assert (found.best_code, found.best_link) == (
        EXPECTED[name]["code"],
        EXPECTED[name]["link"],
    ), (found.codes[:3], found.links[:3])
    for candidate in (*found.codes, *found.links):
        assert candidate.context


def test_codes_keep_how_they_were_shown_and_their_context() -> None:
    found = extract("Sign in", "Your sign-in code is 4 8 2 9 1 7. It expires soon.", "")
    best = found.codes[0]
    assert (best.value, best.shown) == ("482917", "4 8 2 9 1 7")
    assert "Your sign-in code is 4 8 2 9 1 7" in best.context


def test_redirect_links_report_their_target_and_label() -> None:
    html = (
        '<a href="https://t.example/c?url=https%3A%2F%2Fapp.example%2Fverify%3Fk%3D1">'
        "Verify my email</a>"
    )
    link = extract("", "", html).links[0]
    assert link.value.startswith("https://t.example/c?")
    assert (link.target, link.label) == ("https://app.example/verify?k=1", "Verify my email")
