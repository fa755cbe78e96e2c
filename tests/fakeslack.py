"""A local fake of the Slack Web API (and of Socket Mode) for the test suite.

Real HTTP on 127.0.0.1, so the real `slack_sdk.WebClient` (and Bolt on top of it) is
exercised end to end::

    with FakeSlack(token="xoxb-test", users=[{"id": "U1", "email": "a@b.fr"}]) as fake:
        client = WebClient(token="xoxb-test", base_url=fake.url)
        client.chat_postMessage(channel="U1", text="hi")
        assert fake.calls_to("chat.postMessage")[0].params["text"] == "hi"
        fake.assert_valid()

Every recorded call is checked against the Slack validators in `tests/data/validators` (or
the folder given as `validators_dir`): the Web API OpenAPI document (method exists, required
parameters present) and the Block Kit JSON schemas, plus slack_sdk's own model validation.
Problems go to `fake.violations`; the server still answers the way Slack would
(`invalid_blocks`, `invalid_arguments`...).

Posted messages are kept (`fake.messages`, with their `metadata`) and read back by
`conversations.history` (newest first, `oldest`/`latest`/`inclusive`, `limit` and a cursor;
the metadata only with `include_all_metadata`, as Slack does).

Faults can be injected (`fail_next`, `rate_limit_per_channel`, `random_429`), and
`fake.socket_url` is a WebSocket server speaking enough of Socket Mode for
`slack_sdk.socket_mode.SocketModeClient` (hello, envelopes pushed by the test, acks).
"""

from __future__ import annotations

import email.parser
import email.policy
import functools
import itertools
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema  # type: ignore[import-untyped]
from slack_sdk import WebClient
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

#: The default folder of the validators (see tests/data/README.md).
VALIDATORS_DIR = Path(__file__).resolve().parent / "data" / "validators"
OPENAPI_FILE = "slack_web_openapi_v2.trimmed.json"
KNOWN_BLOCK_SCHEMA_FILE = "blockkit-known-block.schema.json"
MODAL_VIEW_SCHEMA_FILE = "blockkit-modal-view.schema.json"

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
BOT_USER_ID = "UBOT"
BOT_ID = "B1"
TEAM_ID = "T1"
APP_ID = "A1"

#: Methods whose `blocks` are Block Kit message blocks.
BLOCK_METHODS = frozenset(
    {"chat.postMessage", "chat.postEphemeral", "chat.update", "chat.scheduleMessage"}
)
#: Methods carrying a `view`.
VIEW_METHODS = frozenset({"views.open", "views.publish", "views.update", "views.push"})
#: Parameters sent as JSON strings in form bodies, decoded before recording.
JSON_PARAMS = ("blocks", "view", "attachments", "metadata")
#: Methods that accept message `metadata` ({"event_type": str, "event_payload": object}).
METADATA_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.scheduleMessage"})
#: `conversations.history`: its default and largest `limit`.
HISTORY_LIMIT = 100
HISTORY_MAX_LIMIT = 999


class _Server(ThreadingHTTPServer):
    # Slack takes many calls at once; the standard listen queue of 5 would drop connections
    # under a burst (each dropped one costs the client a 1 s retry).
    request_queue_size = 128


@dataclass
class Call:
    """One request the fake received.

    `params` are the decoded form, query or JSON parameters (the token is not among them:
    see `token`); `blocks`, `view` and `attachments` sent as JSON strings are decoded.
    `at` is `time.time()` when the request arrived. `status` and `error` describe the
    answer; `response` is the JSON body sent back.
    """

    method: str
    params: dict[str, Any]
    at: float
    authorized: bool = True
    token: str | None = None
    status: int = 200
    error: str | None = None
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    error: str
    times: int


# --------------------------------------------------------------------------- validators


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"FakeSlack needs the Slack validators: {path} is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def _type_consts(schema: Mapping[str, Any]) -> set[str]:
    """The `type` constants a (possibly anyOf) block definition accepts."""
    found: set[str] = set()
    for branch in schema.get("anyOf", []):
        found |= _type_consts(branch)
    type_schema = schema.get("properties", {}).get("type", {})
    if "const" in type_schema:
        found.add(type_schema["const"])
    found.update(type_schema.get("enum", []))
    return found


class _SchemaSet:
    """Draft-7 validators for one Block Kit schema file, one per block type."""

    def __init__(self, path: Path) -> None:
        document = _load_json(path)
        self.definitions: dict[str, Any] = document["definitions"]
        self.root = jsonschema.Draft7Validator(document)
        self.blocks: dict[str, jsonschema.Draft7Validator] = {}
        for ref in self.definitions["KnownBlock"]["anyOf"]:
            name = ref["$ref"].rsplit("/", 1)[-1]
            validator = self.for_definition(name)
            for block_type in _type_consts(self.definitions[name]):
                self.blocks[block_type] = validator

    def for_definition(self, name: str) -> jsonschema.Draft7Validator:
        return jsonschema.Draft7Validator(
            {"$ref": f"#/definitions/{name}", "definitions": self.definitions}
        )


def _openapi_operations(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Method name -> its OpenAPI parameters (each path has a single verb)."""
    operations: dict[str, list[dict[str, Any]]] = {}
    for method_path, verbs in _load_json(path)["paths"].items():
        parameters: list[dict[str, Any]] = []
        for operation in verbs.values():
            parameters += operation.get("parameters", [])
        operations[method_path.lstrip("/")] = parameters
    return operations


class Validators:
    """The Slack validators of one folder: the Web API's operations and the Block Kit
    schemas for message blocks and for modals."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.operations = _openapi_operations(folder / OPENAPI_FILE)
        self.known_blocks = _SchemaSet(folder / KNOWN_BLOCK_SCHEMA_FILE)
        self.modal = _SchemaSet(folder / MODAL_VIEW_SCHEMA_FILE)


@functools.cache
def load_validators(folder: Path = VALIDATORS_DIR) -> Validators:
    """The validators of `folder`, read once per folder (FileNotFoundError if one is missing)."""
    return Validators(folder.resolve())


def _known_to_slack_sdk(method: str) -> bool:
    """Whether slack_sdk's WebClient has a method for it (the OpenAPI document is older)."""
    return callable(getattr(WebClient, method.replace(".", "_"), None))


def _schema_errors(validator: jsonschema.Draft7Validator, instance: Any) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    messages = []
    for error in errors[:5]:
        best = jsonschema.exceptions.best_match([error])
        where = "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in best.path)
        messages.append(f"{best.message[:200]}" + (f" at {where}" if where else ""))
    return messages


def _empty_texts(value: Any, path: str = "") -> list[str]:
    """Text objects with an empty `text` (Slack rejects them: minimum length is 1)."""
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") in ("plain_text", "mrkdwn") and value.get("text") == "":
            found.append(path or ".")
        for key, child in value.items():
            found += _empty_texts(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _empty_texts(child, f"{path}[{index}]")
    return found


def check_blocks(blocks: Any, *, limit: int, schemas: _SchemaSet | None = None) -> list[str]:
    """Problems in a list of Block Kit blocks (empty when valid).

    Each block is checked against the JSON schema for its type (`schemas`, by default the
    message blocks of `VALIDATORS_DIR`), with slack_sdk's `Block.parse(...)` +
    `validate_json()` (and `to_dict()`, which validates nested elements), for empty text
    objects and duplicate `block_id`s; at most `limit` blocks.
    """
    schemas = schemas or load_validators().known_blocks
    if not isinstance(blocks, list):
        return [f"blocks must be a JSON array, got {type(blocks).__name__}"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks, more than the {limit} allowed")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"blocks[{index}]: not a block object with a string 'type'")
            continue
        label = f"blocks[{index}] ({block['type']})"
        validator = schemas.blocks.get(block["type"])
        if validator is None:
            problems.append(f"{label}: unknown block type")
        else:
            problems += [f"{label}: schema: {m}" for m in _schema_errors(validator, block)]
        try:
            parsed = Block.parse(block)
            # None: a block type slack_sdk does not know; the schema is then the authority.
            if parsed is not None:
                parsed.validate_json()
                parsed.to_dict()  # validates the nested elements too
        except (SlackObjectFormationError, TypeError, ValueError, KeyError) as exc:
            problems.append(f"{label}: slack_sdk: {exc}")
        problems += [f"{label}: empty text at {p}" for p in _empty_texts(block)]
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in block_ids:
                problems.append(f"{label}: duplicate block_id {block_id!r}")
            block_ids.add(block_id)
    return problems


def check_view(view: Any, *, validators: Validators | None = None) -> list[str]:
    """Problems in a `view` payload: modals against the modal JSON schema, every view
    with slack_sdk's `View` validation and at most 100 valid blocks."""
    if not isinstance(view, dict):
        return [f"view must be a JSON object, got {type(view).__name__}"]
    validators = validators or load_validators()
    problems: list[str] = []
    view_type = view.get("type")
    schemas = validators.known_blocks
    if view_type == "modal":
        schemas = validators.modal
        # The blocks are checked one by one below, with clearer messages.
        top = {**view, "blocks": []} if isinstance(view.get("blocks"), list) else view
        for message in _schema_errors(schemas.root, top):
            problems.append(f"modal schema: {message}")
    elif view_type != "home":
        problems.append(f"view type {view_type!r} is neither 'modal' nor 'home'")
    try:
        View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, KeyError) as exc:
        problems.append(f"slack_sdk View: {exc}")
    if "blocks" in view:
        problems += check_blocks(view["blocks"], limit=VIEW_BLOCK_LIMIT, schemas=schemas)
    problems += [f"empty text at {p}" for p in _empty_texts({**view, "blocks": []})]
    return list(dict.fromkeys(problems))


def signed_headers(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers of a Slack HTTP request (slash command, interaction, event) signed with
    `signing_secret`, for posting `body` to a Bolt app in tests."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(signing_secret).generate_signature(
        timestamp=str(timestamp), body=body
    )
    assert signature is not None
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


# --------------------------------------------------------------------------- the fake


class FakeSlack:
    """A fake Slack workspace: Web API over HTTP and Socket Mode over WebSocket.

    Use it as a context manager; `url` is the `base_url` for `WebClient` (ends with "/").
    `users` are dicts with at least `id`; `email`, `name`, `real_name`, `tz`... are
    served the way Slack shapes a user (the email inside `profile`). Calls are checked
    against the validators in `validators_dir` (read when the fake is made).
    """

    def __init__(
        self,
        token: str = "xoxb-test",
        users: Iterable[Mapping[str, Any]] = (),
        app_token: str | None = None,
        validators_dir: Path = VALIDATORS_DIR,
    ) -> None:
        self.validators = load_validators(validators_dir)
        self.token = token
        self.app_token = app_token
        self.users: list[dict[str, Any]] = [_user_object(u) for u in users]
        self.calls: list[Call] = []
        self.rejected: list[Call] = []
        self.violations: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.socket_acks: list[dict[str, Any]] = []
        self.socket_sent: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._faults: dict[str, list[_Fault]] = {}
        self._lost_answers: dict[str, int] = {}
        self._per_channel_interval: float | None = None
        self._last_post: dict[str, float] = {}
        self._random: random.Random | None = None
        self._random_probability = 0.0
        self._random_retry_after = 1
        self._ts_counter = itertools.count(1)
        self._last_ts_us = 0
        self._views: dict[str, dict[str, Any]] = {}
        #: Files uploaded the way `files_upload_v2` does (`files.getUploadURLExternal`, the bytes
        #: posted to the upload URL, `files.completeUploadExternal`), by file id: `name`,
        #: `length`, `data` (the bytes received), `title`, `channel`, `initial_comment`,
        #: `thread_ts` (the last three once completed).
        self.files: dict[str, dict[str, Any]] = {}
        self._connections: list[ServerConnection] = []
        self._http: ThreadingHTTPServer | None = None
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle

    def __enter__(self) -> FakeSlack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the HTTP and WebSocket servers (done by `with`)."""
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._http = _Server(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._ws = serve(
            self._socket_handler,
            "127.0.0.1",
            0,
            compression=None,
            ping_interval=0.1,  # wakes the builtin client up, so that its close() is quick
            ping_timeout=10,
            close_timeout=1,
        )
        http = self._http
        for target in (lambda: http.serve_forever(poll_interval=0.05), self._ws.serve_forever):
            thread = threading.Thread(target=target, name="fakeslack", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Close connections and stop both servers."""
        if self._ws is not None:
            self._ws.shutdown()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    @property
    def url(self) -> str:
        """Base URL of the Web API, e.g. `http://127.0.0.1:5678/api/`."""
        assert self._http is not None, "FakeSlack is not started (use it with `with`)"
        return f"http://127.0.0.1:{self._http.server_address[1]}/api/"

    @property
    def socket_url(self) -> str:
        """The Socket Mode WebSocket URL that `apps.connections.open` hands out."""
        assert self._ws is not None, "FakeSlack is not started (use it with `with`)"
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}/"

    # -- inspection

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls to `method`, oldest first."""
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def reset(self) -> None:
        """Forget recorded calls, rejections, violations, messages, acks and pending
        `fail_next` faults (the users, tokens and rate-limit settings stay)."""
        with self._lock:
            self.calls.clear()
            self.rejected.clear()
            self.violations.clear()
            self.messages.clear()
            self.socket_acks.clear()
            self.socket_sent.clear()
            self._faults.clear()
            self._last_post.clear()
            self._views.clear()
            self.files.clear()

    def assert_valid(self) -> None:
        """Raise AssertionError listing the violations found so far, if any."""
        with self._lock:
            violations = list(self.violations)
        if violations:
            listing = "\n".join(f"- {v}" for v in violations)
            raise AssertionError(f"{len(violations)} Slack API violation(s):\n{listing}")

    # -- faults

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Make the next `times` calls to `method` ("*" for any) fail with `status`.

        429 answers carry `Retry-After: <retry_after>` and `{"ok": false, "error":
        "ratelimited"}`; 5xx answers `{"ok": false, "error": "internal_error"}`; a 200 with
        `error` answers that Slack error (e.g. `channel_not_found`). Failed attempts go to
        `rejected`, not `calls`.
        """
        default = {429: "ratelimited", 200: "fatal_error"}.get(status, "internal_error")
        fault = _Fault(status, retry_after if status == 429 else None, error or default, times)
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def lose_answer_next(self, method: str, times: int = 1) -> None:
        """Carry out the next `times` calls to `method` (a message is posted), then answer them
        500 `internal_error`: the answer lost on its way back, as by a proxy. They stay in
        `calls`, with the answer the caller never saw."""
        with self._lock:
            self._lost_answers[method] = self._lost_answers.get(method, 0) + times

    def rate_limit_per_channel(self, per_second: float | None = 1.0) -> None:
        """Answer 429 + Retry-After to `chat.postMessage` when a channel gets more than
        `per_second` messages a second (None switches it off)."""
        with self._lock:
            self._per_channel_interval = None if not per_second else 1.0 / per_second

    def random_429(self, probability: float, seed: int = 0, retry_after: int = 1) -> None:
        """Answer 429 to `chat.postMessage` with `probability` (reproducible with `seed`)."""
        with self._lock:
            self._random = random.Random(seed)
            self._random_probability = probability
            self._random_retry_after = retry_after

    # -- socket mode

    def wait_for_socket_client(self, timeout: float = 5.0) -> None:
        """Wait until a Socket Mode client is connected (and got its `hello`)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._live_connections(), timeout=timeout):
                raise AssertionError(f"no Socket Mode client connected within {timeout} s")

    def socket_send(self, envelope: dict[str, Any], timeout: float = 5.0) -> str:
        """Push `envelope` to the latest connected Socket Mode client (waiting up to
        `timeout` for one); an `envelope_id` is added if missing. Returns the id."""
        envelope = dict(envelope)
        envelope.setdefault("envelope_id", str(uuid.uuid4()))
        self.wait_for_socket_client(timeout)
        with self._lock:
            connection = self._live_connections()[-1]
            self.socket_sent.append(envelope)
        connection.send(json.dumps(envelope))
        return str(envelope["envelope_id"])

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The client's acknowledgement of `envelope_id` (AssertionError on timeout)."""

        def find() -> dict[str, Any] | None:
            return next((a for a in self.socket_acks if a.get("envelope_id") == envelope_id), None)

        with self._changed:
            if not self._changed.wait_for(lambda: find() is not None, timeout=timeout):
                raise AssertionError(f"no ack for envelope {envelope_id!r} within {timeout} s")
            ack = find()
            assert ack is not None
            return ack

    def _live_connections(self) -> list[ServerConnection]:
        return [c for c in self._connections if c.close_code is None]

    def _socket_handler(self, connection: ServerConnection) -> None:
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fakeslack", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": APP_ID},
                }
            )
        )
        with self._changed:
            self._connections.append(connection)
            self._changed.notify_all()
        try:
            for message in connection:
                try:
                    ack = json.loads(message)
                except (TypeError, ValueError):
                    ack = {"raw": message}
                with self._changed:
                    self.socket_acks.append(ack if isinstance(ack, dict) else {"raw": ack})
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._connections.remove(connection)
                self._changed.notify_all()

    # -- request handling

    def handle(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one Web API call: (HTTP status, extra headers, JSON body)."""
        at = time.time()
        problems: list[str] = []
        for name in JSON_PARAMS:
            value = params.get(name)
            if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                try:
                    params[name] = json.loads(value)
                except ValueError:
                    problems.append(f"{method}: {name} is not valid JSON")
        with self._changed:
            fault = self._take_fault(method)
            if fault is not None:
                return self._reject(method, params, token, at, fault)

            authorized, auth_error = self._authorize(method, token)
            problems += self._check_params(method, params, token)
            status, headers = 200, dict[str, str]()
            body: dict[str, Any] = {"ok": False, "error": auth_error}
            if authorized:
                limited = self._rate_limited(method, params)
                if limited is not None:
                    return self._reject(method, params, token, at, limited)
                body, extra = self._answer(method, params)
                problems += extra
            call = Call(method, params, at, authorized, token, status, body.get("error"), body)
            self.calls.append(call)
            self.violations += problems
            self._changed.notify_all()
            if authorized and self._lost_answers.get(method):
                self._lost_answers[method] -= 1
                return 500, {}, {"ok": False, "error": "internal_error"}
            return status, headers, body

    def _take_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
                return fault
        return None

    def _reject(
        self, method: str, params: dict[str, Any], token: str | None, at: float, fault: _Fault
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        body = {"ok": False, "error": fault.error}
        self.rejected.append(Call(method, params, at, True, token, fault.status, fault.error, body))
        self._changed.notify_all()
        return fault.status, headers, body

    def _authorize(self, method: str, token: str | None) -> tuple[bool, str | None]:
        if method == "apps.connections.open":
            if self.app_token is not None and token == self.app_token:
                return True, None
            return False, "not_allowed_token_type" if token == self.token else "invalid_auth"
        if token == self.token:
            return True, None
        if self.app_token is not None and token == self.app_token:
            return False, "not_allowed_token_type"
        return False, "invalid_auth"

    def _check_params(self, method: str, params: dict[str, Any], token: str | None) -> list[str]:
        operations = self.validators.operations
        if method not in operations:
            if _known_to_slack_sdk(method):
                return []  # newer than the OpenAPI document: no parameter list to check
            return [f"{method}: unknown Web API method (not in the OpenAPI document)"]
        problems = []
        for parameter in operations[method]:
            if not parameter.get("required"):
                continue
            name = parameter["name"]
            if name == "token":
                if token is None:
                    problems.append(f"{method}: no token (Authorization: Bearer header)")
            elif parameter["in"] in ("formData", "query") and params.get(name) in (None, ""):
                problems.append(f"{method}: missing required parameter {name!r}")
        return problems

    def _rate_limited(self, method: str, params: dict[str, Any]) -> _Fault | None:
        if method != "chat.postMessage":
            return None
        if self._random is not None and self._random.random() < self._random_probability:
            return _Fault(429, self._random_retry_after, "ratelimited", 1)
        channel = params.get("channel")
        if self._per_channel_interval is None or not isinstance(channel, str):
            return None
        channel = _channel_id(channel)
        now = time.monotonic()
        last = self._last_post.get(channel)
        if last is not None and now - last < self._per_channel_interval:
            wait = self._per_channel_interval - (now - last)
            return _Fault(429, max(1, math.ceil(wait)), "ratelimited", 1)
        self._last_post[channel] = now
        return None

    def _next_ts(self) -> str:
        microseconds = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = microseconds
        return f"{microseconds // 1_000_000}.{microseconds % 1_000_000:06d}"

    def _find_user(self, key: str, value: Any) -> dict[str, Any] | None:
        for user in self.users:
            candidate = user["profile"].get("email") if key == "email" else user.get(key)
            if key == "email" and isinstance(candidate, str) and isinstance(value, str):
                if candidate.lower() == value.lower():
                    return user
            elif candidate is not None and candidate == value:
                return user
        return None

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The success (or Slack-like error) body for an authorized call, and violations."""
        ok: dict[str, Any] = {"ok": True}
        problems: list[str] = []
        if method in BLOCK_METHODS:
            if "blocks" in params:
                found = check_blocks(
                    params["blocks"],
                    limit=MESSAGE_BLOCK_LIMIT,
                    schemas=self.validators.known_blocks,
                )
                problems += [f"{method}: {p}" for p in found]
                if found:
                    error = "invalid_blocks" if isinstance(params["blocks"], list) else None
                    return _invalid(error or "invalid_blocks_format", found), problems
            missing = [n for n in ("channel",) if not params.get(n)]
            if missing:
                return _invalid("invalid_arguments", ["missing channel"]), problems
            if method != "chat.update" and not any(
                params.get(n) for n in ("text", "blocks", "attachments")
            ):
                problems.append(f"{method}: no text, blocks nor attachments")
                return {"ok": False, "error": "no_text"}, problems
        if method in METADATA_METHODS and "metadata" in params:
            found = check_metadata(params["metadata"])
            problems += [f"{method}: {p}" for p in found]
            if found:
                return _invalid("invalid_metadata_format", found), problems
        if method in VIEW_METHODS and "view" in params:
            found = check_view(params["view"], validators=self.validators)
            problems += [f"{method}: {p}" for p in found]
            if found:
                return _invalid("invalid_arguments", found), problems

        if method == "auth.test":
            return {
                **ok,
                "url": "https://fake.slack.com/",
                "team": "Fake",
                "user": "bot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }, problems
        if method == "apps.connections.open":
            return {**ok, "url": self.socket_url}, problems
        if method == "users.lookupByEmail":
            user = self._find_user("email", params.get("email"))
            body = {**ok, "user": user} if user else {"ok": False, "error": "users_not_found"}
            return body, problems
        if method == "users.info":
            user = self._find_user("id", params.get("user"))
            body = {**ok, "user": user} if user else {"ok": False, "error": "user_not_found"}
            return body, problems
        if method == "conversations.open":
            return self._conversations_open(params), problems
        if method == "conversations.history":
            return self._history(params, problems), problems
        if method == "chat.postMessage":
            return self._post_message(params), problems
        if method == "chat.postEphemeral":
            return {**ok, "message_ts": self._next_ts()}, problems
        if method == "chat.update":
            return self._update_message(params), problems
        if method in VIEW_METHODS:
            return self._view(method, params), problems
        if method == "files.getUploadURLExternal":
            return self._upload_url(params), problems
        if method == "files.completeUploadExternal":
            return self._complete_upload(params, problems), problems
        return ok, problems

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = params.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if users:
            channel = f"D{users[0]}" if len(users) == 1 else "G" + "".join(sorted(users))
        elif params.get("channel"):
            channel = str(params["channel"])
        else:
            return {"ok": False, "error": "users_list_not_supplied"}
        return {"ok": True, "channel": {"id": channel}}

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = _channel_id(str(params["channel"]))
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": params.get("text", ""),
            "ts": ts,
        }
        for name in ("blocks", "attachments", "thread_ts", "metadata"):
            if name in params:
                message[name] = params[name]
        self.messages.append({"channel": channel, **message})
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _history(self, params: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        """`conversations.history`: the channel's messages newest first, between `oldest` and
        `latest` (excluded unless `inclusive`), `limit` a page with a cursor; their `metadata`
        only with `include_all_metadata` (as Slack does)."""
        if not params.get("channel"):
            problems.append("conversations.history: missing channel")
            return {"ok": False, "error": "channel_not_found"}
        channel = _channel_id(str(params["channel"]))
        try:
            oldest = float(params.get("oldest") or 0)
            latest = float(params["latest"]) if params.get("latest") else math.inf
            limit = int(params.get("limit") or HISTORY_LIMIT)
            start = int(str(params.get("cursor") or "offset:0").partition(":")[2])
        except ValueError as exc:
            problems.append(f"conversations.history: bad oldest, latest, limit or cursor: {exc}")
            return {"ok": False, "error": "invalid_arguments"}
        limit = max(1, min(limit, HISTORY_MAX_LIMIT))
        inclusive = _truthy(params.get("inclusive"))
        with_metadata = _truthy(params.get("include_all_metadata"))

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        found = sorted(
            (m for m in self.messages if m["channel"] == channel and within(float(m["ts"]))),
            key=lambda m: float(m["ts"]),
            reverse=True,
        )
        page = found[start : start + limit]
        messages = []
        for stored in page:
            message = {k: v for k, v in stored.items() if k != "channel"}
            if not with_metadata:
                message.pop("metadata", None)
            messages.append(message)
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": messages,
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": f"offset:{start + limit}" if more else ""},
        }

    def _update_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = _channel_id(str(params["channel"]))
        for stored in self.messages:
            if stored["channel"] == channel and stored["ts"] == params.get("ts"):
                for name in ("text", "blocks", "attachments", "metadata"):
                    if name in params:
                        stored[name] = params[name]
                message = {k: v for k, v in stored.items() if k != "channel"}
                return {
                    "ok": True,
                    "channel": channel,
                    "ts": stored["ts"],
                    "text": stored.get("text", ""),
                    "message": message,
                }
        return {"ok": False, "error": "message_not_found"}

    def _upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ts_counter):08d}"
        assert self._http is not None
        self.files[file_id] = {
            "id": file_id,
            "name": params.get("filename"),
            "length": int(params.get("length") or 0),
            "data": None,
        }
        port = self._http.server_address[1]
        return {
            "ok": True,
            "file_id": file_id,
            "upload_url": f"http://127.0.0.1:{port}/upload/{file_id}",
        }

    def receive_upload(self, file_id: str, data: bytes) -> bool:
        """The bytes posted to an upload URL (step 2 of `files_upload_v2`)."""
        with self._lock:
            entry = self.files.get(file_id)
            if entry is None:
                self.violations.append(f"upload to an unknown file id {file_id!r}")
                return False
            if entry["length"] != len(data):
                self.violations.append(
                    f"upload of {file_id}: {len(data)} bytes, {entry['length']} announced"
                )
            entry["data"] = data
            return True

    def _complete_upload(self, params: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        try:
            files = json.loads(params.get("files") or "[]")
        except ValueError:
            files = None
        if not isinstance(files, list) or not files:
            problems.append("files.completeUploadExternal: files is not a JSON array of files")
            return {"ok": False, "error": "invalid_arguments"}
        done = []
        for item in files:
            entry = self.files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if entry is None or entry["data"] is None:
                problems.append(f"files.completeUploadExternal: {item!r} was not uploaded")
                return {"ok": False, "error": "file_not_found"}
            entry.update(
                title=item.get("title") or entry["name"],
                channel=params.get("channel_id") or params.get("channels"),
                initial_comment=params.get("initial_comment"),
                thread_ts=params.get("thread_ts"),
            )
            done.append({"id": entry["id"], "name": entry["name"], "title": entry["title"]})
        return {"ok": True, "files": done}

    def uploaded(self) -> list[dict[str, Any]]:
        """The files completed (shared), oldest first."""
        with self._lock:
            return [dict(f) for f in self.files.values() if "channel" in f]

    def _view(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] = params["view"] if isinstance(params.get("view"), dict) else {}
        view_id = params.get("view_id")
        if method == "views.update":
            if not view_id and params.get("external_id"):
                view_id = next(
                    (
                        i
                        for i, v in self._views.items()
                        if v.get("external_id") == params["external_id"]
                    ),
                    None,
                )
            if view_id not in self._views:
                return {"ok": False, "error": "not_found"}
        elif method == "views.publish":
            view_id = next(
                (i for i, v in self._views.items() if v.get("_user_id") == params.get("user_id")),
                None,
            )
        if not view_id:
            view_id = f"V{next(self._ts_counter):08d}"
        stored = {
            "id": view_id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "state": {"values": {}},
            "hash": self._next_ts(),
            "root_view_id": view_id,
            "previous_view_id": None,
            **view,
        }
        if method == "views.publish":
            stored["_user_id"] = params.get("user_id")
        self._views[view_id] = stored
        return {"ok": True, "view": {k: v for k, v in stored.items() if not k.startswith("_")}}


def check_metadata(metadata: Any) -> list[str]:
    """Problems in message `metadata`: an object with a string `event_type` and an object
    `event_payload` (Slack's message metadata format)."""
    if not isinstance(metadata, dict):
        return [f"metadata must be a JSON object, got {type(metadata).__name__}"]
    problems = []
    if not isinstance(metadata.get("event_type"), str) or not metadata["event_type"]:
        problems.append("metadata.event_type must be a non-empty string")
    if not isinstance(metadata.get("event_payload"), dict):
        problems.append("metadata.event_payload must be a JSON object")
    return problems


def _truthy(value: Any) -> bool:
    """A boolean parameter as clients send it (`true`, `1`, or a JSON boolean)."""
    return value is True or str(value).strip().lower() in ("1", "true")


def _invalid(error: str, messages: Sequence[str]) -> dict[str, Any]:
    return {
        "ok": False,
        "error": error,
        "errors": list(messages),
        "response_metadata": {"messages": [f"[ERROR] {m}" for m in messages]},
    }


def _channel_id(channel: str) -> str:
    """Posting to a user ID posts to the DM with that user (as Slack does)."""
    return f"D{channel}" if channel[:1] in ("U", "W") else channel


def _user_object(user: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack-shaped user: `email` moves into `profile` (as in the real API)."""
    data = dict(user)
    if "id" not in data:
        raise ValueError(f"a fake Slack user needs an 'id': {user!r}")
    email_address = data.pop("email", None)
    name = data.get("name") or (email_address or data["id"]).split("@")[0]
    real_name = data.get("real_name", name)
    profile = {
        "real_name": real_name,
        "display_name": data.get("display_name", name),
        **({"email": email_address} if email_address else {}),
        **data.pop("profile", {}),
    }
    return {
        "team_id": TEAM_ID,
        "name": name,
        "real_name": real_name,
        "deleted": False,
        "is_bot": False,
        "is_admin": False,
        "tz": "Europe/Paris",
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        **data,
        "profile": profile,
    }


def _decode_body(content_type: str, raw: bytes) -> dict[str, Any]:
    media_type = content_type.split(";")[0].strip().lower()
    if not raw:
        return {}
    if media_type == "application/json":
        decoded = json.loads(raw.decode("utf-8"))
        return decoded if isinstance(decoded, dict) else {"_body": decoded}
    if media_type == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        params: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if part.get_filename() is None and isinstance(payload, bytes):
                try:
                    params[str(name)] = payload.decode("utf-8")
                    continue
                except UnicodeDecodeError:
                    pass
            params[str(name)] = payload
        return params
    return _flat_qs(raw.decode("utf-8"))


def _flat_qs(query: str) -> dict[str, Any]:
    return {
        k: v[0] if len(v) == 1 else v for k, v in parse_qs(query, keep_blank_values=True).items()
    }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    server_version = "FakeSlack/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        method = parts.path.rstrip("/").rsplit("/", 1)[-1]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if parts.path.startswith("/upload/"):
            received = self.fake.receive_upload(method, raw)
            body = f"OK - {len(raw)}".encode() if received else b"not found"
            self.send_response(200 if received else 404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        try:
            params = {
                **_flat_qs(parts.query),
                **_decode_body(self.headers.get("Content-Type", ""), raw),
            }
        except (ValueError, UnicodeDecodeError) as exc:
            self._send(200, {}, {"ok": False, "error": "invalid_json"})
            with self.fake._lock:
                self.fake.violations.append(f"{method}: undecodable body: {exc}")
            return
        token = params.pop("token", None)
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            token = authorization[len("Bearer ") :].strip()
        status, headers, body = self.fake.handle(method, params, token)
        self._send(status, headers, body)

    def _send(self, status: int, headers: Mapping[str, str], body: Mapping[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
