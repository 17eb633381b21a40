"""PGTune's formulas and the corrections by evidence."""

from __future__ import annotations

import pytest

from intperf.dbopt.inspect_server import Setting, setting_bytes
from intperf.dbopt.tuning import (
    GB,
    MB,
    Machine,
    TuningEvidence,
    format_memory,
    parse_size,
    pgtune,
    round_memory,
    tuning_advice,
)


def values(machine: Machine, wt: str, conns: int | None = None) -> dict[str, str]:
    return {k: r.value for k, r in pgtune(machine, wt, max_connections=conns).items()}


def test_web_8gb_4_cores_ssd_as_pgtune_says() -> None:
    # PGTune (PostgreSQL 15, Linux, web, 8 GB, 4 CPUs, 200 connections, SSD).
    assert values(Machine(8 * GB, 4, "ssd"), "web", 200) == {
        "shared_buffers": "2GB", "effective_cache_size": "6GB",
        "maintenance_work_mem": "512MB", "checkpoint_completion_target": "0.9",
        "wal_buffers": "16MB", "default_statistics_target": "100", "random_page_cost": "1.1",
        "effective_io_concurrency": "200", "work_mem": "10280kB", "huge_pages": "try",
        "min_wal_size": "1GB", "max_wal_size": "4GB", "max_worker_processes": "4",
        "max_parallel_workers_per_gather": "2", "max_parallel_workers": "4",
        "max_parallel_maintenance_workers": "2", "jit": "off",
    }


def test_dw_64gb_16_cores_hdd() -> None:
    v = values(Machine(64 * GB, 16, "hdd"), "dw", 40)
    assert v["shared_buffers"] == "16GB" and v["effective_cache_size"] == "48GB"
    assert v["maintenance_work_mem"] == "8GB"  # 1/8 of RAM, capped
    assert v["default_statistics_target"] == "500"
    assert v["random_page_cost"] == "4" and v["effective_io_concurrency"] == "2"
    assert v["max_parallel_workers_per_gather"] == "8"  # dw: half the cores, no cap of 4
    assert v["max_parallel_maintenance_workers"] == "4"
    # (64 GB - 16 GB) / ((40 + 16) x 3) / 2, rounded down to MB
    assert v["work_mem"] == "146MB"
    assert v["min_wal_size"] == "4GB" and v["max_wal_size"] == "16GB"
    assert "jit" not in v


def test_desktop_and_small_machines() -> None:
    v = values(Machine(2 * GB, 2, "ssd"), "desktop")
    assert v["shared_buffers"] == "128MB" and v["effective_cache_size"] == "512MB"
    assert v["huge_pages"] == "off"
    assert "max_worker_processes" not in v  # fewer than 4 cores: PGTune leaves them alone
    assert v["work_mem"] == "4MB"  # the floor


def test_without_memory_only_storage_and_cpu_settings() -> None:
    v = values(Machine(None, 8, "nvme"), "oltp")
    assert "shared_buffers" not in v and "work_mem" not in v
    assert v["effective_io_concurrency"] == "1000" and v["max_worker_processes"] == "8"


def test_memory_formatting_and_sizes() -> None:
    assert format_memory(2 * GB) == "2GB" and format_memory(512 * MB) == "512MB"
    assert format_memory(10280 * 1024) == "10280kB"
    assert round_memory(6171021 * 1024) == 6026 * MB
    assert parse_size("500MB") == 500 * MB and parse_size("1.5GB") == int(1.5 * GB)
    assert parse_size("512kB") == 512 * 1024 and parse_size("8g") == 8 * GB
    assert parse_size("100") == 100 and parse_size(7) == 7
    for bad in ("lots", "MB", "-1GB", "5 parsecs", "nan", "inf"):
        with pytest.raises(ValueError):
            parse_size(bad)


def settings(**values: tuple[str, str | None, str]) -> dict[str, Setting]:
    return {name: Setting(name, v, unit, context) for name, (v, unit, context) in values.items()}


BASE = settings(shared_buffers=("16384", "8kB", "postmaster"),
                work_mem=("4096", "kB", "user"), max_connections=("100", None, "postmaster"),
                effective_cache_size=("524288", "8kB", "user"),
                random_page_cost=("4", None, "user"), max_wal_size=("1024", "MB", "sighup"),
                autovacuum=("on", None, "sighup"), track_io_timing=("on", None, "superuser"))


def test_setting_units() -> None:
    assert setting_bytes("16384", "8kB") == 128 * MB
    assert setting_bytes("-1", "kB") is None and setting_bytes("on", None) is None
    assert BASE["shared_buffers"].display == "128MB"


def test_formula_differences_are_info_and_carry_the_fix() -> None:
    rows, findings = tuning_advice(BASE, Machine(8 * GB, 4, "ssd"), "web",
                                   evidence=TuningEvidence())
    by_name = {f.evidence["setting"]: f for f in findings}
    sb = by_name["shared_buffers"]
    assert sb.severity == "info" and sb.category == "setting.shared_buffers"
    assert sb.fix_sql == "ALTER SYSTEM SET shared_buffers = '2GB';"  # restart: no reload
    assert "restart" in (sb.detail or "")
    assert by_name["random_page_cost"].fix_sql == (
        "ALTER SYSTEM SET random_page_cost = '1.1'; SELECT pg_reload_conf();")
    assert {r.name for r in rows} >= {"shared_buffers", "work_mem", "random_page_cost"}
    row = next(r for r in rows if r.name == "shared_buffers")
    assert (row.current, row.recommended, row.restart) == ("128MB", "2GB", True)


def test_spills_raise_work_mem_within_the_memory_budget() -> None:
    ev = TuningEvidence(spill_work_mem=32 * MB, spilling_statements=2)
    _, findings = tuning_advice(BASE, Machine(8 * GB, 4, "ssd"), "web", evidence=ev)
    wm = next(f for f in findings if f.category == "setting.work_mem")
    assert wm.severity == "warning" and wm.evidence["recommended"] == "32MB"
    assert wm.evidence["evidence_based"] is True
    # A spill bigger than the per-connection budget ((8 GB - 2 GB) / 104): capped, and said.
    ev = TuningEvidence(spill_work_mem=1 * GB, spilling_statements=1)
    _, findings = tuning_advice(BASE, Machine(8 * GB, 4, "ssd"), "web", evidence=ev)
    wm = next(f for f in findings if f.category == "setting.work_mem")
    assert wm.evidence["recommended"] == "59MB" and "SET LOCAL" in (wm.detail or "")


def test_low_cache_hit_ratio_makes_small_shared_buffers_a_warning() -> None:
    ev = TuningEvidence(cache_hit_ratio=0.93, cache_low=True)
    _, findings = tuning_advice(BASE, Machine(8 * GB, 4, "ssd"), "web", evidence=ev)
    sb = next(f for f in findings if f.category == "setting.shared_buffers")
    assert sb.severity == "warning" and "93.00%" in (sb.detail or "")


def test_forced_checkpoints_raise_max_wal_size() -> None:
    ev = TuningEvidence(checkpoints_timed=3, checkpoints_req=40)
    _, findings = tuning_advice(BASE, Machine(None, None, "ssd"), "web", evidence=ev)
    mw = next(f for f in findings if f.category == "setting.max_wal_size")
    assert mw.severity == "warning" and mw.evidence["recommended"] == "4GB"
    assert "40 checkpoints were forced" in (mw.detail or "")


def test_oversized_shared_buffers_and_autovacuum_off() -> None:
    s = {**BASE, **settings(shared_buffers=("524288", "8kB", "postmaster"),
                            autovacuum=("off", None, "sighup"))}
    _, findings = tuning_advice(s, Machine(8 * GB, 4, "ssd"), "web", evidence=TuningEvidence())
    by = {f.category: f for f in findings}
    assert by["setting.shared_buffers"].severity == "warning"  # 4 GB of 8 GB
    assert by["setting.autovacuum"].severity == "critical"
