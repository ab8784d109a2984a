"""Task-page load: simulated workers through the real MTurk flow against ``frtrain serve``.

Starts ``frtrain mturk-local`` and ``--api-processes`` ``frtrain serve`` processes (localhost
only) on a private Postgres schema (or a SQLite file), publishes enough HITs through the emulator,
then runs ``--workers`` concurrent simulated workers for ``--seconds`` (bounded).

How a simulated worker behaves: it is one MTurk worker (one WorkerId) doing HIT after HIT, as
MTurk workers work through a batch: accept a HIT it has not done on the emulator, GET the task
page, think, submit every answer, post the returned form to the emulator's externalSubmit, then
accept the next. The think time between page and submit is uniform on [0.5, 1.5] x ``--think``
(default 5 s: a real worker spends minutes on 30 questions, so this compresses time about fifty
times while keeping the workers out of step); the workers' first accepts are spread over the
first ``--think`` seconds. ``--think 0`` is the saturation run: every worker submits the instant
its page arrives, so the latencies then measure queueing at full load, not service time. Each
session goes to one API process, round robin, as a load balancer would; a refused connection
(the process is down) goes to the other one, as the balancer's health check would.

How the processes are split on one machine: the deployment (the ``frtrain serve`` processes and
Postgres) runs at normal priority; the emulator (standing for MTurk, another company's servers)
and the load generator (standing for the workers' browsers, in a process of its own) run at
``--nice`` (10), so they take the CPU the deployment leaves idle rather than the CPU it measures.
A niced generator on a busy machine answers late, so its latencies err high, never low.

Prints, next to the latencies, how the workers behave, the offered load (workers / think time),
the achieved throughput, the CPU seconds each part used and the load average before and after
(other people's work on a shared machine shows there; say so when it is high). Then the p50/p99
latency of the task page and of the submit, the errors by kind, and a recount after a sync:
every submission the service accepted (200) is stored exactly once (0 lost, 0 duplicated) and
confirmed by MTurk. The ``kill`` run SIGKILLs one API process half-way and restarts it; requests
in flight then may fail, and the report says how many (and whether any of them had committed
nonetheless). Both runs by default, each on its own database and emulator.

    .venv/bin/python benchmarks/task_load.py                       # Postgres at TEST_POSTGRES_URL
    .venv/bin/python benchmarks/task_load.py --think 0 --runs normal   # saturation
    .venv/bin/python benchmarks/task_load.py --runs kill --seconds 30 --json out.json

Target (2 cores, default think time): submit p99 < 100 ms with 0 errors and 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import pandas as pd
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.config import Settings  # noqa: E402
from app.core.db import make_engine, make_session_factory  # noqa: E402
from app.core.migrate import upgrade  # noqa: E402
from app.models import Answer, Assignment  # noqa: E402
from app.schemas.crowd import GoldCreate, ProjectCreate  # noqa: E402
from app.services import publishing  # noqa: E402
from app.services.crowd.examples import add_gold, upload_examples  # noqa: E402
from app.services.projects import create_project  # noqa: E402
from app.services.recruiting import sync  # noqa: E402
from tests.app.html_forms import parse_forms  # noqa: E402

TARGET_SUBMIT_P99_MS = 100.0
DEFAULT_THINK_S = 5.0
#: The generator's keep-alive (httpx's default, 5 s).
KEEPALIVE_S = 5.0
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FRTRAIN = [sys.executable, "-m", "app.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def database(url: str) -> Iterator[str]:
    """A private schema on Postgres (dropped after), or a temporary SQLite file."""
    if url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="frtrain-load-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'load.db'}"
        return
    schema = f"frtrain_load_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(url)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Api:
    """One ``frtrain serve`` process on a fixed port (restartable)."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*FRTRAIN, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_http(f"{self.url}/healthz")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def setup_project(db_url: str, settings: Settings, n_hits: int, per_hit: int) -> int:
    """A project whose HITs hold ``per_hit`` questions (3 hidden gold) and 9 assignments each."""
    n_gold = 30
    n_task = n_hits * (per_hit - 3)
    rng = np.random.default_rng(0)
    n = n_task + n_gold
    frame = pd.DataFrame(
        {
            "example_id": [f"x{i}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "priors": rng.integers(0, 15, n),
            "sex": rng.choice(["Female", "Male"], n),
            "true_label": rng.choice([-1, 1], n),
        }
    )
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        project = create_project(
            session=session,
            data=ProjectCreate(
                name="load benchmark",
                question="How likely is this person to reoffend within two years?",
                max_answers=9,
                questions_per_hit=per_hit,
                gold_per_hit=3,
                quiz_per_hit=0,
                visible_columns=["age", "priors", "sex"],
                sensitive_column="sex",
            ),
        )
        upload_examples(
            session=session,
            project_id=project.id,
            data=frame.to_csv(index=False).encode(),
            filename="examples.csv",
        )
        gold = [
            GoldCreate(example_id=f"x{i}", label=int(frame["true_label"][i]), kind="hidden_check")
            for i in range(n_task, n)
        ]
        add_gold(session=session, project_id=project.id, items=gold)
        publishing.publish_batch(
            session=session, settings=settings, project_id=project.id, max_per_hit=9
        )
        pid = int(project.id)
    engine.dispose()
    return pid


@dataclass
class Stats:
    page_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    sessions: int = 0
    accepted: dict[str, int] = field(default_factory=dict)  # assignment -> answers it posted
    failed: dict[str, str] = field(default_factory=dict)  # assignment -> what failed
    errors: dict[str, int] = field(default_factory=dict)
    error_times: list[float] = field(default_factory=list)  # time.monotonic() of each error
    exhausted: int = 0
    rerouted: int = 0
    cpu_s: float = 0.0  # the load generator's own CPU time

    def error(self, aid: str | None, what: str, exc: BaseException | None = None) -> None:
        if exc is not None:
            what = f"{what} ({type(exc).__name__})"
        if aid is not None:
            self.failed[aid] = what
        self.errors[what] = self.errors.get(what, 0) + 1
        self.error_times.append(time.monotonic())


@dataclass(frozen=True)
class Behaviour:
    """How the simulated workers behave (printed with the results)."""

    workers: int
    think_s: float  # mean think time between the page and the submit

    def think(self, rng: random.Random) -> float:
        """Uniform on [0.5, 1.5] x the mean: workers drift apart instead of moving in step."""
        return rng.uniform(0.5, 1.5) * self.think_s if self.think_s > 0 else 0.0

    def describe(self) -> str:
        if self.think_s <= 0:
            return (
                f"{self.workers} simulated MTurk workers with no think time: each submits the "
                "instant its page arrives and accepts the next HIT at once (saturation: "
                "latencies then measure queueing at full load, not service time)"
            )
        return (
            f"{self.workers} simulated MTurk workers; each keeps its WorkerId and does HIT after "
            f"HIT (accept, page, think, submit, externalSubmit); think time between page and "
            f"submit uniform on [{0.5 * self.think_s:.1f}, {1.5 * self.think_s:.1f}] s (mean "
            f"{self.think_s:.1f} s; a real worker spends minutes on 30 questions); first "
            f"accepts spread uniformly over the first {self.think_s:.1f} s"
        )

    def offered(self) -> str:
        if self.think_s <= 0:
            return "offered load: unbounded (closed loop, no think time)"
        rate = self.workers / self.think_s
        return (
            f"offered load: at most {rate:.1f} sessions/s = {2 * rate:.1f} page+submit "
            f"requests/s ({self.workers} workers / {self.think_s:.1f} s mean think time; less "
            "by the time the requests take)"
        )


class Slots:
    """The published HITs' free assignments, shuffled; a worker never takes a HIT twice
    (MTurk allows one assignment per worker and HIT)."""

    def __init__(self, slots: list[str]) -> None:
        self.slots = slots

    def take(self, done: set[str]) -> str | None:
        for i in range(len(self.slots) - 1, -1, -1):
            if self.slots[i] not in done:
                return self.slots.pop(i)
        return None


def _on(url: str, base: str) -> str:
    """``url`` sent to API process ``base`` instead (the load balancer's choice)."""
    if url.startswith("/"):
        return f"{base}{url}"
    parts, target = urlsplit(url), urlsplit(base)
    return urlunsplit(parts._replace(scheme=target.scheme, netloc=target.netloc))


async def _balanced(
    http: httpx.AsyncClient,
    api_urls: list[str],
    api: str,
    method: str,
    url: str,
    stats: Stats,
    data: dict[str, str] | None = None,
) -> tuple[httpx.Response, str]:
    """Send to ``api``; a refused connection (the process is down, nothing was sent) goes to the
    next process, as a load balancer's health check would. Anything else propagates."""
    order = [api] + [a for a in api_urls if a != api]
    for n, target in enumerate(order):
        try:
            return await http.request(method, _on(url, target), data=data), target
        except httpx.ConnectError:
            if n == len(order) - 1:
                raise
            stats.rerouted += 1
    raise AssertionError("unreachable")


async def simulated_worker(
    k: int,
    http: httpx.AsyncClient,
    emu_url: str,
    api_urls: list[str],
    slots: Slots,
    stop_at: float,
    stats: Stats,
    behaviour: Behaviour,
) -> None:
    """One MTurk worker (one WorkerId) doing HIT after HIT until ``stop_at``."""
    rng = random.Random(k)
    wid = f"ALOAD{k:05d}"
    done: set[str] = set()
    await asyncio.sleep(rng.uniform(0, behaviour.think_s))
    n = 0
    while time.monotonic() < stop_at:
        hit_id = slots.take(done)
        if hit_id is None:
            stats.exhausted += 1
            return
        done.add(hit_id)
        n += 1
        api = api_urls[(k + n) % len(api_urls)]
        try:
            acc = await http.post(f"{emu_url}/_emu/workers/{wid}/accept", json={"hitId": hit_id})
        except httpx.HTTPError as exc:
            stats.error(None, "emulator accept", exc)
            continue
        if acc.status_code != 200:
            stats.error(None, f"emulator accept: {acc.status_code}")
            continue
        body = acc.json()
        aid, frame = body["assignmentId"], body["frameUrl"]
        try:
            t0 = time.perf_counter()
            page, api = await _balanced(http, api_urls, api, "GET", frame, stats)
            stats.page_ms.append((time.perf_counter() - t0) * 1000)
        except httpx.HTTPError as exc:
            stats.error(aid, "page: connection", exc)
            continue
        if page.status_code != 200:
            stats.error(aid, f"page: {page.status_code}")
            continue
        form = next(f for f in parse_forms(page.text) if f["action"].endswith("/submit"))
        data = {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("type") == "hidden"}
        radios = sorted({i["name"] for i in form["inputs"] if i.get("type") == "radio"})
        data |= {r: str(rng.randint(1, 4)) for r in radios}
        await asyncio.sleep(behaviour.think(rng))
        try:
            t0 = time.perf_counter()
            reply, api = await _balanced(http, api_urls, api, "POST", form["action"], stats, data)
            stats.submit_ms.append((time.perf_counter() - t0) * 1000)
        except httpx.HTTPError as exc:
            stats.error(aid, "submit: connection", exc)
            continue
        if reply.status_code != 200:
            stats.error(aid, f"submit: {reply.status_code}")
            continue
        stats.accepted[aid] = len(radios)
        back = parse_forms(reply.text)[0]
        posted = {
            i["name"]: i.get("value", "") for i in back["inputs"] if i.get("type") == "hidden"
        }
        try:
            final = await http.post(back["action"], data=posted)
        except httpx.HTTPError as exc:
            stats.error(None, "externalSubmit", exc)
            continue
        if final.status_code != 200:
            stats.error(None, f"externalSubmit: {final.status_code}")
            continue
        stats.sessions += 1


async def _progress(t0: float, seconds: float, stats: Stats) -> None:
    while True:
        await asyncio.sleep(10)
        done = time.monotonic() - t0
        print(
            f"    {done:5.0f}/{seconds:.0f} s: {len(stats.accepted)} submissions, "
            f"{sum(stats.errors.values())} errors",
            flush=True,
        )


@dataclass(frozen=True)
class Plan:
    """What the load generator's process is given."""

    emu_url: str
    api_urls: list[str]
    slots: list[str]
    behaviour: Behaviour
    seconds: float
    t0: float  # time.monotonic() of the start (the same clock in every process)
    nice: int


async def drive(plan: Plan) -> Stats:
    stats = Stats()
    n = plan.behaviour.workers
    # Fewer keep-alive seconds than the servers' (frtrain serve --timeout-keep-alive), as a
    # browser or a proxy has: the client, never the server, closes an idle connection.
    limits = httpx.Limits(
        max_connections=n * 2, max_keepalive_connections=n * 2, keepalive_expiry=KEEPALIVE_S
    )
    pool = Slots(list(plan.slots))
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        stop_at = plan.t0 + plan.seconds
        tasks = [
            asyncio.create_task(
                simulated_worker(
                    k, http, plan.emu_url, plan.api_urls, pool, stop_at, stats, plan.behaviour
                )
            )
            for k in range(n)
        ]
        ticker = asyncio.create_task(_progress(plan.t0, plan.seconds, stats))
        await asyncio.gather(*tasks)
        ticker.cancel()
    return stats


def generator(plan: Plan, out: Any) -> None:
    """The load generator's process (the workers' browsers, not the deployment): niced, so it
    takes the CPU the servers leave idle rather than theirs."""
    os.nice(plan.nice)
    cpu0 = time.process_time()
    stats = asyncio.run(drive(plan))
    stats.cpu_s = time.process_time() - cpu0
    out.put(stats)


def recount(db_url: str, settings: Settings, pid: int, stats: Stats) -> dict[str, Any]:
    """Sync (MTurk confirms), then check every accepted submission is stored exactly once."""
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        t0 = time.monotonic()
        synced = sync.sync_project(
            session=session, settings=settings, project_id=pid, apply_review=False
        )
        sync_s = time.monotonic() - t0
        rows = session.execute(
            select(Assignment.external_id, Assignment.confirmation, func.count(Answer.id))
            .outerjoin(Answer, Answer.assignment_id == Assignment.id)
            .where(Assignment.project_id == pid)
            .group_by(Assignment.external_id, Assignment.confirmation)
        ).all()
        dup_pairs = session.scalar(
            select(func.count()).select_from(
                select(Answer.worker_id, Answer.example_id)
                .where(Answer.project_id == pid)
                .group_by(Answer.worker_id, Answer.example_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
    engine.dispose()
    stored = {str(a): int(n) for a, _c, n in rows}
    confirmed = {str(a) for a, c, _n in rows if c == "confirmed"}
    lost = sum(1 for a, n in stats.accepted.items() if stored.get(a, 0) < n)
    extra = sum(1 for a, n in stats.accepted.items() if stored.get(a, 0) > n)
    unconfirmed = sum(1 for a in stats.accepted if a not in confirmed)
    committed_anyway = sum(1 for a in stats.failed if stored.get(a, 0) > 0)
    return {
        "accepted_submissions": len(stats.accepted),
        "answers_expected": sum(stats.accepted.values()),
        "answers_stored_for_them": sum(stored.get(a, 0) for a in stats.accepted),
        "lost": lost,
        "duplicated": extra + int(dup_pairs or 0),
        "accepted_but_not_confirmed_by_mturk": unconfirmed,
        "failed_requests_that_committed": committed_anyway,
        "sync_seconds": round(sync_s, 1),
        "sync": {k: synced.to_json()[k] for k in ("assignments_seen", "assignments_confirmed")},
    }


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0.0 where unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each ``postgres`` process on this machine (other users' too), by pid."""
    out: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if "(postgres)" in stat.read_text():
                out[int(stat.parent.name)] = cpu_seconds(int(stat.parent.name))
    return out


def postgres_cpu_since(before: dict[int, float]) -> float:
    """CPU seconds the ``postgres`` processes used since ``before`` (processes that ended in
    between are not counted)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


def one_run(args: argparse.Namespace, kill: bool) -> dict[str, Any]:
    behaviour = Behaviour(workers=args.workers, think_s=args.think)
    with database(args.database_url) as db_url, tempfile.TemporaryDirectory() as art:
        engine = make_engine(db_url)
        with engine.begin() as conn:
            upgrade(conn)
        engine.dispose()
        emu_port = free_port()
        emu_url = f"http://127.0.0.1:{emu_port}"
        # The emulator stands for MTurk (another company's servers): niced like the generator.
        emu = subprocess.Popen(
            ["nice", "-n", str(args.nice), *FRTRAIN, "mturk-local", "--port", str(emu_port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        apis: list[Api] = []
        try:
            wait_http(f"{emu_url}/_emu/health")
            ports = [free_port() for _ in range(args.api_processes)]
            env = {
                **os.environ,
                "DATABASE_URL": db_url,
                "ARTIFACT_DIR": art,
                "ENVIRONMENT": "test",
                "SECRET_KEY": secrets.token_hex(32),
                "MTURK_ENDPOINT_URL": emu_url,
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports[0]}",
                "AWS_ACCESS_KEY_ID": "load",
                "AWS_SECRET_ACCESS_KEY": "load",
            }
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                environment="test",
                database_url=db_url,
                secret_key=env["SECRET_KEY"],
                mturk_endpoint_url=emu_url,
                public_base_url=env["PUBLIC_BASE_URL"],
                aws_access_key_id="load",
                aws_secret_access_key="load",
            )
            t0 = time.monotonic()
            print(f"  publishing {args.hits} HITs of {args.questions} questions ...", flush=True)
            pid = setup_project(db_url, settings, args.hits, args.questions)
            setup_s = time.monotonic() - t0
            engine = make_engine(db_url)
            with make_session_factory(engine)() as session:
                hits = publishing.list_hits(session=session, project_id=pid)
                slots = [str(h.mturk_hit_id) for h in hits for _ in range(h.max_assignments)]
            engine.dispose()
            random.Random(1).shuffle(slots)
            for port in ports:
                api = Api(env, port)
                api.start()
                apis.append(api)
            load0 = os.getloadavg()
            print(
                f"  {args.workers} workers for {args.seconds:.0f} s on {len(apis)} API "
                f"processes{' (one SIGKILLed half-way)' if kill else ''} ...",
                flush=True,
            )
            cpu0 = {
                "api": sum(cpu_seconds(a.proc.pid) for a in apis if a.proc),
                "emulator": cpu_seconds(emu.pid),
            }
            pg0 = postgres_cpu()
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            t_start = time.monotonic() + 1.0  # the generator's clock starts once it runs
            plan = Plan(
                emu_url, [a.url for a in apis], slots, behaviour, args.seconds, t_start, args.nice
            )
            gen = ctx.Process(target=generator, args=(plan, queue))
            gen.start()
            kill_info: dict[str, Any] = {}
            api_cpu_lost = 0.0
            if kill:
                time.sleep(max(0.0, t_start + args.seconds / 2 - time.monotonic()))
                t_kill = time.monotonic()
                victim = apis[0].proc
                api_cpu_lost = cpu_seconds(victim.pid) if victim else 0.0
                apis[0].kill()
                apis[0].start()
                kill_info = {
                    "killed_at_s": round(t_kill - t_start, 1),
                    "down_s": round(time.monotonic() - t_kill, 2),
                    "t_kill": t_kill,
                }
            stats: Stats = queue.get()
            gen.join(timeout=60)
            elapsed = time.monotonic() - t_start
            load1 = os.getloadavg()
            cpu = {
                "api": sum(cpu_seconds(a.proc.pid) for a in apis if a.proc)
                + api_cpu_lost
                - cpu0["api"],
                "emulator": cpu_seconds(emu.pid) - cpu0["emulator"],
                "postgres (other users' work too)": postgres_cpu_since(pg0),
                "load generator": stats.cpu_s,
            }
            if kill_info:
                kill_info["errors_before"] = sum(1 for t in stats.error_times if t < t_kill)
                del kill_info["t_kill"]
            counted = recount(db_url, settings, pid, stats)
        finally:
            for api in apis:
                api.stop()
            emu.terminate()
            emu.wait(timeout=20)
    return {
        "run": "kill" if kill else "normal",
        "database": make_url(db_url).get_backend_name(),
        "workers": args.workers,
        "think_s": args.think,
        "behaviour": behaviour.describe(),
        "offered": behaviour.offered(),
        "nice": args.nice,
        "seconds": round(elapsed, 1),
        "api_processes": args.api_processes,
        "setup_seconds": round(setup_s, 1),
        "completed_sessions": stats.sessions,
        "throughput_submits_per_s": round(len(stats.accepted) / elapsed, 2),
        "throughput_requests_per_s": round(
            (len(stats.page_ms) + len(stats.submit_ms)) / elapsed, 2
        ),
        "page_ms": {
            "n": len(stats.page_ms),
            "p50": pct(stats.page_ms, 50),
            "p99": pct(stats.page_ms, 99),
        },
        "submit_ms": {
            "n": len(stats.submit_ms),
            "p50": pct(stats.submit_ms, 50),
            "p99": pct(stats.submit_ms, 99),
        },
        "errors": sum(stats.errors.values()),
        "errors_by_kind": stats.errors,
        "rerouted_connections": stats.rerouted,
        "ran_out_of_hits": stats.exhausted > 0,
        "kill": kill_info or None,
        "recount": counted,
        "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "load_average_before_after": [round(load0[0], 2), round(load1[0], 2)],
        "cpus": os.cpu_count(),
    }


def report(r: dict[str, Any]) -> None:
    print(
        f"\n== run: {r['run']} ({r['database']}, {r['workers']} workers, think time "
        f"{r['think_s']:.1f} s, {r['seconds']} s, {r['api_processes']} API processes; load "
        f"average {r['load_average_before_after'][0]} -> {r['load_average_before_after'][1]} "
        f"on {r['cpus']} CPUs)"
    )
    print(f"workers: {r['behaviour']}")
    print(
        f"processes: {r['api_processes']} x frtrain serve and Postgres at normal priority (the "
        f"deployment); the emulator (MTurk) and the load generator (the workers' browsers) "
        f"at nice {r['nice']}"
    )
    print(r["offered"])
    print(
        f"achieved: {r['throughput_submits_per_s']} submits/s, "
        f"{r['throughput_requests_per_s']} page+submit requests/s, "
        f"{r['completed_sessions']} complete worker sessions"
    )
    for name in ("page_ms", "submit_ms"):
        s = r[name]
        print(f"{name[:-3]:<8} n={s['n']:<6} p50 {s['p50']:8.1f} ms   p99 {s['p99']:8.1f} ms")
    print(
        f"errors: {r['errors']} {r['errors_by_kind'] or ''}; refused connections sent to the "
        f"other API process: {r['rerouted_connections']}"
    )
    cpu = r["cpu_seconds"]
    print("CPU seconds during the run: " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
    if r["kill"]:
        k = r["kill"]
        print(
            f"kill: API process 1 SIGKILLed at {k['killed_at_s']} s, back after {k['down_s']} s; "
            f"errors before the kill {k['errors_before']}, so "
            f"{r['errors'] - k['errors_before']} requests failed from the kill on"
        )
    c = r["recount"]
    print(
        f"recount: {c['accepted_submissions']} accepted submissions, {c['answers_expected']} "
        f"answers expected, {c['answers_stored_for_them']} stored; lost {c['lost']}, "
        f"duplicated {c['duplicated']}; not confirmed by MTurk after sync "
        f"{c['accepted_but_not_confirmed_by_mturk']}; failed requests that had committed "
        f"{c['failed_requests_that_committed']} (sync {c['sync_seconds']} s)"
    )
    intact = c["lost"] == 0 and c["duplicated"] == 0
    if r["run"] == "kill":
        # Requests in flight at the kill may fail (counted above); nothing may be lost.
        print(f"target (kill run): 0 lost, 0 duplicated: {'PASS' if intact else 'FAIL'}")
        return
    ok = r["submit_ms"]["p99"] < TARGET_SUBMIT_P99_MS and r["errors"] == 0 and intact
    print(
        f"target submit p99 < {TARGET_SUBMIT_P99_MS:.0f} ms, 0 errors, 0 lost, 0 duplicated: "
        f"{'PASS' if ok else 'FAIL'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument(
        "--think",
        type=float,
        default=DEFAULT_THINK_S,
        help="mean think time (s) between a worker's page and its submit; 0: saturation",
    )
    parser.add_argument(
        "--nice", type=int, default=10, help="niceness of the load generator and the emulator"
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--api-processes", type=int, default=2)
    parser.add_argument("--hits", type=int, default=300, help="HITs published (9 slots each)")
    parser.add_argument("--questions", type=int, default=30, help="questions per HIT")
    parser.add_argument("--runs", choices=["normal", "kill", "both"], default="both")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = []
    for kill in {"normal": [False], "kill": [True], "both": [False, True]}[args.runs]:
        if kill and args.api_processes < 2:
            parser.error("the kill run needs --api-processes >= 2")
        print(f"run {'kill' if kill else 'normal'}:", flush=True)
        r = one_run(args, kill)
        report(r)
        results.append(r)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
