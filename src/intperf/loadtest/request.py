"""Scenario requests compiled into HTTP/1.1 request heads and bodies, rendered per virtual user.

The head is the request line and header lines (each ending CRLF) without ``Content-Length``
and without the final blank line: the engine appends ``Cookie``, ``Content-Length`` and CRLF.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlsplit

from intperf import __version__
from intperf.errors import IntperfError, UsageError
from intperf.loadtest.templating import BuiltinContext, Template, TemplateSyntaxError

if TYPE_CHECKING:
    from intperf.loadtest.scenario import RequestSpec, Scenario

__all__ = [
    "USER_AGENT",
    "HeaderInjectionError",
    "Origin",
    "RequestTemplate",
    "RequestTemplateError",
    "header_name_problem",
    "header_value_problem",
    "is_absolute_url",
    "origin_of",
    "path_problem",
    "split_url",
]

USER_AGENT = f"intperf/{__version__}"
DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 9110 §5.6.2: a header name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; "/" separates segments.
_PATH_SAFE = "/:@!$&'()*+,;="
_ENGINE_HEADERS = {"content-length", "transfer-encoding"}
_ABSOLUTE = re.compile(r"(?i)https?://")

Piece = str | Callable[[Mapping[str, str], BuiltinContext], str]


class RequestTemplateError(UsageError):
    """A request cannot be compiled: bad URL, unsafe header, no base URL."""


class HeaderInjectionError(IntperfError):
    """A rendered header value contains CR, LF or NUL (it would inject headers)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where requests go: scheme, lower-case host (IPv6 without brackets) and port."""

    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        """True for https."""
        return self.scheme == "https"

    @property
    def host_header(self) -> str:
        """The ``Host`` header value: the port is left out when it is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """``scheme://host[:port]`` (the port only when not the default), without a slash."""
        return f"{self.scheme}://{self.host_header}"

    def __str__(self) -> str:
        return self.url


def is_absolute_url(text: str) -> bool:
    """True when ``text`` starts with ``http://`` or ``https://``."""
    return _ABSOLUTE.match(text) is not None


def origin_of(url: str) -> Origin:
    """The :class:`Origin` of an absolute http(s) URL; raises :class:`RequestTemplateError`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise RequestTemplateError(f"invalid URL {url!r}: {e}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise RequestTemplateError(f"URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise RequestTemplateError(f"URL {url!r} has no host")
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


def split_url(url: str) -> tuple[Origin, str]:
    """The origin of a URL a scenario gives and the rest (path and query, ``/`` at least).

    Stricter than :func:`origin_of`: credentials and fragments are refused.
    """
    origin = origin_of(url)
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise RequestTemplateError(
            f"URL {url!r} contains credentials; send them in an Authorization header instead"
        )
    if parts.fragment or url.endswith("#"):
        raise RequestTemplateError(f"URL {url!r} has a #fragment, which is never sent")
    rest = parts.path or "/"
    if parts.query:
        rest = f"{rest}?{parts.query}"
    return origin, rest


def _split_templated_url(url: str) -> tuple[Origin, str]:
    """Split a full URL whose path may hold ``${...}``; its scheme and host must be literal."""
    after_scheme = url.index("://") + 3
    m = re.compile(r"[/?#]").search(url, after_scheme)
    end = m.start() if m else len(url)
    if "${" in url[:end]:
        raise RequestTemplateError(
            f"URL {url!r}: variables are not allowed in the scheme, host or port"
        )
    origin, _ = split_url(url[:end])
    rest = url[end:]
    if not rest.startswith("/"):
        rest = "/" + rest
    return origin, rest


def path_problem(path: str) -> str | None:
    """Why ``path`` (a template) cannot be a request path, or None."""
    if not path.startswith("/") and not is_absolute_url(path):
        return f"path {path!r} must start with '/' or be a full http:// or https:// URL"
    try:
        target = _split_templated_url(path)[1] if is_absolute_url(path) else path
        for part in Template.compile(target).parts:
            if isinstance(part, str) and (problem := _literal_target_problem(part)):
                return problem
    except (RequestTemplateError, TemplateSyntaxError) as e:
        return str(e)
    return None


def header_name_problem(name: str, *, sent: bool = True) -> str | None:
    """Why ``name`` cannot be a header name (of a request when ``sent``), or None."""
    if not _TOKEN.fullmatch(name):
        return (
            f"invalid header name {name!r}: use letters, digits and !#$%&'*+-.^_`|~ "
            "(no spaces, colons or line breaks)"
        )
    if sent and name.lower() in _ENGINE_HEADERS:
        return f"{name} is computed by intperf; remove it"
    return None


def header_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be a header value (CR, LF or NUL would inject headers), or None."""
    if "\r" in value or "\n" in value or "\0" in value:
        return f"header value {value!r} contains a line break or NUL"
    return None


@dataclass(frozen=True, slots=True)
class RequestTemplate:
    """One request of a scenario, compiled once; ``render`` gives ``(head, body)`` bytes."""

    name: str
    method: str
    origin: Origin
    follow_redirects: bool
    static: tuple[bytes, bytes] | None
    """``(head, body)`` when nothing in the request varies, else None."""
    head_pieces: tuple[Piece, ...]
    body_pieces: tuple[Piece, ...]

    @classmethod
    def compile(cls, spec: RequestSpec, scenario: Scenario) -> RequestTemplate:
        """Compile ``spec`` against the scenario's base URL and default headers."""
        try:
            return cls._compile(spec, scenario)
        except RequestTemplateError as e:
            raise RequestTemplateError(f"request '{spec.name}': {e}") from None

    @classmethod
    def _compile(cls, spec: RequestSpec, scenario: Scenario) -> RequestTemplate:
        if is_absolute_url(spec.path):
            origin, target = _split_templated_url(spec.path)
        elif scenario.base_url is None:
            raise RequestTemplateError(
                f"path {spec.path!r} is relative and there is no base_url "
                "(set base_url in the scenario or pass --base-url)"
            )
        else:
            if "${" in scenario.base_url:
                raise RequestTemplateError(f"base_url {scenario.base_url!r} cannot hold variables")
            origin, base_path = split_url(scenario.base_url)
            if "?" in base_path:
                raise RequestTemplateError(f"base_url {scenario.base_url!r} cannot have a query")
            target = base_path.rstrip("/") + spec.path
        head: list[Piece] = [f"{spec.method} "]
        head += _path_pieces(Template.compile(target))
        head += _query_pieces(spec.query, "&" if "?" in target else "?")
        head.append(" HTTP/1.1\r\n")

        headers: dict[str, tuple[str, Template]] = {}
        for source in (scenario.headers, spec.headers):
            for hname, hvalue in source.items():
                problem = header_name_problem(hname)
                if problem:
                    raise RequestTemplateError(problem)
                headers[hname.lower()] = (hname, Template.compile(hvalue))
        host = headers.pop("host", ("Host", Template.compile(origin.host_header)))
        lines: list[tuple[str, Template]] = [host]
        if "user-agent" not in headers:
            lines.append(("User-Agent", Template.compile(USER_AGENT)))
        lines += headers.values()
        body: list[Piece]
        kind = spec.body_kind
        if kind == "json":
            body = _json_pieces(spec.json_body)
        elif kind == "form":
            body = _query_pieces(spec.form or {}, "")
        elif kind == "body":
            body = _template_pieces(Template.compile(spec.body or ""), None)
        else:
            body = []
        content_type = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
        if kind in content_type and "content-type" not in headers:
            lines.append(("Content-Type", Template.compile(content_type[kind])))
        for hname, value in lines:
            head.append(f"{hname}: ")
            head += _header_pieces(value)
            head.append("\r\n")

        head_t, body_t = _coalesce(head), _coalesce(body)
        static = None
        head_s = [p for p in head_t if isinstance(p, str)]
        body_s = [p for p in body_t if isinstance(p, str)]
        if len(head_s) == len(head_t) and len(body_s) == len(body_t):
            static = ("".join(head_s).encode(), "".join(body_s).encode())
        follow = (
            scenario.follow_redirects if spec.follow_redirects is None else spec.follow_redirects
        )
        return cls(spec.name, spec.method, origin, follow, static, head_t, body_t)

    @property
    def is_static(self) -> bool:
        """True when every render gives the same bytes (``static``)."""
        return self.static is not None

    def render(self, variables: Mapping[str, str], ctx: BuiltinContext) -> tuple[bytes, bytes]:
        """``(head, body)`` for one user; raises MissingVariableError or HeaderInjectionError."""
        if self.static is not None:
            return self.static
        return _join(self.head_pieces, variables, ctx), _join(self.body_pieces, variables, ctx)


def _join(pieces: Sequence[Piece], variables: Mapping[str, str], ctx: BuiltinContext) -> bytes:
    return "".join([p if isinstance(p, str) else p(variables, ctx) for p in pieces]).encode()


def _coalesce(pieces: Sequence[Piece]) -> tuple[Piece, ...]:
    """Merge neighbouring literal pieces so rendering joins as few strings as possible."""
    out: list[Piece] = []
    for p in pieces:
        if isinstance(p, str):
            if not p:
                continue
            if out and isinstance(out[-1], str):
                out[-1] += p
                continue
        out.append(p)
    return tuple(out)


def _template_pieces(template: Template, escape: Callable[[str], str] | None) -> list[Piece]:
    if template.static_text is not None:
        return [template.static_text]
    pieces: list[Piece] = []
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(part)
        elif escape is None:
            pieces.append(part.resolve)
        else:
            pieces.append(_escaped(part.resolve, escape))
    return pieces


def _escaped(
    resolve: Callable[[Mapping[str, str], BuiltinContext], str], escape: Callable[[str], str]
) -> Callable[[Mapping[str, str], BuiltinContext], str]:
    def piece(variables: Mapping[str, str], ctx: BuiltinContext) -> str:
        return escape(resolve(variables, ctx))

    return piece


def _quote_path(value: str) -> str:
    return quote(value, safe=_PATH_SAFE)


def _path_pieces(template: Template) -> list[Piece]:
    for part in template.parts:
        if isinstance(part, str) and (problem := _literal_target_problem(part)):
            raise RequestTemplateError(problem)
    return _template_pieces(template, _quote_path)


def _literal_target_problem(text: str) -> str | None:
    if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in text):
        return f"path {text!r} contains a space or control character; percent-encode it (%20)"
    if "#" in text:
        return f"path {text!r} contains '#'; fragments are never sent"
    return None


def _checked_header(value: str) -> str:
    if "\r" in value or "\n" in value or "\0" in value:
        raise HeaderInjectionError(
            f"rendered header value {value[:60]!r} contains a line break or NUL"
        )
    return value


def _header_pieces(template: Template) -> list[Piece]:
    for part in template.parts:
        if isinstance(part, str) and (problem := header_value_problem(part)):
            raise RequestTemplateError(problem)
    return _template_pieces(template, _checked_header)


def _query_pieces(query: Mapping[str, str | list[str]], lead: str) -> list[Piece]:
    """``?k=v&...`` (or ``&...`` / bare for a form body), encoded like ``urlencode``.

    Keys and static values are encoded once; a whole value that varies is rendered, then
    encoded with ``quote_plus`` (what ``urlencode`` does per value).
    """
    pieces: list[Piece] = []
    for key, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            pieces.append(("&" if pieces else lead) + quote_plus(key) + "=")
            t = Template.compile(item)
            if t.static_text is not None:
                pieces.append(quote_plus(t.static_text))
            else:
                pieces.append(_escaped(t.render, quote_plus))
    return pieces


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_dumps = _JSON.encode  # one encoder: json.dumps with options builds a new one per call


def _json_pieces(value: Any) -> list[Piece]:
    """JSON text with templates applied to the string values of the structure.

    The structure is serialized once with a sentinel per templated string; rendering then
    splices ``json.dumps(rendered value)`` between the precomputed fragments.
    """
    templates: list[Template] = []

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            t = Template.compile(v)
            if t.static_text is not None:
                return t.static_text
            templates.append(t)
            return f"\x00intperf:{len(templates) - 1}\x00"
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    try:
        text = _dumps(walk(value))
    except (TypeError, ValueError) as e:
        raise RequestTemplateError(f"json body is not JSON: {e}") from None
    pieces: list[Piece] = []
    for i, t in enumerate(templates):
        before, sep, text = text.partition(_dumps(f"\x00intperf:{i}\x00"))
        if not sep or sep in text:  # the user's own data contains a sentinel: render slowly
            return [_slow_json(value)]
        pieces += [before, _json_string(t)]
    pieces.append(text)
    return pieces


def _json_string(template: Template) -> Callable[[Mapping[str, str], BuiltinContext], str]:
    def piece(variables: Mapping[str, str], ctx: BuiltinContext) -> str:
        return _dumps(template.render(variables, ctx))

    return piece


def _slow_json(value: Any) -> Callable[[Mapping[str, str], BuiltinContext], str]:
    def render(v: Any, variables: Mapping[str, str], ctx: BuiltinContext) -> Any:
        if isinstance(v, str):
            return Template.compile(v).render(variables, ctx)
        if isinstance(v, dict):
            return {k: render(x, variables, ctx) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [render(x, variables, ctx) for x in v]
        return v

    def piece(variables: Mapping[str, str], ctx: BuiltinContext) -> str:
        return _dumps(render(value, variables, ctx))

    return piece
