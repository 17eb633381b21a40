"""Thread groups translated into populations: each enabled group's own load."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.loadtest.jmeter import JmxError, parse_jmx, parse_jmx_bytes, translate
from intperf.loadtest.jmeter.overrides import GroupOverride, apply_overrides
from intperf.loadtest.populations import populations, run_model
from intperf.loadtest.scenario import validate_scenario

FIXTURES = Path(__file__).parents[3] / "fixtures" / "jmx"
SAMPLER = (b'<HTTPSamplerProxy testname="s"><stringProp name="HTTPSampler.path">/x</stringProp>'
           b"</HTTPSamplerProxy><hashTree/>")


def plan(*groups: bytes) -> bytes:
    body = b"".join(g + b"<hashTree>" + SAMPLER + b"</hashTree>" for g in groups)
    return (b'<jmeterTestPlan><hashTree><TestPlan testname="P"/><hashTree>' + body +
            b"</hashTree></hashTree></jmeterTestPlan>")


def group(name: str, threads: str, **props: str) -> bytes:
    loops = props.pop("loops", None)
    main = (b'<elementProp name="ThreadGroup.main_controller" elementType="LoopController">'
            b'<stringProp name="LoopController.loops">' + loops.encode() + b"</stringProp>"
            b"</elementProp>") if loops is not None else b""
    rest = b"".join(f'<stringProp name="ThreadGroup.{k}">{v}</stringProp>'.encode()
                    for k, v in props.items())
    return (f'<ThreadGroup testname="{name}">'.encode() + main +
            f'<stringProp name="ThreadGroup.num_threads">{threads}</stringProp>'.encode() + rest +
            b"</ThreadGroup>")


def open_group(name: str, schedule: str) -> bytes:
    return (f'<OpenModelThreadGroup testname="{name}"><stringProp name="OpenModelThreadGroup.'
            f'schedule">{schedule}</stringProp></OpenModelThreadGroup>').encode()


def test_every_group_is_a_population(tmp_path: Path) -> None:
    p = parse_jmx(FIXTURES / "populations.jmx", {"browsers": "5"})
    doc, warnings = translate(p, data_dir=tmp_path)
    assert warnings == []
    assert "load" not in doc
    assert [(j["name"], j["load"]) for j in doc["journeys"]] == [
        ("Browsers", {"users": 5, "ramp_up": 1, "iterations": 2}),
        ("Buyers", {"users": 1, "ramp_up": 0, "duration": 30, "iterations": 4,
                    "start_after": 1}),
        ("Arrivals", {"injection": [{"constant_users_per_sec": 4.0, "during": 1.0,
                                     "randomized": False}]})]
    sc = validate_scenario(doc, source="populations.jmx", base_dir=p.base_dir)
    assert [(x.name, x.journey, x.load.model) for x in populations(sc)] == [
        ("Browsers", 0, "closed"), ("Buyers", 1, "closed"), ("Arrivals", 2, "open")]
    assert run_model(sc) == "mixed"


def test_several_open_groups_keep_their_own_schedules() -> None:
    doc, warnings = translate(parse_jmx_bytes(plan(
        open_group("A", "rate(2/sec) even_arrivals(3 sec)"),
        open_group("B", "pause(1 sec) rate(5/min) random_arrivals(1 min)")),
        source=Path("p.jmx")))
    assert [j["load"] for j in doc["journeys"]] == [
        {"injection": [{"constant_users_per_sec": 2.0, "during": 3.0, "randomized": False}]},
        {"injection": [{"nothing_for": 1.0},
                       {"constant_users_per_sec": 5 / 60, "during": 60.0, "randomized": True}]}]
    assert not any("schedule of" in w for w in warnings)


def test_one_group_keeps_the_scenario_load() -> None:
    doc, _ = translate(parse_jmx_bytes(plan(group("G", "2", loops="3", scheduler="true",
                                                  duration="20", delay="4", ramp_time="5")),
                                       source=Path("p.jmx")))
    assert doc["load"] == {"users": 2, "ramp_up": 5, "duration": 15, "iterations": 3,
                           "start_after": 4}
    assert "load" not in doc["journeys"][0]


def test_group_without_threads_or_end() -> None:
    doc, warnings = translate(parse_jmx_bytes(plan(group("Idle", "0"),
                                                   group("Forever", "2", loops="-1"),
                                                   group("Stale", "1", delay="9")),
                                              source=Path("p.jmx")))
    assert [j["name"] for j in doc["journeys"]] == ["Forever", "Stale"]
    assert doc["journeys"][0]["load"] == {"users": 2, "ramp_up": 0, "duration": 60}
    # without the scheduler JMeter ignores the start-up delay
    assert doc["journeys"][1]["load"] == {"users": 1, "ramp_up": 0, "iterations": 1}
    assert any("P / Idle: 0 threads; thread group skipped" in w for w in warnings)
    assert any("P / Forever: loops forever without a scheduler duration" in w for w in warnings)


def test_bad_numbers_name_the_group() -> None:
    with pytest.raises(JmxError, match="P / G: number of threads 'many' is not a number"):
        translate(parse_jmx_bytes(plan(group("G", "many")), source=Path("p.jmx")))


def test_overrides_keep_the_start_delay_and_refuse_open_groups(tmp_path: Path) -> None:
    p = parse_jmx(FIXTURES / "populations.jmx")
    changed = apply_overrides(p, [GroupOverride("Buyers", users=3, duration=12.0),
                                  GroupOverride("Browsers", duration=5.0)])
    doc, _ = translate(changed, data_dir=tmp_path)
    loads = {j["name"]: j["load"] for j in doc["journeys"]}
    assert loads["Buyers"] == {"users": 3, "ramp_up": 0, "duration": 12, "start_after": 1}
    assert loads["Browsers"] == {"users": 3, "ramp_up": 1, "duration": 4}
    with pytest.raises(JmxError, match=r"threadGroups\[0\]\.name: 'Arrivals' is an open model"):
        apply_overrides(p, [GroupOverride("Arrivals", users=3)])
