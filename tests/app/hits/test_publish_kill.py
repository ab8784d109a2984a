"""A `frtrain hits publish` killed with SIGKILL half-way, then restarted, ends with exactly the
intended HITs (no duplicates, none missing). Runs a real subprocess, so the project is committed
in the test database and deleted afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import delete

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.models import Project
from app.mturk.client import MTurkClient
from app.mturk.emulator import Emulator
from app.services import publishing
from tests.app.hits.conftest import make_project, mturk_hits, project_hits

ROOT = Path(__file__).resolve().parents[3]


def test_sigkill_half_way_then_restart(
    db_url: str, emu: Emulator, hsettings: Settings, mt: MTurkClient
) -> None:
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    with factory() as session:
        pid = make_project(session, n_examples=76, n_quiz=0, quiz_per_hit=0)  # 9 HITs
    proc = None
    try:
        # Slow CreateHIT down so the kill lands in the middle of the batch.
        emu.faults.set(delay_seconds=0.4, operations=["CreateHITWithHITType"])
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "MTURK_ENDPOINT_URL": emu.url,
            "PUBLIC_BASE_URL": hsettings.public_base_url,
            "SECRET_KEY": hsettings.secret_key,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "hits", "publish", "--project", str(pid)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 90
        while len(mturk_hits(mt)) < 3:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the publish never got going"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        emu.faults.clear()
        with factory() as session:
            states = [h.state for h in project_hits(session, pid)]
        assert len(states) == 9  # every intent was written before MTurk was called
        assert "intent" in states
        assert len(mturk_hits(mt)) < 9
        with factory() as session:  # the restart
            publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
        with factory() as session:
            hits = project_hits(session, pid)
            assert [h.state for h in hits] == ["published"] * 9
            on_mturk = mturk_hits(mt)
            assert len(on_mturk) == 9
            assert sorted(h["HITId"] for h in on_mturk) == sorted(str(h.mturk_hit_id) for h in hits)
            assert sorted(h["RequesterAnnotation"] for h in on_mturk) == sorted(
                h.annotation for h in hits
            )
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        with factory() as session:
            session.execute(delete(Project).where(Project.id == pid))
            session.commit()
        engine.dispose()
