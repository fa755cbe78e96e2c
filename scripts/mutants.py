"""Mutation testing by hand (not in CI): runs mutmut, then counts killed and surviving mutants
per module and lists the survivors.

    .venv/bin/python scripts/mutants.py                 # the rules, the case engine, the listeners
    .venv/bin/python scripts/mutants.py "bot.rules*"    # one module (mutmut's name patterns)

`make mutants` runs the first form. mutmut's settings are in pyproject.toml (`[tool.mutmut]`):
which files are mutated and which tests run. mutmut works on a copy of the packages in
`mutants/` (never on the working tree), runs for each mutant only the tests that reach the
mutated function, and gives up on a mutant after 15 times those tests' own duration (a
"timeout", counted as killed here). The database tests run on SQLite only: TEST_DATABASE_URL
is removed. `mutmut show NAME` prints a survivor's diff; a second run resumes where the last
one stopped (delete `mutants/` to start over).
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATTERNS = ("bot.rules*", "bot.cases*", "commands*")
MUTMUT = Path(sys.executable).parent / "mutmut"
#: mutmut names a mutant `<module>.x_<function>__mutmut_<n>` (`xǁClassǁmethod` for methods).
_MODULE = re.compile(r"^(?P<module>.+?)\.x[_ǁ]")
KILLED = frozenset({"killed", "timeout"})
#: Mutants that were not run (yet): counted, not listed.
NOT_RUN = frozenset({"not checked", "skipped"})


def _results() -> dict[str, str]:
    """Every mutant's name -> its status, as `mutmut results --all true` prints them."""
    listing = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    statuses = {}
    for line in listing.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            statuses[name] = status
    return statuses


def summary(statuses: dict[str, str], patterns: tuple[str, ...]) -> tuple[str, int]:
    """The per-module table and the mutants that were run and not killed, and their number."""
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for name, status in sorted(statuses.items()):
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        match = _MODULE.match(name)
        module = match["module"] if match else name.rsplit(".", 1)[0]
        by_module[module][status] += 1
        if status not in KILLED | NOT_RUN:
            survivors[module].append(f"{name} ({status})" if status != "survived" else name)
    lines = [f"{'module':<24} {'killed':>7} {'total':>6}  other"]
    total = Counter[str]()
    for module, counts in sorted(by_module.items()):
        total.update(counts)
        killed = sum(counts[s] for s in KILLED)
        other = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in KILLED)
        lines.append(f"{module:<24} {killed:>7} {sum(counts.values()):>6}  {other}")
    killed = sum(total[s] for s in KILLED)
    lines.append(f"{'all':<24} {killed:>7} {sum(total.values()):>6}")
    for module, names in sorted(survivors.items()):
        lines.append(f"\nNot killed in {module} ({len(names)}):")
        lines += [f"  {n}" for n in names]
    return "\n".join(lines), sum(len(n) for n in survivors.values())


def main(argv: list[str]) -> int:
    patterns = tuple(argv) or DEFAULT_PATTERNS
    environ = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    run = subprocess.run([str(MUTMUT), "run", *patterns], cwd=ROOT, env=environ)
    if run.returncode != 0:
        return run.returncode
    table, _ = summary(_results(), patterns)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
