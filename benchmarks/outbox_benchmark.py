"""Outbox benchmark: 1,000 queued SMS through a local fake of Twilio that allows
`--rate` messages per second (429 with Retry-After beyond) and answers 429 or 5xx to 10 % of
the requests at random. Counts what the fake accepted: lost (a row with no message), duplicated
(a row with two), and the time as a ratio to the fake's own rate limit (1,000 / rate seconds).

    .venv/bin/python benchmarks/outbox_benchmark.py [--sends 1000] [--rate 50] [--faults 0.1]

Runs against a fresh SQLite file (or `DATABASE_URL`), by hand, not in the test suite.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import db
from bot.models import Outbox
from bot.outbox import deliver_due, make_transports
from bot.settings import load_settings
from tests.fake_providers import SID, TOKEN, FakeProviders


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--faults", type=float, default=0.10)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = db.make_engine(url)
    db.upgrade(engine)
    factory = db.session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    with factory.begin() as session:
        session.add_all(
            Outbox(
                key=f"bench:{i}",
                channel="sms",
                purpose="bench",
                recipient=f"+3361{i:07d}",
                sender="AgenceCorni",
                body=f"Message {i}",
                created_at=now,
                not_before=now,
                next_attempt_at=now,
            )
            for i in range(args.sends)
        )
    with FakeProviders() as fake:
        fake.rate_per_second = args.rate
        fake.random_faults = args.faults
        settings = load_settings(
            DATABASE_URL=url,
            SMS_BACKEND="twilio",
            SMS_API_URL=fake.url,
            TWILIO_ACCOUNT_SID=SID,
            TWILIO_AUTH_TOKEN=TOKEN,
            TWILIO_FROM="AgenceCorni",
        )
        transports = make_transports(settings, None, printer=lambda _t: None)
        start = time.monotonic()
        rounds = 0
        while True:
            rounds += 1
            at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=rounds)  # later rounds are due
            report = deliver_due(factory, transports, now=at)
            if not report.retry_later and report.done == 0:
                break
        elapsed = time.monotonic() - start
        requests = len(fake.requests)
        refused = sum(1 for _, problem in fake.requests if problem)
        counts = collections.Counter(t.to for t in fake.accepted)
    with factory() as session:
        statuses = collections.Counter(r.status for r in session.query(Outbox))
    recipients = {f"+3361{i:07d}" for i in range(args.sends)}
    lost = len(recipients - set(counts))
    duplicated = sum(1 for c in counts.values() if c > 1)
    bound = args.sends / args.rate
    print(
        f"{args.sends} envois, limite du faux fournisseur {args.rate:g}/s, {args.faults:.0%} de "
        f"429/5xx au hasard : {requests} requêtes dont {refused} refusées, {rounds} tour(s)"
    )
    print(f"statuts : {dict(statuses)}")
    print(f"perdus {lost}, en double {duplicated}")
    print(f"{elapsed:.1f} s = {elapsed / bound:.2f}× la borne de la limite ({bound:.1f} s)")
    engine.dispose()


if __name__ == "__main__":
    main()
