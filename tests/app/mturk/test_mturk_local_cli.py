"""`frtrain mturk-local` prints, at start, how to act as a worker (accept, frame URL, return,
clock, state) with this run's URLs, and those routes answer as printed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_mturk_local_prints_the_worker_side(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "mturk-local", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "health:" in line:
                break
        text = "".join(lines)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        assert m, text
        url = m.group(1)
        for needle in (
            f"POST {url}/_emu/workers/WORKER_ID/accept",
            "frameUrl",
            f"{url}/_emu/assignments/ASSIGNMENT_ID/return",
            f"{url}/_emu/clock -d '{{\"advance\": 3600}}'",
            f"curl {url}/_emu/state",
            f"{url}/mturk/externalSubmit",
        ):
            assert needle in text, needle
        with urllib.request.urlopen(f"{url}/_emu/state", timeout=10) as resp:
            state = json.load(resp)
        assert state["hits"] == [] and state["assignments"] == []
        req = urllib.request.Request(f"{url}/_emu/clock", data=b'{"advance": 3600}', method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.load(resp)["offset"] == 3600
    finally:
        proc.terminate()
        proc.wait(timeout=30)
