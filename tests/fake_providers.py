"""Local fakes of the SMS providers, over real HTTP on 127.0.0.1, checking what each
provider's documentation requires:

- Twilio, `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: HTTP basic auth with the
  Account SID and Auth Token, a form with `To` (E.164), `From` (a number or an alphanumeric
  sender of at most 11 letters and digits) and `Body`; answers 201 with `sid` and `status`,
  errors as `{"code", "message", "more_info", "status"}`.
- Brevo, `POST /v3/transactionalSMS/send` (the deprecated `/v3/transactionalSMS/sms` answers
  404 here): header `api-key`, JSON `sender` (3 to 11 letters and digits), `recipient` (6 to 15
  digits, optional `+`), `content`; answers 201 with `messageId`.

Faults are queued (`fail_next("429")`, `"500"`, `"400:21211"`, `"hang"`: accept the message,
then never answer, as a provider that took it and went silent), or drawn at random
(`random_faults`); `rate_per_second` answers 429 with `Retry-After` beyond it. `accepted` holds
every message taken, so that tests count what really left.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

SID = "AC" + "0" * 32
TOKEN = "twilio-auth-token"
BREVO_KEY = "xkeysib-test-key"
_ALNUM = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass
class Taken:
    provider: str
    message_id: str
    to: str
    sender: str
    body: str
    extra: dict[str, Any] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class FakeProviders:
    def __init__(self) -> None:
        self.accepted: list[Taken] = []
        self.requests: list[tuple[str, str]] = []  # (path, problem or "")
        self.problems: list[str] = []
        self._faults: deque[str] = deque()
        self.random_faults: float = 0.0
        self.rate_per_second: float | None = None
        self._window: deque[float] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.rng = random.Random(7)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner._handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeProviders:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, *faults: str) -> None:
        self._faults.extend(faults)

    # --- handling --------------------------------------------------------------------------

    def _fault(self) -> str | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if self.rate_per_second is not None:
                now = time.monotonic()
                while self._window and now - self._window[0] >= 1.0:
                    self._window.popleft()
                if len(self._window) >= self.rate_per_second:
                    return "429"
                self._window.append(now)
            if self.random_faults and self.rng.random() < self.random_faults:
                return self.rng.choice(["429", "500", "503"])
        return None

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], **headers: str
    ) -> None:
        raw = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(raw)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        raw = handler.rfile.read(length)
        path = handler.path
        if path == f"/2010-04-01/Accounts/{SID}/Messages.json":
            self._twilio(handler, raw)
        elif path == "/v3/transactionalSMS/send":
            self._brevo(handler, raw)
        else:
            self.requests.append((path, "unknown endpoint"))
            self._send(handler, 404, {"code": "not_found", "message": "unknown endpoint"})

    def _problem(
        self,
        handler: BaseHTTPRequestHandler,
        path: str,
        problem: str,
        status: int,
        body: dict[str, Any],
    ) -> None:
        self.problems.append(problem)
        self.requests.append((path, problem))
        self._send(handler, status, body)

    def _answer_fault(self, handler: BaseHTTPRequestHandler, fault: str, twilio: bool) -> bool:
        """Answer a queued or drawn fault; False for "hang" (the caller accepts, then hangs)."""
        if fault == "hang":
            return False
        status, _, code = fault.partition(":")
        body: dict[str, Any] = (
            {
                "code": int(code or 20429 if status == "429" else code or 20500),
                "message": "fault",
                "status": int(status),
            }
            if twilio
            else {
                "code": code or ("too_many_requests" if status == "429" else "server_error"),
                "message": "fault",
            }
        )
        headers = {"Retry-After": "0"} if status == "429" else {}
        self._send(handler, int(status), body, **headers)
        return True

    def _take(self, taken: Taken) -> None:
        with self._lock:
            self.accepted.append(taken)

    def _hang(self) -> None:
        self._release.wait(timeout=30)

    def _twilio(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        path = "twilio"
        auth = handler.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if auth != expected:
            self._problem(
                handler,
                path,
                "auth",
                401,
                {"code": 20003, "message": "Authenticate", "status": 401},
            )
            return
        form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        for name in ("To", "From", "Body"):
            if not form.get(name):
                self._problem(
                    handler,
                    path,
                    f"missing {name}",
                    400,
                    {"code": 21604, "message": f"{name} required", "status": 400},
                )
                return
        if not _E164.match(form["To"]):
            self._problem(
                handler,
                path,
                "To not E.164",
                400,
                {"code": 21211, "message": "invalid To", "status": 400},
            )
            return
        if not (_E164.match(form["From"]) or _ALNUM.match(form["From"])):
            self._problem(
                handler,
                path,
                "bad From",
                400,
                {"code": 21212, "message": "invalid From", "status": 400},
            )
            return
        fault = self._fault()
        if fault is not None and self._answer_fault(handler, fault, twilio=True):
            self.requests.append((path, fault))
            return
        sid = f"SM{next(self._ids):032d}"
        self._take(
            Taken(
                "twilio",
                sid,
                form["To"],
                form["From"],
                form["Body"],
                {"StatusCallback": form.get("StatusCallback")},
            )
        )
        self.requests.append((path, ""))
        if fault == "hang":
            self._hang()
            return
        self._send(
            handler, 201, {"sid": sid, "status": "queued", "to": form["To"], "body": form["Body"]}
        )

    def _brevo(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        path = "brevo"
        if handler.headers.get("api-key") != BREVO_KEY:
            self._problem(
                handler, path, "auth", 401, {"code": "unauthorized", "message": "Key not found"}
            )
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._problem(
                handler, path, "not json", 400, {"code": "bad_request", "message": "json"}
            )
            return
        sender, recipient, content = (
            body.get("sender", ""),
            body.get("recipient", ""),
            body.get("content", ""),
        )
        if not (3 <= len(sender) <= 11 and _ALNUM.match(sender)):
            self._problem(
                handler, path, "bad sender", 400, {"code": "invalid_parameter", "message": "sender"}
            )
            return
        if not re.fullmatch(r"\+?\d{6,15}", recipient) or not content:
            self._problem(
                handler,
                path,
                "bad recipient",
                400,
                {"code": "invalid_parameter", "message": "recipient"},
            )
            return
        fault = self._fault()
        if fault is not None and self._answer_fault(handler, fault, twilio=False):
            self.requests.append((path, fault))
            return
        message_id = next(self._ids)
        self._take(
            Taken(
                "brevo",
                str(message_id),
                recipient,
                sender,
                content,
                {k: body.get(k) for k in ("type", "tag", "webUrl", "unicodeEnabled")},
            )
        )
        self.requests.append((path, ""))
        if fault == "hang":
            self._hang()
            return
        self._send(handler, 201, {"messageId": message_id})
