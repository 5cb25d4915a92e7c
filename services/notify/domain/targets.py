"""Which addresses a webhook may reach: public ones, plus the networks the operator allows.

Non-public means loopback, private, link-local, shared (CGNAT, 100.64.0.0/10), multicast, reserved, unspecified
and the other special-purpose blocks that `ipaddress` does not call global. An IPv4 address written inside IPv6
(`::ffff:127.0.0.1`, 6to4 `2002:7f00:1::`) is judged as the IPv4 address it carries. Host names written as
numbers (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) are read the way the C resolver reads them, so they
cannot pass for names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

_NUMBER = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def parse_networks(text: str | None) -> tuple[Network, ...]:
    """The comma-separated CIDRs of `ANTQ_NOTIFY_WEBHOOK_ALLOWED_NETWORKS`; ValueError names a bad one."""
    networks: list[Network] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        try:
            networks.append(ip_network(part.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not a network (CIDR such as 10.0.0.0/8): {part.strip()!r}") from None
    return tuple(networks)


def _inet_aton(host: str) -> IPv4Address | None:
    """The IPv4 address of a numeric host as inet_aton reads it: one to four parts, each decimal, octal (0...)
    or hex (0x...), the last part filling the remaining bytes; None when the host is not of that form."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMBER.match(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif part.startswith("0"):
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    return IPv4Address(number * 256 ** (4 - len(head)) + last)


def ip_literal(host: str) -> Address | None:
    """The address a host stands for when it is written as one (any numeric IPv4 form, IPv6 with or without
    brackets or a zone); None for a name."""
    bare = host.strip()
    if bare.endswith("."):  # "127.0.0.1." resolves like "127.0.0.1"
        bare = bare[:-1]
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    if ":" in bare:
        try:
            return ip_address(bare.split("%", 1)[0])
        except ValueError:
            return None
    return _inet_aton(bare)


def _embedded_v4(address: Address) -> IPv4Address | None:
    if isinstance(address, IPv6Address):
        return address.ipv4_mapped or address.sixtofour
    return None


def is_public(address: Address) -> bool:
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    inner = _embedded_v4(address)
    return inner is None or is_public(inner)


def address_allowed(address: Address, allowed: Iterable[Network]) -> bool:
    """Public, or inside a network the operator allows (an IPv4-mapped address also by its IPv4 form)."""
    if is_public(address):
        return True
    candidates = [address] + ([inner] if (inner := _embedded_v4(address)) is not None else [])
    return any(a.version == n.version and a in n for a in candidates for n in allowed)


def origin_of(scheme: str, host: str, port: int | None) -> str:
    """What logs and delivery errors may say about a webhook URL: its scheme, host and port, never the path or
    query (which may hold a receiver's token)."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme}://{shown}" + (f":{port}" if port is not None else "")
