"""
L{TrustedProxies}: who the client is behind a reverse proxy, and that
forwarding headers from anyone else are ignored.
"""

from __future__ import annotations

import pytest

from tempmail.proxies import ClientView, TrustedProxies, parse_networks

PROXIES = TrustedProxies(parse_networks("10.0.0.0/8, 127.0.0.1, fd00::/8"))


def headers(**values: str) -> dict[str, str]:
    return {name.replace("_", "-"): value for name, value in values.items()}


def test_parse_networks_reads_addresses_and_ranges() -> None:
    assert [str(n) for n in parse_networks(" 127.0.0.1 ,10.1.2.3/8,,::1")] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match="proxy\\.example"):
        parse_networks("10.0.0.1, proxy.example")


def test_an_untrusted_peer_is_the_client_whatever_it_says() -> None:
    spoofed = headers(
        x_forwarded_for="198.51.100.7",
        forwarded="for=198.51.100.8;proto=https;host=evil.example",
        x_forwarded_proto="https",
        x_forwarded_host="evil.example",
    )
    assert PROXIES.client("203.0.113.5", spoofed.get) == ClientView("203.0.113.5")
    assert TrustedProxies().client("127.0.0.1", spoofed.get) == ClientView("127.0.0.1")


def test_x_forwarded_for_gives_the_right_most_untrusted_address() -> None:
    # The client wrote 192.0.2.66 itself; our two proxies appended the rest.
    chain = headers(
        x_forwarded_for="192.0.2.66, 198.51.100.7, 10.0.0.2",
        x_forwarded_proto="https",
        x_forwarded_host="mail.example.com",
    )
    assert PROXIES.client("10.0.0.1", chain.get) == ClientView(
        "198.51.100.7", "https", "mail.example.com"
    )


def test_a_chain_of_trusted_proxies_only_gives_the_left_most() -> None:
    assert PROXIES.client("127.0.0.1", headers(x_forwarded_for="10.0.0.3, 10.0.0.2").get) == (
        ClientView("10.0.0.3")
    )


def test_forwarded_wins_over_x_forwarded_for_and_carries_scheme_and_host() -> None:
    both = headers(
        forwarded='for=192.0.2.1, for="[2001:db8::1]:4711";proto=https;host="mail.example.com"',
        x_forwarded_for="198.51.100.7",
    )
    assert PROXIES.client("fd00::2", both.get) == ClientView(
        "2001:db8::1", "https", "mail.example.com"
    )
    assert PROXIES.client("::ffff:127.0.0.1", headers(forwarded='for="192.0.2.9:80"').get) == (
        ClientView("192.0.2.9")
    )


def test_a_trusted_peer_without_headers_is_the_client() -> None:
    assert PROXIES.client("10.0.0.1", headers().get) == ClientView("10.0.0.1")
    assert PROXIES.client("10.0.0.1", headers(x_forwarded_for=" , ").get) == (
        ClientView("10.0.0.1")
    )
