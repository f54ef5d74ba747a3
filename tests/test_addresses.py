"""
The one mailbox-identity rule.
"""

from __future__ import annotations

import pytest

from tempmail.addresses import InvalidAddress, domain_of, is_domain_name, normalise_address


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


@pytest.mark.parametrize(
    "domain",
    ["example.com", "localhost", "a-b.example", "xn--bcher-kva.example", "bücher.de", "1.2"],
)
def test_domain_names(domain: str) -> None:
    assert is_domain_name(domain)


@pytest.mark.parametrize(
    "domain",
    ["", ".", "example.com.", "-a.example", "a-.example", "a..b", "a_b.example", "a b", "x.com\n"],
)
def test_not_domain_names(domain: str) -> None:
    assert not is_domain_name(domain)
