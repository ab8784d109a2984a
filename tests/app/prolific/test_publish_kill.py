"""A Prolific publish killed with SIGKILL, then restarted, ends with exactly the intended study,
created once and published once: killed while the create call is in flight (Prolific creates the
draft, the reply is lost) and killed after the draft exists but before PUBLISH. Runs a real
subprocess (`frtrain hits publish`), so the project is committed and deleted afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.models import Hit, Project, ProlificStudy
from app.prolific.emulator import ProlificEmulator
from app.services import publishing
from tests.app.hits.conftest import make_project
from tests.app.prolific.conftest import api

ROOT = Path(__file__).resolve().parents[3]
KILL_AT = {"create": "POST /studies/", "publish": "POST /studies/{id}/transition/"}


@pytest.mark.parametrize("stage", ["create", "publish"])
def test_sigkill_then_restart_ends_with_exactly_the_study(
    db_url: str, pemu: ProlificEmulator, psettings: Settings, stage: str
) -> None:
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    with factory() as session:
        pid = make_project(session, provider="prolific", n_quiz=0, quiz_per_hit=0)
    proc = None
    op = KILL_AT[stage]
    try:
        pemu.faults.set(delay_seconds=1.5, operations=[op])
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "PROLIFIC_API_URL": pemu.api_url,
            "PROLIFIC_API_TOKEN": pemu.token,
            "PUBLIC_BASE_URL": psettings.public_base_url,
            "SECRET_KEY": psettings.secret_key,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "hits", "publish", "--project", str(pid)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 90
        while pemu.calls[op] < 1:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the publish never got going"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # the call is in flight: its reply will be lost
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        time.sleep(2.0)  # the emulator finishes the request the dead client sent
        pemu.faults.clear()
        with api(pemu) as c:
            before = c.get("studies/").json()["results"]
        assert len(before) == 1  # Prolific made the draft; we never heard back
        assert before[0]["status"] == ("UNPUBLISHED" if stage == "create" else "ACTIVE")
        with factory() as session:
            row = session.scalar(select(ProlificStudy).where(ProlificStudy.project_id == pid))
            assert row is not None and row.state in ("intent", "created")
        with factory() as session:  # the restart
            publishing.publish_batch(session=session, settings=psettings, project_id=pid)
        with factory() as session:
            row = session.scalar(select(ProlificStudy).where(ProlificStudy.project_id == pid))
            hits = list(session.scalars(select(Hit).where(Hit.project_id == pid)))
            assert row is not None and row.state == "published"
            assert {h.state for h in hits} == {"published"}
        with api(pemu) as c:
            after = c.get("studies/").json()["results"]
            ws = c.get("workspaces/").json()["results"][0]["id"]
            balance = c.get(f"workspaces/{ws}/balance/").json()
        assert [s["id"] for s in after] == [row.study_id]
        assert after[0]["status"] == "ACTIVE"
        # Published once: exactly one study's cost is reserved.
        assert balance["total_balance"] - balance["available_balance"] == after[0]["total_cost"]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        with factory() as session:
            session.execute(delete(Project).where(Project.id == pid))
            session.commit()
        engine.dispose()
