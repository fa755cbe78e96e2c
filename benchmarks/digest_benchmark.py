"""Does the morning digest reach 500 advisors exactly once, through Slack's rate limits, and
how long does it take compared to what the rate limits force?

Run by hand from the project root:

    .venv/bin/python benchmarks/digest_benchmark.py [--advisors 500] [--p429 0.1] [--profile]

In a temporary directory it writes a staff file of `--advisors` invented advisors (role
Conseiller), an invented portfolio (`bot.demo_data`, `--clients-per-advisor` clients each),
imports both into a fresh SQLite database, then runs `jobs.digest.run()` against the local fake
Slack (`tests/fakeslack.py`, real HTTP) that answers 429 + Retry-After to a channel's second
message within a second and, at random, to `--p429` of all `chat.postMessage` calls
(Retry-After 1 s). The client is the bot's own: `WebClient` + `bot.slack.add_retry_handlers`.
Then it runs the digest a second time, the same day, which must post nothing.

It prints the advisors, the DMs expected (advisors with at least one à traiter or en retard
case that day, read with `bot.queue.list_cases` before the run), the lost ones (expected
advisors whose DM got no digest) and the duplicated ones (DM channels that got more than one),
the elapsed time and its ratio to the lower bound. It exits 1 when anything is lost or
duplicated, when the second run posts, or when no DM was expected.

Lower bound: the time no sequential poster can beat, given what the fake answered. It is the
sum of two terms:

- per channel: max over channels of (successful `chat.postMessage` to it - 1) / 1 s. The
  digest posts one message per DM channel (and one summary to the managers' channel), so this
  term is 0: the per-channel limit alone would let every DM go out at once;
- random 429s: the sum of the Retry-After seconds of the random 429s the fake recorded in
  `fake.rejected` (a 429 is counted as a per-channel one, and left out, when the same channel
  had a successful post less than a second before; none is expected).

So with one DM per advisor the bound is (number of random 429s) x 1 s, and the ratio says how
much the job adds on top of the waits Slack imposes. slack_sdk's `RateLimitErrorRetryHandler`
sleeps Retry-After + `random.random()` seconds, so the client's jitter alone puts the ratio
around 1.5 before any work is counted. If the bound is 0 (no 429 at all) no ratio is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import io
import logging
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402

from bot.blocks.common import TEXT_LIMIT  # noqa: E402
from bot.cases.queries import list_cases  # noqa: E402
from bot.crm.advisors import import_advisors  # noqa: E402
from bot.crm.portfolio import import_portfolio  # noqa: E402
from bot.db import ensure_schema, make_engine, session_factory  # noqa: E402
from bot.demo_data import generate_rows, write_csv  # noqa: E402
from bot.rules import CaseState  # noqa: E402
from bot.slack import add_retry_handlers  # noqa: E402
from jobs import digest  # noqa: E402
from tests.fakeslack import Call, FakeSlack  # noqa: E402

TOKEN = "xoxb-bench"
MANAGERS = "C0MANAGERS"
PER_CHANNEL_INTERVAL = 1.0  # seconds: 1 message per second per channel

_FIRST = (
    "Marie", "Nathalie", "Isabelle", "Sophie", "Julie", "Camille", "Léa", "Chloé", "Manon",
    "Inès", "Sarah", "Céline", "Hélène", "Agnès", "Jean", "Pierre", "Michel", "Nicolas",
    "Thomas", "Julien", "Hugo", "Lucas", "Mehdi", "Karim", "Benoît", "Olivier", "Jérôme",
)  # fmt: skip
_LAST = (
    "Martin", "Bernard", "Dubois", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent",
    "Lefebvre", "Garcia", "Roux", "Fournier", "Girard", "Mercier", "Lambert", "Bonnet",
    "Faure", "Rousseau", "Blanc", "Guérin", "Perrin", "Morin", "Clément", "Gauthier",
)  # fmt: skip


def invented_advisors(count: int) -> list[dict[str, str]]:
    """`count` advisors (role Conseiller), half in each branch, with unique e-mails."""
    advisors = []
    for index in range(1, count + 1):
        first = _FIRST[index % len(_FIRST)]
        last = _LAST[(index // len(_FIRST)) % len(_LAST)]
        branch, domain = (("Corniche", "corniche"), ("Rouvière", "rouviere"))[index % 2]
        advisors.append(
            {
                "E-mail": f"conseiller{index:04d}@agence-{domain}.example.fr",
                "Prénom": first,
                "Nom": last,
                "Téléphone": f"06 {index // 10000:02d} {index // 100 % 100:02d} "
                f"{index % 100:02d} 00",
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


def successful_posts(fake: FakeSlack) -> list[Call]:
    return [c for c in fake.calls_to("chat.postMessage") if c.response.get("ok")]


def _to(call: Call, channel: str) -> bool:
    return call.params.get("channel") == channel


def classify_429s(fake: FakeSlack) -> tuple[list[Call], list[Call]]:
    """The recorded 429s of `chat.postMessage`: (random ones, per-channel ones).

    A 429 is a per-channel one when its channel had a successful post less than
    `PER_CHANNEL_INTERVAL` before it; the fake decides the random ones first, so this can only
    mislabel a random 429 as per-channel (which shrinks the lower bound, never inflates it).
    """
    posted: dict[str, list[float]] = defaultdict(list)
    for call in successful_posts(fake):
        posted[str(call.response.get("channel"))].append(call.at)
    random_ones: list[Call] = []
    per_channel: list[Call] = []
    for call in fake.rejected:
        if call.method != "chat.postMessage" or call.status != 429:
            continue
        channel = str(call.params.get("channel", ""))
        channel = f"D{channel}" if channel[:1] in ("U", "W") else channel
        recent = any(0 <= call.at - at < PER_CHANNEL_INTERVAL for at in posted[channel])
        (per_channel if recent else random_ones).append(call)
    return random_ones, per_channel


def waited(fake: FakeSlack, rejected: Sequence[Call]) -> float:
    """Seconds the client actually waited after these 429s: from each rejection to the next
    `chat.postMessage` attempt (the job posts sequentially, so the next attempt is the retry)."""
    attempts = sorted(
        [c.at for c in fake.calls_to("chat.postMessage")]
        + [c.at for c in fake.rejected if c.method == "chat.postMessage"]
    )
    total = 0.0
    for call in rejected:
        later = [at for at in attempts if at > call.at]
        if later:
            total += later[0] - call.at
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--advisors", type=int, default=500)
    parser.add_argument(
        "--clients-per-advisor",
        type=int,
        default=40,
        help="portfolio size per advisor (40: every advisor has an open or late case)",
    )
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=dt.date(2026, 12, 1),
        help="the digest's day (a working day), YYYY-MM-DD; default 2026-12-01",
    )
    parser.add_argument("--seed", type=int, default=0, help="portfolio seed")
    parser.add_argument("--p429", type=float, default=0.1, help="probability of a random 429 (0.1)")
    parser.add_argument("--retry-after", type=int, default=1, help="their Retry-After (1 s)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the first run (slows it down)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    advisors = invented_advisors(args.advisors)
    emails = [a["E-mail"] for a in advisors]
    slack_id = {a["E-mail"]: a["slack_id"] for a in advisors}
    email_of_channel = {"D" + a["slack_id"]: a["E-mail"] for a in advisors}

    tmp = Path(tempfile.mkdtemp(prefix="m3-digest-bench-"))
    try:
        start = time.perf_counter()
        write_advisors(tmp / "advisors.csv", advisors)
        clients = args.advisors * args.clients_per_advisor
        rows = generate_rows(today=args.today, advisors=emails, clients=clients, seed=args.seed)
        write_csv(tmp / "portfolio.csv", rows)
        engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
        ensure_schema(engine)
        factory = session_factory(engine)
        with factory.begin() as session:
            staff = import_advisors(session, tmp / "advisors.csv", today=args.today)
        with factory.begin() as session:
            portfolio = import_portfolio(session, tmp / "portfolio.csv", today=args.today)
        with factory() as session:
            due = list_cases(session, today=args.today, states=(CaseState.OPEN, CaseState.LATE))
        expected = {view.advisor_email for view in due} & set(emails)
        print(f"today               {args.today.isoformat()}")
        print(
            f"set-up              {time.perf_counter() - start:.1f} s: {staff.created} advisors, "
            f"{clients} clients, {len(rows)} contract rows ({len(portfolio.rejected)} rejected),"
            f" {len(due)} open or late cases"
        )

        users = [{"id": slack_id[e], "email": e} for e in emails]
        with FakeSlack(token=TOKEN, users=users) as fake:
            fake.rate_limit_per_channel(per_second=1 / PER_CHANNEL_INTERVAL)
            fake.random_429(args.p429, seed=1, retry_after=args.retry_after)
            client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))

            profiler = cProfile.Profile() if args.profile else None
            wall_start = time.time()
            start = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            report = digest.run(
                factory=factory, client=client, today=args.today, managers_channel=MANAGERS
            )
            if profiler is not None:
                profiler.disable()
            elapsed = time.perf_counter() - start

            posts = successful_posts(fake)
            summary = [str(c.params.get("text", "")) for c in posts if _to(c, MANAGERS)]
            by_channel = Counter(str(c.response.get("channel")) for c in posts)
            reached = {email_of_channel[ch] for ch in by_channel if ch in email_of_channel}
            lost = sorted(expected - reached)
            duplicated = sorted(ch for ch, n in by_channel.items() if n > 1)
            random_429s, per_channel_429s = classify_429s(fake)
            all_429s = [
                c for c in fake.rejected if c.method == "chat.postMessage" and c.status == 429
            ]
            per_channel_term = max((n - 1 for n in by_channel.values()), default=0)
            per_channel_term_s = per_channel_term * PER_CHANNEL_INTERVAL
            # The fake does not record the Retry-After it sent; its random 429s all carry this one.
            random_term_s = float(len(random_429s) * args.retry_after)
            lower_bound = per_channel_term_s + random_term_s
            slack_calls = fake.calls + fake.rejected
            first_call = min((c.at for c in slack_calls), default=wall_start)
            before_slack = first_call - wall_start
            client_waits = waited(fake, all_429s)
            violations = list(fake.violations)

            fake.reset()
            second = digest.run(
                factory=factory, client=client, today=args.today, managers_channel=MANAGERS
            )
            second_posts = len(fake.calls_to("chat.postMessage")) + len(
                [c for c in fake.rejected if c.method == "chat.postMessage"]
            )

        dm_posts = sum(n for ch, n in by_channel.items() if ch in email_of_channel)
        print(f"advisors            {args.advisors}")
        print(f"DMs expected        {len(expected)}")
        print(
            f"DMs posted          {dm_posts}  (report: sent {len(report.sent)}, "
            f"failed {len(report.failed)}, skipped {len(report.skipped)}, "
            f"no_slack {len(report.no_slack)})"
        )
        cut = sum(1 for text in summary if text.endswith("…"))
        print(
            f"managers summary    {len(summary)} post(s) to {MANAGERS}, "
            f"{max(map(len, summary), default=0)} characters"
            + (f" ({cut} cut at the {TEXT_LIMIT}-character limit)" if cut else "")
        )
        print(f"lost                {len(lost)}" + (f"  {lost[:5]}" if lost else ""))
        print(
            f"duplicated          {len(duplicated)}" + (f"  {duplicated[:5]}" if duplicated else "")
        )
        print(
            f"429s recorded       {len(all_429s)} (random {len(random_429s)}, "
            f"per-channel {len(per_channel_429s)}; p={args.p429}, Retry-After "
            f"{args.retry_after} s)"
        )
        print(f"elapsed             {elapsed:.1f} s" + ("  (under cProfile)" if profiler else ""))
        print(
            f"  before 1st call   {before_slack:.1f} s  (sync_cases + queues_for: reading the "
            "queues)"
        )
        print(f"  waiting on 429s   {client_waits:.1f} s  (rejection to retry, measured)")
        rest = elapsed - before_slack - client_waits
        per_dm = rest / max(1, dm_posts)
        print(f"  the rest          {rest:.1f} s  ({per_dm * 1000:.0f} ms per DM: DB + HTTP)")
        print(
            f"lower bound         {lower_bound:.1f} s  (per-channel {per_channel_term_s:.0f} s "
            f"+ random 429s {random_term_s:.0f} s)"
        )
        if lower_bound > 0:
            print(f"ratio               {elapsed / lower_bound:.2f}× the lower bound")
        else:
            print(
                "ratio               n/a: no 429 was answered, so the rate limits cost nothing;"
                f" {elapsed / max(1, dm_posts) * 1000:.0f} ms per DM"
            )
        print(f"second run posted: {second_posts}  (report: sent {len(second.sent)})")
        if violations:
            print(f"Slack API violations {len(violations)}: {violations[:3]}")
        if profiler is not None:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(25)
            stats.sort_stats("tottime").print_stats(15)
            print(out.getvalue())
    finally:
        if args.keep:
            print(f"kept                {tmp}")
        else:
            shutil.rmtree(tmp)
    failed = bool(lost or duplicated or second_posts or len(expected) == 0)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
