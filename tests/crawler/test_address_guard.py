"""The address guard: metadata and link-local never reachable, --allow-private opens only loopback
and private ranges, and a DNS answer that changes after the check (rebinding) is caught on the
connected socket. No test sends a packet to a link-local or metadata address: a spy on urllib3's
connect fails the test if one is even attempted."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import urllib3.util.connection

from crawler.address_guard import BLOCKED, PRIVATE, PUBLIC, address_refusal, classify_address, check_url
from crawler.address_guard import FetchRefused
from crawler.http import HttpPolicy
from tests.crawler.test_downloader import download, jpeg_bytes
from tests.support.fault_server import FaultServer

ADDRESSES = {
    "93.184.216.34": PUBLIC, "2606:2800:220:1:248:1893:25c8:1946": PUBLIC,
    "127.0.0.1": PRIVATE, "127.9.9.9": PRIVATE, "::1": PRIVATE, "10.1.2.3": PRIVATE, "172.16.0.9": PRIVATE,
    "192.168.1.1": PRIVATE, "fd12:3456::1": PRIVATE, "::ffff:127.0.0.1": PRIVATE,
    "169.254.169.254": BLOCKED, "169.254.1.1": BLOCKED, "169.254.170.2": BLOCKED, "fe80::1": BLOCKED,
    "fe80::1%eth0": BLOCKED, "fd00:ec2::254": BLOCKED, "100.100.100.200": BLOCKED, "168.63.129.16": BLOCKED,
    "0.0.0.0": BLOCKED, "::": BLOCKED, "::ffff:169.254.169.254": BLOCKED, "64:ff9b::a9fe:a9fe": BLOCKED,
    "224.0.0.1": BLOCKED, "240.0.0.1": BLOCKED, "100.64.0.1": BLOCKED, "not-an-ip": BLOCKED,
}


@pytest.fixture(autouse=True)
def no_link_local_traffic(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection urllib3 opens goes through here; link-local or metadata fails the test."""
    real = urllib3.util.connection.create_connection
    opened: list[tuple[str, int]] = []

    def spy(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        infos = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_STREAM)
        assert all(classify_address(str(i[4][0])) != BLOCKED for i in infos), f"tried to reach {address}"
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", spy)
    monkeypatch.setattr(urllib3.connection.connection, "create_connection", spy)
    return opened


@pytest.mark.parametrize("address,kind", sorted(ADDRESSES.items()))
def test_address_kinds(address: str, kind: str) -> None:
    assert classify_address(address) == kind


@pytest.mark.parametrize("address,kind", sorted(ADDRESSES.items()))
def test_allow_private_opens_only_loopback_and_private_ranges(address: str, kind: str) -> None:
    strict, loose = address_refusal(address, False), address_refusal(address, True)
    expected = {PUBLIC: (None, None), PRIVATE: ("private_address", None),
                BLOCKED: ("blocked_address", "blocked_address")}[kind]
    assert (strict, loose) == expected


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/x.jpg",
                                 "http://[fd00:ec2::254]/latest", "http://0.0.0.0:80/x.jpg", "http://[::]/x",
                                 "http://metadata.google.internal/computeMetadata/v1/",
                                 "http://METADATA.google.internal./x", "http://instance-data/latest"])
def test_metadata_and_link_local_urls_refused_even_with_allow_private(url: str) -> None:
    with pytest.raises(FetchRefused) as refused:
        check_url(url, allow_private=True)
    assert refused.value.reason == "blocked_address"


def test_redirect_to_metadata_refused_with_allow_private(tmp_path: Path, no_link_local_traffic) -> None:
    with FaultServer(images={"0.jpg": jpeg_bytes()}) as server:
        url = server.url("/redirect?to=http://169.254.169.254/latest/meta-data/")
        policy = HttpPolicy(connect_timeout=2, read_timeout=2, deadline=4, retries=0, allow_private=True)
        rows = download(tmp_path, [url], policy)
    assert (rows[url]["status"], rows[url]["reason"]) == ("skipped", "blocked_address")
    assert all(host == "127.0.0.1" for host, _ in no_link_local_traffic)


def test_dns_rebinding_caught_on_the_connected_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      no_link_local_traffic) -> None:
    """The resolver answers a public address to the check, then loopback to the connection."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != "images.rebind.example":
            return real(host, port, *args, **kwargs)
        address = "93.184.216.34" if not answers else "127.0.0.1"
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with FaultServer(images={"0.jpg": jpeg_bytes()}) as server:
        url = f"http://images.rebind.example:{server.base_url.rsplit(':', 1)[1]}/ok/0.jpg"
        rows = download(tmp_path, [url], HttpPolicy(connect_timeout=2, read_timeout=2, deadline=4, retries=0))
        assert server.hits["/ok/0.jpg"] == 0, "not a byte of the request may reach the private address"
    assert answers[0] == "93.184.216.34" and "127.0.0.1" in answers
    assert (rows[url]["status"], rows[url]["reason"]) == ("skipped", "private_address")


def test_loopback_mirror_still_works_with_allow_private(tmp_path: Path) -> None:
    with FaultServer(images={"0.jpg": jpeg_bytes()}) as server:
        rows = download(tmp_path, [server.url("/ok/0.jpg")],
                        HttpPolicy(connect_timeout=2, read_timeout=2, deadline=4, retries=0, allow_private=True))
    assert rows[server.url("/ok/0.jpg")]["status"] == "stored"
