"""Target allowlist: parsing, CIDR/IP/name/URL-prefix rules, stub-resolved names, pinning.

Nothing here opens a socket or asks real DNS: names are answered by a stub resolver.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import pickle
import ssl
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf.errors import TargetNotAllowedError, UsageError
from intperf.loadtest.allowlist import TargetPolicy, path_allowed
from intperf.loadtest.engine import check_plan
from intperf.loadtest.http import Connection, Pool
from intperf.loadtest.plan import compile_plan
from intperf.loadtest.request import Origin
from intperf.loadtest.results import ErrorClass
from intperf.loadtest.scenario import Scenario, validate_scenario

DNS: dict[str, list[str]] = {
    "localhost": ["::1", "127.0.0.1"],
    "shop.test": ["127.0.0.1"],
    "evil.test": ["10.0.0.1"],
    "mixed.test": ["127.0.0.1", "10.0.0.1"],
    "v6.test": ["::1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "garbage.test": ["not-an-address"],
    "empty.test": [],
}
LOOKUPS: list[str] = []


def stub(host: str) -> list[str]:
    """Stub resolver: the DNS table above, OSError for anything else (module-level: picklable)."""
    LOOKUPS.append(host)
    if host not in DNS:
        raise OSError(f"stub: no such host {host}")
    return list(DNS[host])


def forbidden(host: str) -> list[str]:
    raise AssertionError(f"nothing should resolve {host}")


@pytest.fixture(autouse=True)
def _clear_lookups() -> None:
    LOOKUPS.clear()


def policy(*entries: str) -> TargetPolicy:
    return TargetPolicy.parse(entries, resolver=stub)


def refusal(p: TargetPolicy, url: str) -> str:
    with pytest.raises(TargetNotAllowedError) as info:
        p.check(url)
    return str(info.value)


# -- parsing -------------------------------------------------------------------------------
def test_parse_accepts_every_kind_of_entry_in_canonical_form() -> None:
    p = policy(
        "127.0.0.1", "10.0.0.0/8", " ::1 ", "[fe80::1]", "192.168.1.7/24", "LocalHost",
        "Shop.Test.", "http://127.0.0.1:8080/api", "HTTPS://Shop.test", "http://[::1]/x/",
    )
    assert p.entries == (
        "127.0.0.1/32", "10.0.0.0/8", "::1/128", "fe80::1/128", "192.168.1.0/24", "localhost",
        "shop.test", "http://127.0.0.1:8080/api", "https://shop.test/", "http://[::1]/x/",
    )
    assert p.names == frozenset({"localhost", "shop.test"})
    assert p.restricts_paths
    assert not policy("http://127.0.0.1:8080").restricts_paths


@pytest.mark.parametrize(
    ("entry", "hint"),
    [
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        ("*.example.com", "wildcards are not supported"),
        ("300.1.1.1", "expected a host name"),
        ("127.1", "expected a host name"),
        ("10.0.0.0/33", "not a CIDR"),
        ("10.0.0.0/8/9", "not a CIDR"),
        ("exa mple.com", "expected a host name"),
        ("-bad-.com", "expected a host name"),
        ("ftp://shop.test", "not a CIDR"),
        ("http://", "is not a host name or IP address"),
        ("http://user:pw@shop.test/", "credentials"),
        ("http://shop.test/api?x=1", "?query"),
        ("http://shop.test/api#top", "#fragment"),
        ("http://shop.test:99999/", "out of range"),
        ("http://shop.test/api/../admin", "'..'"),
        ("http://shop.test//api", "empty segments"),
    ],
)
def test_invalid_entries_are_usage_errors_naming_the_entry(entry: str, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        TargetPolicy.parse(["127.0.0.1", entry], resolver=forbidden)
    assert not isinstance(info.value, TargetNotAllowedError)
    assert repr(entry) in str(info.value)
    assert hint in str(info.value)


def test_parsing_resolves_nothing() -> None:
    TargetPolicy.parse(["shop.test", "http://evil.test/"], resolver=forbidden)


# -- IP literals and CIDRs -----------------------------------------------------------------
def test_ip_inside_an_allowed_cidr_is_allowed_and_connected_to_as_is() -> None:
    p = TargetPolicy.parse(["127.0.0.1/32", "localhost"], resolver=forbidden)
    assert p.check_origin(Origin("http", "127.0.0.1", 8080)) == ["127.0.0.1"]
    target = p.check("http://127.0.0.1:8080/anything?q=1")
    assert target.addresses == ("127.0.0.1",)
    assert target.paths is None


def test_ip_outside_the_allowed_targets_is_refused_with_the_list() -> None:
    p = TargetPolicy.parse(["127.0.0.1/32", "localhost"], resolver=forbidden)
    assert refusal(p, "http://127.0.0.2:8080/") == (
        "127.0.0.2 is not in the allowed targets (127.0.0.1/32, localhost)"
    )


def test_ipv6_loopback() -> None:
    p = TargetPolicy.parse(["::1"], resolver=forbidden)
    assert p.check("http://[::1]:8080/").addresses == ("::1",)
    assert "127.0.0.1 is not in the allowed targets (::1/128)" in refusal(p, "http://127.0.0.1/")
    assert "::2 is not in" in refusal(p, "http://[::2]/")


def test_ipv4_mapped_ipv6_is_judged_as_the_ipv4_address() -> None:
    p = TargetPolicy.parse(["127.0.0.0/8"], resolver=forbidden)
    assert p.check("http://[::ffff:127.0.0.1]:8080/").addresses == ("127.0.0.1",)
    assert "10.0.0.1 is not in" in refusal(p, "http://[::ffff:10.0.0.1]/")


def test_an_empty_policy_allows_nothing() -> None:
    p = TargetPolicy.parse([], resolver=forbidden)
    assert "not in the allowed targets (none)" in refusal(p, "http://127.0.0.1/")
    assert "shop.test is not in" in refusal(p, "http://shop.test/")


# -- host names ----------------------------------------------------------------------------
def test_name_allowed_when_every_address_is_in_a_cidr_and_pinned_to_them() -> None:
    p = policy("127.0.0.0/8")
    assert p.check_origin(Origin("http", "shop.test", 80)) == ["127.0.0.1"]
    assert LOOKUPS == ["shop.test"]


def test_name_resolving_outside_the_cidrs_is_refused() -> None:
    assert refusal(policy("127.0.0.0/8"), "http://evil.test/") == (
        "evil.test resolves to 10.0.0.1, which is not in the allowed targets (127.0.0.0/8)"
    )


def test_name_resolving_to_a_mix_of_allowed_and_forbidden_addresses_is_refused() -> None:
    assert refusal(policy("127.0.0.0/8"), "http://mixed.test/") == (
        "mixed.test resolves to 127.0.0.1, 10.0.0.1; 10.0.0.1 is not in the allowed targets "
        "(127.0.0.0/8)"
    )


def test_unresolvable_names_are_refused() -> None:
    p = policy("127.0.0.0/8")
    assert refusal(p, "http://nowhere.test/") == (
        "cannot resolve nowhere.test: stub: no such host nowhere.test"
    )
    assert refusal(p, "http://empty.test/") == "cannot resolve empty.test: no addresses"
    assert "not an address" in refusal(p, "http://garbage.test/")


def test_listed_name_is_allowed_but_still_resolved_and_pinned() -> None:
    p = policy("shop.test")
    assert p.check_origin(Origin("https", "shop.test", 8443)) == ["127.0.0.1"]
    assert LOOKUPS == ["shop.test"]
    assert refusal(policy("localhost"), "http://nowhere.test/") == (
        "nowhere.test is not in the allowed targets (localhost)"
    )
    assert LOOKUPS == ["shop.test"]  # nothing could allow it: the resolver was not asked


def test_listed_name_that_cannot_be_resolved_is_refused() -> None:
    assert refusal(policy("nowhere.test"), "http://nowhere.test/").startswith(
        "cannot resolve nowhere.test"
    )


def test_name_answered_with_ipv6_and_mapped_addresses() -> None:
    assert policy("::1").check_origin(Origin("http", "v6.test", 80)) == ["::1"]
    assert policy("127.0.0.1").check_origin(Origin("http", "mapped.test", 80)) == ["127.0.0.1"]
    assert policy("localhost").check_origin(Origin("http", "localhost", 80)) == [
        "::1",
        "127.0.0.1",
    ]


# -- URL prefixes --------------------------------------------------------------------------
def test_url_prefix_allows_only_urls_under_it_on_a_segment_boundary() -> None:
    p = policy("http://127.0.0.1:8080/api")
    for ok in ("/api", "/api/", "/api/products/7", "/api?page=1", "/api/./x"):
        assert p.check(f"http://127.0.0.1:8080{ok}").paths == ("/api",), ok
    for bad in ("/apix", "/", "/admin", "/api/../admin", "/api/%2e%2E/admin", "/API"):
        assert "is not under an allowed URL prefix (http://127.0.0.1:8080/api)" in refusal(
            p, f"http://127.0.0.1:8080{bad}"
        ), bad


def test_url_prefix_needs_the_exact_scheme_host_and_port() -> None:
    p = policy("http://127.0.0.1:8080/api")
    for url in (
        "https://127.0.0.1:8080/api",
        "http://127.0.0.1:8081/api",
        "http://127.0.0.1/api",
        "http://127.0.0.2:8080/api",
    ):
        assert "is not in the allowed targets" in refusal(p, url), url
    assert policy("http://127.0.0.1/").check("http://127.0.0.1:80/x").paths is None


def test_url_prefix_with_trailing_slash_and_named_host() -> None:
    p = policy("http://shop.test:8080/api/")
    assert p.check("http://shop.test:8080/api/x").addresses == ("127.0.0.1",)
    assert "not under an allowed URL prefix" in refusal(p, "http://shop.test:8080/api")
    # A name under a URL prefix is trusted like a listed name: resolved and pinned.
    assert policy("http://evil.test/").check("http://evil.test/").addresses == ("10.0.0.1",)


def test_cidr_wins_over_a_url_prefix_for_the_same_origin() -> None:
    p = policy("http://127.0.0.1:8080/api", "127.0.0.0/8")
    assert p.check("http://127.0.0.1:8080/admin").paths is None


def test_path_allowed_for_partial_literal_paths() -> None:
    assert path_allowed("/api/", ("/api",), complete=False)
    assert not path_allowed("/api", ("/api",), complete=False)  # "/api${x}" may be "/apix"
    assert path_allowed("/api", ("/api",))
    assert path_allowed("/anything", None)
    assert path_allowed("/x", ("/",))


def test_invalid_url_is_refused() -> None:
    assert "not a valid target" in refusal(policy("127.0.0.1"), "ftp://127.0.0.1/")


# -- allow_all and pickling ----------------------------------------------------------------
def test_allow_all_connects_by_name_without_resolving() -> None:
    p = dataclasses.replace(TargetPolicy.allow_all(), resolver=forbidden)
    assert p.check_origin(Origin("http", "shop.test", 80)) == ["shop.test"]
    assert p.check("http://10.0.0.1/x").addresses == ("10.0.0.1",)


def test_policy_pickles_with_the_default_and_a_module_level_resolver() -> None:
    for p in (TargetPolicy.parse(["127.0.0.0/8", "http://shop.test/api"]), policy("::1")):
        copy = pickle.loads(pickle.dumps(p))
        assert copy == p
    assert pickle.loads(pickle.dumps(policy("shop.test"))).check_origin(
        Origin("http", "shop.test", 80)
    ) == ["127.0.0.1"]


# -- property: an address is allowed iff it lies in one of the CIDRs -----------------------
_v4_networks = st.lists(
    st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(
        lambda t: ipaddress.ip_network(f"{t[0]}/{t[1]}", strict=False)
    ),
    max_size=5,
)
_v6_networks = st.lists(
    st.tuples(st.ip_addresses(v=6), st.integers(0, 128)).map(
        lambda t: ipaddress.ip_network(f"{t[0]}/{t[1]}", strict=False)
    ),
    max_size=3,
)


@given(
    networks=st.tuples(_v4_networks, _v6_networks).map(lambda t: t[0] + t[1]),
    address=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
)
def test_address_allowed_iff_inside_one_of_the_cidrs(
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # judged as the IPv4 address it carries
    p = TargetPolicy.parse([str(n) for n in networks], resolver=forbidden)
    expected = any(address in n for n in networks)
    try:
        addresses = p.check_origin(Origin("http", str(address), 80))
    except TargetNotAllowedError:
        allowed = False
    else:
        allowed = True
        assert addresses == [str(address)]
    assert allowed == expected


@given(addresses=st.lists(st.ip_addresses(v=4), min_size=1, max_size=4, unique=True))
def test_name_allowed_iff_every_address_is_inside_the_cidr(
    addresses: list[ipaddress.IPv4Address],
) -> None:
    answer = [str(a) for a in addresses]
    p = TargetPolicy.parse(["127.0.0.0/8"], resolver=lambda _host: answer)
    expected = all(a in ipaddress.ip_network("127.0.0.0/8") for a in addresses)
    try:
        assert p.check_origin(Origin("http", "any.test", 80)) == answer
    except TargetNotAllowedError:
        assert not expected
    else:
        assert expected


# -- the plan's request paths under URL prefixes -------------------------------------------
def _scenario(base_url: str, paths: list[str]) -> Scenario:
    doc: dict[str, Any] = {
        "name": "t",
        "base_url": base_url,
        "variables": {"x": "1"},
        "load": {"users": 1, "iterations": 1},
        "journeys": [
            {
                "name": "j",
                "steps": [{"request": {"name": f"r{i}", "path": p}} for i, p in enumerate(paths)],
            }
        ],
    }
    return validate_scenario(doc, source="t.yaml", base_dir=Path.cwd())


def test_check_plan_checks_every_request_path_under_url_prefixes() -> None:
    p = policy("http://127.0.0.1:8080/api")
    ok = _scenario("http://127.0.0.1:8080", ["/api", "/api/p/${x}", "/api?q=${x}"])
    targets = check_plan(compile_plan(ok), p)
    assert targets[Origin("http", "127.0.0.1", 8080)].addresses == ("127.0.0.1",)
    bad = _scenario("http://127.0.0.1:8080", ["/api/x", "/admin"])
    with pytest.raises(TargetNotAllowedError, match=r"request 'r1' \(http://127.0.0.1:8080/admin\)"):
        check_plan(compile_plan(bad), p)
    varying = _scenario("http://127.0.0.1:8080", ["http://127.0.0.1:8080/api${x}"])
    with pytest.raises(TargetNotAllowedError, match=r"/api\.\.\.\) is not under"):
        check_plan(compile_plan(varying), p)


def test_check_plan_refuses_an_origin_before_anything_else() -> None:
    sc = _scenario("http://evil.test:8080", ["/"])
    with pytest.raises(TargetNotAllowedError, match=r"evil\.test resolves to 10\.0\.0\.1"):
        check_plan(compile_plan(sc), policy("127.0.0.0/8"))


# -- the pool connects to the pinned addresses, never to the name --------------------------
class _Exchange:
    waiting = False

    def __init__(self) -> None:
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_connection(self, conn: Connection) -> None:
        self.outcome.set_result("connected")

    def on_response(self, status: int, headers: object, body: object, nbytes: int) -> None:
        raise AssertionError("no request is sent")

    def on_error(self, cls: ErrorClass, message: str) -> None:
        self.outcome.set_result(f"{cls.value}: {message}")


async def test_pool_connects_to_pinned_addresses_with_the_name_for_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    calls: list[tuple[str, int, str | None]] = []

    async def fake_connect(factory: Any, host: str, port: int, **kw: Any) -> tuple[None, Any]:
        calls.append((host, port, kw.get("server_hostname")))
        if host == "::1":
            raise ConnectionRefusedError
        return None, factory()

    monkeypatch.setattr(loop, "create_connection", fake_connect)
    origin = Origin("https", "shop.test", 8443)
    pool = Pool(
        loop,
        origin,
        connect_timeout=5,
        max_connections=None,
        ssl_context=ssl.create_default_context(),
        inflight=set(),
        connect_host=["::1", "127.0.0.1"],
    )
    ex = _Exchange()
    pool.acquire(ex)
    assert await ex.outcome == "connected"
    assert calls == [("::1", 8443, "shop.test"), ("127.0.0.1", 8443, "shop.test")]
    assert pool.connect_hosts == ("127.0.0.1", "::1")  # the one that answered goes first
    calls.clear()
    single = Pool(loop, origin, connect_timeout=5, max_connections=None, ssl_context=None,
                  inflight=set(), connect_host="::1")
    ex = _Exchange()
    single.acquire(ex)
    assert await ex.outcome == "connection_refused: connection refused"
    assert calls == [("::1", 8443, None)]
