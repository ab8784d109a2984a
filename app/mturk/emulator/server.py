"""The emulator's HTTP server and the Python handle tests and the demo use.

Routes (one port):

* ``POST /`` – MTurk's requester API (JSON 1.1, ``X-Amz-Target``), fault injection applied;
* ``POST /mturk/externalSubmit`` – the worker's form post (urlencoded; ``assignmentId`` required);
* ``GET /mturk/preview?hitId=…[&workerId=…]`` and ``GET /mturk/frame?assignmentId=…`` – HTML
  pages holding the task iframe (preview has ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE``);
* ``/_emu/…`` – JSON control surface, clearly not MTurk:
  ``POST /_emu/workers/{wid}/accept {"hitId"}`` → ``{assignmentId, frameUrl, …}``,
  ``POST /_emu/workers/{wid}/profile {...}``, ``POST /_emu/assignments/{aid}/return`` and
  ``/abandon``, ``GET /_emu/hits/{hid}/preview[?workerId=]``, ``GET|POST /_emu/clock``
  (``{"advance": seconds}``), ``GET|POST|DELETE /_emu/faults``, ``GET /_emu/state``,
  ``GET /_emu/health``. Errors: ``{"error": code, "message": …}`` with a 4xx status.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from app.mturk.emulator.clock import Clock
from app.mturk.emulator.faults import Faults
from app.mturk.emulator.protocol import (
    CONTENT_TYPE,
    THROTTLED,
    EmuError,
    check_authorization,
    parse_target,
    service_fault,
)
from app.mturk.emulator.service import Accounting, EmulatorService, WorkerError
from app.mturk.emulator.store import Store

log = logging.getLogger(__name__)
MAX_BODY = 2 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Many simulated workers connect at once (benchmarks/task_load.py); the default backlog of 5
    # drops their SYNs and stalls them for a second each.
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid 40 ms stalls
    server: _Server
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:  # quiet; use logging at debug
        log.debug("%s " + format, self.address_string(), *args)

    # -- plumbing --------------------------------------------------------------------------------
    @property
    def emu(self) -> Emulator:
        return self.server.emulator

    def _body(self) -> bytes:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise WorkerError(400, "bad_length", "invalid Content-Length") from exc
        if n > MAX_BODY:
            raise WorkerError(413, "too_large", f"request body over {MAX_BODY} bytes")
        return self.rfile.read(n) if n else b""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _html(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/html; charset=utf-8")

    # -- verbs -----------------------------------------------------------------------------------
    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        try:
            body = self._body()
            if path == "/":
                self._requester(body)
            elif path == "/mturk/externalSubmit":
                self._external_submit(body)
            elif path.startswith("/_emu/"):
                self._control("POST", path, body)
            else:
                self._json(404, {"error": "not_found", "message": f"no route POST {path}"})
        except WorkerError as exc:
            self._worker_error(path, exc)
        except Exception:
            log.exception("emulator error in POST %s", path)
            self._worker_error(path, WorkerError(500, "internal_error", "internal emulator error"))

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            if parts.path == "/mturk/preview":
                self._preview_page(query)
            elif parts.path == "/mturk/frame":
                self._frame_page(query)
            elif parts.path.startswith("/_emu/"):
                self._control("GET", parts.path, b"", query)
            else:
                self._json(404, {"error": "not_found", "message": f"no route GET {parts.path}"})
        except WorkerError as exc:
            self._worker_error(parts.path, exc)
        except Exception:
            log.exception("emulator error in GET %s", parts.path)
            self._worker_error(parts.path, WorkerError(500, "internal_error", "internal error"))

    def do_DELETE(self) -> None:
        path = urlsplit(self.path).path
        try:
            self._control("DELETE", path, self._body())
        except WorkerError as exc:
            self._worker_error(path, exc)

    def _worker_error(self, path: str, exc: WorkerError) -> None:
        if path.startswith("/mturk/"):
            msg = html.escape(exc.message)
            page = f"<!doctype html><title>Error</title><h1>{exc.status}: {msg}</h1>"
            self._html(exc.status, page)
        else:
            self._json(exc.status, {"error": exc.code, "message": exc.message})

    # -- requester API ---------------------------------------------------------------------------
    def _requester(self, body: bytes) -> None:
        request_id = str(uuid.uuid4())
        op = "?"
        try:
            check_authorization(self.headers.get("Authorization"))
            op = parse_target(self.headers.get("X-Amz-Target"))
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype != CONTENT_TYPE:
                raise EmuError(
                    "SerializationException", f"Content-Type must be {CONTENT_TYPE}", coral=True
                )
            try:
                params = json.loads(body or b"{}")
            except json.JSONDecodeError as exc:
                raise EmuError(
                    "SerializationException", f"Malformed JSON: {exc}", coral=True
                ) from exc
            self.emu.count_call(op)
            decision = self.emu.faults.decide(op)
            if decision.delay:
                time.sleep(decision.delay)
            if decision.throttle:
                raise THROTTLED
            result = self.emu.service.handle(op, params)
            if decision.after_commit:  # the change is committed; only the answer is lost
                raise service_fault(status=self.emu.faults.config.fault_status)
        except EmuError as exc:
            self.emu.count_error(op, exc.turk_error_code or exc.type)
            self._send(
                exc.status,
                json.dumps(exc.body).encode(),
                CONTENT_TYPE,
                {"x-amzn-RequestId": request_id},
            )
            return
        except Exception:  # a bug in the emulator: answer like MTurk's ServiceFault
            log.exception("emulator error in %s", op)
            fault = service_fault("Internal emulator error")
            self._send(
                500, json.dumps(fault.body).encode(), CONTENT_TYPE, {"x-amzn-RequestId": request_id}
            )
            return
        self._send(200, json.dumps(result).encode(), CONTENT_TYPE, {"x-amzn-RequestId": request_id})

    # -- worker pages ----------------------------------------------------------------------------
    def _external_submit(self, body: bytes) -> None:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/x-www-form-urlencoded":
            raise WorkerError(
                415, "bad_content_type", "externalSubmit takes an urlencoded form post"
            )
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as exc:
            raise WorkerError(400, "bad_encoding", "the form body is not UTF-8") from exc
        out = self.emu.service.worker_submit(pairs)
        self._html(
            200,
            "<!doctype html><title>HIT submitted</title>"
            f"<h1>Thank you. Assignment {html.escape(out['assignmentId'])} was submitted.</h1>",
        )

    def _iframe(self, title: str, url: str | None) -> None:
        if url is None:
            raise WorkerError(404, "no_external_question", "this HIT has no ExternalQuestion")
        self._html(
            200,
            f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
            f'<iframe id="task" title="task" src="{html.escape(url)}" width="100%" '
            'height="800"></iframe>',
        )

    def _preview_page(self, q: dict[str, str]) -> None:
        url = self.emu.service.worker_preview(q.get("hitId", ""), q.get("workerId"))
        self._iframe("HIT preview", url)

    def _frame_page(self, q: dict[str, str]) -> None:
        aid = q.get("assignmentId", "")
        svc = self.emu.service
        with svc.lock:
            a = svc.store["assignments"].get(aid)
            if a is None:
                raise WorkerError(404, "assignment_not_found", f"Assignment {aid} does not exist")
            hit = svc.store["hits"][a["HITId"]]
            url = svc.frame_url(hit, assignment_id=aid, worker_id=a["WorkerId"])
        self._iframe("HIT", url)

    # -- control surface -------------------------------------------------------------------------
    def _control(
        self, method: str, path: str, body: bytes, query: dict[str, str] | None = None
    ) -> None:
        query = query or {}
        try:
            data = json.loads(body) if body else {}
        except json.JSONDecodeError as exc:
            raise WorkerError(400, "bad_json", f"malformed JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise WorkerError(400, "bad_json", "the body must be a JSON object")
        emu = self.emu
        parts = path.strip("/").split("/")[1:]  # drop "_emu"
        route = (method, *[p if i % 2 == 0 else "*" for i, p in enumerate(parts)])
        try:
            if route == ("GET", "health"):
                return self._json(200, {"ok": True, "operations": emu.service.operations})
            if route == ("GET", "state"):
                return self._json(200, emu.service.summary())
            if route == ("GET", "clock"):
                return self._json(200, {"now": emu.clock.now(), "offset": emu.clock.offset})
            if route == ("POST", "clock"):
                now = emu.clock.advance(float(data.get("advance", 0)))
                return self._json(200, {"now": now, "offset": emu.clock.offset})
            if route == ("GET", "faults"):
                return self._json(
                    200, {"config": emu.faults.config.to_json(), "stats": dict(emu.faults.stats)}
                )
            if route == ("POST", "faults"):
                cfg = emu.faults.set(**data)
                return self._json(200, {"config": cfg.to_json()})
            if route == ("DELETE", "faults"):
                emu.faults.clear()
                return self._json(200, {"config": emu.faults.config.to_json()})
            if route == ("POST", "workers", "*", "accept"):
                hit_id = str(data.get("hitId", ""))
                return self._json(200, emu.service.worker_accept(hit_id, parts[1]))
            if route == ("POST", "workers", "*", "profile"):
                return self._json(200, emu.service.set_worker_profile(parts[1], **data))
            if route == ("POST", "assignments", "*", "return"):
                emu.service.worker_return(parts[1], data.get("workerId"))
                return self._json(200, {"assignmentId": parts[1], "status": "returned"})
            if route == ("POST", "assignments", "*", "abandon"):
                emu.service.worker_abandon(parts[1], data.get("workerId"))
                return self._json(200, {"assignmentId": parts[1], "status": "abandoned"})
            if route == ("GET", "hits", "*", "preview"):
                url = emu.service.worker_preview(parts[1], query.get("workerId"))
                return self._json(200, {"hitId": parts[1], "frameUrl": url})
        except (TypeError, ValueError) as exc:
            raise WorkerError(400, "bad_request", str(exc)) from exc
        raise WorkerError(404, "not_found", f"no control route {method} {path}")


class Emulator:
    """A running emulator. ``url`` is the base URL (requester endpoint and ``turkSubmitTo``).

    Attributes: ``clock`` (:class:`Clock`), ``faults`` (:class:`Faults`), ``service``
    (:class:`EmulatorService`), ``calls`` (requester calls received per operation, retries
    included), ``errors`` (errors answered per (operation, code)).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: str | Path | None = None,
        accounting: Accounting = "sandbox",
        initial_balance: str = "10000.00",
        allow_http_questions: bool = False,
    ) -> None:
        self.clock = Clock()
        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        self.errors: Counter[tuple[str, str]] = Counter()
        self._count_lock = threading.Lock()
        self.store = Store(state_path)
        self._httpd = _Server((host, port), self)
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self.service = EmulatorService(
            self.store,
            self.clock,
            accounting=accounting,
            initial_balance=initial_balance,
            allow_http_questions=allow_http_questions,
            base_url=lambda: self.url,
            list_lag_seconds=lambda: self.faults.config.list_lag_seconds,
            create_lag_seconds=lambda: self.faults.config.create_lag_seconds,
        )
        self._thread: threading.Thread | None = None
        self._closed = False

    def count_call(self, op: str) -> None:
        with self._count_lock:
            self.calls[op] += 1

    def count_error(self, op: str, code: str) -> None:
        with self._count_lock:
            self.errors[(op, code)] += 1

    # Worker-side conveniences (the same calls the /_emu endpoints make).
    def worker_accept(self, hit_id: str, worker_id: str) -> dict[str, Any]:
        return self.service.worker_accept(hit_id, worker_id)

    def worker_return(self, assignment_id: str, worker_id: str | None = None) -> None:
        self.service.worker_return(assignment_id, worker_id)

    def worker_abandon(self, assignment_id: str, worker_id: str | None = None) -> None:
        self.service.worker_abandon(assignment_id, worker_id)

    def worker_submit(
        self,
        assignment_id: str,
        answers: dict[str, str] | list[tuple[str, str]],
        worker_id: str | None = None,
    ) -> dict[str, Any]:
        pairs = list(answers.items()) if isinstance(answers, dict) else list(answers)
        head = [("assignmentId", assignment_id)] + ([("workerId", worker_id)] if worker_id else [])
        return self.service.worker_submit(head + pairs)

    def preview_url(self, hit_id: str, worker_id: str | None = None) -> str | None:
        return self.service.worker_preview(hit_id, worker_id)

    def set_worker_profile(self, worker_id: str, **profile: Any) -> dict[str, Any]:
        return self.service.set_worker_profile(worker_id, **profile)

    @property
    def submit_url(self) -> str:
        return f"{self.url}/mturk/externalSubmit"

    def start(self) -> Emulator:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"mturk-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block serving requests (the CLI); returns after :meth:`stop` or KeyboardInterrupt."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving and close the state file; safe to call twice or before start()."""
        if self._closed:
            return
        if self._thread is not None:  # shutdown() would wait forever if serve_forever never ran
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._closed = True
        # Close idle keep-alive connections so handler threads end promptly.
        with self._httpd.sockets_lock:
            for sock in list(self._httpd.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self.store.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def run_emulator(**options: Any) -> Iterator[Emulator]:
    """Start an :class:`Emulator` in a background thread and stop it on exit.

    ``options`` are :class:`Emulator`'s: ``host``, ``port`` (0, the default, picks a free port),
    ``state_path`` (a SQLite file kept across restarts), ``accounting`` (``sandbox`` |
    ``production``), ``initial_balance`` and ``allow_http_questions``.
    """
    emu = Emulator(**options).start()
    try:
        yield emu
    finally:
        emu.stop()
