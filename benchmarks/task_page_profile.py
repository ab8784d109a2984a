"""Where one task-page GET and one submit spend their time: SQL statements, wall and CPU per
request, for one API process driven one request at a time.

Sets up the same project as ``benchmarks/task_load.py`` (Postgres schema or SQLite file, HITs
published through the local MTurk emulator, in this process), serves the app with uvicorn in a
thread of this process (as ``frtrain serve`` does, one process), then walks ``--sessions`` worker
sessions one after the other with a plain HTTP client in the main thread: accept on the emulator,
GET the page, POST the answers; ``--workers`` WorkerIds take turns, each doing HIT after HIT
as the load benchmark's workers do. Prints per request kind the median and p90 wall time, the
server's CPU time (this process's CPU less the client thread's) and the SQL statements executed
(counted with a SQLAlchemy ``before_cursor_execute`` event), and with ``--sql`` each distinct
statement. The handlers run
in the threadpool, so a function-level profile needs a sampler that sees every thread:

    .venv/bin/python benchmarks/task_page_profile.py                 # Postgres at TEST_POSTGRES_URL
    .venv/bin/python benchmarks/task_page_profile.py --sessions 300 --sql
    py-spy record --format raw -o stacks.txt -- .venv/bin/python benchmarks/task_page_profile.py
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import numpy as np
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from task_load import DEFAULT_PG, Slots, database, setup_project  # noqa: E402

from app.core.config import Settings  # noqa: E402
from app.core.db import make_engine, make_session_factory  # noqa: E402
from app.core.migrate import upgrade  # noqa: E402
from app.mturk.emulator.server import run_emulator  # noqa: E402
from app.services import publishing  # noqa: E402
from app.workflows.replay import serve_app  # noqa: E402
from tests.app.html_forms import parse_forms  # noqa: E402


class Recorder:
    """Counts the SQL statements of the request in progress (all threads of this process), and
    its trips through the threadpool (each a hand-over to a worker thread and back)."""

    def __init__(self) -> None:
        self.n = 0
        self.other = 0  # pool check-outs (each pings: pool_pre_ping), COMMITs and ROLLBACKs
        self.hops = 0
        self.kinds: Counter[str] = Counter()
        self.keep = False  # record the statements' text too
        run_sync = anyio.to_thread.run_sync

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.hops += 1
            return await run_sync(*args, **kwargs)

        anyio.to_thread.run_sync = counted  # type: ignore[assignment]

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.n += 1
        if self.keep:
            self.kinds[" ".join(statement.split())[:110]] += 1

    def round_trip(self, *_args: Any) -> None:
        self.other += 1

    def take(self) -> tuple[int, int, int]:
        """(statements, database round trips, threadpool trips) since the last call. Round
        trips: the statements, a BEGIN before each transaction's first, and the pings,
        COMMITs and ROLLBACKs."""
        n, self.n = self.n, 0
        other, self.other = self.other, 0
        hops, self.hops = self.hops, 0
        return n, n + other, hops


def _form_data(page: str, rng: random.Random) -> tuple[str, dict[str, str]]:
    form = next(f for f in parse_forms(page) if f["action"].endswith("/submit"))
    data = {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("type") == "hidden"}
    radios = sorted({i["name"] for i in form["inputs"] if i.get("type") == "radio"})
    return form["action"], data | {r: str(rng.randint(1, 4)) for r in radios}


def _span(values: Any) -> str:
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def timed(
    client: httpx.Client, method: str, url: str, data: dict[str, str] | None, rec: Recorder
) -> tuple[str, tuple[float, float, int, int, int]]:
    """The response text, and (wall ms, server CPU ms, SQL statements, database round trips,
    threadpool trips) of one request. The server's CPU is this process's less this (the
    client's) thread's."""
    w0, c0, t0 = time.perf_counter(), time.process_time(), time.thread_time()
    resp = client.request(method, url, data=data)
    w1, c1, t1 = time.perf_counter(), time.process_time(), time.thread_time()
    if resp.status_code != 200:
        raise SystemExit(f"{method} {url}: {resp.status_code} {resp.text[:300]}")
    return resp.text, ((w1 - w0) * 1000, ((c1 - c0) - (t1 - t0)) * 1000, *rec.take())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--sessions", type=int, default=150, help="worker sessions measured")
    parser.add_argument("--warmup", type=int, default=20, help="sessions run before measuring")
    parser.add_argument(
        "--workers", type=int, default=20, help="distinct WorkerIds, each doing HIT after HIT"
    )
    parser.add_argument("--hits", type=int, default=40)
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--sql", action="store_true", help="print each distinct SQL statement")
    args = parser.parse_args()

    with (
        database(args.database_url) as db_url,
        tempfile.TemporaryDirectory() as art,
        run_emulator(allow_http_questions=True) as emu,
    ):
        engine = make_engine(db_url)
        with engine.begin() as conn:
            upgrade(conn)
        engine.dispose()
        base = "http://127.0.0.1"  # serve_app puts its own URL in public_base_url
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="test",
            database_url=db_url,
            secret_key="profile-" + "k" * 40,
            artifact_dir=Path(art),
            mturk_endpoint_url=emu.url,
            public_base_url=base,
            aws_access_key_id="load",
            aws_secret_access_key="load",
        )
        pid = setup_project(db_url, settings, args.hits, args.questions)
        engine = make_engine(db_url)
        with make_session_factory(engine)() as session:
            slots = [
                str(h.mturk_hit_id)
                for h in publishing.list_hits(session=session, project_id=pid)
                for _ in range(h.max_assignments)
            ]
        engine.dispose()
        random.Random(1).shuffle(slots)
        need = args.sessions + args.warmup
        pool = Slots(slots)
        done: list[set[str]] = [set() for _ in range(args.workers)]
        rec = Recorder()
        times: dict[str, list[tuple[float, float, int, int, int]]] = {"page": [], "submit": []}
        rng = random.Random(0)
        event.listen(Engine, "before_cursor_execute", rec)
        for name in ("begin", "commit", "rollback"):
            event.listen(Engine, name, rec.round_trip)
        event.listen(Pool, "checkout", rec.round_trip)
        with serve_app(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
            for k in range(need):
                measuring = k >= args.warmup
                w = k % args.workers
                hit_id = pool.take(done[w])
                if hit_id is None:
                    parser.error(f"out of HITs after {k} sessions: raise --hits")
                done[w].add(hit_id)
                acc = emu.worker_accept(hit_id, f"APROF{w:05d}")
                frame = acc["frameUrl"]
                path = frame[frame.index("/task/") :]
                rec.take()
                rec.keep = measuring
                page = timed(client, "GET", path, None, rec)
                action, data = _form_data(page[0], rng)
                submit = timed(client, "POST", action, data, rec)
                if measuring:
                    times["page"].append(page[1])
                    times["submit"].append(submit[1])
    print(
        f"{args.sessions} sessions ({args.questions} questions each, {args.workers} returning "
        f"workers) after {args.warmup} warm-up,"
        f" one at a time, uvicorn in-process; load average {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} CPUs"
    )
    for kind, rows in times.items():
        arr = np.array(rows)
        print(
            f"{kind:<7} wall p50 {np.percentile(arr[:, 0], 50):6.2f} ms  p90 "
            f"{np.percentile(arr[:, 0], 90):6.2f} ms   server CPU mean {arr[:, 1].mean():6.2f} ms"
            f"   SQL statements {_span(arr[:, 2])}   database round trips {_span(arr[:, 3])}"
            f"   threadpool trips {_span(arr[:, 4])}"
        )
    if args.sql:
        print("\nSQL statements (count over the measured sessions):")
        for stmt, n in rec.kinds.most_common():
            print(f"  {n:6d}  {stmt}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
