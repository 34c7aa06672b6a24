"""The address rule: public unicast addresses only, IPv6 forms of private IPv4 ones too."""

from __future__ import annotations

import pytest

from trizap.outbound import literal_refusal, refusal


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "private"),  # IPv4-mapped: where it leads counts
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_refusal(address: str, kind: str | None) -> None:
    assert refusal(address) == kind


def test_literals_are_judged_names_are_not() -> None:
    assert literal_refusal("[::1]") == "loopback"
    assert literal_refusal("10.0.0.1") == "private"
    assert literal_refusal("localhost") is None  # judged once resolved
    assert literal_refusal("example.test") is None
    with pytest.raises(ValueError):
        refusal("localhost")
