"""The scenario document (YAML or JSON): models, loading, and validation that reports every problem.

See ``docs/scenarios.md`` for the format and ``docs/internals.md`` for the contract.
"""

from __future__ import annotations

import difflib
import json
import random
import re
import types
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext import parse as parse_jsonpath
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from intperf.errors import FeederError, ScenarioError
from intperf.loadtest.feeders import Strategy, read_feeder_file
from intperf.loadtest.fields import STRICT, Duration
from intperf.loadtest.request import (
    RequestTemplateError,
    header_name_problem,
    header_value_problem,
    path_problem,
    split_url,
)
from intperf.loadtest.templating import (
    BUILTIN_VARIABLES,
    VARIABLE_NAME,
    Template,
    TemplateSyntaxError,
)
from intperf.loadtest.workload import LoadSpec
from intperf.units import parse_duration

__all__ = [
    "HTTP_METHODS",
    "CheckSpec",
    "Extraction",
    "FeedStep",
    "FeederSpec",
    "Gaussian",
    "Journey",
    "RequestSpec",
    "RequestStep",
    "Scenario",
    "Step",
    "ThinkStep",
    "ThinkTime",
    "Timeouts",
    "bundled_scenarios",
    "load_scenario",
    "validate_scenario",
]

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")
SUFFIXES = (".yaml", ".yml", ".json")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_STEP_KINDS = ("request", "think", "feed")
_BUILTINS_TEXT = "uuid, randomInt(a,b), timestamp, userId, iteration"


# --- field types -----------------------------------------------------------------------------
def _scalar_text(v: Any) -> Any:
    """Numbers and booleans written without quotes in YAML become text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return v


def _as_list(v: Any) -> Any:
    return v if isinstance(v, list) else [v]


def _template(v: str) -> str:
    try:
        Template.compile(v)
    except TemplateSyntaxError as e:
        raise ValueError(str(e)) from None
    return v


def _name(v: str) -> str:
    if not _NAME.fullmatch(v):
        raise ValueError(f"{v!r} may only contain letters, digits, '_', '.' and '-'")
    return v


def _var_name(v: str) -> str:
    if not VARIABLE_NAME.fullmatch(v):
        raise ValueError(
            f"{v!r} is not a variable name: start with a letter or '_', "
            "then letters, digits, '_', '.' or '-'"
        )
    return v


def _non_empty(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty")
    return v


def _problem_check(check: Any) -> Any:
    def validate(v: str) -> str:
        problem = check(v)
        if problem:
            raise ValueError(problem)
        return v

    return AfterValidator(validate)


def _method(v: str) -> str:
    if v.upper() in HTTP_METHODS:
        return v.upper()
    raise ValueError(
        f"{v!r} is not an HTTP method; use one of {', '.join(HTTP_METHODS)}"
        + _did_you_mean(v.upper(), HTTP_METHODS)
    )


def _jsonpath(v: str) -> str:
    try:
        parse_jsonpath(v)
    except (JSONPathError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"invalid JSONPath {v!r}: {e}") from None
    return v


def _status(v: list[int]) -> list[int]:
    if not v:
        raise ValueError("give at least one status code, e.g. [200]")
    bad = [s for s in v if not 100 <= s <= 599]
    if bad:
        raise ValueError(f"{', '.join(map(str, bad))}: HTTP status codes are 100-599")
    return v


def _base_url(v: str) -> str:
    if "${" in v:
        raise ValueError(f"base_url {v!r} cannot hold variables")
    try:
        _, rest = split_url(v)
    except RequestTemplateError as e:
        raise ValueError(str(e)) from None
    if "?" in rest:
        raise ValueError(f"base_url {v!r} cannot have a query; put it in each request's 'query'")
    return v


Text = Annotated[str, BeforeValidator(_scalar_text)]
NonEmpty = Annotated[str, AfterValidator(_non_empty)]
TemplateText = Annotated[str, BeforeValidator(_scalar_text), AfterValidator(_template)]
TemplateList = Annotated[list[TemplateText], BeforeValidator(_as_list)]
Name = Annotated[str, AfterValidator(_name)]
VarName = Annotated[str, AfterValidator(_var_name)]
HeaderName = Annotated[str, _problem_check(header_name_problem)]
HeaderValue = Annotated[
    str,
    BeforeValidator(_scalar_text),
    AfterValidator(_template),
    _problem_check(header_value_problem),
]
Method = Annotated[str, AfterValidator(_method)]
JsonPath = Annotated[str, AfterValidator(_jsonpath)]
StatusList = Annotated[
    list[int], BeforeValidator(lambda v: [v] if isinstance(v, int) else v), AfterValidator(_status)
]
BaseUrl = Annotated[str, AfterValidator(_base_url)]
PathText = Annotated[str, AfterValidator(_template), _problem_check(path_problem)]


# --- models ----------------------------------------------------------------------------------
class Timeouts(BaseModel):
    """Per-request timeouts in seconds: connecting, waiting for bytes, and the whole exchange."""

    model_config = STRICT
    connect: Annotated[Duration, Field(gt=0)] = 5.0
    read: Annotated[Duration, Field(gt=0)] = 30.0
    total: Annotated[Duration, Field(gt=0)] = 60.0


class Gaussian(BaseModel):
    """Normal distribution of a pause (negative samples become 0)."""

    model_config = STRICT
    mean: Duration
    stddev: Duration


class ThinkTime(BaseModel):
    """A pause: ``1s`` / a number (constant), ``{constant}``, ``{uniform: [a, b]}``, ``{gaussian}``."""

    model_config = STRICT
    constant: Duration | None = None
    uniform: list[Duration] | None = None
    gaussian: Gaussian | None = None

    @model_validator(mode="before")
    @classmethod
    def _scalar(cls, v: Any) -> Any:
        if isinstance(v, str | int | float) and not isinstance(v, bool):
            return {"constant": parse_duration(v)}
        return v

    @field_validator("uniform")
    @classmethod
    def _bounds(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (len(v) != 2 or v[0] > v[1]):
            raise ValueError(f"uniform needs [low, high] with low <= high, got {v}")
        return v

    @model_validator(mode="after")
    def _one(self) -> ThinkTime:
        given = [k for k in ("constant", "uniform", "gaussian") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a think time is a duration, {constant: 1s}, {uniform: [100ms, 500ms]} or "
                f"{{gaussian: {{mean: 1s, stddev: 200ms}}}}; got {', '.join(given) or 'none'}"
            )
        return self

    def sample(self, rng: random.Random) -> float:
        """A pause in seconds, never negative."""
        if self.constant is not None:
            return self.constant
        if self.uniform is not None:
            return rng.uniform(self.uniform[0], self.uniform[1])
        assert self.gaussian is not None
        return max(0.0, rng.gauss(self.gaussian.mean, self.gaussian.stddev))


class Extraction(BaseModel):
    """Store a value of the response in a variable: exactly one of jsonpath, regex, header."""

    model_config = STRICT
    var: VarName
    jsonpath: JsonPath | None = None
    regex: str | None = None
    group: int | str | None = None
    header: HeaderName | None = None
    default: Text | None = None
    """Used when nothing matches; without it a failed extraction fails the request."""

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"invalid regex {v!r}: {e}") from None
        return v

    @field_validator("group", mode="before")
    @classmethod
    def _group_type(cls, v: Any) -> Any:
        if isinstance(v, str) and v.isdigit():
            return int(v)
        if v is None or (isinstance(v, int | str) and not isinstance(v, bool)):
            return v
        raise ValueError(f"group must be a group number or name, got {v!r}")

    @field_validator("group")
    @classmethod
    def _group(cls, v: int | str | None, info: ValidationInfo) -> int | str | None:
        regex = info.data.get("regex")
        if v is None or regex is None:
            return v
        pattern = re.compile(regex)
        if isinstance(v, int) and not 0 <= v <= pattern.groups:
            raise ValueError(f"group {v} does not exist: {regex!r} has {pattern.groups} group(s)")
        if isinstance(v, str) and v not in pattern.groupindex:
            names = ", ".join(pattern.groupindex) or "none"
            raise ValueError(f"no group named {v!r} in {regex!r} (named groups: {names})")
        return v

    @model_validator(mode="after")
    def _one(self) -> Extraction:
        given = [k for k in ("jsonpath", "regex", "header") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an extraction needs exactly one of 'jsonpath', 'regex', 'header'; got {', '.join(given) or 'none'}"
            )
        if self.group is not None and self.regex is None:
            raise ValueError("'group' only applies to 'regex'")
        return self

    @property
    def regex_group(self) -> int | str:
        """The regex group to take: ``group``, else 1 when the regex has groups, else 0."""
        if self.group is not None:
            return self.group
        return 1 if self.regex is not None and re.compile(self.regex).groups else 0


class CheckSpec(BaseModel):
    """One assertion on a response: status, body_contains, jsonpath (+ equals) or max_duration."""

    model_config = STRICT
    status: StatusList | None = None
    body_contains: Annotated[Text, AfterValidator(_non_empty)] | None = None
    jsonpath: JsonPath | None = None
    equals: Any = None
    """Compared with the JSON value at ``jsonpath``; without ``equals`` the path must match."""
    max_duration: Duration | None = None

    @model_validator(mode="after")
    def _one(self) -> CheckSpec:
        given = [
            k
            for k in ("status", "body_contains", "jsonpath", "max_duration")
            if getattr(self, k) is not None
        ]
        if self.has_equals and self.jsonpath is None:
            raise ValueError("'equals' needs a 'jsonpath' to compare")
        if len(given) != 1:
            raise ValueError(
                "a check needs exactly one of 'status', 'body_contains', 'jsonpath' (with 'equals'), "
                f"'max_duration'; got {', '.join(given) or 'none'}"
            )
        return self

    @property
    def has_equals(self) -> bool:
        """True when ``equals`` was given (``equals: null`` compares with JSON null)."""
        return "equals" in self.model_fields_set


class RequestSpec(BaseModel):
    """One HTTP request of a journey."""

    model_config = STRICT
    name: NonEmpty
    method: Method = "GET"
    path: PathText
    query: dict[str, TemplateList] = Field(default_factory=dict)
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, TemplateList] | None = None
    body: TemplateText | None = None
    extract: list[Extraction] = Field(default_factory=list)
    checks: list[CheckSpec] = Field(default_factory=list)
    think_time: ThinkTime | None = None
    follow_redirects: bool | None = None
    """None: the scenario's ``follow_redirects``."""

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and isinstance(data.get("path"), str):
            method = data.get("method", "GET")
            method = method.upper() if isinstance(method, str) else "GET"
            return {**data, "name": f"{method} {data['path']}"}
        return data

    @field_validator("json_body")
    @classmethod
    def _json(cls, v: Any) -> Any:
        for text in _strings(v):
            _template(text)
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"not a JSON value: {e}") from None
        return v

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        given = [k for k in ("json", "form", "body") if k in self._body_keys()]
        if len(given) > 1:
            raise ValueError(
                f"give at most one of 'json', 'form', 'body'; got {' and '.join(given)}"
            )
        return self

    def _body_keys(self) -> set[str]:
        keys = {"json"} if "json_body" in self.model_fields_set else set()
        return keys | {k for k in ("form", "body") if getattr(self, k) is not None}

    @property
    def body_kind(self) -> Literal["json", "form", "body"] | None:
        """Which body was given, if any."""
        keys = self._body_keys()
        for kind in ("json", "form", "body"):
            if kind in keys:
                return kind  # type: ignore[return-value]
        return None


class RequestStep(BaseModel):
    """A step sending one request."""

    model_config = STRICT
    request: RequestSpec


class ThinkStep(BaseModel):
    """A step pausing the virtual user."""

    model_config = STRICT
    think: ThinkTime


class FeedStep(BaseModel):
    """A step taking the next record of a feeder into the user's variables."""

    model_config = STRICT
    feed: str


def _step_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        found = [k for k in _STEP_KINDS if k in v]
        return found[0] if len(found) == 1 else None
    kinds = {RequestStep: "request", ThinkStep: "think", FeedStep: "feed"}
    return kinds.get(type(v))


Step = Annotated[
    Annotated[RequestStep, Tag("request")]
    | Annotated[ThinkStep, Tag("think")]
    | Annotated[FeedStep, Tag("feed")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step must have exactly one of 'request', 'think', 'feed'",
    ),
]


class Journey(BaseModel):
    """A sequence of steps a virtual user runs per iteration, chosen by weight."""

    model_config = STRICT
    name: NonEmpty
    weight: Annotated[float, Field(gt=0)] = 1.0
    pacing: Duration | None = None
    """Minimum duration of one iteration (the user waits out the rest)."""
    think_time: ThinkTime | None = None
    """Default pause after each request of this journey."""
    steps: Annotated[list[Step], Field(min_length=1)]


class FeederSpec(BaseModel):
    """A data file (relative to the scenario file) and how its records are handed out."""

    model_config = STRICT
    file: NonEmpty
    strategy: Strategy = "circular"


def _default_load() -> LoadSpec:
    return LoadSpec(users=1, duration=10.0)


class Scenario(BaseModel):
    """A load test: target, journeys, data, load shape and success criteria."""

    model_config = STRICT
    name: Name
    description: str | None = None
    base_url: BaseUrl | None = None
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    tls_verify: bool = True
    follow_redirects: bool = False
    variables: dict[VarName, Text] = Field(default_factory=dict)
    feeders: dict[Name, FeederSpec] = Field(default_factory=dict)
    load: LoadSpec = Field(default_factory=_default_load)
    """Without a ``load`` section: 1 user for 10 seconds (a smoke test)."""
    journeys: Annotated[list[Journey], Field(min_length=1)]
    criteria: list[str] = Field(default_factory=list)
    source: str = "<memory>"
    """Where the scenario was read from (not a document key)."""
    base_dir: Path = Field(default_factory=Path)
    """Directory that feeder paths are relative to (not a document key)."""

    def with_base_url(self, base_url: str) -> Scenario:
        """A copy aimed at ``base_url`` (``--base-url``); raises ValueError for a bad URL."""
        return self.model_copy(update={"base_url": _base_url(base_url)})


# --- loading ---------------------------------------------------------------------------------
def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``intperf/scenarios``."""
    root = resources.files("intperf.scenarios")
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_scenario(ref: str | Path) -> Scenario:
    """Read and validate a scenario file (.yaml/.yml/.json) or a bundled scenario by name.

    Raises :class:`ScenarioError` listing every problem found.
    """
    path = _resolve(ref)
    source = str(path)
    doc = _read_document(path, source)
    return validate_scenario(doc, source=source, base_dir=path.parent.resolve())


def validate_scenario(
    doc: Any, *, source: str = "<memory>", base_dir: Path | None = None, read_feeders: bool = True
) -> Scenario:
    """Validate a parsed scenario document; raises :class:`ScenarioError` with every problem.

    ``read_feeders=False`` skips reading feeder files (for documents from untrusted callers);
    variable names are then not checked against feeder columns.
    """
    base_dir = base_dir or Path.cwd()
    if not isinstance(doc, dict):
        raise ScenarioError(
            source,
            [
                (
                    f"{source}:(top level)",
                    f"a scenario is a mapping with 'name' and 'journeys', got {_show(doc)}",
                )
            ],
        )
    problems: list[tuple[str, str]] = []
    for reserved in ("source", "base_dir"):
        if reserved in doc:
            problems.append((f"{source}:{reserved}", f"unknown key {reserved!r}"))
    data = {k: v for k, v in doc.items() if k not in ("source", "base_dir")}
    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate({**data, "source": source, "base_dir": base_dir})
    except ValidationError as e:
        problems += [(f"{source}:{loc}", msg) for loc, msg in _translate(e, data)]
    problems += [
        (f"{source}:{loc}", msg) for loc, msg in _cross_check(data, base_dir, read_feeders)
    ]
    if problems or scenario is None:
        raise ScenarioError(source, list(dict.fromkeys(problems)))
    return scenario


def _resolve(ref: str | Path) -> Path:
    text = str(ref)
    path = Path(ref)
    looks_like_file = (
        isinstance(ref, Path) or path.suffix != "" or "/" in text or "\\" in text or path.exists()
    )
    if looks_like_file:
        if path.suffix.lower() not in SUFFIXES:
            raise ScenarioError(
                text,
                [
                    (
                        text,
                        f"unsupported file type {path.suffix or '(none)'!r}; use .yaml, .yml or .json",
                    )
                ],
            )
        if not path.is_file():
            raise ScenarioError(text, [(text, "file not found")])
        return path
    bundled = bundled_scenarios()
    if text in bundled:
        return Path(str(resources.files("intperf.scenarios").joinpath(f"{text}.yaml")))
    hint = _did_you_mean(text, bundled) or f"; bundled scenarios: {', '.join(bundled) or 'none'}"
    raise ScenarioError(
        text, [(text, f"no scenario file or bundled scenario named {text!r}{hint}")]
    )


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that rejects duplicate keys (a silent typo source otherwise)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        if isinstance(key, str | int | float | bool):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_document(path: Path, source: str) -> Any:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScenarioError(
            source, [(source, f"not UTF-8 text ({e.reason} at byte {e.start})")]
        ) from None
    except OSError as e:
        raise ScenarioError(source, [(source, f"cannot read the file: {e.strerror}")]) from None
    if not text.strip():
        raise ScenarioError(
            source, [(source, "the file is empty; a scenario needs at least 'name' and 'journeys'")]
        )
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ScenarioError(
                source, [(f"{source}:{e.lineno}:{e.colno}", f"invalid JSON: {e.msg}")]
            ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        loc = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        detail = f" ({e.context})" if e.context else ""
        raise ScenarioError(source, [(loc, f"invalid YAML: {e.problem}{detail}")]) from None
    except yaml.YAMLError as e:
        raise ScenarioError(source, [(source, f"invalid YAML: {e}")]) from None


# --- translation of pydantic errors ----------------------------------------------------------
def _show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    text = repr(v) if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _fmt(path: Iterable[str | int]) -> str:
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", seg):
            out += f".{seg}" if out else seg
        else:
            out += f"[{json.dumps(seg)}]"
    return out or "(top level)"


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _members(tp: Any) -> list[Any] | None:
    if get_origin(tp) in (Union, types.UnionType):
        return [a for a in get_args(tp) if a is not type(None)]
    return None


def _tag(tp: Any) -> str | None:
    for meta in getattr(tp, "__metadata__", ()):
        if isinstance(meta, Tag):
            return meta.tag
    return None


def _walk(loc: tuple[str | int, ...]) -> tuple[list[str | int], Any, tuple[int, Any] | None]:
    """Follow ``loc`` through the model types: shown path, type reached, smart-union member.

    Discriminator tags and union member names are pydantic's, not the user's: they are left out
    of the shown path. The third value is ``(shown length, union member)`` for smart unions.
    """
    tp: Any = Scenario
    shown: list[str | int] = []
    member: tuple[int, Any] | None = None
    for seg in loc:
        tp = _unwrap(tp)
        if seg == "[key]":
            tp = None
            continue
        options = _members(tp)
        if options is not None:
            tagged = {_tag(o): _unwrap(o) for o in options}
            if seg in tagged:
                tp = tagged[seg]
                continue
            by_name = {getattr(_unwrap(o), "__name__", None): _unwrap(o) for o in options}
            if seg in by_name:
                tp = by_name[seg]
                member = member or (len(shown), tp)
                continue
            tp = options[0] if len(options) == 1 else None
            tp = _unwrap(tp)
        shown.append(seg)
        origin = get_origin(tp)
        if isinstance(seg, int) and origin in (list, tuple):
            tp = get_args(tp)[0]
        elif isinstance(seg, str) and origin is dict:
            tp = get_args(tp)[1]
        elif isinstance(seg, str) and isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(f.alias or n): f for n, f in tp.model_fields.items()}
            field = fields.get(seg)
            tp = field.annotation if field is not None else None
        else:
            tp = None
    return shown, tp, member


def _keys_of(model: Any) -> list[str]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        keys = [f.alias or n for n, f in model.model_fields.items()]
        return [k for k in keys if not (model is Scenario and k in ("source", "base_dir"))]
    return []


def _at(doc: Any, path: Iterable[str | int]) -> Any:
    for seg in path:
        try:
            doc = doc[seg]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def _translate(error: ValidationError, doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Pydantic errors as ``(path, message)``; smart-union noise collapsed to one message."""
    union_groups: dict[
        tuple[str | int, ...], list[tuple[Any, list[str | int], dict[str, Any]]]
    ] = {}
    for err in error.errors():
        shown, _, member = _walk(err["loc"])
        if member is None:
            yield _fmt(shown), _message(err, shown)
            continue
        prefix = tuple(shown[: member[0]])
        union_groups.setdefault(prefix, []).append((member[1], shown, dict(err)))
    for prefix, errs in union_groups.items():
        value = _at(doc, prefix)
        members = list(dict.fromkeys(m for m, _, _ in errs))
        kinds = {_keys_of(m)[0]: m for m in members}
        chosen = [m for k, m in kinds.items() if isinstance(value, dict) and k in value]
        if len(chosen) == 1:
            for m, shown, err in errs:
                if m is chosen[0]:
                    yield _fmt(shown), _message(err, shown)
            continue
        listing = ", ".join(repr(k) for k in kinds)
        got = f"keys {', '.join(map(repr, value))}" if isinstance(value, dict) else _show(value)
        hint = (
            next((_did_you_mean(str(k), kinds) for k in value if _did_you_mean(str(k), kinds)), "")
            if isinstance(value, dict)
            else ""
        )
        yield _fmt(prefix), f"expected a mapping with exactly one of {listing}; got {got}{hint}"


_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "text",
    "list": "a list",
    "dict": "a mapping of keys to values",
    "model": "a mapping of keys to values",
    "tuple": "a list",
}


def _message(err: Any, shown: list[str | int]) -> str:
    etype: str = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if etype == "missing":
        return f"missing required key {shown[-1]!r}" if shown else "missing required value"
    if etype == "extra_forbidden":
        key = str(shown[-1])
        valid = _keys_of(_walk(tuple(err["loc"][:-1]))[1])
        hint = _did_you_mean(key, valid)
        return f"unknown key {key!r}" + (
            hint or (f"; valid keys: {', '.join(valid)}" if valid else "")
        )
    if etype in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    if etype == "step_kind":
        found = [k for k in value if k in _STEP_KINDS] if isinstance(value, dict) else []
        base = "a step must have exactly one of 'request', 'think', 'feed'"
        if len(found) > 1:
            return f"{base}; got {' and '.join(map(repr, found))} in one step (make them separate steps)"
        if isinstance(value, dict):
            hint = next((h for k in value if (h := _did_you_mean(str(k), _STEP_KINDS))), "")
            return f"{base}; got keys {', '.join(map(repr, value)) or 'none'}{hint}"
        return f"{base}; got {_show(value)}"
    if etype == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{_show(value)} is not valid; use one of {', '.join(choices)}" + _did_you_mean(
            str(value), choices
        )
    if etype in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {
            "greater_than": ">",
            "greater_than_equal": ">=",
            "less_than": "<",
            "less_than_equal": "<=",
        }[etype]
        bound = next(iter(ctx.values()), "?")
        return f"must be {op} {bound}, got {_show(value)}"
    if etype in ("too_short", "too_long"):
        which = "at least" if etype == "too_short" else "at most"
        n = ctx.get("min_length" if etype == "too_short" else "max_length")
        return f"needs {which} {n} item(s), got {ctx.get('actual_length', '?')}"
    kind = etype.split("_")[0]
    if kind in _TYPE_WORDS and etype.endswith(
        ("_type", "_parsing", "_from_float", "_attributes_type")
    ):
        return f"expected {_TYPE_WORDS[kind]}, got {_show(value)}"
    return f"{err['msg']} (got {_show(value)})"


# --- cross-reference checks on the raw document ----------------------------------------------
def _strings(v: Any, path: tuple[str | int, ...] = ()) -> Iterator[str]:
    for _, text in _string_sites(v, path):
        yield text


def _string_sites(
    v: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(v, str):
        yield path, v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from _string_sites(x, (*path, str(k)))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _string_sites(x, (*path, i))


def _request_sites(
    req: dict[str, Any], at: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    for key in ("path", "body", "query", "headers", "form", "json"):
        if key in req:
            yield from _string_sites(req[key], (*at, key))


def _cross_check(
    doc: dict[str, Any], base_dir: Path, read_feeders: bool
) -> Iterator[tuple[str, str]]:
    """Feeder files, feeder references, unique journey names and known ``${names}``."""
    columns: dict[str, frozenset[str] | None] = {}
    feeders = doc.get("feeders")
    for name, spec in feeders.items() if isinstance(feeders, dict) else ():
        columns[name] = None
        file = spec.get("file") if isinstance(spec, dict) else None
        if read_feeders and isinstance(file, str) and file.strip():
            try:
                columns[name] = frozenset(read_feeder_file(base_dir / file).columns)
            except FeederError as e:
                yield _fmt(("feeders", name, "file")), str(e)
    variables = doc.get("variables")
    known = set(BUILTIN_VARIABLES) | (
        set(map(str, variables)) if isinstance(variables, dict) else set()
    )
    sites = list(_string_sites(doc.get("headers"), ("headers",)))
    fed: set[str] = set()
    names: dict[str, int] = {}
    journeys = doc.get("journeys")
    for j, journey in enumerate(journeys if isinstance(journeys, list) else []):
        if not isinstance(journey, dict):
            continue
        name = journey.get("name")
        if isinstance(name, str):
            if name in names:
                yield (
                    _fmt(("journeys", j, "name")),
                    f"duplicate journey name {name!r} (also journeys[{names[name]}].name)",
                )
            names.setdefault(name, j)
        steps = journey.get("steps")
        for k, step in enumerate(steps if isinstance(steps, list) else []):
            at = ("journeys", j, "steps", k)
            kind = _step_kind(step)
            if kind == "feed" and isinstance(step["feed"], str):
                feeder = step["feed"]
                fed.add(feeder)
                if feeder not in columns:
                    declared = ", ".join(columns) or "none; declare them under 'feeders'"
                    yield (
                        _fmt((*at, "feed")),
                        f"unknown feeder {feeder!r}{_did_you_mean(feeder, columns)} (declared feeders: {declared})",
                    )
            elif kind == "request" and isinstance(step["request"], dict):
                req = step["request"]
                sites += _request_sites(req, (*at, "request"))
                extracts = req.get("extract")
                for e in extracts if isinstance(extracts, list) else []:
                    if isinstance(e, dict) and isinstance(e.get("var"), str):
                        known.add(e["var"])
    if not read_feeders or any(columns.get(f) is None for f in fed):
        return  # columns unknown: reporting every feeder-provided name would only be noise
    for f in fed:
        known |= columns[f] or frozenset()
    for path, text in sites:
        try:
            template = Template.compile(text)
        except TemplateSyntaxError:
            continue  # reported by the model validation
        for var in sorted(template.variables - known):
            yield (
                _fmt(path),
                (
                    f"unknown variable '${{{var}}}'{_did_you_mean(var, known)} (a variable must be a built-in "
                    f"({_BUILTINS_TEXT}), a key of 'variables', a column of a fed feeder or the 'var' of an extraction)"
                ),
            )
