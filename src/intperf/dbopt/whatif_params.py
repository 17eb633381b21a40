"""Parameter values for planning a normalized statement (`$1`, `$2` ...) on PostgreSQL 15, which
has no ``EXPLAIN (GENERIC_PLAN)``: two strategies, both pure (docs/dbopt.md, "Costing")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from intperf.dbopt.query_columns import ParamUse

PlanCacheMode = Literal["force_generic_plan", "force_custom_plan"]


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """What ``pg_stats`` says about one column (values as text)."""

    most_common_vals: tuple[str, ...] = ()
    histogram_bounds: tuple[str, ...] = ()


StatsLookup = Callable[[str, str], ColumnStats | None]


class ParameterStrategy(Protocol):
    """Chooses the plan cache mode and the ``EXECUTE`` arguments (text literals or NULL)."""

    @property
    def name(self) -> str:
        """Short name for reports ("generic", "sampled")."""
        ...

    @property
    def plan_cache_mode(self) -> PlanCacheMode:
        """The ``plan_cache_mode`` the statements are planned under."""
        ...

    def arguments(self, types: Sequence[str], uses: Sequence[ParamUse],
                  stats: StatsLookup) -> list[str | None]:
        """One argument per parameter type; None is SQL NULL."""
        ...


@dataclass(frozen=True, slots=True)
class GenericPlan:
    """The generic plan, as PostgreSQL 16's ``EXPLAIN (GENERIC_PLAN)`` shows it: arguments are
    NULL and never looked at; selectivities of ``$n`` predicates are the planner's defaults
    (1/n_distinct for equality, 1/3 for one bound, 0.5% for a two-sided range)."""

    name: str = "generic"
    plan_cache_mode: PlanCacheMode = "force_generic_plan"

    def arguments(self, types: Sequence[str], uses: Sequence[ParamUse],
                  stats: StatsLookup) -> list[str | None]:
        """All NULL: a generic plan does not depend on them."""
        return [None] * len(types)


@dataclass(frozen=True, slots=True)
class SampledValues:
    """A custom plan with values read from ``pg_stats`` for the column each parameter is compared
    with: a typical (median histogram) value for equality, a bound that keeps
    ``range_fraction`` of the rows for a one-sided range, ``limit`` rows for LIMIT; typed
    non-NULL defaults otherwise (NULL would fold ``col = $1`` to false and cost nothing)."""

    name: str = "sampled"
    plan_cache_mode: PlanCacheMode = "force_custom_plan"
    range_fraction: float = 0.05
    limit: int = 20

    def arguments(self, types: Sequence[str], uses: Sequence[ParamUse],
                  stats: StatsLookup) -> list[str | None]:
        """One value per parameter, from statistics where a column is known."""
        by_number: dict[int, list[ParamUse]] = {}
        for use in uses:
            by_number.setdefault(use.number, []).append(use)
        return [self._value(t, by_number.get(i + 1, []), stats) for i, t in enumerate(types)]

    def _value(self, typ: str, uses: list[ParamUse], stats: StatsLookup) -> str | None:
        array = typ.endswith("[]")
        base = typ.removesuffix("[]")
        value: str | None = None
        for use in uses:
            if use.role == "limit":
                return str(self.limit)
            if use.role == "offset":
                return "0"
            if use.table is not None and use.column is not None:
                found = stats(use.table, use.column)
                if found is not None:
                    value = self._from_stats(found, use)
                    if value is not None:
                        break
        if value is None:
            value = default_value(base)
        if value is None:
            return None
        return array_literal([value]) if array else value

    def _from_stats(self, stats: ColumnStats, use: ParamUse) -> str | None:
        bounds = stats.histogram_bounds
        if use.role == "eq":
            if bounds:
                return bounds[len(bounds) // 2]
            mcv = stats.most_common_vals
            return mcv[len(mcv) // 2] if mcv else None
        if not bounds:
            return None
        last = len(bounds) - 1
        if use.role == "lower":  # col > $n keeps the top range_fraction of the rows
            return bounds[round(last * (1.0 - self.range_fraction))]
        return bounds[round(last * self.range_fraction)]


def default_value(typ: str) -> str | None:
    """A non-NULL text literal of the type (None when there is no safe one)."""
    t = typ.lower()
    if t in {"smallint", "integer", "bigint", "numeric", "real", "double precision", "oid",
             "money"} or t.startswith("numeric"):
        return "1"
    if t in {"text", "name", "citext"} or t.startswith(("character", "bpchar", "varchar")):
        return "x"
    if t == "boolean":
        return "true"
    if t.startswith("timestamp") or t == "date":
        return "now" if t.startswith("timestamp") else "today"
    if t == "uuid":
        return "00000000-0000-0000-0000-000000000000"
    if t.startswith("interval"):
        return "1 day"
    if t in {"json", "jsonb"}:
        return "{}"
    return None


def array_literal(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of text values, each quoted and escaped."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


STRATEGIES: dict[str, ParameterStrategy] = {"generic": GenericPlan(), "sampled": SampledValues()}
