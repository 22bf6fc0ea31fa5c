"""Who the client is: the peer, unless the peer is a trusted proxy (rightmost untrusted hop)."""

from __future__ import annotations

import pytest

from keyturn.http.context import forwarded_client
from keyturn.settings import Settings

TRUSTED = ("10.0.0.0/8", "127.0.0.1/32")


def headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value.encode()) for name, value in values.items()]


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    claims = headers(x_forwarded_for="198.51.100.9", x_forwarded_proto="https", x_forwarded_host="evil.test")
    assert forwarded_client("203.0.113.5", claims, TRUSTED) == ("203.0.113.5", None, None)
    assert forwarded_client("203.0.113.5", headers(forwarded="for=198.51.100.9"), TRUSTED)[0] == "203.0.113.5"


def test_no_trusted_proxies_means_no_header_is_read() -> None:
    claims = headers(x_forwarded_for="198.51.100.9")
    assert forwarded_client("127.0.0.1", claims, ()) == ("127.0.0.1", None, None)


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() -> None:
    # The client forged the first entry; the proxies appended what they saw.
    chain = headers(x_forwarded_for="1.2.3.4, 198.51.100.9, 10.1.1.1", x_forwarded_proto="https")
    assert forwarded_client("10.0.0.2", chain, TRUSTED) == ("198.51.100.9", "https", None)


def test_x_forwarded_for_across_several_header_lines() -> None:
    chain = [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-for", b"198.51.100.9")]
    assert forwarded_client("10.0.0.2", chain, TRUSTED)[0] == "198.51.100.9"


def test_forwarded_header_with_ipv6_ports_and_host() -> None:
    chain = headers(
        forwarded='for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711";proto=https;host=id.example.com'
    )
    assert forwarded_client("127.0.0.1", chain, TRUSTED) == ("2001:db8:cafe::17", "https", "id.example.com")


def test_forwarded_wins_over_x_forwarded_for() -> None:
    both = headers(forwarded="for=192.0.2.60", x_forwarded_for="198.51.100.9")
    assert forwarded_client("10.0.0.2", both, TRUSTED)[0] == "192.0.2.60"


def test_an_unreadable_hop_stops_the_walk_at_the_proxy_that_reported_it() -> None:
    chain = headers(x_forwarded_for="198.51.100.9, unknown, 10.1.1.1")
    assert forwarded_client("10.0.0.2", chain, TRUSTED)[0] == "10.1.1.1"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    chain = headers(x_forwarded_for="10.9.9.9, 10.1.1.1")
    assert forwarded_client("10.0.0.2", chain, TRUSTED)[0] == "10.9.9.9"


def test_a_bad_scheme_or_host_is_ignored() -> None:
    claims = headers(x_forwarded_for="198.51.100.9", x_forwarded_proto="gopher", x_forwarded_host="a b/c")
    assert forwarded_client("10.0.0.2", claims, TRUSTED) == ("198.51.100.9", None, None)


def test_setting_from_environment_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYTURN_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    assert Settings().trusted_proxies == ["10.0.0.0/8", "192.0.2.7/32"]
    monkeypatch.setenv("KEYTURN_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == []


def test_setting_refuses_what_is_not_an_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYTURN_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")
    with pytest.raises(ValueError, match=r"'proxy\.internal' is not an IP address or CIDR range"):
        Settings()
