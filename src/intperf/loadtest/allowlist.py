"""Which targets a load test may send traffic to: host names, IPs, CIDRs and URL prefixes.

Pure logic behind an injected resolver, so tests answer names with a stub. A host name is
resolved once and the engine connects to the checked addresses (DNS rebinding defence).
See docs/security.md.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from intperf.errors import TargetNotAllowedError, UsageError
from intperf.loadtest.request import DEFAULT_PORTS, Origin, origin_of

__all__ = [
    "ResolvedTarget",
    "Resolver",
    "TargetNotAllowedError",
    "TargetPolicy",
    "path_allowed",
    "system_resolver",
]

Resolver = Callable[[str], list[str]]
"""Host name -> its addresses (IPv4 and/or IPv6, as text); raises OSError when it cannot."""

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 1123 §2.1 labels (underscores tolerated: they occur in internal names).
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_URL_PREFIX = re.compile(r"(?i)https?://")


def system_resolver(host: str) -> list[str]:
    """Resolve ``host`` with ``socket.getaddrinfo`` (IPv4 and IPv6), without duplicates."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _address(text: str) -> IPAddress | None:
    """``text`` as an IP address (IPv4-mapped IPv6 turned into IPv4), or None."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _host_name(text: str) -> str | None:
    """``text`` as a normalized DNS name, or None when it is not one."""
    name = text.lower().removesuffix(".")
    if not name or len(name) > 253:
        return None
    labels = name.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if labels[-1].isdigit():  # "300.1.1.1", "127.1": a malformed address, not a name
        return None
    return name


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, after decoding ``%2e``, so ``/api/../admin`` is seen as ``/admin``."""
    path = re.sub("%2[eE]", ".", path)
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if path.endswith(("/.", "/..")):
        out.append("")
    return "/" + "/".join(out)


def path_allowed(path: str, prefixes: tuple[str, ...] | None, *, complete: bool = True) -> bool:
    """True when ``path`` lies under one of ``prefixes`` on a segment boundary.

    ``prefixes`` None means any path. ``complete`` False: ``path`` is only the literal start
    of a path whose rest varies, so it must already reach past a prefix's last segment.
    """
    if prefixes is None:
        return True
    path = _remove_dot_segments(path or "/")
    for prefix in prefixes:
        if prefix.endswith("/"):
            if path.startswith(prefix):
                return True
        elif path.startswith(prefix + "/") or (complete and path == prefix):
            return True
    return False


@dataclass(frozen=True, slots=True)
class _UrlPrefix:
    """``scheme://host:port/path``: only URLs under ``path`` of exactly that origin."""

    scheme: str
    host: str
    port: int
    path: str
    text: str

    def matches(self, origin: Origin) -> bool:
        return (self.scheme, self.host, self.port) == (origin.scheme, origin.host, origin.port)


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """An allowed origin: the addresses to connect to and the paths it may be asked for."""

    origin: Origin
    addresses: tuple[str, ...]
    """Connect to these (in order), never to a fresh resolution of the host name."""
    paths: tuple[str, ...] | None = None
    """Allowed path prefixes (URL-prefix entries); None when any path is allowed."""

    def require_path(self, path: str, *, complete: bool = True, what: str | None = None) -> None:
        """Raise TargetNotAllowedError unless ``path`` is under an allowed URL prefix."""
        if not path_allowed(path, self.paths, complete=complete):
            shown = what or f"{self.origin.url}{path}"
            allowed = ", ".join(f"{self.origin.url}{p}" for p in self.paths or ())
            raise TargetNotAllowedError(
                f"{shown} is not under an allowed URL prefix ({allowed})"
            )


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """The targets a run may send traffic to; build it with :meth:`parse` or :meth:`allow_all`.

    Picklable (worker processes get a copy) when its resolver is: the default one is a
    module-level function; a custom one must be picklable too in multi-process runs.
    """

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    prefixes: tuple[_UrlPrefix, ...] = ()
    entries: tuple[str, ...] = ()
    """The entries in canonical form, for messages."""
    resolver: Resolver = system_resolver
    everything: bool = False
    """True only for :meth:`allow_all`."""

    @classmethod
    def allow_all(cls) -> TargetPolicy:
        """No restriction: for the CLI, where the user names the target on the command line."""
        return cls(entries=("any target",), everything=True)

    @classmethod
    def parse(cls, entries: Iterable[str], resolver: Resolver | None = None) -> TargetPolicy:
        """Build a policy from entries; raises UsageError naming the first invalid one."""
        networks: list[IPNetwork] = []
        names: list[str] = []
        prefixes: list[_UrlPrefix] = []
        shown: list[str] = []
        for raw in entries:
            entry = raw.strip()
            if _URL_PREFIX.match(entry):
                prefix = _parse_prefix(entry, raw)
                prefixes.append(prefix)
                shown.append(prefix.text)
            elif (net := _parse_network(entry)) is not None:
                networks.append(net)
                shown.append(str(net))
            elif (name := _host_name(entry)) is not None:
                names.append(name)
                shown.append(name)
            else:
                raise UsageError(_entry_problem(raw))
        return cls(
            tuple(networks),
            frozenset(names),
            tuple(prefixes),
            tuple(dict.fromkeys(shown)),
            resolver or system_resolver,
        )

    @property
    def restricts_paths(self) -> bool:
        """True when some entry is a URL prefix with a path other than ``/``."""
        return any(p.path != "/" for p in self.prefixes)

    def _describe(self) -> str:
        return ", ".join(self.entries) if self.entries else "none"

    def _in_networks(self, addr: IPAddress) -> bool:
        return any(addr in net for net in self.networks)

    def resolve(self, origin: Origin) -> ResolvedTarget:
        """Check ``origin`` (any path); raises TargetNotAllowedError with the reason."""
        host = origin.host
        if self.everything:
            return ResolvedTarget(origin, (host,))
        matching = tuple(p.path for p in self.prefixes if p.matches(origin))
        paths = None if not matching or "/" in matching else matching
        addr = _address(host)
        if addr is not None:
            if self._in_networks(addr):
                return ResolvedTarget(origin, (str(addr),))
            if matching:
                return ResolvedTarget(origin, (str(addr),), paths)
            raise TargetNotAllowedError(
                f"{host} is not in the allowed targets ({self._describe()})"
            )
        name = host.removesuffix(".")
        listed = name in self.names
        if not listed and not matching and not self.networks:
            # Nothing could allow it: refuse without even asking a resolver.
            raise TargetNotAllowedError(
                f"{host} is not in the allowed targets ({self._describe()})"
            )
        addresses = self._lookup(host)
        if listed:
            return ResolvedTarget(origin, addresses)
        outside = [a for a in addresses if not self._in_networks(ipaddress.ip_address(a))]
        if not outside:
            return ResolvedTarget(origin, addresses)
        if matching:
            return ResolvedTarget(origin, addresses, paths)
        listing = ", ".join(addresses)
        if len(addresses) == 1:
            reason = f"{host} resolves to {listing}, which is not in the allowed targets"
        else:
            bad = ", ".join(outside)
            verb = "is" if len(outside) == 1 else "are"
            reason = f"{host} resolves to {listing}; {bad} {verb} not in the allowed targets"
        raise TargetNotAllowedError(f"{reason} ({self._describe()})")

    def _lookup(self, host: str) -> tuple[str, ...]:
        """The addresses of ``host``, normalized; TargetNotAllowedError when there are none."""
        try:
            found = self.resolver(host)
        except (OSError, UnicodeError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise TargetNotAllowedError(f"cannot resolve {host}: {detail}") from None
        addresses: list[str] = []
        for text in found:
            addr = _address(str(text))
            if addr is None:
                raise TargetNotAllowedError(
                    f"cannot resolve {host}: the resolver answered {text!r}, not an address"
                )
            addresses.append(str(addr))
        if not addresses:
            raise TargetNotAllowedError(f"cannot resolve {host}: no addresses")
        return tuple(dict.fromkeys(addresses))

    def check_origin(self, origin: Origin) -> list[str]:
        """The addresses to connect to for ``origin``; raises TargetNotAllowedError."""
        return list(self.resolve(origin).addresses)

    def check(self, url: str) -> ResolvedTarget:
        """Check a full http(s) URL, path included; raises TargetNotAllowedError."""
        try:
            origin = origin_of(url)
        except UsageError as exc:
            raise TargetNotAllowedError(f"{url!r} is not a valid target: {exc}") from None
        target = self.resolve(origin)
        target.require_path(urlsplit(url).path or "/", what=url)
        return target


def _parse_network(entry: str) -> IPNetwork | None:
    text = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
    if "/" in text:
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
    addr = _address(text)
    return None if addr is None else ipaddress.ip_network(addr)


def _parse_prefix(entry: str, raw: str) -> _UrlPrefix:
    def bad(why: str) -> UsageError:
        return UsageError(f"invalid allowed target {raw!r}: {why}")

    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.username is not None or parts.password is not None:
        raise bad("a URL prefix cannot contain credentials")
    if parts.query or parts.fragment or entry.endswith(("?", "#")):
        raise bad("a URL prefix cannot have a ?query or #fragment")
    scheme = parts.scheme.lower()
    hostname = parts.hostname or ""
    addr = _address(hostname)
    host = str(addr) if addr is not None else _host_name(hostname)
    if not host:
        raise bad(f"{hostname!r} is not a host name or IP address")
    path = parts.path or "/"
    if _remove_dot_segments(path) != path or "//" in path:
        raise bad("the path must not contain '.', '..' or empty segments")
    if any(c.isspace() for c in path):
        raise bad("the path must not contain spaces")
    origin = Origin(scheme, host, port or DEFAULT_PORTS[scheme])
    return _UrlPrefix(scheme, host, origin.port, path, origin.url + path)


def _entry_problem(raw: str) -> str:
    entry = raw.strip()
    if not entry:
        return f"invalid allowed target {raw!r}: an entry cannot be empty"
    if "*" in entry:
        return (
            f"invalid allowed target {raw!r}: wildcards are not supported; "
            "list each host name, or a CIDR such as 10.0.0.0/8"
        )
    if "/" in entry:
        return (
            f"invalid allowed target {raw!r}: not a CIDR (e.g. 127.0.0.0/8, ::1/128); "
            "a URL prefix starts with http:// or https://"
        )
    return (
        f"invalid allowed target {raw!r}: expected a host name (shop.local), an IP address "
        "(127.0.0.1, ::1), a CIDR (127.0.0.0/8) or a URL prefix (http://127.0.0.1:8080/api)"
    )
