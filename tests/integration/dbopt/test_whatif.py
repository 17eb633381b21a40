"""HypoPG what-if costing (intperf.dbopt.whatif) against the private PostgreSQL 15."""

from __future__ import annotations

import psycopg
import pytest

from intperf.dbopt.candidates import IndexCandidate
from intperf.dbopt.connection import connect_target
from intperf.dbopt.whatif import WhatIf, WhatIfError, hypopg_available
from intperf.dbopt.whatif_params import GenericPlan, SampledValues

from .conftest import PgTarget

pytestmark = pytest.mark.integration

Q = "SELECT id, total FROM orders WHERE customer_id = $1 AND created_at >= $2 LIMIT $3"
BY_CUSTOMER = IndexCandidate("public.orders", ("customer_id",))


@pytest.fixture
def orders(pg_target: PgTarget) -> PgTarget:
    with pg_target.connect() as conn:
        conn.execute("SET synchronous_commit = on")  # so VACUUM can set the visibility map
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL,"
                     " status text NOT NULL, total numeric NOT NULL,"
                     " created_at timestamptz NOT NULL)")
        conn.execute("INSERT INTO orders SELECT i, i % 2000, (ARRAY['open','paid'])[1 + i % 2],"
                     " i % 500, timestamptz '2026-01-01' + i * interval '1 minute'"
                     " FROM generate_series(1, 100000) i")
        conn.execute("VACUUM ANALYZE orders")
    return pg_target


@pytest.mark.parametrize("strategy", [GenericPlan(), SampledValues()], ids=["generic", "sampled"])
def test_costs_with_and_without_a_hypothetical_index(orders: PgTarget, strategy: object) -> None:
    with connect_target(orders.dsn) as conn:  # read-only: HypoPG works there
        assert hypopg_available(conn)
        whatif = WhatIf(conn, strategy=strategy)  # type: ignore[arg-type]
        whatif.register("q", Q)
        base = whatif.cost("q")
        helped = whatif.cost("q", [BY_CUSTOMER])
        assert base is not None and helped is not None
        assert helped.cost < base.cost / 5
        assert helped.used == {BY_CUSTOMER} and not base.used
        assert whatif.cost("q", [BY_CUSTOMER]) == helped
        assert whatif.hits == 1
        size = whatif.size(BY_CUSTOMER)
        assert size is not None and 1_000_000 < size < 10_000_000
        whatif.close()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM hypopg_list_indexes")
            assert cur.fetchone() == (0,)


def test_plans_see_indexes_created_after_the_first_plan(orders: PgTarget) -> None:
    # A cached generic plan would not see them: every plan is prepared afresh.
    with connect_target(orders.dsn) as conn:
        whatif = WhatIf(conn)
        whatif.register("q", Q)
        costs = [whatif.cost("q", s) for s in ([], [BY_CUSTOMER], [])]
        assert costs[0] == costs[2] and costs[1] is not None and costs[0] is not None
        assert costs[1].cost < costs[0].cost


def test_psycopg_deallocating_its_statements_does_not_break_costing(orders: PgTarget) -> None:
    with connect_target(orders.dsn) as conn:
        whatif = WhatIf(conn)
        whatif.register("q", Q)
        for _ in range(8):  # psycopg prepares a query it runs 5 times, and on rollback
            conn.execute("SELECT 1")  # it sends DEALLOCATE ALL
            conn.rollback()
        assert whatif.cost("q", [BY_CUSTOMER]) is not None


def test_bad_candidates_and_statements(orders: PgTarget) -> None:
    with connect_target(orders.dsn) as conn:
        whatif = WhatIf(conn)
        whatif.register("q", Q)
        missing = IndexCandidate("public.orders", ("no_such_column",))
        assert whatif.size(missing) is None
        assert whatif.cost("q", [missing]) is None
        assert whatif.cost("q", [BY_CUSTOMER]) is not None  # the session still works
        for bad in ("SELECT 1; SELECT 2", "SELEC 1", "CREATE TABLE x (a int)",
                    "SELECT * FROM no_such_table WHERE a = $1"):
            with pytest.raises(WhatIfError):
                whatif.register(bad, bad)


def test_writes_are_only_planned(orders: PgTarget) -> None:
    with connect_target(orders.dsn) as conn:
        whatif = WhatIf(conn)
        whatif.register("u", "UPDATE orders SET status = $1 WHERE customer_id = $2")
        base, helped = whatif.cost("u"), whatif.cost("u", [BY_CUSTOMER])
        assert base is not None and helped is not None and helped.cost < base.cost
    with psycopg.connect(orders.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM orders WHERE status = 'x'").fetchone() == (0,)
