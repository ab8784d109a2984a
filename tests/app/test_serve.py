"""``frtrain serve`` keeps an idle keep-alive connection open longer than its clients do.

uvicorn's default keep-alive is 5 s, the same as httpx's (and shorter than any proxy's): a client
reusing a connection just as the server closed it got no response at all (two such failures per
run in ``benchmarks/task_load.py``). The served process must still answer on a connection left
idle for longer than that.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.commands.serve import TIMEOUT_KEEP_ALIVE_S
from app.core.db import make_engine
from app.core.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
UVICORN_DEFAULT_KEEP_ALIVE_S = 5
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_response(conn: socket.socket) -> bytes:
    """One HTTP/1.1 response with a Content-Length body ('' if the server closed instead)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    """``frtrain serve`` (the real command, its own process) on a migrated SQLite file."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(conn)
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "test", "SECRET_KEY": "s" * 64}
    env["ARTIFACT_DIR"] = str(tmp_path / "artifacts")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("frtrain serve did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_keep_alive_outlasts_the_clients(served: int) -> None:
    assert TIMEOUT_KEEP_ALIVE_S > UVICORN_DEFAULT_KEEP_ALIVE_S
    with socket.create_connection(("127.0.0.1", served), timeout=10) as conn:
        conn.sendall(HEALTHZ)
        assert _read_response(conn).startswith(b"HTTP/1.1 200")
        # Idle past uvicorn's default, then reuse the same connection (as a pooled client does).
        time.sleep(UVICORN_DEFAULT_KEEP_ALIVE_S + 1.5)
        conn.sendall(HEALTHZ)
        second = _read_response(conn)
    assert second.startswith(b"HTTP/1.1 200"), second[:200]
