"""Every problem of a scenario document, in the user's words.

Pydantic's errors become ``(path, message)`` pairs with paths like
``journeys[0].steps[2].request.checks[1].status``; cross-references (feeders, ``${names}``,
journey names) are checked on the raw document so they are reported even when it has other
errors.
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from intperf.errors import FeederError
from intperf.loadtest.feeders import read_feeder_file
from intperf.loadtest.templating import BUILTIN_VARIABLES, Template, TemplateSyntaxError

__all__ = [
    "STEP_KINDS",
    "body_conflict",
    "cross_check",
    "did_you_mean",
    "json_strings",
    "step_kind",
    "translate",
]

STEP_KINDS = ("request", "think", "feed", "group")
_HIDDEN_KEYS = ("source", "base_dir")  # model fields that are not document keys
_BUILTINS_TEXT = "uuid, randomInt(a,b), timestamp, userId, iteration"


def body_conflict(given: Iterable[str]) -> str | None:
    """The problem when a request has more than one of 'json', 'form', 'body'."""
    keys = [k for k in ("json", "form", "body") if k in given]
    if len(keys) > 1:
        return f"give at most one of 'json', 'form', 'body'; got {' and '.join(keys)}"
    return None


def step_kind(v: Any) -> str | None:
    """The kind of a raw step mapping when it has exactly one of the step keys."""
    if isinstance(v, dict):
        found = [k for k in STEP_KINDS if k in v]
        return found[0] if len(found) == 1 else None
    return None


def _show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    text = repr(v) if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or an empty string."""
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


def _walk(
    loc: tuple[str | int, ...], root: type[BaseModel]
) -> tuple[list[str | int], Any, tuple[int, Any] | None]:
    """Follow ``loc`` through the model types: shown path, type reached, smart-union member.

    Discriminator tags and union member names are pydantic's, not the user's: they are left out
    of the shown path. The third value is ``(shown length, union member)`` for smart unions.
    """
    tp: Any = root
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
    options = _members(_unwrap(model))
    if options is not None and len(options) == 1:  # an optional section: ``X | None``
        model = _unwrap(options[0])
    if isinstance(model, type) and issubclass(model, BaseModel):
        keys = [f.alias or n for n, f in model.model_fields.items()]
        return [k for k in keys if k not in _HIDDEN_KEYS]
    return []


def _at(doc: Any, path: Iterable[str | int]) -> Any:
    for seg in path:
        try:
            doc = doc[seg]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def translate(
    error: ValidationError, doc: dict[str, Any], root: type[BaseModel]
) -> Iterator[tuple[str, str]]:
    """Pydantic errors as ``(path, message)``; smart-union noise collapsed to one message."""
    union_groups: dict[
        tuple[str | int, ...], list[tuple[Any, list[str | int], dict[str, Any]]]
    ] = {}
    for err in error.errors():
        shown, _, member = _walk(err["loc"], root)
        if shown and isinstance(shown[-1], int) and not isinstance(_at(doc, shown[:-1]), list):
            shown.pop()  # a single value that the model wrapped into a list
        if member is None:
            yield _fmt(shown), _message(err, shown, root)
            continue
        prefix = tuple(shown[: member[0]])
        union_groups.setdefault(prefix, []).append((member[1], shown, dict(err)))
    for prefix, errs in union_groups.items():
        value = _at(doc, prefix)
        members = list(dict.fromkeys(m for m, _, _ in errs))
        kinds = {_keys_of(m)[0]: m for m in members}
        chosen = [m for k, m in kinds.items() if isinstance(value, dict) and k in value]
        if len(chosen) == 1:
            for m, path, details in errs:
                if m is chosen[0]:
                    yield _fmt(path), _message(details, path, root)
            continue
        listing = ", ".join(repr(k) for k in kinds)
        got = f"keys {', '.join(map(repr, value))}" if isinstance(value, dict) else _show(value)
        hint = (
            next((did_you_mean(str(k), kinds) for k in value if did_you_mean(str(k), kinds)), "")
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


def _message(err: Any, shown: list[str | int], root: type[BaseModel]) -> str:
    etype: str = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if etype == "missing":
        return f"missing required key {shown[-1]!r}" if shown else "missing required value"
    if etype == "extra_forbidden":
        key = str(shown[-1])
        valid = _keys_of(_walk(tuple(err["loc"][:-1]), root)[1])
        hint = did_you_mean(key, valid)
        return f"unknown key {key!r}" + (
            hint or (f"; valid keys: {', '.join(valid)}" if valid else "")
        )
    if etype in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    if etype == "step_kind":
        found = [k for k in value if k in STEP_KINDS] if isinstance(value, dict) else []
        base = "a step must have exactly one of 'request', 'think', 'feed', 'group'"
        if len(found) > 1:
            both = " and ".join(map(repr, found))
            return f"{base}; got {both} in one step (make them separate steps)"
        if isinstance(value, dict):
            hint = next((h for k in value if (h := did_you_mean(str(k), STEP_KINDS))), "")
            return f"{base}; got keys {', '.join(map(repr, value)) or 'none'}{hint}"
        return f"{base}; got {_show(value)}"
    if etype == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{_show(value)} is not valid; use one of {', '.join(choices)}" + did_you_mean(
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
def json_strings(v: Any, path: tuple[str | int, ...] = ()) -> Iterator[str]:
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


def _check_steps(
    steps: Any,
    at_steps: tuple[str | int, ...],
    columns: dict[str, frozenset[str] | None],
    fed: set[str],
    known: set[str],
    sites: list[tuple[tuple[str | int, ...], str]],
) -> Iterator[tuple[str, str]]:
    """Feeder references, extracted names and text sites of ``steps`` (groups recursively)."""
    for k, step in enumerate(steps if isinstance(steps, list) else []):
        at = (*at_steps, k)
        kind = step_kind(step)
        if kind == "feed" and isinstance(step["feed"], str):
            feeder = step["feed"]
            fed.add(feeder)
            if feeder not in columns:
                declared = ", ".join(columns) or "none; declare them under 'feeders'"
                yield (
                    _fmt((*at, "feed")),
                    f"unknown feeder {feeder!r}{did_you_mean(feeder, columns)} "
                    f"(declared feeders: {declared})",
                )
        elif kind == "request" and isinstance(step["request"], dict):
            req = step["request"]
            if conflict := body_conflict(req):
                yield _fmt((*at, "request")), conflict
            sites += _request_sites(req, (*at, "request"))
            extracts = req.get("extract")
            for ex in extracts if isinstance(extracts, list) else []:
                if isinstance(ex, dict) and isinstance(ex.get("var"), str):
                    known.add(ex["var"])
        elif kind == "group" and isinstance(step["group"], dict):
            group = step["group"]
            if isinstance(group.get("if"), str):
                sites.append(((*at, "group", "if"), group["if"]))
            yield from _check_steps(
                group.get("steps"), (*at, "group", "steps"), columns, fed, known, sites
            )


def cross_check(
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
        yield from _check_steps(steps, ("journeys", j, "steps"), columns, fed, known, sites)
    for f in fed:
        if f not in columns:  # reported above; a close match is probably what was meant
            f = next(iter(difflib.get_close_matches(f, list(columns), n=1, cutoff=0.6)), f)
        cols = columns.get(f, frozenset())
        if cols is None or not read_feeders:
            return  # columns unknown: reporting every feeder-provided name would be noise
        known |= cols
    for path, text in sites:
        try:
            template = Template.compile(text)
        except TemplateSyntaxError:
            continue  # reported by the model validation
        for var in sorted(template.variables - known):
            yield (
                _fmt(path),
                (
                    f"unknown variable '${{{var}}}'{did_you_mean(var, known)} (a variable must "
                    f"be a built-in ({_BUILTINS_TEXT}), a key of 'variables', a column of a fed "
                    "feeder or the 'var' of an extraction)"
                ),
            )
