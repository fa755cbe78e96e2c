"""How fast is `m3 import portfolio` on a large export, compared to just reading the file?

Run by hand from the project root:

    .venv/bin/python benchmarks/import_benchmark.py [--rows 100000] [--today 2026-12-01]

It writes an invented portfolio export (`bot.demo_data`) in a temporary directory, measures the
floor (a bare `csv.reader` pass over the same file, best of 3), then imports it into a fresh
SQLite database with the real CLI, in subprocesses, twice: a first import (everything created)
and a re-import (everything unchanged). Each import's peak memory is the child's own maximum
resident set size, read with `os.wait4()`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.demo_data import (  # noqa: E402
    advisor_emails,
    demo_advisors_csv,
    generate_rows,
    write_csv,
)


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


def m3_command() -> list[str]:
    """The `m3` console script next to this interpreter, else `python -m bot.cli`."""
    script = Path(sys.executable).parent / "m3"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bot.cli"]


def max_rss_mb(usage: resource.struct_rusage) -> float:
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return usage.ru_maxrss / divisor


def run_child(args: Sequence[str], *, env: dict[str, str], cwd: Path) -> Run:
    """Run one command; wall time from start to exit, and that child's own peak RSS."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        # wait4 reaps the child and returns its rusage alone (RUSAGE_CHILDREN would give the
        # maximum over every child so far).
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", errors="replace")
    return Run(
        seconds=seconds,
        peak_mb=max_rss_mb(usage),
        returncode=proc.returncode,
        stdout=out.decode("utf-8", errors="replace"),
        stderr=stderr,
    )


def check(run: Run, what: str) -> None:
    if run.returncode != 0:
        sys.stderr.write(f"{what} failed (exit {run.returncode})\n{run.stdout}\n{run.stderr}\n")
        raise SystemExit(1)


def make_rows(
    *, rows: int, today: dt.date, advisors: Sequence[str], seed: int
) -> list[dict[str, str]]:
    """At least `rows` rows (about 2 contracts per client), cut to exactly `rows`."""
    clients = max(1, math.ceil(rows / 2 * 1.05))
    while True:
        generated = generate_rows(today=today, advisors=advisors, clients=clients, seed=seed)
        if len(generated) >= rows:
            return generated[:rows]
        clients = math.ceil(clients * 1.2)


def generate_file(path: Path, *, rows: int, today: dt.date, seed: int) -> dict[str, int]:
    """Write the export; run in a child process (see `main`), so that this one stays small."""
    advisors = advisor_emails(demo_advisors_csv())
    generated = make_rows(rows=rows, today=today, advisors=advisors, seed=seed)
    write_csv(path, generated)
    return {"rows": len(generated), "clients": len({row["N° client"] for row in generated})}


def read_floor(path: Path, repeat: int = 3) -> tuple[float, int]:
    """Best time of a bare csv.reader pass (cp1252, `;`) over the file, and its row count."""
    best, count = math.inf, 0
    for _ in range(repeat):
        start = time.perf_counter()
        with path.open(encoding="cp1252", newline="") as handle:
            count = sum(1 for _ in csv.reader(handle, delimiter=";")) - 1
        best = min(best, time.perf_counter() - start)
    return best, count


def summary(run: Run) -> dict[str, Any]:
    try:
        data = json.loads(run.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(f"not JSON on stdout:\n{run.stdout[:2000]}\n{run.stderr[-2000:]}\n")
        raise SystemExit(1) from None
    if not isinstance(data, dict):
        raise SystemExit(f"unexpected JSON: {run.stdout[:200]}")
    return data


def counts(data: dict[str, Any]) -> str:
    rejected = data.get("rejected", [])
    n_rejected = len(rejected) if isinstance(rejected, list) else rejected
    return (
        f"rows={data.get('rows')} created={data.get('created')} updated={data.get('updated')} "
        f"unchanged={data.get('unchanged')} rejected={n_rejected}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="contract rows (100000)")
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=dt.date.today(),
        help="the date of the export and of the import (M3_TODAY), YYYY-MM-DD; default: today",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--generate-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.generate_to is not None:
        stats = generate_file(args.generate_to, rows=args.rows, today=args.today, seed=args.seed)
        print(json.dumps(stats))
        return 0

    advisors_csv = demo_advisors_csv()
    m3 = m3_command()

    tmp = Path(tempfile.mkdtemp(prefix="m3-bench-"))
    try:
        # The rows are generated in a child: a child's peak RSS (ru_maxrss) counts the memory
        # of its parent at fork time, so this process must not hold 100k rows when it starts
        # the imports.
        portfolio = tmp / "portfolio.csv"
        generate = [
            sys.executable,
            str(Path(__file__).resolve()),
            f"--generate-to={portfolio}",
            f"--rows={args.rows}",
            f"--today={args.today.isoformat()}",
            f"--seed={args.seed}",
        ]
        generated = run_child(generate, env=dict(os.environ), cwd=tmp)
        check(generated, "generating the export")
        stats = json.loads(generated.stdout)
        n_rows, clients = int(stats["rows"]), int(stats["clients"])
        size_mb = portfolio.stat().st_size / 1e6
        print(f"today            {args.today.isoformat()}")
        print(f"file             {portfolio} ({size_mb:.1f} MB)")
        print(
            f"rows             {n_rows} ({clients} clients), generated in {generated.seconds:.1f} s"
        )

        floor, counted = read_floor(portfolio)
        assert counted == n_rows, (counted, n_rows)
        print(f"floor            {floor:.3f} s  (csv.reader, best of 3)")

        env = dict(os.environ)
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.db'}"
        env["M3_TODAY"] = args.today.isoformat()

        startup = min(run_child([*m3, "--help"], env=env, cwd=tmp).seconds for _ in range(3))
        print(f"CLI startup      {startup:.3f} s  (`m3 --help`, best of 3)")

        advisors_run = run_child([*m3, "import", "advisors", str(advisors_csv)], env=env, cwd=tmp)
        check(advisors_run, "m3 import advisors")
        print(
            f"advisors import  {advisors_run.seconds:.3f} s, peak {advisors_run.peak_mb:.0f} MB"
            " (creates the schema)"
        )

        for label in ("import", "re-import"):
            run = run_child(
                [*m3, "import", "portfolio", str(portfolio), "--json"], env=env, cwd=tmp
            )
            check(run, f"m3 import portfolio ({label})")
            data = summary(run)
            print(
                f"{label:<16} {run.seconds:.3f} s  ratio {run.seconds / floor:.1f}× floor, "
                f"{n_rows / run.seconds:,.0f} rows/s, peak {run.peak_mb:.0f} MB"
            )
            print(f"{'':<16} {counts(data)}")
        db_mb = (tmp / "bench.db").stat().st_size / 1e6
        print(f"database         {db_mb:.1f} MB")
        own = max_rss_mb(resource.getrusage(resource.RUSAGE_SELF))
        print(f"benchmark itself peak {own:.0f} MB (a floor under every child's peak)")
    finally:
        if args.keep:
            print(f"kept             {tmp}")
        else:
            shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
