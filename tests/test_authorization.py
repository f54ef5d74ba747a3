"""
The one reader of C{Authorization} headers.
"""

from __future__ import annotations

import base64

import pytest

from tempmail.authorization import Authorization, MalformedAuthorization, parse_authorization


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Authorization()),
        ("Bearer abc", Authorization(bearer="abc")),
        ("bearer   abc  ", Authorization(bearer="abc")),
        ("Bearer", Authorization()),
        (basic("bob@x.test:pa:ss"), Authorization(basic=("bob@x.test", "pa:ss"))),
        ("Digest x", Authorization()),
    ],
)
def test_what_a_header_carries(header: str | None, expected: Authorization) -> None:
    assert parse_authorization(header) == expected


@pytest.mark.parametrize("header", ["Basic !!!", basic("no colon"), "Basic " + "gA=="])
def test_malformed_basic_is_refused(header: str) -> None:
    with pytest.raises(MalformedAuthorization, match="malformed Basic credentials"):
        parse_authorization(header)
