"""Translate a parsed JMeter plan into an intperf scenario document (see docs/jmeter.md)."""

from __future__ import annotations

import copy
import csv
import io
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intperf.loadtest.jmeter import requests as rq
from intperf.loadtest.jmeter.assertions import response_assertion
from intperf.loadtest.jmeter.conditions import if_condition
from intperf.loadtest.jmeter.controllers import (
    failure_actions,
    if_group,
    iter_requests,
    transaction_group,
)
from intperf.loadtest.jmeter.functions import Rewriter
from intperf.loadtest.jmeter.model import JmxElement, JmxError, JmxPlan, Unsupported
from intperf.loadtest.jmeter.thread_groups import GROUPS as _GROUPS
from intperf.loadtest.jmeter.thread_groups import group_load

LOOP_CAP = 100
_TIMERS = ("ConstantTimer", "UniformRandomTimer", "GaussianRandomTimer")
_ASSERTIONS = ("ResponseAssertion", "JSONPathAssertion", "DurationAssertion")
_EXTRACTORS = ("RegexExtractor", "JSONPostProcessor", "BoundaryExtractor")
_CONTROLLERS = ("LoopController", "TransactionController", "IfController", "GenericController")
_QUERY_METHODS = ("GET", "HEAD", "DELETE", "OPTIONS", "TRACE")
_PLAIN_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


@dataclass(slots=True)
class Translation:
    """A scenario document, the approximations made, and the elements left out."""

    scenario: dict[str, Any]
    warnings: list[str]
    unsupported: list[Unsupported]


@dataclass(slots=True)
class _Scope:
    headers: dict[str, tuple[str, str]] = field(default_factory=dict)
    defaults: list[JmxElement] = field(default_factory=list)
    timers: list[JmxElement] = field(default_factory=list)
    assertions: list[JmxElement] = field(default_factory=list)
    extractors: list[JmxElement] = field(default_factory=list)


def translate(plan: JmxPlan, *, data_dir: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """The scenario document and every warning (unsupported elements listed with their path)."""
    t = translate_plan(plan, data_dir=data_dir)
    return t.scenario, t.warnings


def translate_plan(plan: JmxPlan, *, data_dir: Path | None = None,
                   data_root: Path | None = None) -> Translation:
    """Translate ``plan``; CSV data is rewritten with a header row into ``data_dir``.

    With ``data_root``, CSV data files outside that directory are refused (JmxError).
    """
    return _Translator(plan, data_dir, data_root).run()


class _Translator:
    def __init__(self, plan: JmxPlan, data_dir: Path | None,
                 data_root: Path | None = None) -> None:
        self.plan = plan
        self.data_dir = data_dir
        self.data_root = data_root.resolve() if data_root is not None else None
        self.notes: list[str] = []
        self.unsupported = list(plan.unsupported)
        self.variables: dict[str, str] = {}
        self.feeders: dict[str, dict[str, Any]] = {}
        self.feeder_of: dict[str, str] = {}
        self.origins: list[str] = []
        known: set[str] = set()
        self.rw = Rewriter(plan.properties, known, self.notes)
        self._collect(plan.root, known)
        self.go_on = failure_actions(plan.root, self.notes)
        """Per element id: a failed sample lets the iteration go on (the group's action)."""

    # --- pre-pass: names every reference may use --------------------------------------------
    def _collect(self, el: JmxElement, known: set[str]) -> None:
        if el.tag == "TestPlan":
            self._add_variables(rq.arguments(el.props, "TestPlan.user_defined_variables"))
        elif el.tag == "Arguments":
            items = el.props.get("Arguments.arguments")
            self._add_variables(rq.arguments({"a": {"Arguments.arguments": items}}, "a"))
        elif el.tag == "CSVDataSet":
            known.update(self._feeder(el))
        elif el.tag == "RegexExtractor":
            known.add(el.get("RegexExtractor.refname"))
        elif el.tag == "BoundaryExtractor":
            known.add(el.get("BoundaryExtractor.refname"))
        elif el.tag == "JSONPostProcessor":
            known.update(n.strip() for n in el.get("JSONPostProcessor.referenceNames").split(";"))
        known.update(self.variables)
        for child in el.children:
            self._collect(child, known)

    def _add_variables(self, pairs: list[tuple[str, str]]) -> None:
        for name, value in pairs:
            if not name:
                continue
            resolved = self.static(value)
            if "${" in resolved:
                self.notes.append(f"variable {name!r}: {value!r} is kept literally (only __P/"
                                  "__property and other variables are evaluated in variables)")
            self.variables[name] = resolved

    def static(self, text: str) -> str:
        """Translation-time value: ``-J`` properties and plan variables substituted."""
        text = self.rw.resolve(text)
        return _PLAIN_VAR.sub(lambda m: self.variables.get(m.group(1), m.group(0)), text)

    def _feeder(self, el: JmxElement) -> list[str]:
        filename = self.static(el.get("filename"))
        path = (self.plan.base_dir / filename).resolve()
        if self.data_root is not None and not path.is_relative_to(self.data_root):
            raise JmxError(f"{el.path}: CSV data {filename!r} is outside {self.data_root}")
        delimiter = self.static(el.get("delimiter", ",")) or ","
        delimiter = "\t" if delimiter == "\\t" else delimiter
        try:
            text = path.read_text(encoding=el.get("fileEncoding") or "utf-8")
        except (OSError, LookupError, UnicodeDecodeError) as e:
            raise JmxError(f"{el.path}: cannot read CSV data {path}: {e}") from None
        if el.flag("quotedData"):
            rows = list(csv.reader(io.StringIO(text), delimiter=delimiter[0]))
        else:
            rows = [line.split(delimiter) for line in text.splitlines()]
        rows = [r for r in rows if r != [] and r != [""]]
        names = self.static(el.get("variableNames"))
        if names:
            header = [n.strip() for n in names.split(delimiter if delimiter in names else ",")]
            if el.flag("ignoreFirstLine"):
                rows = rows[1:]
        else:
            if not rows:
                raise JmxError(f"{el.path}: {path} is empty")
            header, rows = [h.strip() for h in rows[0]], rows[1:]
        if not rows:
            raise JmxError(f"{el.path}: {path} has no data rows")
        name = _unique(_slug(el.testname, "data"), self.feeders)
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="intperf-jmeter-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        target = self.data_dir / f"{name}.csv"
        with target.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows([(r + [""] * len(header))[: len(header)] for r in rows])
        strategy = "circular" if el.flag("recycle", True) else "queue"
        self.feeders[name] = {"file": str(target), "strategy": strategy}
        self.feeder_of[el.path] = name
        return header

    # --- main pass ---------------------------------------------------------------------------
    def run(self) -> Translation:
        root = self.plan.root
        groups = [c for c in root.children if c.tag in _GROUPS]
        plan_scope = self._scope(root.children, _Scope())
        plan_feeds = self._feeds(root.children)
        for c in root.children:
            if c.tag in ("HTTPSamplerProxy", *_CONTROLLERS):
                self._skip(c, "outside a thread group")
        journeys: list[dict[str, Any]] = []
        names: dict[str, Any] = {}
        for g in groups:  # each thread group is a population of its own (thread_groups.py)
            load = group_load(g, self.static, self.notes)
            if load is None:
                continue
            steps = plan_feeds + self._block(g.children, plan_scope)
            if next(iter_requests(steps), None) is None:
                self.notes.append(f"{g.path}: no HTTP request to send; thread group skipped")
                continue
            journey: dict[str, Any] = {"name": _unique(_slug(g.testname, "group"), names),
                                       "steps": steps}
            names[journey["name"]] = True
            self._pacing(g, plan_scope, journey)
            steps = journey.pop("steps")
            journey.update(load=load, steps=steps)
            journeys.append(journey)
        if not journeys:
            raise JmxError(f"{self.plan.source}: no enabled thread group with HTTP requests")
        # One group: the scenario's load, as a plain scenario would say it.
        load = journeys[0].pop("load") if len(journeys) == 1 else None
        doc: dict[str, Any] = {"name": _slug(root.testname, "jmeter-plan")}
        comment = root.get("TestPlan.comments")
        doc["description"] = comment or f"translated from {self.plan.source.name}"
        base = self._base_url(journeys)
        if base:
            doc["base_url"] = base
        doc["cookies"] = _has(root, "CookieManager")
        if self.variables:
            doc["variables"] = dict(self.variables)
        if self.feeders:
            doc["feeders"] = self.feeders
        if load is not None:
            doc["load"] = load
        doc["journeys"] = journeys
        if self.unsupported:
            lines = "\n".join(f"  {u}" for u in self.unsupported)
            self.notes.insert(0, f"{len(self.unsupported)} unsupported element(s) skipped:\n"
                                 f"{lines}")
        return Translation(doc, self.notes, self.unsupported)

    def _skip(self, el: JmxElement, reason: str) -> None:
        self.unsupported.append(Unsupported(el.path, el.tag, el.testname, reason))

    def _scope(self, children: tuple[JmxElement, ...], outer: _Scope) -> _Scope:
        scope = _Scope(dict(outer.headers), list(outer.defaults), list(outer.timers),
                       list(outer.assertions), list(outer.extractors))
        for c in children:
            if c.tag == "HeaderManager":
                for k, v in rq.headers(c).items():
                    scope.headers[k.lower()] = (k, v)
            elif c.tag == "ConfigTestElement":
                if c.guiclass == "HttpDefaultsGui" or any(k.startswith("HTTPSampler")
                                                          for k in c.props):
                    scope.defaults.append(c)
                else:
                    self._skip(c, f"configuration element {c.guiclass or c.tag}")
            elif c.tag in _TIMERS:
                scope.timers.append(c)
            elif c.tag in _ASSERTIONS:
                scope.assertions.append(c)
            elif c.tag in _EXTRACTORS:
                scope.extractors.append(c)
            elif c.tag == "CookieManager" and c.flag("CookieManager.clearEachIteration"):
                self.notes.append(f"{c.path}: cookies are kept across iterations "
                                  "(clearEachIteration is not supported)")
        return scope

    def _feeds(self, children: tuple[JmxElement, ...]) -> list[dict[str, Any]]:
        return [{"feed": self.feeder_of[c.path]} for c in children
                if c.tag == "CSVDataSet" and c.path in self.feeder_of]

    def _block(self, children: tuple[JmxElement, ...], outer: _Scope) -> list[dict[str, Any]]:
        scope = self._scope(children, outer)
        steps = self._feeds(children)
        for c in children:
            if c.tag == "HTTPSamplerProxy":
                req = self._request(c, scope)
                if req is not None:
                    steps.append({"request": req})
            elif c.tag == "GenericController":
                steps += self._block(c.children, scope)
            elif c.tag == "TransactionController":
                steps += transaction_group(c, self._block(c.children, scope), self.notes)
            elif c.tag == "LoopController":
                steps += self._loop(c, scope)
            elif c.tag == "IfController":
                steps += self._if(c, scope)
        return steps

    def _if(self, c: JmxElement, scope: _Scope) -> list[dict[str, Any]]:
        raw = c.get("IfController.condition")
        try:
            cond = if_condition(raw, use_expression=c.flag("IfController.useExpression"),
                                rw=self.rw, where=c.path, notes=self.notes)
        except rq.NotExpressible as e:
            self._skip(c, f"condition {raw.strip()!r}: {e}; children skipped")
            return []
        if cond.constant is False:
            return []
        return if_group(c, cond, self._block(c.children, scope))

    def _loop(self, c: JmxElement, scope: _Scope) -> list[dict[str, Any]]:
        text = self.static(c.get("LoopController.loops", "1"))
        try:
            loops = int(text)
        except ValueError:
            self._skip(c, f"loop count {text!r} is not a number; run once")
            loops = 1
        if loops < 0:
            self._skip(c, "infinite loops are not supported; run once")
            loops = 1
        if loops > LOOP_CAP:
            self.notes.append(f"{c.path}: {loops} loops capped at {LOOP_CAP}")
            loops = LOOP_CAP
        inner = self._block(c.children, scope)
        return [copy.deepcopy(step) for _ in range(loops) for step in inner]

    def _request(self, s: JmxElement, outer: _Scope) -> dict[str, Any] | None:
        scope = self._scope(s.children, outer)
        for c in s.children:
            if c.tag not in ("HeaderManager", "ConfigTestElement", *_TIMERS, *_ASSERTIONS,
                             *_EXTRACTORS, "CookieManager"):
                self._skip(c, "not supported inside a sampler")

        def prop(key: str) -> str:
            value = s.get(key)
            for d in reversed(scope.defaults):
                value = value or d.get(key)
            return self.static(value).strip()

        if s.flag("HTTPSampler.DO_MULTIPART_POST") or s.props.get("HTTPsampler.Files"):
            self._skip(s, "multipart/file uploads are not supported; sent without files")
        where = s.path
        method = (prop("HTTPSampler.method") or "GET").upper()
        raw_path = s.get("HTTPSampler.path") or _first_default(scope, "HTTPSampler.path")
        static_path = self.static(raw_path).strip()
        if static_path.startswith(("http://", "https://")):
            raw_path = static_path  # a full URL built from properties/variables
        path = self.rw(raw_path, where).strip() or "/"
        if not path.startswith(("http://", "https://", "/")):
            path = "/" + path
        domain = prop("HTTPSampler.domain")
        origin = ""
        if domain:
            scheme = (prop("HTTPSampler.protocol") or "http").lower()
            port = prop("HTTPSampler.port")
            default_port = {"http": "80", "https": "443"}.get(scheme)
            origin = f"{scheme}://{domain}" + (f":{port}" if port and port != default_port else "")
        req: dict[str, Any] = {"name": s.testname, "method": method,
                               "path": path if path.startswith("http") else origin + path}
        args = rq.arguments(s.props, "HTTPsampler.Arguments")
        for d in scope.defaults:
            args += rq.arguments(d.props, "HTTPsampler.Arguments")
        if s.flag("HTTPSampler.postBodyRaw") and args:
            req["body"] = self.rw(args[0][1], where)
        elif args:
            values: dict[str, Any] = {}
            for name, value in args:
                if not name:
                    continue
                v = self.rw(value, where)
                values[name] = [*_as_list(values[name]), v] if name in values else v
            if values:
                req["query" if method in _QUERY_METHODS else "form"] = values
        if scope.headers:
            req["headers"] = {k: self.rw(v, where) for k, v in scope.headers.values()}
        req["follow_redirects"] = s.flag("HTTPSampler.follow_redirects") or \
            s.flag("HTTPSampler.auto_redirects")
        extract = self._extracts(scope.extractors)
        if extract:
            req["extract"] = extract
        checks = self._checks(scope.assertions)
        if checks:
            req["checks"] = sorted(checks, key=lambda c: "status" not in c)
        if scope.timers:
            try:
                think, notes = rq.think_time(scope.timers, self.static)
            except rq.NotExpressible as e:
                self.notes.append(f"{where}: timers ignored: {e}")
            else:
                self.notes.extend(notes)
                req["think_time"] = think
        if self.go_on.get(id(s)):
            req["on_failure"] = "continue"  # JMeter's default action after a sampler error
        return req

    def _extracts(self, extractors: list[JmxElement]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for e in extractors:
            try:
                if e.tag == "RegexExtractor":
                    items = [rq.regex_extract(e)]
                    number = e.get("RegexExtractor.match_number", "1").strip()
                    if number not in ("", "1"):
                        self.notes.append(f"{e.path}: match number {number} is not supported; "
                                          "the first match is used")
                elif e.tag == "BoundaryExtractor":
                    items = [rq.boundary_extract(e)]
                else:
                    items = rq.json_extracts(e)
            except rq.NotExpressible as exc:
                self._skip(e, str(exc))
                continue
            out += items
        return out

    def _checks(self, assertions: list[JmxElement]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for a in assertions:
            try:
                if a.tag == "ResponseAssertion":
                    out += response_assertion(a, self.static, self.notes)
                elif a.tag == "JSONPathAssertion":
                    out.append(rq.json_assertion(a))
                else:
                    ms = float(self.static(a.get("DurationAssertion.duration", "0")) or 0)
                    out.append({"max_duration": f"{ms:g}ms"})
            except (rq.NotExpressible, ValueError) as exc:
                self._skip(a, str(exc))
        return out

    def _pacing(self, g: JmxElement, scope: _Scope, journey: dict[str, Any]) -> None:
        timers = [c for c in (*self.plan.root.children, *g.children)
                  if c.tag == "ConstantThroughputTimer"]
        if not timers:
            return
        t = timers[-1]
        try:
            per_min = float(self.static(t.get("throughput") or t.get("calcMode.throughput")
                                        or "0"))
        except ValueError:
            per_min = 0.0
        if per_min <= 0:
            self._skip(t, "throughput must be a positive number of samples per minute")
            return
        requests = sum(1 for _ in iter_requests(journey["steps"]))
        mode = t.get("calcMode", "0").strip() or "0"
        share = int(self.static(g.get("ThreadGroup.num_threads", "1")) or 1) if mode != "0" else 1
        journey["pacing"] = round(60.0 * requests * share / per_min, 6)
        self.notes.append(f"{t.path}: constant throughput of {per_min:g}/min becomes a pacing of "
                          f"{journey['pacing']:g}s per iteration of {journey['name']!r}")

    def _base_url(self, journeys: list[dict[str, Any]]) -> str | None:
        reqs = [r for j in journeys for r in iter_requests(j["steps"])]
        origins = {_origin(r["path"]) for r in reqs}
        if len(origins) != 1:
            return None
        origin = origins.pop()
        if not origin:
            return None
        for r in reqs:
            if r["path"].startswith(origin):
                r["path"] = r["path"][len(origin):] or "/"
        return origin


def _origin(path: str) -> str:
    m = re.match(r"https?://[^/]+", path)
    return m.group(0) if m else ""


def _first_default(scope: _Scope, key: str) -> str:
    for d in reversed(scope.defaults):
        if d.get(key):
            return d.get(key)
    return ""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _has(el: JmxElement, tag: str) -> bool:
    return el.tag == tag or any(_has(c, tag) for c in el.children)


def _slug(text: str, fallback: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or fallback


def _unique(name: str, taken: dict[str, Any]) -> str:
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}-{k}", k + 1
    return candidate
