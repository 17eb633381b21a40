"""Settings: the reference keys, our keys, INTPERF_* overrides and precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.config import load_settings
from intperf.errors import UsageError


def test_defaults_are_the_reference_values() -> None:
    s = load_settings(environ={})
    assert s.server.port == 8105
    t = s.performance.monitoring.alert_thresholds
    assert (t.response_time_99th, t.error_rate, t.throughput_min) == (2.0, 0.05, 100.0)
    assert s.performance.testing.gatling.max_users == 1000
    assert s.intperf.storage_url.startswith("sqlite:///")
    assert "127.0.0.0/8" in s.intperf.allowed_targets


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "application.yml"
    cfg.write_text(
        "server:\n  port: 9001\n"
        "performance:\n  monitoring:\n    alert-thresholds:\n      error-rate: 1%\n"
        "intperf:\n  limits:\n    max_users: 10\n"  # snake_case works in files too
    )
    s = load_settings(cfg, environ={"INTPERF_INTPERF__LIMITS__MAX_USERS": "20",
                                    "INTPERF_SERVER__HOST": "127.0.0.1"})
    assert s.server.port == 9001
    assert s.performance.monitoring.alert_thresholds.error_rate == 0.01
    assert s.intperf.limits.max_users == 20  # the environment wins over the file


def test_environment_values_are_yaml_scalars_or_text() -> None:
    s = load_settings(environ={"INTPERF_INTPERF__ALLOWED_TARGETS": "[127.0.0.1/32, localhost]",
                               "INTPERF_INTPERF__RESULTS_DIR": "*weird"})
    assert s.intperf.allowed_targets == ["127.0.0.1/32", "localhost"]
    assert s.intperf.results_dir == "*weird"


def test_invalid_values_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"server\.port"):
        load_settings(environ={"INTPERF_SERVER__PORT": "99999"})
    cfg = tmp_path / "a.yml"
    cfg.write_text("intperf:\n  limits:\n    max-duration: soon\n")
    with pytest.raises(UsageError, match=r"a\.yml.*max-duration"):
        load_settings(cfg, environ={})


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_settings(tmp_path / "missing.yml", environ={})
    bad = tmp_path / "bad.yml"
    bad.write_text("server: [1, 2\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_settings(bad, environ={})
    seq = tmp_path / "seq.yml"
    seq.write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match="mapping"):
        load_settings(seq, environ={})
