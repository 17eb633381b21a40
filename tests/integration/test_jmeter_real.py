"""``intperf jmeter --engine jmeter`` with a real JMeter: Debian's package (2.13).

Debian's JMeter 2.13 cannot load a plan with Debian's newer XStream (ForbiddenClassException);
``tests/fixtures/jmeter_real/XsPermit.java`` is a test-only launcher that opens XStream's type
permissions and starts JMeter. The plan there uses only elements JMeter 2.13 knows. The
fixture installs the package when it is missing (as root, through apt) or skips with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from intperf.demo import DemoServer

from .loadtest.support import shop_call

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[1] / "fixtures" / "jmeter_real"
JMETER_HOME = Path("/usr/share/jmeter")
JAR = JMETER_HOME / "bin" / "ApacheJMeter.jar"
CLASSPATH = f"{JAR}:{JMETER_HOME}/lib/*:{JMETER_HOME}/lib/ext/*"


def _install() -> str | None:
    """Install Debian's JMeter if missing; the reason it cannot be had, else None."""
    if JAR.is_file():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "JMeter is not installed and apt-get cannot install it here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "jmeter", "jmeter-http"],
            capture_output=True, text=True, timeout=600, env=env, check=False)
    except subprocess.TimeoutExpired:
        return "apt-get install jmeter timed out"
    if proc.returncode != 0 or not JAR.is_file():
        return f"apt-get install jmeter failed: {proc.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def jmeter_launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An executable that runs Debian's JMeter through the XStream-permitting launcher."""
    reason = _install()
    if reason is not None:
        pytest.skip(reason)
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        pytest.skip("a JDK (java and javac) is needed to start Debian's JMeter")
    out = tmp_path_factory.mktemp("jmeter-launcher")
    subprocess.run([javac, "-cp", CLASSPATH, "-d", str(out), str(FIXTURE / "XsPermit.java")],
                   check=True, capture_output=True, timeout=120)
    launcher = out / "jmeter"
    launcher.write_text(
        "#!/bin/sh\n"
        f'exec "{java}" -Djmeter.home={JMETER_HOME} -cp "{out}:{CLASSPATH}" XsPermit "$@"\n')
    launcher.chmod(0o755)
    return launcher


def test_real_jmeter_run_is_imported_like_a_native_run(
    demo_shop: DemoServer, jmeter_launcher: Path, tmp_path: Path
) -> None:
    port = str(urlsplit(demo_shop.url).port)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "intperf", "jmeter", str(FIXTURE / "shop.jmx"),
         "--engine", "jmeter", "--jmeter-bin", str(jmeter_launcher),
         "-J", f"port={port}", "-J", "threads=2", "-J", "loops=3", "-J", "run=real-1",
         "--out", str(out)],
        capture_output=True, text=True, timeout=180, cwd=tmp_path, check=False,
        env={**os.environ, "COLUMNS": "200"})
    # The default criteria fail the run: half of the samples are 404s.
    assert proc.returncode == 1, proc.stderr
    jtl = (out / "results.jtl").read_text()
    assert jtl.startswith("timeStamp,elapsed,label"), jtl[:200]  # header forced by intperf
    items = shop_call(demo_shop, "GET", "/__demo/requests?limit=1000")["items"]
    sent = Counter(i["path"] for i in items if i["headers"].get("x-run") == "real-1")
    assert sent == {"/api/products": 6, "/no/such/page": 6}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["options"]["engine"] == "jmeter"
    assert summary["run"]["status"] == "failed"
    by_name = {r["name"]: r for r in summary["requests"]}
    assert by_name["search products"]["requests"] == 6
    assert by_name["search products"]["failed"] == 0
    assert by_name["missing page"]["requests"] == 6
    assert by_name["missing page"]["failed"] == 6
    assert by_name["missing page"]["errors_by_class"] == {"http_4xx": 6}
