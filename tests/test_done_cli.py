"""What reports leave for scripts and checks: `m3 cases --json`, `m3 case`, `m3 corrections`, and
a later export that carries a corrected value marking the correction applied."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Correction
from tests.conftest import M3
from tests.fakeslack import FakeSlack
from tests.slackkit import Responses
from tests.test_done import (
    date,
    full_joint,
    julies_open_case,
    open_report,
    outcome_values,
    pick_outcome,
    submit,
    text,
)
from tests.test_done import fake as fake
from tests.test_done import settings as settings

NEW_EMAIL = "benoit.etienne@mail.fr"


def report_twice(server: str, fake: FakeSlack, responses: Responses, loaded: M3) -> dict[str, Any]:
    """A failed call, then a call that reached the client: the review done, the e-mail
    corrected and a quote to send."""
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    assert submit(server, view, outcome_values("messagerie", next_try=date("2026-11-25"))) == (
        200,
        {},
    )
    view = pick_outcome(
        server, fake, open_report(server, fake, responses, case["client_number"]), "joint", {}
    )
    assert submit(server, view, full_joint(view, fix_email=text(NEW_EMAIL))) == (200, {})
    return case


def test_cases_json_carries_tags_attempts_and_next_actions(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
) -> None:
    case = report_twice(server, fake, responses, loaded)
    code, listed = loaded.json("cases", "--date", "2026-11-24", today="2026-11-24")
    assert code == 0
    (mine,) = [c for c in listed if c["id"] == case["id"]]
    assert mine["tags"] == {"call": "OK", "crm": "OK", "review": "OK", "card": None}
    assert [(a["outcome"], a["by"]) for a in mine["attempts"]] == [
        ("messagerie", "julie.laurent@agence-corniche.example.fr"),
        ("joint", "julie.laurent@agence-corniche.example.fr"),
    ]
    assert mine["attempts"][0]["at"].startswith("2026-11-24T10:00:00")  # 11:00 in Paris
    assert mine["next_actions"] == [
        {"kind": "devis", "due": "2026-11-30", "product": "habitation", "done": False}
    ]
    assert mine["callback_at"] is None and mine["completed_on"] is None
    # A case nobody reported on has empty values, not missing keys.
    other = next(c for c in listed if c["id"] != case["id"])
    assert other["tags"] == {"call": None, "crm": None, "review": None, "card": None}
    assert other["attempts"] == [] and other["next_actions"] == []


def test_case_command_shows_one_clients_case(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
) -> None:
    case = report_twice(server, fake, responses, loaded)
    code, shown = loaded.json("case", case["client_number"], today="2026-11-24")
    assert code == 0
    assert shown["id"] == case["id"] and len(shown["attempts"]) == 2
    assert shown["review"]["held_elsewhere"][0] == {"product": "Habitation", "insurer": "MAAF"}
    assert [(c["field"], c["new"]) for c in shown["corrections"]] == [("email", NEW_EMAIL)]
    result = loaded("case", case["client_number"], today="2026-11-24")
    assert result.exit_code == 0
    assert "Appel téléphonique : OK" in result.stdout and "Devis à envoyer" in result.stdout
    missing = loaded("case", "999999", today="2026-11-24")
    assert missing.exit_code == 2
    assert "aucun client n°\u00a0«\u00a0999999\u00a0» dans la base" in missing.stderr


def test_corrections_are_listed_then_applied_by_a_later_import(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    sample_dir: Path,
    tmp_path: Path,
    factory: sessionmaker[Session],
) -> None:
    case = report_twice(server, fake, responses, loaded)
    result = loaded("corrections", "--format", "csv", today="2026-11-24")
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout), delimiter=";"))
    assert rows[0][:5] == ["client", "nom", "champ", "ancienne valeur", "nouvelle valeur"]
    assert rows[1][0] == case["client_number"] and rows[1][2:5] == ["E-mail", "", NEW_EMAIL]
    assert rows[1][7] == ""  # not applied yet
    # The agency typed it into Lagon: the next export carries it.
    source = (sample_dir / "portfolio.csv").read_bytes().decode("cp1252")
    lines = source.split("\n")
    header = lines[0].split(";")
    email_at = header.index("E-mail")
    edited = []
    for line in lines:
        cells = line.split(";")
        if cells[0] == case["client_number"]:
            cells[email_at] = NEW_EMAIL
        edited.append(";".join(cells))
    export = tmp_path / "export-2.csv"
    export.write_bytes("\n".join(edited).encode("cp1252"))
    code, summary = loaded.json("import", "portfolio", str(export), today="2026-11-25")
    assert code == 0 and summary["corrections_applied"] == 1
    listed = loaded("corrections", "--format", "json", today="2026-11-25")
    assert listed.exit_code == 0
    applied = json.loads(listed.stdout)
    assert [c["applied_on"] for c in applied] == ["2026-11-25"]
    pending = loaded("corrections", "--pending", today="2026-11-25")
    assert pending.exit_code == 0 and "Aucune correction" in pending.stdout
    with factory() as session:
        (correction,) = session.scalars(select(Correction))
        assert correction.applied_on is not None
    # Re-importing the original export (without the e-mail) does not un-apply it.
    code, summary = loaded.json(
        "import", "portfolio", str(sample_dir / "portfolio.csv"), today="2026-11-26"
    )
    assert code == 0 and summary["corrections_applied"] == 0
