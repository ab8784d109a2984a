"""A local emulator of Prolific's researcher API v1 and of the participant's side of a study.

It follows docs/PROLIFIC.md §8 ("What the emulator must reproduce"): ``Token`` auth (anything else
is a
401), paths with or without the trailing slash and no redirects, Prolific's nested error shape
(the flat one on list/create study and bulk-approve, or forced either way), the create-study
validation of §2, the study and submission state machines, places and eligibility filters, a
virtual clock (reservation lapse, timeouts, 21-day auto-approval), the completion redirect
(``GET /submissions/complete?cc=``, landing after a configurable delay), bonus create + pay (a
second pay pays again), participant groups, both pagination styles, a wallet with fees and VAT,
persistent state and fault injection.

Control surface (``/_emu/…``, not Prolific): ``POST /_emu/participants {"n"}`` → new 24-hex ids;
``GET /_emu/join/{study}?participant=PID`` (a browser: sets the participant cookie and redirects to
the study URL with ``PROLIFIC_PID``, ``STUDY_ID``, ``SESSION_ID`` filled in) or ``POST
/_emu/studies/{study}/join {"participant_id"}`` → ``{submission_id, url}``; ``POST
/_emu/submissions/{id}/return``; ``GET|POST /_emu/clock {"advance"}``; ``GET|POST|DELETE
/_emu/faults``; ``GET|POST /_emu/config``; ``GET /_emu/state``; ``GET /_emu/health``.

Not emulated: webhooks, messages, Taskflow, filter sets, test participants.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.mturk.emulator.clock import Clock
from app.mturk.emulator.faults import Faults
from app.mturk.emulator.store import Store
from app.prolific.emulator.rules import API, TABLES, ApiError, EmuConfig, new_id
from app.prolific.emulator.server import _Server
from app.prolific.emulator.service import ProlificService

__all__ = [
    "ApiError",
    "EmuConfig",
    "ProlificEmulator",
    "ProlificService",
    "new_id",
    "run_prolific_emulator",
]


class ProlificEmulator:
    """A running emulator; ``url`` is the base (``PROLIFIC_API_URL = url + "/api/v1"``)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: str | Path | None = None,
        tokens: dict[str, str] | None = None,
        initial_balance_minor: int = 10_000_000,
    ) -> None:
        self.clock = Clock()
        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self.store = Store(state_path, tables=TABLES)
        self.service = ProlificService(
            self.store, self.clock, tokens=tokens, initial_balance_minor=initial_balance_minor
        )
        self._httpd = _Server((host, port), self)
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def api_url(self) -> str:
        return self.url + API

    @property
    def token(self) -> str:
        return next(t[6:] for t in self.store["meta"] if t.startswith("token:"))

    def count_call(self, op: str) -> None:
        with self._count_lock:
            self.calls[op] += 1

    def join(self, study_id: str, participant_id: str) -> dict[str, Any]:
        with self.service.lock:
            out = self.service.join(study_id, participant_id)
            self.store.commit()
            return out

    def new_participants(self, n: int = 1) -> list[str]:
        with self.service.lock:
            out = self.service.new_participants(n)
            self.store.commit()
            return out

    def start(self) -> ProlificEmulator:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"prolific-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._close()

    def stop(self) -> None:
        if self._closed:
            return
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._httpd.socket.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self.store.close()


@contextlib.contextmanager
def run_prolific_emulator(**options: Any) -> Iterator[ProlificEmulator]:
    """Start a :class:`ProlificEmulator` in a background thread; stop it on exit."""
    emu = ProlificEmulator(**options).start()
    try:
        yield emu
    finally:
        emu.stop()
