"""How fast is `m3 import portfolio` on a large export, compared to just reading the file?

Run by hand from the project root:

    .venv/bin/python benchmarks/import_benchmark.py [--rows 100000 [300000 …]]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--today 2026-12-01]
        [--repeat 3] [--changes 0.1 1 10]

For each size it writes an invented portfolio export (`bot.demo_data`, in a child process) in a
temporary directory and measures, in one run:

- the floors: a bare `csv.reader` pass over the file (cp1252, `;`), `sqlite3 .import` of it into
  a new database, and PostgreSQL `COPY … FROM STDIN` of it into a table of 30 text columns
  (each the best of 3);
- `m3 --help` against `python -c "import typer"` (the CLI's start-up, best of 7);
- on SQLite, and on PostgreSQL with `--database-url` (a schema made for the run, dropped at
  the end), the real CLI in subprocesses: `m3 import portfolio FILE --json` three times — the
  first import (everything created), a re-import of the same file (everything unchanged) and a
  re-import of a copy with 1 % of its rows changed — each with its wall time, its ratio to
  every floor and the child's own peak memory (`os.wait4()`);
- then the same three imports in one child process that has already imported the modules
  (`import_portfolio` and the commit, timed alone): the importer without the CLI's start-up,
  and what the 1 % change adds to the unchanged re-import, in percent of the first import;
  each import also over a `csv` floor measured again just before it in that process (best of
  3), which compares like with like when the machine's speed drifts during the run;
  with `--repeat N`, N times on a new database each, then each import's best and median (the
  floors being each the best of 3, the best import is the like-for-like ratio); then once
  more, untimed, for the peak memory (PSS) of the process and its reader child together,
  sampled every 50 ms (the sampling slows the imports it watches);
- with `--changes`, how the cost grows with the change: for each share of the rows, in one
  process on a new database, the first import, the unchanged re-import and a copy with that
  share of its rows changed, and what the change adds in percent of the first import.

It exits 1 when an import fails or its counts are not the expected ones.
"""

from __future__ import annotations

import argparse
import compileall
import csv
import datetime as dt
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
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
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=cwd)
        # wait4 reaps the child and returns its rusage alone (RUSAGE_CHILDREN would give the
        # maximum over every child so far); Linux counts in the children it reaped itself, so
        # the peak of an import read on two processes is the larger of the two (the in-process
        # runs print both).
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", errors="replace")
        stderr = err.read().decode("utf-8", errors="replace")
    return Run(seconds, max_rss_mb(usage), proc.returncode, stdout, stderr)


def check(run: Run, what: str) -> None:
    if run.returncode not in (0, 1):
        sys.stderr.write(f"{what} failed (exit {run.returncode})\n{run.stdout}\n{run.stderr}\n")
        raise SystemExit(1)


def best(measure: Callable[[], float], repeat: int = 3) -> float:
    return min(measure() for _ in range(repeat))


# --- The export ----------------------------------------------------------------------------------


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


def change_one_percent(source: Path, target: Path) -> int:
    """A copy of the export with the seller of one row in a hundred changed."""
    return change_rows(source, target, every=100)


def change_rows(source: Path, target: Path, *, every: int) -> int:
    """A copy of the export with the seller of one row in `every` changed."""
    changed = 0
    with source.open("rb") as reading, target.open("wb") as writing:
        header = reading.readline()
        seller = header.decode("cp1252").rstrip("\r\n").split(";").index("Vendeur")
        writing.write(header)
        for number, line in enumerate(reading):
            if number % every == every // 2:
                cells = line.rstrip(b"\r\n").split(b";")
                cells[seller] = b"Vendeur remplac\xe9"
                line = b";".join(cells) + b"\r\n"
                changed += 1
            writing.write(line)
    return changed


# --- Floors ---------------------------------------------------------------------------------------


def csv_floor(path: Path) -> tuple[float, int]:
    """A bare csv.reader pass (cp1252, `;`) and its row count."""
    count = 0

    def measure() -> float:
        nonlocal count
        start = time.perf_counter()
        with path.open(encoding="cp1252", newline="") as handle:
            count = sum(1 for _ in csv.reader(handle, delimiter=";")) - 1
        return time.perf_counter() - start

    return best(measure), count


def sqlite_import_floor(path: Path, tmp: Path) -> float | None:
    """`sqlite3 .import` of the file into a new database (the sqlite3 shell)."""
    shell = shutil.which("sqlite3")
    if shell is None:
        return None

    def measure() -> float:
        target = tmp / "floor.db"
        target.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(
            [shell, str(target), ".mode csv", ".separator ;", f".import {path} export"],
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - start
        target.unlink()
        return seconds

    return best(measure)


def copy_floor(path: Path, url: str) -> float:
    """PostgreSQL `COPY … FROM STDIN` of the file into a table of text columns."""
    import psycopg

    columns = path.open("rb").readline().decode("cp1252").rstrip("\r\n").split(";")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        table = f"m3_floor_{uuid.uuid4().hex[:8]}"
        names = ", ".join(f"c{i} text" for i in range(len(columns)))
        connection.execute(f"CREATE TABLE {table} ({names})")
        connection.commit()

        def measure() -> float:
            start = time.perf_counter()
            statement = (
                f"COPY {table} FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true, "
                "ENCODING 'WIN1252')"
            )
            with (
                connection.cursor() as cursor,
                cursor.copy(statement) as copy,
                path.open("rb") as handle,
            ):
                while block := handle.read(1 << 20):
                    copy.write(block)
            connection.commit()
            seconds = time.perf_counter() - start
            connection.execute(f"TRUNCATE {table}")
            connection.commit()
            return seconds

        try:
            return best(measure)
        finally:
            connection.execute(f"DROP TABLE {table}")
            connection.commit()


def compile_project() -> None:
    """The project's modules compiled to bytecode, as installing the wheel does (pip compiles
    what it installs): an editable checkout run where writing bytecode is turned off
    (`PYTHONDONTWRITEBYTECODE`) would compile them again at every command, about 0.1 s of
    each."""
    for package in ("bot", "commands", "jobs"):
        compileall.compile_dir(ROOT / package, quiet=1)


def startup(env: dict[str, str], tmp: Path) -> tuple[float, float]:
    """`m3 --help` and `python -c "import typer"`, best of 7."""
    m3 = m3_command()
    help_ = min(run_child([*m3, "--help"], env=env, cwd=tmp).seconds for _ in range(7))
    typer_ = min(
        run_child([sys.executable, "-c", "import typer"], env=env, cwd=tmp).seconds
        for _ in range(7)
    )
    return help_, typer_


# --- The imports ----------------------------------------------------------------------------------


def postgres_schema(url: str) -> tuple[str, Callable[[], None]]:
    """A new schema on that server for the run: the URL to use, and what drops it."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://").replace(
        "postgres://", "postgresql://"
    )
    schema = f"m3bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')

    separator = "&" if "?" in plain else "?"
    return f"{plain}{separator}options=-csearch_path%3D{schema}", drop


class TreeMemory:
    """The largest PSS of this process and its children together, sampled every `period`
    seconds in a thread (Linux: `/proc/PID/smaps_rollup`). PSS splits a page shared by
    several processes between them, so a reader child's pages still shared with its parent
    (the modules, the data it inherited) count once; its RSS counts them again."""

    def __init__(self, period: float = 0.05) -> None:
        self.period = period
        self.peak_kb = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        if Path("/proc/self/smaps_rollup").exists():
            self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()

    @property
    def peak_mb(self) -> float | None:
        return self.peak_kb / 1024 if self.peak_kb else None

    def _run(self) -> None:
        while not self.stopping.wait(self.period):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree()))


def _tree() -> list[int]:
    own = os.getpid()
    pids = [own]
    for task in Path(f"/proc/{own}/task").iterdir():
        try:
            pids.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return pids


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass  # gone meanwhile
    return 0


def measure_in_process(args: argparse.Namespace) -> int:
    """The child of `in_process_runs`: the three imports timed after the modules are loaded."""
    from bot import db
    from bot.crm.advisors import import_advisors
    from bot.crm.portfolio import import_portfolio

    engine = db.make_engine(args.database_url)
    db.upgrade(engine)
    factory = db.session_factory(engine)
    with factory.begin() as session:
        import_advisors(session, demo_advisors_csv(), today=args.today)
    trees = []
    for path in args.measure:
        # The floor again, just before the import, in this process: on a machine whose speed
        # drifts during the run, the import's ratio to it compares like with like.
        beside = None if args.sample_memory else csv_floor(path)[0]
        with TreeMemory() if args.sample_memory else nullcontext() as memory:
            start = time.perf_counter()
            with factory.begin() as session:
                result = import_portfolio(
                    session, path, today=args.today, parallel=not args.one_process
                )
            seconds = time.perf_counter() - start
        trees.append(memory.peak_mb if memory is not None else None)
        print(
            json.dumps({"seconds": seconds, "created": result.created, "floor": beside}),
            flush=True,
        )
    engine.dispose()
    # This process's peak RSS, its reader child's (a large file is read on two processes),
    # and each import's largest PSS of the two together.
    own = max_rss_mb(resource.getrusage(resource.RUSAGE_SELF))
    reader = max_rss_mb(resource.getrusage(resource.RUSAGE_CHILDREN))
    print(json.dumps({"peak_mb": own, "reader_peak_mb": reader, "pss_mb": trees}), flush=True)
    return 0


def in_process_runs(
    label: str,
    *,
    database_url: str,
    files: list[tuple[str, Path, dict[str, int]]],
    floors: dict[str, float | None],
    tmp: Path,
    sample_memory: bool = False,
) -> tuple[list[float], list[float]]:
    """Each import's time, and the `csv` floor measured just before it (same process)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        f"--database-url={database_url}",
        f"--today={ARGS_TODAY[0].isoformat()}",
        *(["--one-process"] if ONE_PROCESS else []),
        *(["--sample-memory"] if sample_memory else []),
        "--measure",
        *(str(path) for _, path, _ in files),
    ]
    run = run_child(command, env=dict(os.environ), cwd=tmp)
    check(run, f"in-process imports ({label})")
    how = "read on one process" if ONE_PROCESS else "a large file read on two processes"
    if sample_memory:
        print(
            f"{label}, the importer alone, its memory sampled ({how}; times not counted: the "
            "sampling slows what it samples)"
        )
    else:
        print(f"{label}, the importer alone, without the CLI's start-up ({how})")
    *lines, peaks = run.stdout.splitlines()
    measured = [json.loads(line) for line in lines]
    times = [found["seconds"] for found in measured]
    beside = [found["floor"] for found in measured]
    for (name, _, _), seconds, floor in zip(files, times, beside, strict=True):
        close = f"  {seconds / floor:5.1f}× csv just before ({floor:.3f} s)" if floor else ""
        print(f"  {name:<18} {seconds:7.2f} s  {ratios(seconds, floors)}{close}")
    _, same, changed = times
    print(
        f"  a {_share(files[2][0])} change adds {changed - same:.2f} s to the unchanged "
        f"re-import: {change_cost(times):.1f} % of the first import"
    )
    peak = json.loads(peaks)
    print(
        f"  (peak RSS, all three imports: the process {peak['peak_mb']:.0f} MB, its reader "
        f"child {peak['reader_peak_mb']:.0f} MB)"
    )
    if all(peak["pss_mb"]):
        together = " / ".join(f"{mb:.0f}" for mb in peak["pss_mb"])
        print(f"  (peak PSS of the process and its reader child together: {together} MB)")
    return times, beside


def _share(name: str) -> str:
    """The share ("1 %") in an import's name ("1 % changed")."""
    return name.removesuffix(" changed")


def change_cost(times: Sequence[float]) -> float:
    """What a 1 % change adds to an unchanged re-import, in percent of the first import (the
    aim: about 1 %), from the three imports of one process."""
    first, same, changed = times
    return 100 * (changed - same) / first


def ratios(seconds: float, floors: dict[str, float | None]) -> str:
    return "  ".join(
        f"{seconds / floor:5.1f}× {floor_name}" for floor_name, floor in floors.items() if floor
    )


def repeated_in_process_runs(
    label: str,
    *,
    database_url: Callable[[int], tuple[str, Callable[[], None]]],
    files: list[tuple[str, Path, dict[str, int]]],
    floors: dict[str, float | None],
    tmp: Path,
    repeat: int,
) -> None:
    """`in_process_runs` `repeat` times, each on a new database, then each import's best and
    median: the floors are each the best of 3, so the best import is the like-for-like ratio
    on a machine shared with other work. Then once more with the memory of the process and its
    reader child sampled (`TreeMemory`), a run whose times are not counted: a thread of the
    importer's own process reads `/proc/PID/smaps_rollup` every 50 ms, which walks the memory
    of the process it reads (that run's first import was 2-3 % slower than the timed ones')."""
    runs = []
    close_ratios = []  # each import's time over the floor measured just before it
    for attempt in range(repeat + 1):
        url, drop = database_url(attempt)
        try:
            times, beside = in_process_runs(
                label,
                database_url=url,
                files=files,
                floors=floors,
                tmp=tmp,
                sample_memory=attempt == repeat,
            )
        finally:
            drop()
        if attempt < repeat:
            runs.append(times)
            close_ratios.append([t / f for t, f in zip(times, beside, strict=True)])
    if repeat > 1:
        print(f"{label}, the importer alone, best and median of {repeat}")
        for index, (name, _, _) in enumerate(files):
            times = sorted(run[index] for run in runs)
            best, median = times[0], statistics.median(times)
            close = sorted(run[index] for run in close_ratios)
            print(f"  {name:<18} best {best:6.2f} s  {ratios(best, floors)}")
            print(f"  {'':<18} median {median:4.2f} s  {ratios(median, floors)}")
            print(
                f"  {'':<18} over the csv floor just before it: best {close[0]:.1f}×, "
                f"median {statistics.median(close):.1f}×"
            )
        costs = sorted(change_cost(run) for run in runs)
        print(
            f"  a 1 % change adds {costs[0]:.1f} % (best) / {statistics.median(costs):.1f} % "
            "(median) of the first import to the unchanged re-import"
        )


ARGS_TODAY: list[dt.date] = []
ONE_PROCESS = False


def import_runs(
    label: str,
    *,
    database_url: str,
    files: list[tuple[str, Path, dict[str, int]]],
    floors: dict[str, float | None],
    env: dict[str, str],
    tmp: Path,
) -> list[dict[str, Any]]:
    m3 = m3_command()
    env = {**env, "DATABASE_URL": database_url}
    if database_url.startswith("postgres"):
        check(run_child([*m3, "db", "upgrade"], env=env, cwd=tmp), "m3 db upgrade")
    advisors = run_child([*m3, "import", "advisors", str(demo_advisors_csv())], env=env, cwd=tmp)
    check(advisors, "m3 import advisors")
    results = []
    print(f"\n{label}")
    for name, path, expected in files:
        run = run_child([*m3, "import", "portfolio", str(path), "--json"], env=env, cwd=tmp)
        check(run, f"m3 import portfolio ({label}, {name})")
        data = json.loads(run.stdout)
        counts = {key: data[key] for key in ("created", "updated", "unchanged")}
        if counts != expected or data["rejected"]:
            sys.stderr.write(f"{name}: {counts} (expected {expected}), {data['rejected'][:3]}\n")
            raise SystemExit(1)
        print(
            f"  {name:<18} {run.seconds:7.2f} s  {ratios(run.seconds, floors)}  "
            f"peak {run.peak_mb:4.0f} MB  "
            f"(created {counts['created']}, updated {counts['updated']}, unchanged "
            f"{counts['unchanged']})"
        )
        results.append({"import": name, "seconds": run.seconds, "peak_mb": run.peak_mb})
    return results


def bench_size(rows: int, args: argparse.Namespace, tmp: Path) -> None:
    portfolio = tmp / f"portfolio-{rows}.csv"
    generate = [
        sys.executable,
        str(Path(__file__).resolve()),
        f"--generate-to={portfolio}",
        f"--rows={rows}",
        f"--today={args.today.isoformat()}",
        f"--seed={args.seed}",
    ]
    generated = run_child(generate, env=dict(os.environ), cwd=tmp)
    check(generated, "generating the export")
    stats = json.loads(generated.stdout)
    n_rows = int(stats["rows"])
    changed_file = tmp / f"portfolio-{rows}-1pc.csv"
    changed = change_one_percent(portfolio, changed_file)
    size_mb = portfolio.stat().st_size / 1e6
    print(
        f"\n=== {n_rows:,} rows ({stats['clients']:,} clients, {size_mb:.1f} MB), "
        f"generated in {generated.seconds:.1f} s".replace(",", " ")
    )

    floor, counted = csv_floor(portfolio)
    assert counted == n_rows, (counted, n_rows)
    floors: dict[str, float | None] = {"csv": floor, "sqlite3": sqlite_import_floor(portfolio, tmp)}
    if args.database_url:
        floors["COPY"] = copy_floor(portfolio, args.database_url)
    print("floors (best of 3)")
    print(f"  csv.reader         {floor:7.3f} s")
    shell = floors["sqlite3"]
    print(f"  sqlite3 .import    {shell:7.3f} s" if shell else "  sqlite3 .import    (no shell)")
    if args.database_url:
        print(f"  PostgreSQL COPY    {floors['COPY']:7.3f} s")

    env = dict(os.environ)
    env["M3_TODAY"] = args.today.isoformat()
    env.pop("DATABASE_URL", None)
    files = [
        ("first import", portfolio, {"created": n_rows, "updated": 0, "unchanged": 0}),
        ("re-import", portfolio, {"created": 0, "updated": 0, "unchanged": n_rows}),
        (
            "1 % changed",
            changed_file,
            {"created": 0, "updated": changed, "unchanged": n_rows - changed},
        ),
    ]
    import_runs(
        "SQLite",
        database_url=f"sqlite:///{tmp / f'bench-{rows}.db'}",
        files=files,
        floors=floors,
        env=env,
        tmp=tmp,
    )
    if args.in_process:

        def sqlite_file(attempt: int) -> tuple[str, Callable[[], None]]:
            path = tmp / f"bench-{rows}-in-process-{attempt}.db"
            return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)

        repeated_in_process_runs(
            "SQLite",
            database_url=sqlite_file,
            files=files,
            floors=floors,
            tmp=tmp,
            repeat=args.repeat,
        )
    if args.database_url:
        server = args.database_url
        url, drop = postgres_schema(server)
        try:
            import_runs(
                "PostgreSQL", database_url=url, files=files, floors=floors, env=env, tmp=tmp
            )
        finally:
            drop()
        if args.in_process:
            repeated_in_process_runs(
                "PostgreSQL",
                database_url=lambda _: postgres_schema(server),
                files=files,
                floors=floors,
                tmp=tmp,
                repeat=args.repeat,
            )
    for percent in args.changes:
        changes_run(percent, portfolio, files, floors, args, tmp)
    for leftover in (portfolio, changed_file, tmp / f"bench-{rows}.db"):
        leftover.unlink(missing_ok=True)


def changes_run(
    percent: float,
    portfolio: Path,
    files: list[tuple[str, Path, dict[str, int]]],
    floors: dict[str, float | None],
    args: argparse.Namespace,
    tmp: Path,
) -> None:
    """How the cost grows with the change (`--changes`): the first import, the unchanged
    re-import and a copy with `percent` % of its rows changed, in one process, on a new
    SQLite database (and a new PostgreSQL schema): what the change adds, in percent of the
    first import, compared with its share of the rows."""
    every = max(1, round(100 / percent))
    target = tmp / f"{portfolio.stem}-{every}.csv"
    changed = change_rows(portfolio, target, every=every)
    rows = files[0][2]["created"]
    name = f"{100 * changed / rows:g} % changed"
    expected = {"created": 0, "updated": changed, "unchanged": rows - changed}
    measured = [*files[:2], (name, target, expected)]
    path = tmp / f"bench-changes-{every}.db"
    in_process_runs(
        f"SQLite, {changed} of {rows} rows changed",
        database_url=f"sqlite:///{path}",
        files=measured,
        floors=floors,
        tmp=tmp,
    )
    path.unlink(missing_ok=True)
    if args.database_url:
        url, drop = postgres_schema(args.database_url)
        try:
            in_process_runs(
                f"PostgreSQL, {changed} of {rows} rows changed",
                database_url=url,
                files=measured,
                floors=floors,
                tmp=tmp,
            )
        finally:
            drop()
    target.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000], help="contract rows (100000)"
    )
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=dt.date.today(),
        help="the date of the export and of the import (M3_TODAY), YYYY-MM-DD; default: today",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url",
        help="also on this PostgreSQL server (a schema made for the run), with its COPY floor",
    )
    parser.add_argument(
        "--no-in-process",
        dest="in_process",
        action="store_false",
        help="skip the imports timed in one process (without the CLI's start-up)",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="the in-process imports read the file on one process (parallel=False)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="the in-process imports this many times, each on a new database (1)",
    )
    parser.add_argument(
        "--changes",
        type=float,
        nargs="+",
        default=[],
        metavar="PERCENT",
        help="also, in one process, what a change of this share of the rows adds (0.1 1 10)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--generate-to", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--sample-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    ARGS_TODAY[:] = [args.today]
    global ONE_PROCESS
    ONE_PROCESS = args.one_process
    if args.measure:
        return measure_in_process(args)

    if args.generate_to is not None:
        stats = generate_file(args.generate_to, rows=args.rows[0], today=args.today, seed=args.seed)
        print(json.dumps(stats))
        return 0

    compile_project()
    tmp = Path(tempfile.mkdtemp(prefix="m3-bench-"))
    try:
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
        help_, typer_ = startup(env, tmp)
        print(f"today            {args.today.isoformat()}")
        print(
            f"CLI start-up     m3 --help {help_:.3f} s, python -c 'import typer' {typer_:.3f} s "
            f"({help_ / typer_:.2f}×)"
        )
        for rows in args.rows:
            bench_size(rows, args, tmp)
        own = max_rss_mb(resource.getrusage(resource.RUSAGE_SELF))
        print(f"\nbenchmark itself peak {own:.0f} MB (a floor under every child's peak)")
    finally:
        if args.keep:
            print(f"kept             {tmp}")
        else:
            shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
