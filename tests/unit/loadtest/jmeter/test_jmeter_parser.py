"""Reading .jmx files: the hashTree walk, disabled and unsupported elements, unsafe XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.loadtest.jmeter import JmxError, parse_jmx, parse_jmx_bytes

FIXTURES = Path(__file__).parents[3] / "fixtures" / "jmx"


def test_tree_is_walked_with_paths_and_properties() -> None:
    plan = parse_jmx(FIXTURES / "basics.jmx")
    assert plan.root.tag == "TestPlan"
    assert plan.root.path == "Basics plan"
    group = next(c for c in plan.root.children if c.tag == "ThreadGroup")
    assert group.path == "Basics plan / Shoppers"
    assert group.get("ThreadGroup.num_threads") == "${__P(threads,3)}"
    assert group.props["ThreadGroup.main_controller"]["LoopController.loops"] == "${__P(loops,2)}"
    assert [c.testname for c in group.children] == ["search", "form post", "raw put"]


def test_disabled_elements_and_their_subtrees_are_skipped() -> None:
    plan = parse_jmx(FIXTURES / "basics.jmx")
    names = [c.testname for c in plan.root.children]
    assert "Disabled group" not in names
    group = next(c for c in plan.root.children if c.tag == "ThreadGroup")
    assert "switched off" not in [c.testname for c in group.children]
    # a disabled subtree's unsupported elements are not reported either
    assert all("Disabled group" not in u.path for u in plan.unsupported)


def test_unsupported_elements_are_listed_with_their_tree_path() -> None:
    plan = parse_jmx(FIXTURES / "basics.jmx")
    assert [(u.path, u.tag, u.testname) for u in plan.unsupported] == [
        ("Basics plan / Shoppers / raw put / legacy script", "BeanShellPreProcessor",
         "legacy script"),
        ("Basics plan / Shoppers / groovy step", "JSR223Sampler", "groovy step"),
    ]


def test_listeners_are_ignored_silently() -> None:
    plan = parse_jmx(FIXTURES / "basics.jmx")
    assert all(u.tag != "ResultCollector" for u in plan.unsupported)
    assert all(c.tag != "ResultCollector" for c in plan.root.children)


def test_doctype_and_entities_are_refused() -> None:
    with pytest.raises(JmxError, match="DOCTYPE/ENTITY"):
        parse_jmx(FIXTURES / "doctype.jmx")
    with pytest.raises(JmxError, match="DOCTYPE/ENTITY"):
        parse_jmx_bytes(b'<?xml version="1.0"?><!ENTITY x "y"><jmeterTestPlan/>',
                        source=Path("x.jmx"))


@pytest.mark.parametrize(("data", "message"), [
    (b"<jmeterTestPlan><hashTree>", "invalid XML"),
    (b"<project/>", "not a JMeter plan"),
    (b"<jmeterTestPlan/>", "no <hashTree>"),
    (b"<jmeterTestPlan><hashTree/></jmeterTestPlan>", "one enabled TestPlan"),
])
def test_malformed_plans_are_usage_errors(data: bytes, message: str) -> None:
    with pytest.raises(JmxError, match=message) as info:
        parse_jmx_bytes(data, source=Path("bad.jmx"))
    assert info.value.exit_code == 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JmxError, match="cannot read"):
        parse_jmx(tmp_path / "nope.jmx")
