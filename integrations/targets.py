"""Where an outbound delivery may go, and the connection that goes only there.

The host is resolved once; every address must be public (not loopback, private,
link-local, reserved or multicast) unless WEBHOOK_ALLOW_PRIVATE_TARGETS; the request is
then made to that very address, so a second DNS answer cannot point it elsewhere."""

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class TargetRefused(Exception):
    """The URL may not be delivered to; no retry will change that."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str
    path: str


def resolve(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"Only http and https URLs are delivered to, not {url!r}.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise ConnectionError(f"{parts.hostname} does not resolve: {error}") from error
    addresses = [str(info[4][0]) for info in infos]
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            if not _public(address):
                raise TargetRefused(
                    f"{parts.hostname} resolves to {address}, a loopback, private or "
                    "link-local address; deliveries there are off (WEBHOOK_ALLOW_PRIVATE_TARGETS)."
                )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port, addresses[0], path)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = ssl.create_default_context().wrap_socket(raw, server_hostname=self.host)


def connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    """A connection to the checked address; http.client never follows redirects."""
    if target.scheme == "https":
        return _PinnedHTTPS(target, timeout)
    return _PinnedHTTP(target, timeout)
