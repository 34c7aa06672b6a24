"""The address rule: which IP addresses trizap may connect to on a user's behalf.

Only public unicast addresses, unless private ones are allowed (a receiver on the same
host or network). IPv6 addresses that carry an IPv4 one (IPv4-mapped, NAT64, 6to4,
Teredo) are judged by that IPv4 address too, since that is where they lead.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(OSError):
    """A destination the address rule refuses; `reason` says which kind of address."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        where = address if host == address else f"{host} ({address})"
        super().__init__(
            f"refused to connect to {where}: a {reason} address, and this server does not"
            " allow private destinations"
        )
        self.host = host
        self.address = address
        self.reason = reason


def _kind(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.append(ip.teredo[1])
    return found


def refusal(address: str) -> str | None:
    """Why the rule refuses `address` (an IP address), e.g. "loopback"; None if it is a
    public unicast address. ValueError if it is not an IP address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone (fe80::1%eth0) is local
    kind = _kind(ip)
    if kind is None and isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded(ip):
            kind = _kind(inner)
            if kind is not None:
                break
    return kind


def literal_refusal(host: str) -> str | None:
    """For a host written as an IP address (`10.0.0.1`, `[::1]`), why the rule refuses it;
    None for a refused-nothing address or a name (names are judged once resolved)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return refusal(bare)
    except ValueError:
        return None
