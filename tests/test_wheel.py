"""The project as a user installs it: a real wheel (not the editable install of the test run)
in a fresh virtualenv, `m3` run from another directory.

The wheel is built from a copy of the working tree (setuptools' `build/` folder would otherwise
carry files already deleted into the wheel), then installed with its dependencies, resolved by
pip as for any user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Folders of the working tree that are not the project's source.
NOT_SOURCE = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "mutants",
    "*.db",
)
PIP = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]


def _pip(*args: str, timeout: float) -> None:
    result = subprocess.run([*PIP, *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "m3"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-deps", "--wheel-dir", str(out), str(source), timeout=180)
    (built,) = out.glob("m3_bot-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and its dependencies; its `bin` folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    _pip("--python", str(python), "install", str(wheel), timeout=300)
    return python.parent


def test_the_wheel_holds_every_module_template_migration_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        str(path.relative_to(ROOT))
        for folder in ("bot", "commands", "jobs")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    expected |= {
        "bot/templates/" + str(path.relative_to(ROOT / "templates"))
        for path in (ROOT / "templates").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "bot/migrations/script.py.mako" in expected
    assert "bot/templates/cli/queue.txt.j2" in expected
    assert sorted(expected - names) == []


def test_m3_demo_runs_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("M3_", "DATABASE_URL", "SLACK_", "PYTHON", "VIRTUAL_ENV"))
    }
    environ.update(
        PATH=f"{installed}{os.pathsep}{environ.get('PATH', '')}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}",
        M3_TODAY="2026-11-24",
    )

    where = subprocess.run(
        [installed / "python", "-c", "import bot.rendering as r; print(r.__file__)"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout

    result = subprocess.run(
        [installed / "m3", "demo"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Démo chargée" in result.stdout
    assert "mardi 24 novembre 2026" in result.stdout  # the heading of cli/queue.txt.j2
    assert "À traiter" in result.stdout and "à appeler avant le" in result.stdout
    assert (tmp_path / "demo.db").exists()  # migrated from the wheel's migrations
