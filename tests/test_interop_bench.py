"""bench/interop.py against the scripted server: the scenarios run and judge."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from chat_server import ChatServer, Quirks

BENCH = Path(__file__).parent.parent / "bench" / "interop.py"


@pytest.mark.slow
def test_the_interop_scenarios_pass_against_a_well_behaved_server():
    with ChatServer(quirks=Quirks(n_ctx=8192)) as server:
        out = subprocess.run(
            [sys.executable, str(BENCH), "--base-url", server.url, "--model", "test-model"]
            + ["--only", "long", "bounded", "stall", "--json"],
            capture_output=True,
            text=True,
            timeout=600,
        )
    results = {r["scenario"]: r for r in json.loads(out.stdout)}
    assert [(name, r["pass"]) for name, r in results.items()] == [
        ("40,000-char message, then a short one", True),
        ("reply bounded by --max-tokens 32", True),
        ("stalled stream (keep-alives only)", True),
        ("requests (shapes, retries, caps)", True),
    ]
    assert results["40,000-char message, then a short one"]["detail"].startswith(
        "refused before any call"
    )
    assert out.returncode == 0
