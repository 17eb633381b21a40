"""The scenario document (YAML or JSON): models, loading, and validation that reports every problem.

See ``docs/scenarios.md`` for the format and ``docs/internals.md`` for the contract.
"""

from __future__ import annotations

import json
import random
import re
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
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

from intperf.errors import ScenarioError
from intperf.loadtest.feeders import Strategy
from intperf.loadtest.fields import STRICT, Duration
from intperf.loadtest.groups import GroupSpec, GroupStep, OnFailure
from intperf.loadtest.populations import population_problems
from intperf.loadtest.request import (
    RequestTemplateError,
    header_name_problem,
    header_value_problem,
    path_problem,
    split_url,
)
from intperf.loadtest.scenario_checks import CheckSpec, JsonPath
from intperf.loadtest.scenario_problems import (
    body_conflict,
    cross_check,
    did_you_mean,
    json_strings,
    step_kind,
    translate,
)
from intperf.loadtest.templating import (
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
    "GroupSpec",
    "GroupStep",
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
        + did_you_mean(v.upper(), HTTP_METHODS)
    )


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
ResponseHeaderName = Annotated[str, _problem_check(partial(header_name_problem, sent=False))]
HeaderValue = Annotated[
    str,
    BeforeValidator(_scalar_text),
    AfterValidator(_template),
    _problem_check(header_value_problem),
]
Method = Annotated[str, AfterValidator(_method)]
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
    """A pause: ``1s`` or a number (constant), ``{constant}``, ``{uniform}`` or ``{gaussian}``."""

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
    header: ResponseHeaderName | None = None
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
                "an extraction needs exactly one of 'jsonpath', 'regex', 'header'; "
                f"got {', '.join(given) or 'none'}"
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
    on_failure: OnFailure | None = None
    """``continue``: a failure of this request does not end the iteration (None: inherited
    from the enclosing groups, else ``end_iteration``)."""

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data:
            method = data.get("method", "GET")
            method = method.upper() if isinstance(method, str) else "GET"
            path = data.get("path")
            # Without a usable path the request fails on 'path' alone; no second error for 'name'.
            return {**data, "name": f"{method} {path if isinstance(path, str) else '?'}"}
        return data

    @field_validator("json_body")
    @classmethod
    def _json(cls, v: Any) -> Any:
        for text in json_strings(v):
            _template(text)
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"not a JSON value: {e}") from None
        return v

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        if conflict := body_conflict(self._body_keys()):
            raise ValueError(conflict)
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
                return kind
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
        return step_kind(v)
    kinds: dict[type, str] = {
        RequestStep: "request", ThinkStep: "think", FeedStep: "feed", GroupStep: "group"
    }
    return kinds.get(type(v))


Step = Annotated[
    Annotated[RequestStep, Tag("request")]
    | Annotated[ThinkStep, Tag("think")]
    | Annotated[FeedStep, Tag("feed")]
    | Annotated[GroupStep, Tag("group")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step must have exactly one of 'request', 'think', 'feed', 'group'",
    ),
]
GroupSpec.model_rebuild(_types_namespace={"Step": Step})
GroupStep.model_rebuild()


class Journey(BaseModel):
    """A sequence of steps a virtual user runs per iteration, chosen by weight.

    With its own ``load`` the journey is a population of its own: its users run only it
    (then every journey has a load and the scenario none, see docs/workload.md).
    """

    model_config = STRICT
    name: NonEmpty
    weight: Annotated[float, Field(gt=0)] = 1.0
    pacing: Duration | None = None
    """Minimum duration of one iteration (the user waits out the rest)."""
    think_time: ThinkTime | None = None
    """Default pause after each request of this journey."""
    load: LoadSpec | None = None
    """This journey's own population (None: the scenario's ``load`` drives all journeys)."""
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
    cookies: bool = True
    """Each virtual user keeps the cookies the target sets and sends them back."""
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
        what = f"a scenario is a mapping with 'name' and 'journeys', got {type(doc).__name__}"
        raise _fail(source, f"{source}:(top level)", what)
    problems = [(f"{source}:{k}", f"unknown key {k!r}") for k in ("source", "base_dir") if k in doc]
    data = {k: v for k, v in doc.items() if k not in ("source", "base_dir")}
    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate({**data, "source": source, "base_dir": base_dir})
    except ValidationError as e:
        problems += [(f"{source}:{loc}", msg) for loc, msg in translate(e, data, Scenario)]
    problems += [(f"{source}:{loc}", msg) for loc, msg in cross_check(data, base_dir, read_feeders)]
    problems += [(f"{source}:{loc}", msg) for loc, msg in population_problems(data)]
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
            suffix = path.suffix or "(none)"
            raise _fail(text, text, f"unsupported file type {suffix!r}; use .yaml, .yml or .json")
        if not path.is_file():
            raise _fail(text, text, "file not found")
        return path
    bundled = bundled_scenarios()
    if text in bundled:
        return Path(str(resources.files("intperf.scenarios").joinpath(f"{text}.yaml")))
    hint = did_you_mean(text, bundled) or f"; bundled scenarios: {', '.join(bundled) or 'none'}"
    raise _fail(text, text, f"no scenario file or bundled scenario named {text!r}{hint}")


def _fail(source: str, location: str, message: str) -> ScenarioError:
    return ScenarioError(source, [(location, message)])


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that rejects duplicate keys (a silent typo source otherwise)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
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
        raise _fail(source, source, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise _fail(source, source, f"cannot read the file: {e.strerror}") from None
    if not text.strip():
        empty = "the file is empty; a scenario needs at least 'name' and 'journeys'"
        raise _fail(source, source, empty)
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            loc = f"{source}:{e.lineno}:{e.colno}"
            raise _fail(source, loc, f"invalid JSON: {e.msg}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        loc = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        detail = f" ({e.context})" if e.context else ""
        raise _fail(source, loc, f"invalid YAML: {e.problem}{detail}") from None
    except yaml.YAMLError as e:
        raise _fail(source, source, f"invalid YAML: {e}") from None
