"""Tests of request compilation: head bytes, headers, bodies, URL handling and injection guards."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf import __version__
from intperf.loadtest.request import (
    HeaderInjectionError,
    Origin,
    RequestTemplate,
    RequestTemplateError,
    origin_of,
    split_url,
)
from intperf.loadtest.scenario import RequestSpec, Scenario
from intperf.loadtest.templating import BuiltinContext, MissingVariableError

UA = f"User-Agent: intperf/{__version__}\r\n"


def scenario(**extra: Any) -> Scenario:
    doc: dict[str, Any] = {
        "name": "t",
        "base_url": "http://Example.COM:8080",
        "journeys": [{"name": "j", "steps": [{"think": 0}]}],
    }
    doc.update(extra)
    return Scenario.model_validate(doc)


def compile_request(request: dict[str, Any], **extra: Any) -> RequestTemplate:
    return RequestTemplate.compile(RequestSpec.model_validate(request), scenario(**extra))


def ctx() -> BuiltinContext:
    return BuiltinContext(random.Random(1), 3, 1)


def test_static_get() -> None:
    t = compile_request({"path": "/api/products", "query": {"page": 1, "q": "a b&c"}})
    assert t.is_static
    assert t.name == "GET /api/products"
    assert t.method == "GET"
    assert t.origin == Origin("http", "example.com", 8080)
    assert t.static == (
        b"GET /api/products?page=1&q=a+b%26c HTTP/1.1\r\nHost: example.com:8080\r\n" + UA.encode(),
        b"",
    )
    assert t.render({}, ctx()) is t.static


def test_path_and_query_variables_are_encoded() -> None:
    t = compile_request({"path": "/p/${id}/x", "query": {"q": "${term}", "tag": ["a", "${t}"]}})
    assert not t.is_static and t.static is None
    head, body = t.render({"id": "a b/ü?#", "term": "x&y=z", "t": "é"}, ctx())
    line = head.split(b"\r\n")[0]
    assert line == b"GET /p/a%20b/%C3%BC%3F%23/x?q=x%26y%3Dz&tag=a&tag=%C3%A9 HTTP/1.1"
    assert body == b""


def test_inline_query_gets_more_parameters() -> None:
    t = compile_request({"path": "/s?sort=asc", "query": {"page": 2}})
    assert t.static is not None
    assert t.static[0].startswith(b"GET /s?sort=asc&page=2 HTTP/1.1\r\n")


def test_headers_merge_case_insensitively_request_wins() -> None:
    t = compile_request(
        {"path": "/", "headers": {"accept": "text/html", "X-Id": "${uuid}"}},
        headers={"Accept": "application/json", "X-Env": "test"},
    )
    head, _ = t.render({}, ctx())
    lines = head.decode().split("\r\n")
    assert lines[1] == "Host: example.com:8080"
    assert "accept: text/html" in lines
    assert "Accept: application/json" not in lines
    assert "X-Env: test" in lines
    assert any(line.startswith("X-Id: ") and len(line) == 42 for line in lines)
    assert head.endswith(b"\r\n") and not head.endswith(b"\r\n\r\n")
    assert b"Content-Length" not in head


def test_user_agent_and_host_can_be_overridden() -> None:
    t = compile_request({"path": "/", "headers": {"user-agent": "me", "Host": "virtual.test"}})
    assert t.static is not None
    assert t.static[0] == b"GET / HTTP/1.1\r\nHost: virtual.test\r\nuser-agent: me\r\n"


def test_json_body_templates_apply_to_string_values() -> None:
    spec = {
        "method": "post",
        "path": "/api/cart",
        "json": {"id": "${pid}", "qty": 1, "tags": ["${t}", "x"], "n": None, "lit": "$${x}"},
    }
    t = compile_request(spec)
    assert t.method == "POST" and t.name == "POST /api/cart"
    head, body = t.render({"pid": 'a"b\\c\n', "t": "ü"}, ctx())
    assert b"Content-Type: application/json\r\n" in head
    assert json.loads(body) == {
        "id": 'a"b\\c\n',
        "qty": 1,
        "tags": ["ü", "x"],
        "n": None,
        "lit": "${x}",
    }
    assert body.startswith(b'{"id":"a\\"b')  # compact separators


def test_static_json_body() -> None:
    t = compile_request({"method": "PUT", "path": "/x", "json": [1, "two", {"a": True}]})
    assert t.static is not None
    assert t.static[1] == b'[1,"two",{"a":true}]'


def test_json_body_with_sentinel_like_user_data_still_renders() -> None:
    t = compile_request(
        {"method": "POST", "path": "/x", "json": {"a": "${v}", "b": "\x00intperf:0\x00"}}
    )
    _, body = t.render({"v": "1"}, ctx())
    assert json.loads(body) == {"a": "1", "b": "\x00intperf:0\x00"}


def test_explicit_content_type_wins() -> None:
    t = compile_request(
        {
            "method": "POST",
            "path": "/x",
            "json": {},
            "headers": {"content-type": "application/vnd+json"},
        }
    )
    assert t.static is not None
    assert b"Content-Type" not in t.static[0]
    assert b"content-type: application/vnd+json\r\n" in t.static[0]


def test_form_body() -> None:
    t = compile_request(
        {"method": "POST", "path": "/login", "form": {"user": "${u}", "pw": "a b&"}}
    )
    head, body = t.render({"u": "ann@x"}, ctx())
    assert b"Content-Type: application/x-www-form-urlencoded\r\n" in head
    assert body == b"user=ann%40x&pw=a+b%26"


def test_raw_body() -> None:
    t = compile_request({"method": "POST", "path": "/raw", "body": "id=${userId};ü"})
    head, body = t.render({}, ctx())
    assert body == "id=3;ü".encode()
    assert b"Content-Type" not in head


def test_full_url_path_has_its_own_origin() -> None:
    t = compile_request({"path": "HTTPS://Other.Example/v1/${id}?a=1"})
    assert t.origin == Origin("https", "other.example", 443)
    head, _ = t.render({"id": "5"}, ctx())
    assert head.startswith(b"GET /v1/5?a=1 HTTP/1.1\r\nHost: other.example\r\n")
    bare = compile_request({"path": "http://h.test:81"})
    assert bare.static is not None
    assert bare.static[0].startswith(b"GET / HTTP/1.1\r\nHost: h.test:81\r\n")


def test_base_url_path_prefix() -> None:
    t = compile_request({"path": "/products"}, base_url="https://shop.test/api/")
    assert t.origin == Origin("https", "shop.test", 443)
    assert t.static is not None
    assert t.static[0].startswith(b"GET /api/products HTTP/1.1\r\nHost: shop.test\r\n")


def test_missing_base_url() -> None:
    spec = RequestSpec.model_validate({"path": "/x"})
    sc = scenario().model_copy(update={"base_url": None})
    with pytest.raises(RequestTemplateError, match="no base_url"):
        RequestTemplate.compile(spec, sc)


def test_follow_redirects_default_and_override() -> None:
    assert compile_request({"path": "/"}, follow_redirects=True).follow_redirects is True
    assert (
        compile_request(
            {"path": "/", "follow_redirects": False}, follow_redirects=True
        ).follow_redirects
        is False
    )


def test_header_injection_is_refused_at_render() -> None:
    t = compile_request({"path": "/", "headers": {"X-A": "v=${v}"}})
    with pytest.raises(HeaderInjectionError, match="line break"):
        t.render({"v": "1\r\nEvil: yes"}, ctx())
    with pytest.raises(HeaderInjectionError):
        t.render({"v": "1\nx"}, ctx())


def test_unsafe_headers_are_refused_at_compile() -> None:
    sc = scenario()
    bad_value = RequestSpec.model_construct(
        name="x", method="GET", path="/", query={}, headers={"X-A": "a\r\nb"}, form=None, body=None
    )
    with pytest.raises(RequestTemplateError, match="line break"):
        RequestTemplate.compile(bad_value, sc)
    bad_name = RequestSpec.model_construct(
        name="x", method="GET", path="/", query={}, headers={"X A": "a"}, form=None, body=None
    )
    with pytest.raises(RequestTemplateError, match="invalid header name 'X A'"):
        RequestTemplate.compile(bad_name, sc)


def test_missing_variable_at_render() -> None:
    t = compile_request({"path": "/${nope}"})
    with pytest.raises(MissingVariableError):
        t.render({}, ctx())


def test_origin() -> None:
    o = origin_of("http://[::1]:8080/x#frag")
    assert o == Origin("http", "::1", 8080)
    assert o.host_header == "[::1]:8080"
    assert not o.tls
    s = origin_of("https://EXAMPLE.com")
    assert s.tls and s.port == 443 and s.host_header == "example.com"
    assert origin_of("https://e.com:443").host_header == "e.com"
    assert str(origin_of("http://e.com:80")) == "http://e.com"
    assert o.url == "http://[::1]:8080"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x", "must start with http:// or https://"),
        ("http://", "has no host"),
        ("http://x:99999", "invalid URL"),
        ("http://u:p@x/", "contains credentials"),
        ("http://x/#a", "#fragment"),
    ],
)
def test_split_url_errors(url: str, message: str) -> None:
    with pytest.raises(RequestTemplateError, match=message):
        split_url(url)


def test_split_url() -> None:
    assert split_url("http://x") == (Origin("http", "x", 80), "/")
    assert split_url("http://x/a?b=1") == (Origin("http", "x", 80), "/a?b=1")


_text = st.characters(exclude_categories=["Cs"], exclude_characters="$")  # no surrogates


@given(st.text(_text, min_size=1, max_size=8), st.lists(st.text(_text, max_size=8), max_size=3))
def test_query_and_form_encode_like_urlencode(key: str, values: list[str]) -> None:
    templates = [f"${{v{i}}}" for i in range(len(values))] + ["lit&="]
    t = compile_request(
        {"method": "POST", "path": "/q", "query": {key: templates}, "form": {key: templates}}
    )
    head, body = t.render({f"v{i}": v for i, v in enumerate(values)}, ctx())
    expected = urlencode([(key, v) for v in [*values, "lit&="]])
    assert head.split(b" ")[1] == f"/q?{expected}".encode()
    assert body == expected.encode()
