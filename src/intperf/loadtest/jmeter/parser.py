"""Read a .jmx file safely and walk its hashTree into :class:`JmxElement` trees."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # DOCTYPE/ENTITY refused before parsing
from pathlib import Path
from typing import Any

from intperf.loadtest.jmeter.model import JmxElement, JmxError, JmxPlan, Unsupported

#: Elements the translator understands (others are reported with their path).
SUPPORTED = frozenset({
    "TestPlan", "ThreadGroup", "OpenModelThreadGroup", "HTTPSamplerProxy", "ConfigTestElement",
    "HeaderManager", "CookieManager", "CSVDataSet", "Arguments", "ConstantTimer",
    "UniformRandomTimer", "GaussianRandomTimer", "ConstantThroughputTimer", "ResponseAssertion",
    "JSONPathAssertion", "DurationAssertion", "RegexExtractor", "JSONPostProcessor",
    "BoundaryExtractor", "TransactionController", "LoopController", "IfController",
    "GenericController",
})
#: Listeners: results are recorded by intperf itself, so these are dropped without a warning.
IGNORED = frozenset({"ResultCollector"})
_SCALARS = frozenset({"stringProp", "intProp", "longProp", "boolProp", "doubleProp", "floatProp"})
_UNSAFE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_MAX_BYTES = 50 * 1024 * 1024


def parse_jmx(path: str | Path, properties: dict[str, str] | None = None) -> JmxPlan:
    """Parse a JMeter plan; raises :class:`JmxError` for unreadable, unsafe or odd files."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as e:
        raise JmxError(f"{source}: cannot read the plan: {e.strerror}") from None
    return parse_jmx_bytes(data, source=source, properties=properties)


def parse_jmx_bytes(data: bytes, *, source: Path,
                    properties: dict[str, str] | None = None) -> JmxPlan:
    """Parse plan bytes (see :func:`parse_jmx`)."""
    if len(data) > _MAX_BYTES:
        raise JmxError(f"{source}: the plan is larger than {_MAX_BYTES} bytes")
    # xml.etree expands internal entities: refuse DTDs outright (billion laughs, XXE).
    if _UNSAFE.search(data):
        raise JmxError(f"{source}: DOCTYPE/ENTITY declarations are not allowed in a .jmx plan")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs were refused above
    except ET.ParseError as e:
        raise JmxError(f"{source}: invalid XML: {e}") from None
    if root.tag != "jmeterTestPlan":
        raise JmxError(f"{source}: not a JMeter plan (root element <{root.tag}>)")
    tree = root.find("hashTree")
    if tree is None:
        raise JmxError(f"{source}: the plan has no <hashTree>")
    unsupported: list[Unsupported] = []
    elements = _walk(tree, "", unsupported)
    plans = [e for e in elements if e.tag == "TestPlan"]
    if len(plans) != 1:
        raise JmxError(f"{source}: expected one enabled TestPlan element, found {len(plans)}")
    return JmxPlan(plans[0], dict(properties or {}), source, tuple(unsupported))


def _walk(tree: ET.Element, parent: str, unsupported: list[Unsupported]) -> list[JmxElement]:
    """Elements of a hashTree: each element is followed by the hashTree of its children."""
    out: list[JmxElement] = []
    nodes = list(tree)
    i = 0
    while i < len(nodes):
        node = nodes[i]
        i += 1
        if node.tag == "hashTree":
            continue  # a stray subtree without its element
        sub = nodes[i] if i < len(nodes) and nodes[i].tag == "hashTree" else None
        if sub is not None:
            i += 1
        name = node.get("testname") or node.tag
        path = f"{parent} / {name}" if parent else name
        if node.get("enabled", "true").strip().lower() == "false" or node.tag in IGNORED:
            continue
        if node.tag not in SUPPORTED:
            unsupported.append(Unsupported(path, node.tag, name))
            continue
        children = _walk(sub, path, unsupported) if sub is not None else []
        out.append(JmxElement(node.tag, name, node.get("guiclass", ""), _props(node),
                              tuple(children), path))
    return out


def _props(node: ET.Element) -> dict[str, Any]:
    return {child.get("name", ""): _value(child) for child in node if child.tag != "hashTree"}


def _value(node: ET.Element) -> Any:
    if node.tag in _SCALARS:
        return node.text or ""
    if node.tag == "elementProp":
        props = _props(node)
        props["__type__"] = node.get("elementType", "")
        return props
    if node.tag == "collectionProp":
        return [_value(child) for child in node]
    return node.text or ""
