"""
The one mailbox-identity rule.
"""

from __future__ import annotations

import pytest

from tempmail.addresses import InvalidAddress, domain_of, normalise_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bob@example.com", "bob@example.com"),
        ("  Bob@Example.COM ", "bob@example.com"),
        ("<bob@example.com>", "bob@example.com"),
        ("bob", "bob@tempmail.local"),
        ("BOB", "bob@tempmail.local"),
        ("first.last+tag@example.com", "first.last+tag@example.com"),
        ("bob@example.com.", "bob@example.com"),
        ("jürgen@example.com", "jürgen@example.com"),
    ],
)
def test_normalises(text: str, expected: str) -> None:
    assert normalise_address(text, "tempmail.local") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "@example.com",
        "bob@",
        "bob@@example.com",
        "a b@example.com",
        "bob@exa mple.com",
        "bob@-bad.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "<>",
        "a\x00b@x.com",
        ".bob@example.com",
        "bob@example..com",
    ],
)
def test_refuses(text: str) -> None:
    with pytest.raises(InvalidAddress):
        normalise_address(text, "tempmail.local")


def test_domain_of() -> None:
    assert domain_of("bob@example.com") == "example.com"
