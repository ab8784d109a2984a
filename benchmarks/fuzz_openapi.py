"""Schemathesis over the whole OpenAPI schema against a real server, with a valid admin token.

Starts the MTurk emulator (``frtrain mturk-local``, so publishing reaches a marketplace) and the
API (uvicorn, real HTTP) on a fresh database, seeds one project with examples, answers, gold and
an export (so generated ids hit real rows too), then runs

    schemathesis run <api>/openapi.json --checks all --max-examples N -H "Authorization: ..."

and prints its summary. Exit status: schemathesis's (0: no failures). benchmarks/schemathesis.toml
lists the operations whose 422s come from rules OpenAPI cannot state (file contents, cross-field
rules), with the reason.

    .venv/bin/python benchmarks/fuzz_openapi.py                      # SQLite temp file, N=30
    .venv/bin/python benchmarks/fuzz_openapi.py --database-url \\
        postgresql+psycopg://postgres@127.0.0.1:5432/test --max-examples 50   # private schema
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from job_status_latency import database, free_port  # noqa: E402

from app.core.db import make_engine, make_session_factory  # noqa: E402
from app.core.migrate import upgrade  # noqa: E402
from app.services.auth import create_token  # noqa: E402

EXAMPLES = b"example_id,age,sex\ng1,20,F\ng2,30,M\ng3,40,F\ne1,50,M\ne2,60,F\n"
ANSWERS = b"example_id,worker_id,value\ng1,w1,4\ng2,w1,1\ne1,w1,3\ne1,w2,2\ne2,w2,4\n"


def _wait(url: str) -> None:
    for _ in range(300):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _seed(base: str, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30) as client:
        pid = client.post(
            "/projects",
            json={"name": "fuzz", "question": "Will this person reoffend?", "gold_per_hit": 1,
                  "questions_per_hit": 3, "sensitive_column": "sex"},
        ).json()["id"]  # fmt: skip
        client.post(f"/projects/{pid}/examples", files={"file": ("x.csv", EXAMPLES)})
        client.post(f"/projects/{pid}/answers/import", files={"file": ("a.csv", ANSWERS)})
        client.post(f"/projects/{pid}/gold", json=[{"example_id": "g1", "label": 1}])
        client.post(f"/projects/{pid}/exports").raise_for_status()
        client.post(f"/projects/{pid}/hits/publish", json={}).raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="to schemathesis")
    args = parser.parse_args()

    with database(args.database_url) as url, tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(url)
        with engine.begin() as conn:
            upgrade(conn)
        with make_session_factory(engine)() as session:
            token = create_token(session=session, name="fuzz").token
        engine.dispose()
        emu_port, api_port = free_port(), free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "ARTIFACT_DIR": str(Path(tmp) / "artifacts"),
            "ENVIRONMENT": "test",
            "MTURK_ENDPOINT_URL": f"http://127.0.0.1:{emu_port}",
            "AWS_ACCESS_KEY_ID": "fuzz",
            "AWS_SECRET_ACCESS_KEY": "fuzz",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        }
        frtrain = [sys.executable, "-m", "app.cli"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        emulator = subprocess.Popen(
            [*frtrain, "mturk-local", "--port", str(emu_port),
             "--state", str(Path(tmp) / "emu.sqlite")],
            cwd=ROOT, env=env, **quiet,
        )  # fmt: skip
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
             "--port", str(api_port), "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{api_port}"
            _wait(f"{base}/healthz")
            _wait(f"http://127.0.0.1:{emu_port}/")
            headers = {"Authorization": f"Bearer {token}"}
            _seed(base, headers)
            command = [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file", str(ROOT / "benchmarks" / "schemathesis.toml"), "run",
                f"{base}/openapi.json", "--checks", "all",
                "--max-examples", str(args.max_examples), "--seed", str(args.seed),
                "--workers", args.workers, "--no-color",
                "-H", f"Authorization: Bearer {token}",
                "--request-timeout", "60", *args.extra,
            ]  # fmt: skip
            print("$ " + " ".join(c if not c.startswith("Authorization") else "Authorization: ***"
                                  for c in command), flush=True)  # fmt: skip
            return subprocess.run(command, cwd=tmp, check=False).returncode
        finally:
            for proc in (api, emulator):
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
