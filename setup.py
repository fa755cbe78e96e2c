"""The package list, found rather than written out (the metadata is in pyproject.toml).

`bot`, `commands`, `jobs` and every subpackage with an `__init__.py`, plus `bot.templates`:
the top-level templates/ folder (every word a person reads) with its subfolders, installed
inside `bot` (pyproject.toml maps the folder) so that `bot.rendering` loads it the same way from
a checkout, an editable install and a wheel.
"""

from setuptools import find_namespace_packages, find_packages, setup

CODE = find_packages(include=["bot", "bot.*", "commands", "commands.*", "jobs", "jobs.*"])
TEMPLATES = ["bot.templates", *(f"bot.templates.{p}" for p in find_namespace_packages("templates"))]

setup(packages=[*CODE, *TEMPLATES])
