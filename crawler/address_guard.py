"""Which network addresses a download may reach, checked twice: on the URL before connecting, and
on the connected socket's peer address before a byte is sent (so a DNS answer that changes between
the check and the connection, DNS rebinding, cannot reach a private address).

Three kinds of address:
- public: always allowed;
- private (loopback, RFC 1918, IPv6 ULA): allowed only with `--allow-private` (one's own mirrors);
- blocked (link-local, cloud metadata names and addresses, unspecified, multicast, reserved and
  every other non-global range): never, whatever the flags.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import certifi
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from crawler.errors import CrawlerError

PUBLIC, PRIVATE, BLOCKED = "public", "private", "blocked"
REASONS = {PRIVATE: "private_address", BLOCKED: "blocked_address"}
METADATA_ADDRESSES = frozenset({
    "169.254.169.254",   # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
    "169.254.170.2",     # AWS ECS task metadata
    "fd00:ec2::254",     # AWS IPv6
    "100.100.100.200",   # Alibaba Cloud
    "168.63.129.16",     # Azure wire server
})
METADATA_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.com",
    "instance-data", "instance-data.ec2.internal", "metadata.tencentyun.com", "metadata.platformequinix.com",
})
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchRefused(CrawlerError):
    """A URL that policy forbids fetching; `reason` is the row reason (private_address, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def classify_address(address: str) -> str:
    """PUBLIC, PRIVATE or BLOCKED for one IP address (IPv4-mapped and NAT64 forms unwrapped)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return BLOCKED
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if str(ip) in METADATA_ADDRESSES or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return BLOCKED
    if any(ip in network for network in PRIVATE_NETWORKS):
        return PRIVATE
    return PUBLIC if ip.is_global and not ip.is_reserved else BLOCKED


def address_refusal(address: str, allow_private: bool) -> str | None:
    """The row reason for refusing `address` under the flag, or None when it may be reached."""
    kind = classify_address(address)
    if kind == PUBLIC or (kind == PRIVATE and allow_private):
        return None
    return REASONS[kind]


def check_url(url: str, allow_private: bool) -> None:
    """Refuse non-http(s) URLs, metadata host names, and hosts resolving to a refused address."""
    parts = urlsplit(url)
    try:
        hostname = parts.hostname
        port = parts.port
    except ValueError:
        hostname = port = None
    if parts.scheme not in ("http", "https") or not hostname:
        raise FetchRefused("bad_url", f"not an http(s) URL: {url[:200]}")
    if hostname.rstrip(".").lower() in METADATA_NAMES:
        raise FetchRefused("blocked_address", f"{hostname} is a cloud metadata name")
    try:
        infos = socket.getaddrinfo(hostname, port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused("dns_error", f"{hostname}: {exc}") from None
    for info in infos:
        reason = address_refusal(str(info[4][0]), allow_private)
        if reason:
            raise FetchRefused(reason, f"{hostname} resolves to {info[4][0]}")


class PeerRefused(Exception):
    """Raised from inside urllib3 when the connected peer is a refused address. Not an OSError, so
    urllib3 and requests pass it through instead of retrying or wrapping it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _check_peer(sock: socket.socket, host: str, allow_private: bool) -> socket.socket:
    peer = sock.getpeername()[0]
    reason = address_refusal(str(peer), allow_private)
    if reason:
        sock.close()
        raise PeerRefused(reason, f"{host} connected to {peer}")
    return sock


def guarded_pool_manager(allow_private: bool, pool_size: int, headers: dict[str, str]) -> PoolManager:
    """An HTTP client (urllib3) whose every new connection checks its peer address before use;
    certificates are checked against certifi's bundle, as requests checks them."""

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _check_peer(super()._new_conn(), self.host, allow_private)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _check_peer(super()._new_conn(), self.host, allow_private)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    manager = PoolManager(num_pools=pool_size, maxsize=pool_size, headers=headers, retries=False,
                          cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
    manager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}
    return manager
