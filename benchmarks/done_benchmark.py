"""How soon does `/m3 done <client>` open its modal under load, compared to a bare Bolt app?

Run by hand from the project root:

    .venv/bin/python benchmarks/done_benchmark.py [--advisors 20] [--rounds 10] [--warmup 3]
        [--today 2026-11-26] [--database-url postgresql://postgres@127.0.0.1:5432/test]

Slack gives an app 3 seconds from a slash command to open a modal with its `trigger_id`, so
what matters is the time from the request to `views.open` reaching Slack. This measures it
against the real `m3 web` (a subprocess: gunicorn with the workers and threads of
`bot.web.serve`, the app built by `bot.cli`), and against a floor served the same way: a bare
Bolt `App` with the same signing secret and one listener `/m3` that acks and opens a fixed
small modal (`serve_floor`, also a subprocess through `bot.web.serve` and `bot.web.wsgi_app`).

Set-up, in a temporary directory: a staff file of `--advisors` invented advisors and an invented
portfolio (`bot.demo_data`, `--clients-per-advisor` clients each, dated relative to `--today`)
imported with `bot.crm` into a fresh SQLite database (or, with `--database-url`, into a new
database created on that PostgreSQL server and dropped at the end). The fake Slack of the test
suite (`tests/fakeslack.py`, real HTTP on 127.0.0.1) has one user per advisor (same e-mail), so
the bot finds the advisor behind each Slack user. `M3_NOW` is `--today` at `--time` (a time
calls are allowed, so the full call report form is shown).

Each round fires one signed `/m3` slash command per advisor at once (threads and a barrier):
text `done <client number>` for one of that advisor's own open or late cases, a distinct
`trigger_id` each. The latency of a request is the arrival time of the `views.open` carrying
its `trigger_id` at the fake (`Call.at`) minus the time the request was sent; for `m3 web` the
time to the `views.update` that fills the modal (the call report form) is reported too, and for
both the time to the HTTP answer (the ack). Warm-up rounds first (not counted: the first one
also links each advisor to their Slack user), then `--rounds` rounds for each app, the two apps
taking turns. Percentiles are nearest-rank (p99 of 200 samples: the 3rd slowest).

The aim is views.open at most 1.5x the floor's, for the median and for p99. Exit code 0 when
it is met, 1 when it is not, 2 when something failed (a request refused, a modal never opened,
a Slack API violation, a server that did not start).

Only 127.0.0.1 is contacted; the whole run is bounded (`--max-seconds`, 170 s by default: the
remaining rounds are skipped past it) and stops its servers at the end.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import http.client
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "xoxb-done-bench"
SECRET = "done-bench-signing-secret"
AIM = 1.5
#: The floor's modal: the size of the bot's loading view (title, close, one section).
FIXED_VIEW: dict[str, Any] = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Compte rendu"},
    "close": {"type": "plain_text", "text": "Fermer"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Chargement…"}}],
}


# --------------------------------------------------------------------------- the floor


def serve_floor(port: int, slack_url: str, workers: int) -> None:
    """The floor, run in its own process: a bare Bolt app that acks `/m3` and opens a fixed
    modal, served like `m3 web` (`bot.web.serve`: gunicorn, same threads)."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.web import serve, wsgi_app

    app = App(
        client=WebClient(token=TOKEN, base_url=slack_url),
        signing_secret=SECRET,
        token_verification_enabled=False,
    )

    @app.command("/m3")
    def on_m3(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=command["trigger_id"], view=FIXED_VIEW)

    serve(wsgi_app(app), port=port, workers=workers)


# --------------------------------------------------------------------------- set-up


_FIRST = ("Julie", "Manon", "Hugo", "Sarah", "Karim", "Léa", "Olivier", "Inès", "Thomas", "Chloé")
_LAST = ("Laurent", "Moreau", "Girard", "Fournier", "Mercier", "Lambert", "Bonnet", "Perrin")


def invented_advisors(count: int) -> list[dict[str, str]]:
    """`count` advisors (role Conseiller), half in each branch, each with a Slack user id."""
    advisors = []
    for index in range(1, count + 1):
        domain, branch = (("corniche", "Corniche"), ("rouviere", "Rouvière"))[index % 2]
        advisors.append(
            {
                "E-mail": f"conseiller{index:03d}@agence-{domain}.example.fr",
                "Prénom": _FIRST[index % len(_FIRST)],
                "Nom": _LAST[index % len(_LAST)],
                "Téléphone": f"06 12 34 {index // 100:02d} {index % 100:02d}",
                "Agence": branch,
                "Rôle": "Conseiller",
                "slack_id": f"U{index:05d}",
            }
        )
    return advisors


def write_advisors(path: Path, advisors: Sequence[dict[str, str]]) -> None:
    """The staff file as the agency writes it: `;`, Windows-1252, CRLF."""
    columns = ("E-mail", "Prénom", "Nom", "Téléphone", "Agence", "Rôle")
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(columns)
        for advisor in advisors:
            writer.writerow([advisor[c] for c in columns])


def create_database(server_url: str) -> tuple[str, str]:
    """A new, empty database on the PostgreSQL server of `server_url`: (its URL, its name)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    name = f"m3_done_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def drop_database(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def load_agency(
    database_url: str, tmp: Path, advisors: Sequence[dict[str, str]], clients: int, args: Any
) -> tuple[dict[str, list[str]], int, int]:
    """Import the staff and the portfolio; return each advisor's open or late client numbers
    (by e-mail), the number of contract rows and of rejected rows."""
    from bot.cases.queries import list_cases
    from bot.crm.advisors import import_advisors
    from bot.crm.portfolio import import_portfolio
    from bot.db import ensure_schema, make_engine, session_factory, upgrade
    from bot.demo_data import generate_rows, write_csv
    from bot.rules import CaseState

    emails = [a["E-mail"] for a in advisors]
    write_advisors(tmp / "advisors.csv", advisors)
    rows = generate_rows(today=args.today, advisors=emails, clients=clients, seed=args.seed)
    write_csv(tmp / "portfolio.csv", rows)
    engine = make_engine(database_url)
    try:
        if engine.dialect.name == "sqlite":
            ensure_schema(engine)
        else:
            upgrade(engine)
        factory = session_factory(engine)
        with factory.begin() as session:
            import_advisors(session, tmp / "advisors.csv", today=args.today)
        with factory.begin() as session:
            portfolio = import_portfolio(session, tmp / "portfolio.csv", today=args.today)
        with factory() as session:
            due = list_cases(session, today=args.today, states=(CaseState.OPEN, CaseState.LATE))
    finally:
        engine.dispose()
    open_cases: dict[str, list[str]] = defaultdict(list)
    for view in due:
        open_cases[view.advisor_email].append(view.client_number)
    return dict(open_cases), len(rows), len(portfolio.rejected)


# --------------------------------------------------------------------------- servers


def widen_backlog(fake: Any, backlog: int = 256) -> None:
    """Let the fake Slack queue as many connections as Slack would.

    The fake is a stdlib `ThreadingHTTPServer`, whose listen backlog is 5: when more than 5 of
    the apps' Web API calls arrive at once, Linux drops the extra SYNs and the client resends
    them after TCP's initial retransmission timeout, 1 s. That second would be the fake's, not
    the app's (it showed as p99 ≈ 1 s for both apps), so the listening socket is given a longer
    queue (`listen()` again on a listening socket only changes its backlog)."""
    server = getattr(fake, "_http", None)
    if server is not None:
        server.socket.listen(backlog)


def listen_overflows() -> int | None:
    """Linux's count of connections dropped because a listen queue was full (whole machine)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            if "ListenOverflows" in table:
                return int(table["ListenOverflows"])
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def m3_command() -> list[str]:
    """The `m3` console script next to this interpreter, else `python -m bot.cli`."""
    script = Path(sys.executable).parent / "m3"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def clean_environment() -> dict[str, str]:
    """This process's environment without any setting of the bot (set explicitly below)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("M3_", "SLACK_")) and k not in ("DATABASE_URL", "PORT")
    }


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
                )
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: no answer on /healthz in {timeout:.0f} s\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to gunicorn's master (it stops its workers), SIGKILL to the group past 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_server(
    name: str, command: list[str], env: dict[str, str], port: int, tmp: Path
) -> Server:
    log = tmp / f"{name.replace(' ', '-')}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=tmp,  # no stray .env file is read
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Server(name, port, process, log)


# --------------------------------------------------------------------------- load


@dataclass
class Sent:
    trigger_id: str
    sent_at: float
    answered_at: float = math.nan
    status: int = 0
    error: str = ""


@dataclass
class Samples:
    opened: list[float] = field(default_factory=list)
    updated: list[float] = field(default_factory=list)
    acked: list[float] = field(default_factory=list)
    refused: int = 0  # HTTP answer other than 200
    never_opened: int = 0
    never_updated: int = 0
    not_the_form: int = 0  # views.update with something else than the call report form
    rounds: int = 0


def slash_body(user_id: str, text: str, trigger_id: str, response_url: str) -> str:
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T1",
            "team_domain": "agence",
            "channel_id": "C0BENCH",
            "channel_name": "directmessage",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/m3",
            "text": text,
            "api_app_id": "A1",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def fire(server: Server, requests: Sequence[tuple[str, str]], response_url: str) -> list[Sent]:
    """Send one signed `/m3` per (user id, text) at the same moment; the `Sent` of each."""
    from tests.fakeslack import signed_headers

    barrier = threading.Barrier(len(requests))
    results: list[Sent | None] = [None] * len(requests)

    def one(index: int, user_id: str, text: str) -> None:
        trigger_id = f"{int(time.time())}.{index}.{uuid.uuid4().hex}"
        body = slash_body(user_id, text, trigger_id, response_url).encode()
        headers = signed_headers(SECRET, body.decode())
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
        connection.connect()  # the TCP handshake is not part of the measure
        barrier.wait(timeout=30)
        sent = Sent(trigger_id, time.time())
        try:
            connection.request("POST", "/slack/events", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            sent.status = response.status
        except OSError as exc:
            sent.error = f"{type(exc).__name__}: {exc}"
        finally:
            sent.answered_at = time.time()
            connection.close()
        results[index] = sent

    threads = [
        threading.Thread(target=one, args=(i, user, text), name=f"slash-{i}")
        for i, (user, text) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return [r for r in results if r is not None]


def collect(
    fake: Any, sent: Sequence[Sent], samples: Samples, *, expect_update: bool, timeout: float
) -> None:
    """Wait for the modal of every request (and its filling, for the bot), then record."""
    from bot.blocks.capture import CAPTURE_CALLBACK

    wanted = {s.trigger_id for s in sent if s.status == 200}
    deadline = time.monotonic() + timeout
    while True:
        opened = {
            c.params.get("trigger_id"): c
            for c in fake.calls_to("views.open")
            if c.params.get("trigger_id") in wanted
        }
        view_of = {
            str(c.response.get("view", {}).get("id")): t for t, c in opened.items() if c.response
        }
        updated: dict[str, Any] = {}
        for call in fake.calls_to("views.update"):
            trigger = view_of.get(str(call.params.get("view_id")))
            if trigger is not None:
                updated.setdefault(trigger, call)
        done = len(opened) == len(wanted) and (not expect_update or len(updated) == len(wanted))
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    samples.rounds += 1
    for request in sent:
        if request.status != 200:
            samples.refused += 1
            continue
        samples.acked.append(request.answered_at - request.sent_at)
        call = opened.get(request.trigger_id)
        if call is None:
            samples.never_opened += 1
            continue
        samples.opened.append(call.at - request.sent_at)
        if not expect_update:
            continue
        update = updated.get(request.trigger_id)
        if update is None:
            samples.never_updated += 1
            continue
        samples.updated.append(update.at - request.sent_at)
        if (update.params.get("view") or {}).get("callback_id") != CAPTURE_CALLBACK:
            samples.not_the_form += 1


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value * 1000:.0f} ms"


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--advisors", type=int, default=20, help="= concurrent requests (20)")
    parser.add_argument("--clients-per-advisor", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds per app (10)")
    parser.add_argument("--warmup", type=int, default=3, help="rounds not counted (3)")
    parser.add_argument(
        "--today", type=dt.date.fromisoformat, default=dt.date(2026, 11, 26), help="YYYY-MM-DD"
    )
    parser.add_argument(
        "--time", default="11:00", help="M3_NOW's time of day (a time calls are allowed)"
    )
    parser.add_argument("--seed", type=int, default=0, help="portfolio seed")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgresql://user@127.0.0.1:5432/db): a new database is "
        "created there for the run, then dropped; default: a temporary SQLite file",
    )
    parser.add_argument(
        "--workers", type=int, help="gunicorn workers for both apps (default: m3 web's)"
    )
    parser.add_argument("--max-seconds", type=float, default=170.0, help="stop rounds past this")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    started = time.monotonic()

    from tests.fakeslack import FakeSlack

    if args.advisors < 1 or args.rounds < 1:
        parser.error("--advisors and --rounds must be at least 1")
    advisors = invented_advisors(args.advisors)
    tmp = Path(tempfile.mkdtemp(prefix="m3-done-bench-"))
    database_name: str | None = None
    servers: list[Server] = []
    try:
        if args.database_url:
            database_url, database_name = create_database(args.database_url)
            backend = f"PostgreSQL (temporary database {database_name})"
        else:
            database_url = f"sqlite:///{tmp / 'bench.db'}"
            backend = "SQLite (temporary file)"
        clients = args.advisors * args.clients_per_advisor
        open_cases, contract_rows, rejected = load_agency(
            database_url, tmp, advisors, clients, args
        )
        lacking = [a["E-mail"] for a in advisors if not open_cases.get(a["E-mail"])]
        if lacking:
            print(f"{len(lacking)} advisor(s) without an open case: raise --clients-per-advisor")
            return 2
        setup_s = time.monotonic() - started
        now = f"{args.today.isoformat()}T{args.time}"
        print(f"now                 {now} (M3_NOW), {backend}")
        print(
            f"agency              {args.advisors} advisors, {clients} clients, {contract_rows} "
            f"contract rows ({rejected} rejected), "
            f"{sum(map(len, open_cases.values()))} open or late cases "
            f"(min {min(map(len, open_cases.values()))} per advisor); set-up {setup_s:.1f} s"
        )

        users = [{"id": a["slack_id"], "email": a["E-mail"]} for a in advisors]
        with FakeSlack(token=TOKEN, users=users) as fake:
            widen_backlog(fake)
            workers = ["--workers", str(args.workers)] if args.workers else []
            m3_port, floor_port = free_port(), free_port()
            env = clean_environment()
            m3_env = {
                **env,
                "DATABASE_URL": database_url,
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": fake.url,
                "PORT": str(m3_port),
                "M3_NOW": now,
            }
            servers.append(
                start_server("m3 web", [*m3_command(), "web", *workers], m3_env, m3_port, tmp)
            )
            floor_code = (
                "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
                "import done_benchmark as b; "
                "b.serve_floor(int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))"
            )
            floor_workers = args.workers or _m3_web_default_workers()
            servers.append(
                start_server(
                    "floor",
                    [
                        sys.executable,
                        "-c",
                        floor_code,
                        str(ROOT),
                        str(Path(__file__).resolve().parent),
                        str(floor_port),
                        fake.url,
                        str(floor_workers),
                    ],
                    env,
                    floor_port,
                    tmp,
                )
            )
            m3_server, floor_server = servers
            for server in servers:
                server.wait_healthy(timeout=60)
            print(
                f"servers             m3 web on :{m3_port}, floor on :{floor_port} "
                f"(both: gunicorn through bot.web.serve, {floor_workers} workers); "
                f"ready after {time.monotonic() - started:.1f} s"
            )
            response_url = fake.url + "response_url"  # never called by either app

            def batch(number: int) -> list[tuple[str, str]]:
                """One request per advisor, each for one of their own open cases (the next one
                at each round)."""
                requests = []
                for advisor in advisors:
                    numbers = open_cases[advisor["E-mail"]]
                    requests.append((advisor["slack_id"], f"done {numbers[number % len(numbers)]}"))
                return requests

            results = {"floor": Samples(), "m3 web": Samples()}
            warm = {"floor": Samples(), "m3 web": Samples()}
            plan = [("warm", s) for _ in range(args.warmup) for s in (floor_server, m3_server)]
            plan += [("measure", s) for _ in range(args.rounds) for s in (floor_server, m3_server)]
            skipped = 0
            overflows_before = listen_overflows()
            for number, (phase, server) in enumerate(plan):
                if time.monotonic() - started > args.max_seconds:
                    skipped += 1
                    continue
                sent = fire(server, batch(number // 2), response_url)
                target = (warm if phase == "warm" else results)[server.name]
                collect(fake, sent, target, expect_update=server is m3_server, timeout=20)
                time.sleep(0.2)
            overflows_after = listen_overflows()
            violations = list(fake.violations)
            refused_calls = [c for c in fake.calls if c.error] + list(fake.rejected)
        for server in servers:
            server.stop()
        logs = {s.name: s.tail(8) for s in servers}
    finally:
        for server in servers:
            server.stop()
        if database_name and args.database_url and not args.keep:
            drop_database(args.database_url, database_name)
        if args.keep:
            print(
                f"kept                {tmp}"
                + (f", database {database_name}" if database_name else "")
            )
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    floor, m3 = results["floor"], results["m3 web"]
    print(
        f"rounds              {args.warmup} warm-up + {m3.rounds} measured per app, "
        f"{args.advisors} concurrent requests each"
        + (f" ({skipped} rounds skipped past --max-seconds)" if skipped else "")
    )
    print()
    print(f"{'':22}{'median':>10}{'p99':>10}{'max':>10}   samples")
    rows = (
        ("floor  views.open", floor.opened),
        ("m3 web views.open", m3.opened),
        ("m3 web views.update", m3.updated),
        ("floor  HTTP answer", floor.acked),
        ("m3 web HTTP answer", m3.acked),
    )
    for label, values in rows:
        print(
            f"{label:22}{ms(statistics.median(values) if values else math.nan):>10}"
            f"{ms(percentile(values, 99)):>10}{ms(max(values) if values else math.nan):>10}"
            f"   {len(values)}"
        )
    print()
    failures = []
    for name, samples in results.items():
        for what, count in (
            ("requests refused (HTTP status not 200)", samples.refused),
            ("modals never opened", samples.never_opened),
            ("modals never filled", samples.never_updated),
            ("modals filled with something else than the call report form", samples.not_the_form),
        ):
            if count:
                failures.append(f"{name}: {count} {what}")
    if violations:
        failures.append(f"{len(violations)} Slack API violation(s): {violations[:3]}")
    if refused_calls:
        failures.append(
            f"{len(refused_calls)} Slack call(s) answered with an error: "
            f"{[(c.method, c.error) for c in refused_calls[:3]]}"
        )
    if not floor.opened or not m3.opened:
        failures.append("no sample")
        ratios = (math.nan, math.nan)
    else:
        ratios = (
            statistics.median(m3.opened) / statistics.median(floor.opened),
            percentile(m3.opened, 99) / percentile(floor.opened, 99),
        )
        print(
            f"ratio views.open    median {ratios[0]:.2f}×, p99 {ratios[1]:.2f}× the floor "
            f"(aim ≤ {AIM}×)"
        )
        if m3.updated:
            print(
                f"ratio views.update  median "
                f"{statistics.median(m3.updated) / statistics.median(floor.opened):.2f}×, p99 "
                f"{percentile(m3.updated, 99) / percentile(floor.opened, 99):.2f}× the floor's "
                "views.open (information)"
            )
    if overflows_before is not None and overflows_after is not None:
        print(
            f"listen overflows    {overflows_after - overflows_before} during the rounds "
            "(TCP connections dropped by a full listen queue, whole machine: each costs 1 s)"
        )
    print(f"total               {time.monotonic() - started:.1f} s")
    if failures:
        for failure in failures:
            print(f"ERROR: {failure}")
        for name, tail in logs.items():
            print(f"--- last lines of {name}'s log\n{tail}")
        return 2
    met = all(r <= AIM for r in ratios)
    print("PASS" if met else "FAIL", f"(views.open ≤ {AIM}× the floor, median and p99)")
    return 0 if met else 1


def _m3_web_default_workers() -> int:
    """The default of `m3 web --workers`."""
    import inspect

    from bot.cli import web_command

    default = inspect.signature(web_command).parameters["workers"].default
    return int(getattr(default, "default", default))


if __name__ == "__main__":
    raise SystemExit(main())
