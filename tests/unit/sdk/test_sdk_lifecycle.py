"""Emitter life cycle across fork() and interpreter exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from intperf.sdk import EventEmitter, MemoryTransport, business


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_gets_its_own_sender_and_not_the_parents_events() -> None:
    transport = MemoryTransport()
    with EventEmitter(transport, linger_s=3600.0) as em:
        for i in range(3):
            em.emit(business("shop", "parent", float(i)))  # buffered, not sent yet
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report through the pipe and leave without cleanup
            try:
                em.emit(business("shop", "child", 1.0))
                em.flush(10.0)
                s = em.stats()
                names = [e["name"] for e in transport.events]
                os.write(write_end, json.dumps([s.emitted, s.sent, names]).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            child = json.loads(pipe.read())
        os.waitpid(pid, 0)
        assert child == [1, 1, ["child"]]
        assert em.flush(10.0)
        assert [e["name"] for e in transport.events] == ["parent"] * 3


def test_close_at_exit_sends_what_is_buffered() -> None:
    script = textwrap.dedent(
        """
        from intperf.sdk import EventEmitter, SendResult, business

        class Printing:
            def send(self, batch):
                print("sent", len(batch), flush=True)
                return SendResult(accepted=len(batch))

            def close(self):
                print("closed", flush=True)

        em = EventEmitter(Printing(), linger_s=3600.0).close_at_exit()
        em.emit(business("shop", "order_created"))
        em.emit(business("shop", "order_created"))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split("\n")[:2] == ["sent 2", "closed"]
