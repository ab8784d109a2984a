"""The emulator's HTTP layer: routing, error shapes, pagination, faults, control surface."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from app.prolific.emulator.rules import (
    API,
    HOLDS_PLACE,
    MAX_BODY,
    TABLES,
    ApiError,
    log,
    new_id,
)
from app.prolific.emulator.service import ProlificService  # noqa: F401


# -- HTTP ------------------------------------------------------------------------------------
def _page_offset(q: dict[str, str], style: str) -> tuple[int, int]:
    try:
        if style == "page":
            size = int(q.get("page_size", 20))
            page = int(q.get("page", 1))
            if size < 1 or page < 1:
                raise ValueError
            return (page - 1) * size, size
        limit = int(q.get("limit", 20))
        offset = int(q.get("offset", 0))
        if limit < 1 or offset < 0:
            raise ValueError
        return offset, limit
    except ValueError:
        raise ApiError(400, {"page": ["Invalid page or limit."]}) from None


def paginate(
    base: str, path: str, q: dict[str, str], rows: list[Any], style: str
) -> dict[str, Any]:
    """Prolific's page body: ``results``, ``_links.{next,previous}.href`` and ``meta.count``."""
    start, size = _page_offset(q, style)
    chunk = rows[start : start + size]

    def link(at: int) -> dict[str, str | None]:
        if at < 0 or at >= len(rows) or (at == start):
            return {"href": None}
        extra = {k: v for k, v in q.items() if k not in ("page", "page_size", "limit", "offset")}
        if style == "page":
            extra |= {"page": str(at // size + 1), "page_size": str(size)}
        else:
            extra |= {"limit": str(size), "offset": str(at)}
        query = "&".join(f"{k}={quote(v)}" for k, v in extra.items())
        return {"href": f"{base}{path}?{query}"}

    nxt = start + size
    prev = start - size if start > 0 else -1
    return {
        "results": chunk,
        "_links": {
            "self": {"href": f"{base}{path}"},
            "next": link(nxt) if nxt < len(rows) else {"href": None},
            "previous": link(max(prev, 0)) if prev >= 0 or start > 0 else {"href": None},
        },
        "meta": {"count": len(rows)},
    }


FLAT_ERROR_OPS = {"POST /studies/", "GET /studies/", "POST /submissions/bulk-approve/"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], emulator: Any) -> None:
        self.emulator = emulator
        super().__init__(addr, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    @property
    def emu(self) -> Any:
        return self.server.emulator

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = b"" if status == 204 else json.dumps(obj).encode()
        self._send(status, body, "application/json", headers)

    def _error(self, exc: ApiError, op: str) -> None:
        shape = self.emu.service.config.error_shape
        flat = shape == "flat" or (shape == "auto" and op in FLAT_ERROR_OPS)
        inner = {
            "status": exc.status,
            "error_code": exc.error_code,
            "title": exc.title,
            "detail": exc.detail,
        }
        self._json(exc.status, inner if flat else {"error": inner})

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(400, f"Request body over {MAX_BODY} bytes.")
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "JSON parse error.") from None

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        op = f"{method} {path}"
        try:
            body = self._body() if method in ("POST", "PATCH", "DELETE") else {}
            if path.startswith("/_emu/"):
                self._control(method, path, q, body)
            elif path == "/submissions/complete/":
                self._participant_complete(q)
            elif path.startswith(API + "/"):
                self._api(method, path[len(API) :], q, body)
            else:
                raise ApiError(404, "Not found.")
        except ApiError as exc:
            self._error(exc, op.replace(API, "", 1))
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- participant side --------------------------------------------------------------------
    def _cookie_pid(self) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "prolific_pid" and v:
                return v
        return None

    def _participant_complete(self, q: dict[str, str]) -> None:
        svc = self.emu.service
        with svc.lock:
            svc.tick()
            try:
                sub = svc.complete(q.get("participant") or self._cookie_pid(), q.get("cc"))
                svc.store.commit()
            except ApiError as exc:
                svc.store.commit()
                page = f"<h1>Cannot complete</h1><p>{exc.detail}</p>"
                self._send(exc.status, page.encode(), "text/html; charset=utf-8")
                return
        code = sub.get("entered_code") or "NOCODE"
        page = (
            "<!doctype html><title>Submission complete - Prolific</title>"
            f'<h1 id="complete">Submission complete</h1><p>Completion code: <b id="code">{code}'
            f'</b></p><p id="submission">{sub["id"]}</p>'
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")

    # -- control -----------------------------------------------------------------------------
    def _control(self, method: str, path: str, q: dict[str, str], body: Any) -> None:
        svc = self.emu.service
        seg = path.strip("/").split("/")[1:]
        with svc.lock:
            svc.tick()
            if seg == ["health"]:
                self._json(200, {"ok": True, "now": svc.stamp(svc.now())})
            elif seg == ["participants"] and method == "POST":
                n = int(body.get("n", 1)) if isinstance(body, dict) else 1
                self._json(201, {"participant_ids": svc.new_participants(max(1, min(n, 10000)))})
            elif len(seg) == 2 and seg[0] == "join" and method == "GET":
                pid = q.get("participant") or self._cookie_pid() or svc.new_participants(1)[0]
                out = svc.join(seg[1], pid)
                svc.store.commit()
                self._send(
                    302,
                    b"",
                    "text/html",
                    {
                        "Location": out["url"],
                        "Set-Cookie": f"prolific_pid={pid}; Path=/; HttpOnly",
                    },
                )
                return
            elif len(seg) == 3 and seg[0] == "studies" and seg[2] == "join" and method == "POST":
                given = body.get("participant_id") if isinstance(body, dict) else None
                self._json(201, svc.join(seg[1], str(given or "")))
            elif len(seg) == 3 and seg[0] == "submissions" and seg[2] == "return":
                self._json(200, svc.submission_view(svc.participant_return(seg[1])))
            elif seg == ["clock"]:
                if method == "POST":
                    svc.clock.advance(float(body.get("advance", 0)))
                    svc.tick()
                    svc.save_settings()
                self._json(200, {"offset": svc.clock.offset, "now": svc.stamp(svc.now())})
            elif seg == ["faults"]:
                if method == "POST":
                    self.emu.faults.set(**body)
                elif method == "DELETE":
                    self.emu.faults.clear()
                self._json(
                    200,
                    {
                        "config": self.emu.faults.config.to_json(),
                        "stats": dict(self.emu.faults.stats),
                    },
                )
            elif seg == ["config"]:
                if method == "POST":
                    for k, v in body.items():
                        if not hasattr(svc.config, k):
                            raise ApiError(400, {k: ["unknown emulator setting"]})
                        setattr(svc.config, k, v)
                    svc.save_settings()
                self._json(200, svc.config.to_json())
            elif seg == ["state"]:
                self._json(200, {t: list(svc.store[t].values()) for t in TABLES if t != "meta"})
            else:
                raise ApiError(404, "Unknown emulator control path.")
            svc.store.commit()

    # -- researcher API ----------------------------------------------------------------------
    def _api(self, method: str, path: str, q: dict[str, str], body: Any) -> None:
        emu = self.emu
        svc = emu.service
        template = re.sub(r"/[0-9a-f]{24}/", "/{id}/", path)
        op = f"{method} {template}"
        emu.count_call(op)
        decision = emu.faults.decide(op)
        if decision.delay:
            time.sleep(decision.delay)
        if decision.throttle:
            raise ApiError(429, "Request was throttled.", title="Too many requests")
        with svc.lock:
            svc.tick()
            ws = svc.workspace_for(self.headers.get("Authorization"))
            try:
                status, payload = self._route(method, path, q, body, ws)
            except ApiError:
                svc.store.commit()
                raise
            svc.store.commit()
        if decision.after_commit:
            raise ApiError(
                emu.faults.config.fault_status, "Internal server error.", title="Server error"
            )
        self._json(status, payload)

    def _route(
        self, method: str, path: str, q: dict[str, str], body: Any, ws: dict[str, Any]
    ) -> tuple[int, Any]:
        svc = self.emu.service
        base = self.emu.url + API
        seg = path.strip("/").split("/")
        n = len(seg)
        if seg == ["users", "me"] and method == "GET":
            return 200, {
                "id": ws["owner"],
                "email": "researcher@example.org",
                "current_workspace": ws["id"],
            }
        if seg == ["workspaces"] and method == "GET":
            rows = [
                {"id": w["id"], "title": w["title"], "description": w["description"]}
                for w in svc.store["workspaces"].values()
                if w["id"] == ws["id"]
            ]
            return 200, paginate(base, path, q, rows, "limit")
        if n == 3 and seg[0] == "workspaces" and seg[2] == "balance" and method == "GET":
            if seg[1] != ws["id"]:
                raise ApiError(404, "No workspace matches the given query.")
            return 200, svc.balance(ws["id"])
        if n == 3 and seg[0] == "workspaces" and seg[2] == "projects":
            if seg[1] != ws["id"]:
                raise ApiError(404, "No workspace matches the given query.")
            if method == "POST":
                title = body.get("title") if isinstance(body, dict) else None
                if not isinstance(title, str) or not title.strip():
                    raise ApiError(400, {"title": ["This field is required."]})
                project = {"id": new_id(), "title": title, "workspace": ws["id"]}
                svc.store.put("projects", project["id"], project)
                return 201, {"id": project["id"], "title": title, "workspace": ws["id"]}
            rows = [
                {"id": p["id"], "title": p["title"], "workspace": p["workspace"]}
                for p in svc.store["projects"].values()
                if p["workspace"] == ws["id"]
            ]
            return 200, paginate(base, path, q, rows, "limit")
        if n == 3 and seg[0] == "projects" and seg[2] == "studies" and method == "GET":
            project = svc._own("projects", seg[1], ws)
            rows = sorted(
                (s for s in svc.store["studies"].values() if s["project"] == project["id"]),
                key=lambda s: s["date_created"],
                reverse=q.get("ordering") == "-date_created",
            )
            return 200, paginate(
                base, path, q, [svc.study_view(s, list_row=True) for s in rows], "page"
            )
        if seg == ["studies"]:
            if method == "POST":
                return 201, svc.study_view(svc.create_study(body, ws))
            if method == "GET":
                rows = [s for s in svc.store["studies"].values() if s["workspace"] == ws["id"]]
                if q.get("state"):
                    rows = [s for s in rows if s["status"] == q["state"]]
                rows.sort(key=lambda s: s["date_created"])
                return 200, {"results": [svc.study_view(s, list_row=True) for s in rows]}
        if seg == ["study-cost-calculator"] and method == "POST":
            reward, places = body.get("reward"), body.get("total_available_places")
            if not isinstance(reward, int) or not isinstance(places, int) or places < 1:
                raise ApiError(400, {"reward": ["reward and total_available_places are integers."]})
            return 200, {"total_cost": svc.cost(reward, places)}
        if n >= 2 and seg[0] == "studies":
            study = svc._own("studies", seg[1], ws)
            if n == 2:
                if method == "GET":
                    return 200, svc.study_view(study)
                if method == "PATCH":
                    return 200, svc.study_view(svc.patch_study(study, body))
                if method == "DELETE":
                    if study["status"] != "UNPUBLISHED":
                        raise ApiError(400, "Only draft studies can be deleted.")
                    svc.store.delete("studies", study["id"])
                    return 204, None
            if seg[2:] == ["transition"] and method == "POST":
                return 200, svc.study_view(svc.transition_study(study, body))
            if seg[2:] == ["submissions"] and method == "GET":
                rows = sorted(
                    (s for s in svc.store["submissions"].values() if s["study_id"] == study["id"]),
                    key=lambda s: s["started_at"],
                )
                return 200, paginate(
                    base, path, q, [svc.submission_view(s, list_row=True) for s in rows], "limit"
                )
            if seg[2:] == ["submissions", "counts"] and method == "GET":
                counts: Counter[str] = Counter(
                    s["status"]
                    for s in svc.store["submissions"].values()
                    if s["study_id"] == study["id"]
                )
                return 200, {**counts, "TOTAL": sum(counts.values())}
            if seg[2:] == ["cost"] and method == "GET":
                subs = [
                    s for s in svc.store["submissions"].values() if s["study_id"] == study["id"]
                ]
                rewards = study["reward"] * sum(s["status"] in HOLDS_PLACE for s in subs)
                bonus = sum(
                    b["amount"] * b["paid"]
                    for b in svc.store["bonuses"].values()
                    if b["study"] == study["id"]
                )
                cur = svc.store["workspaces"][ws["id"]]["currency_code"]

                def part(amount: int) -> dict[str, Any]:
                    fees, vat = svc.split(amount)
                    return {
                        "rewards": {"amount": amount, "currency": cur},
                        "fees": {"amount": fees, "currency": cur},
                        "tax": {"amount": vat, "currency": cur},
                    }

                return 200, {"rewards": part(rewards), "bonuses": part(bonus)}
        if seg == ["submissions"] and method == "GET":
            rows = sorted(svc.store["submissions"].values(), key=lambda s: s["started_at"])
            rows = [
                s
                for s in rows
                if svc.store["studies"][s["study_id"]]["workspace"] == ws["id"]
                and (not q.get("study") or s["study_id"] == q["study"])
                and (not q.get("status") or s["status"] == q["status"])
            ]
            return 200, paginate(
                base, path, q, [svc.submission_view(s, list_row=True) for s in rows], "page"
            )
        if seg == ["submissions", "bulk-approve"] and method == "POST":
            return 200, svc.bulk_approve(body, ws)
        if seg == ["submissions", "bonus-payments"] and method == "POST":
            b = svc.create_bonus(body, ws)
            return 201, {k: b[k] for k in ("id", "study", "amount", "fees", "vat", "total_amount")}
        if n == 3 and seg[0] == "bulk-bonus-payments" and seg[2] == "pay" and method == "POST":
            svc.pay_bonus(svc._own("bonuses", seg[1], ws))
            return 202, {}
        if n >= 2 and seg[0] == "submissions":
            sub = svc.store["submissions"].get(seg[1])
            if sub is None or svc.store["studies"][sub["study_id"]]["workspace"] != ws["id"]:
                raise ApiError(404, "No submission matches the given query.")
            if n == 2 and method == "GET":
                return 200, svc.submission_view(sub)
            if seg[2:] == ["transition"] and method == "POST":
                return 200, svc.submission_view(svc.transition_submission(sub, body))
            if seg[2:] == ["request-return"] and method == "POST":
                return 200, svc.submission_view(svc.request_return(sub, body))
        if seg == ["participant-groups"]:
            if method == "POST":
                return 201, svc.group_view(svc.create_group(body, ws))
            if method == "GET":
                rows = [
                    svc.group_view(g)
                    for g in svc.store["groups"].values()
                    if g["workspace"] == ws["id"] and not g["is_deleted"]
                ]
                return 200, paginate(base, path, q, rows, "limit")
        if n >= 2 and seg[0] == "participant-groups":
            group = svc._own("groups", seg[1], ws)
            if n == 2 and method == "GET":
                return 200, svc.group_view(group)
            if n == 2 and method == "DELETE":
                group["is_deleted"] = True
                svc.store.put("groups", group["id"], group)
                return 204, None
            if seg[2:] == ["participants"]:
                members = svc.group_members(group, method, body)
                return 200, paginate(base, path, q, members, "limit")
        raise ApiError(404, f"No route {method} {path}.")
