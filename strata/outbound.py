"""Fetching a URL that a user gave us, without letting it reach what it should not.

`check_url(url)` is the definition-time check (a report source's URL, a webhook): the scheme is
http or https, the port 80 or 443, and the host, once resolved, is a public address. `fetch(url)`
checks again at fetch time, connects to the very address it checked (so a second DNS answer cannot
swap in another), and checks each redirect hop the same way. Refused are loopback, private,
link-local, multicast, unspecified and reserved addresses, and IPv6 forms that carry one of them
(IPv4-mapped, 6to4, NAT64). Decimal, octal or hex host spellings (`http://2130706433/`) resolve
to their address first, so they are refused like the dotted form.

`OUTBOUND_ALLOW` (a setting, comma-separated) opens exceptions for intranet sources and tests:
each entry is a host name or an address range, optionally with `:port` or `:*` for any port —
`reports.intranet:8080, 10.1.2.0/24, 127.0.0.1:*`. An entry without a port allows 80 and 443.

Failures raise `OutboundError` with a message that says the fetch failed, never why at the
socket level: a closed port, a filtered one and a slow server read the same. `retryable(status)`
and `backoff(attempt, retry_after)` give the retry policy: 5xx, 408 and 429 are retried, other
4xx are not; waits grow exponentially and honour `Retry-After`.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from strata.errors import ValidationError

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 3
MAX_BYTES = 5 * 1024 * 1024
MAX_WAIT = 60.0
RETRY_STATUSES = (408, 429)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundError(Exception):
    """A fetch was refused or failed; the message is safe to show and store."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 retryable: bool = True):
        super().__init__(message)
        self.status, self.retry_after, self.retryable = status, retry_after, retryable


@dataclass(frozen=True)
class Allowed:
    """One OUTBOUND_ALLOW entry: a host name or an address range, and a port (None: 80/443, 0: any)."""

    host: str | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None

    def admits(self, host: str, address: Address, port: int) -> bool:
        if self.port is None and port not in DEFAULT_PORTS.values():
            return False
        if self.port not in (None, 0, port):
            return False
        if self.host is not None:
            return host.lower() == self.host
        return self.network is not None and address in self.network


def parse_allow(text: str | None) -> list[Allowed]:
    """Return the entries of an OUTBOUND_ALLOW value; raise ValueError for a malformed one."""
    entries = []
    for raw in (text or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        host, port = raw, None
        if raw.startswith("["):  # [v6 range]:port
            host, _, rest = raw[1:].partition("]")
            port = rest.removeprefix(":") or None
        elif raw.count(":") == 1:
            host, port = raw.split(":")
        number = None if port is None else 0 if port == "*" else int(port)
        try:
            entries.append(Allowed(None, ipaddress.ip_network(host, strict=False), number))
        except ValueError:
            entries.append(Allowed(host.lower(), None, number))
    return entries


def _allow_setting() -> list[Allowed]:
    """Return the app's OUTBOUND_ALLOW (read by config.py); outside an app nothing extra is allowed."""
    from flask import current_app, has_app_context

    return parse_allow(current_app.config.get("OUTBOUND_ALLOW") if has_app_context() else None)


def forbidden(address: Address) -> str | None:
    """Return why `address` may not be fetched (e.g. "loopback"), or None for a public address."""
    embedded = []
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
        if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64 carries an IPv4 address in its last 32 bits
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    for candidate in (address, *embedded):
        for kind in ("loopback", "private", "link_local", "multicast", "unspecified", "reserved"):
            if getattr(candidate, f"is_{kind}"):
                return kind.replace("_", "-")
        if not candidate.is_global:
            return "non-public"
    return None


def _resolve(host: str, port: int) -> list[Address]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in found))


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and the host name to present."""

    url: str
    scheme: str
    host: str
    port: int
    address: Address


def _split(url: str, field: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError.single(field, "url", f"{field} is not a valid URL.") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValidationError.single(field, "url", f"{field} must be an http:// or https:// URL with a host.")
    if parts.username or parts.password:
        raise ValidationError.single(field, "url", f"{field} must not carry a user name or password.")
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def check_url(url: str, field: str = "url", *, resolve_required: bool = False,
              allow: Iterable[Allowed] | None = None) -> Target | None:
    """Return the Target `url` may be fetched at; raise ValidationError naming `field` when it may not.

    A host that does not resolve (now) passes unless `resolve_required`: it is checked again when fetched.
    """
    scheme, host, port = _split(url, field)
    allow = list(_allow_setting() if allow is None else allow)
    addresses = _resolve(host, port)
    if not addresses:
        if resolve_required:
            raise ValidationError.single(field, "unreachable", f"{field}: the host {host} could not be fetched.")
        return None
    for address in addresses:
        if any(entry.admits(host, address, port) for entry in allow):
            continue
        why = forbidden(address)
        if why is not None:
            raise ValidationError.single(field, "address", f"{field} points at a {why} address ({host}), which "
                                                           "may not be fetched; ask an operator to add it to "
                                                           "OUTBOUND_ALLOW if it is an intranet source.")
        if port not in DEFAULT_PORTS.values():
            raise ValidationError.single(field, "port", f"{field} may only use port 80 or 443 (not {port}) unless "
                                                        "OUTBOUND_ALLOW names it.")
    return Target(url, scheme, host, port, addresses[0])


def _target(url: str, allow: list[Allowed]) -> Target:
    try:
        target = check_url(url, resolve_required=True, allow=allow)
    except ValidationError as exc:
        raise OutboundError(f"Refused to fetch {_shown(url)}: {exc.errors[0].message.split(': ', 1)[-1]}",
                            retryable=False) from None
    assert target is not None
    return target


def _shown(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _request(client: httpx.Client, target: Target, timeout: float, headers: dict[str, str]) -> httpx.Response:
    """Send GET to the checked address itself, presenting the host name (Host header and TLS SNI)."""
    parts = urlsplit(target.url)
    literal = f"[{target.address}]" if target.address.version == 6 else str(target.address)
    pinned = parts._replace(netloc=f"{literal}:{target.port}").geturl()
    host_header = target.host if target.port == DEFAULT_PORTS[target.scheme] else f"{target.host}:{target.port}"
    request = client.build_request("GET", pinned, headers={**headers, "Host": host_header}, timeout=timeout,
                                   extensions={"sni_hostname": target.host})
    response = client.send(request, stream=True)
    try:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_BYTES:
                raise OutboundError(f"The answer from {_shown(target.url)} is larger than "
                                    f"{MAX_BYTES // (1024 * 1024)} MB.", retryable=False)
    finally:
        response.close()
    return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)


def fetch(url: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None,
          max_redirects: int = MAX_REDIRECTS, allow: Iterable[Allowed] | None = None) -> httpx.Response:
    """GET `url` once (following at most `max_redirects` checked redirects); return the response.

    Raise OutboundError for a refused address, a failed connection or a timeout (one message for all of
    them), or a 4xx/5xx answer (with `status`, `retry_after` and `retryable` set).
    """
    allow = list(_allow_setting() if allow is None else allow)
    deadline = time.monotonic() + timeout
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        for _ in range(max_redirects + 1):
            target = _target(url, allow)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                response = _request(client, target, remaining, headers or {})
            except httpx.HTTPError:
                raise OutboundError(f"No answer from {_shown(url)} within {timeout:g} s, or the connection "
                                    "failed.") from None
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code >= 400:
                raise OutboundError(f"HTTP {response.status_code} from {_shown(url)}", status=response.status_code,
                                    retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                                    retryable=retryable(response.status_code))
            return response
    raise OutboundError(f"No answer from {_shown(url)} within {timeout:g} s, or too many redirects.")


def retryable(status: int | None) -> bool:
    """True when an answer with `status` (None: no answer) is worth trying again: 5xx, 408, 429."""
    return status is None or status >= 500 or status in RETRY_STATUSES


def retry_after_seconds(value: str | None) -> float | None:
    """Return a Retry-After header (seconds or an HTTP date) as seconds from now, capped at MAX_WAIT; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value[:6]), MAX_WAIT)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    from datetime import UTC, datetime

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, min((moment - datetime.now(UTC)).total_seconds(), MAX_WAIT))


def backoff(attempt: int, retry_after: float | None = None, *, base: float = 0.5, cap: float = MAX_WAIT) -> float:
    """Return how long to wait before try number `attempt + 1`: Retry-After when given, else exponential with jitter."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    return min(cap, base * 2 ** max(attempt - 1, 0)) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not secrets


def fetch_with_retries(url: str, *, tries: int = 3, sleep: Any = time.sleep, **options: Any) -> httpx.Response:
    """`fetch` up to `tries` times, waiting `backoff` between tries; a refusal or a 4xx other than 408/429 is final."""
    for attempt in range(1, tries + 1):
        try:
            return fetch(url, **options)
        except OutboundError as exc:
            if not exc.retryable or attempt == tries:
                raise
            sleep(backoff(attempt, exc.retry_after))
    raise AssertionError("unreachable")  # pragma: no cover
