"""The dashboard's live-update code under Node with stand-ins for the browser: polling backs off
while the service fails, and the event-stream reader splits server-sent events correctly
however the bytes arrive."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

API_JS = (Path(__file__).resolve().parents[2]
          / "src/intperf/service/dashboard/static/api.js")
NODE = shutil.which("node")

#: Just enough of a browser for api.js: no page, an empty sessionStorage.
PRELUDE = """
globalThis.document = {querySelector: () => null, getElementById: () => null};
globalThis.sessionStorage = {getItem: () => 'ip_test', setItem() {}, removeItem() {}};
globalThis.window = {dispatchEvent() {}};
globalThis.CustomEvent = class { constructor(name) { this.type = name; } };
"""


def _node(body: str) -> Any:
    if NODE is None:
        pytest.skip("node is not installed")
    program = (PRELUDE + f"const api = await import({json.dumps(API_JS.as_uri())});\n"
               + body)
    out = subprocess.run([NODE, "--input-type=module", "-e", program], capture_output=True,
                         text=True, check=False, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_polling_backs_off_while_failing_and_recovers() -> None:
    waits = _node("""
        const waits = [];
        let fire = null;
        globalThis.setTimeout = (fn, ms) => { waits.push(ms); fire = fn; return waits.length; };
        globalThis.clearTimeout = () => {};
        const outcomes = [false, false, false, false, false, true, true];
        let call = 0;
        const p = api.poll(async () => {
          if (!outcomes[call++]) throw new Error('503');
        }, {interval: 5000, max: 60000});
        for (let i = 0; i < outcomes.length - 1; i++) {
          await new Promise((r) => setImmediate(r));
          await fire();
        }
        await new Promise((r) => setImmediate(r));
        p.stop();
        console.log(JSON.stringify(waits));
    """)
    # 5 failures: 10, 20, 40, 60 (the cap), 60 s; then back to the 5 s pace.
    assert waits == [10000, 20000, 40000, 60000, 60000, 5000, 5000]


def test_event_stream_reader_handles_any_chunking() -> None:
    events = _node(r"""
        const text = ': keep-alive\n\n'
          + 'event: progress\ndata: {"type": "progress", "live": {"second": 0}}\n\n'
          + 'event: progress\r\ndata: {"type": "progress",\r\ndata:  "live": {"second": 1}}\r\n\r\n'
          + 'event: end\ndata: {"type": "end", "status": "passed"}\n\n';
        const bytes = new TextEncoder().encode(text);
        const results = [];
        for (const size of [1, 3, 7, 64, bytes.length]) {
          globalThis.fetch = async (url, init) => {
            if (init.headers['X-API-Key'] !== 'ip_test') throw new Error('no key sent');
            const stream = new ReadableStream({start(c) {
              for (let i = 0; i < bytes.length; i += size) c.enqueue(bytes.slice(i, i + size));
              c.close();
            }});
            return new Response(stream, {status: 200,
                                         headers: {'content-type': 'text/event-stream'}});
          };
          const got = [];
          for await (const ev of api.sse('/api/v1/performance/runs/x/stream')) got.push(ev);
          results.push(got);
        }
        console.log(JSON.stringify(results));
    """)
    expected = [
        {"event": "progress", "data": {"type": "progress", "live": {"second": 0}}},
        {"event": "progress", "data": {"type": "progress", "live": {"second": 1}}},
        {"event": "end", "data": {"type": "end", "status": "passed"}},
    ]
    assert events == [expected] * 5


def test_an_api_error_keeps_the_field_and_details() -> None:
    error = _node("""
        globalThis.fetch = async () => new Response(JSON.stringify({error: 'users: too many',
          field: 'users', detail: [{field: 'users', message: 'too many'}]}), {status: 422});
        try { await api.api('/api/v1/performance/load-test', {method: 'POST', body: {}}); }
        catch (err) { console.log(JSON.stringify({status: err.status, field: err.field,
                                                  detail: err.detail, message: err.message})); }
    """)
    assert error == {"status": 422, "field": "users", "message": "users: too many",
                     "detail": [{"field": "users", "message": "too many"}]}
