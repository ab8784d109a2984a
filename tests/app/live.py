"""A real uvicorn server in a thread on a private, freshly migrated database (both kinds), for
tests that need real HTTP: raw sockets, concurrent requests, the access log."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from app.core.db import make_engine, make_session_factory
from app.core.migrate import upgrade
from app.services.auth import create_token

from .conftest import DEFAULT_TEST_POSTGRES_URL, _postgres_url, _worker_tag


@contextmanager
def private_database(db_kind: str, tmp_path: Path, tag: str) -> Iterator[str]:
    """A migrated database that only this test uses (commits stay out of the shared one)."""
    if db_kind == "sqlite":
        url = f"sqlite:///{tmp_path / f'{tag}.db'}"
        engine = make_engine(url)
        with engine.begin() as conn:
            upgrade(conn)
        engine.dispose()
        yield url
        return
    base_url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    schema = f"frtrain_{tag}_{_worker_tag()}"
    admin = make_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _postgres_url(schema)
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(conn)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def committed_token(url: str) -> str:
    engine = make_engine(url)
    try:
        session = make_session_factory(engine)()
        try:
            return create_token(session=session, name="live").token
        finally:
            session.close()
    finally:
        engine.dispose()


@contextmanager
def live_server(app: FastAPI) -> Iterator[tuple[str, int]]:
    """Serve `app` with uvicorn on a free localhost port; yields (host, port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="info", access_log=True, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def raw_request(host: str, port: int, head: str, body: bytes, *, timeout: float = 10.0) -> str:
    """Send the request head and only the start of a (much longer, declared) body; return the
    status line the server answers with before the rest arrives, or '' if it waits for more."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(head.encode("latin-1") + body)
        try:
            data = conn.recv(65536)
        except TimeoutError:
            return ""
        return data.decode("latin-1").split("\r\n", 1)[0]


def stream_chunked(
    host: str,
    port: int,
    head: str,
    chunk: bytes,
    *,
    max_bytes: int,
    first: bytes = b"",
    timeout: float = 10.0,
) -> tuple[str, int]:
    """Send a chunked body (`first`, then `chunk`s) until the server answers (or `max_bytes`
    are sent); returns (status line, body bytes sent before the answer)."""
    sent = len(first)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(head.encode("latin-1"))
        if first:
            conn.sendall(f"{len(first):x}\r\n".encode() + first + b"\r\n")
        while sent < max_bytes:
            readable, _, _ = select.select([conn], [], [], 0)
            if readable:
                break
            try:
                conn.sendall(frame)
            except OSError:  # the server closed the connection after answering
                break
            sent += len(chunk)
        try:
            data = conn.recv(65536)
        except (TimeoutError, OSError):
            return "", sent
        return data.decode("latin-1").split("\r\n", 1)[0], sent
