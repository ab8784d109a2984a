"""A local MTurk requester emulator speaking MTurk's JSON 1.1 wire protocol (docs/MTURK.md §6).

Quick start::

    from app.mturk.emulator import run_emulator
    with run_emulator(allow_http_questions=True) as emu:
        # point the service at emu.url (Settings(mturk_endpoint_url=emu.url)) and use boto3
        acc = emu.worker_accept(hit_id, "A1B2C3D4E5F6G7")   # → assignmentId, frameUrl
        emu.worker_submit(acc["assignmentId"], {"q1": "3"})  # or POST …/mturk/externalSubmit
        emu.clock.advance(3600)
        emu.faults.set(throttle_rate=0.3, seed=1)

Or from the shell: ``frtrain mturk-local --port 8787 --state emu.sqlite``.
"""

from app.mturk.emulator.clock import Clock
from app.mturk.emulator.faults import FaultConfig, Faults
from app.mturk.emulator.server import Emulator, run_emulator
from app.mturk.emulator.service import (
    PREVIEW_ASSIGNMENT_ID,
    EmulatorService,
    WorkerError,
    synthetic_worker_id,
)

__all__ = [
    "PREVIEW_ASSIGNMENT_ID",
    "Clock",
    "Emulator",
    "EmulatorService",
    "FaultConfig",
    "Faults",
    "WorkerError",
    "run_emulator",
    "synthetic_worker_id",
]
