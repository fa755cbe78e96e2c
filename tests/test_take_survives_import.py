"""A case a colleague took by hand (« Je le prends ») stays with them when the next daily
export comes in, unless that export gives the client another advisor in the CRM."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Advisor, Case, Client
from bot.team import Taken, take_case
from tests.conftest import M3

MANAGER = "catherine.moulin@agence-corniche.example.fr"
JULIE = "julie.laurent@agence-corniche.example.fr"
MANON = "manon.langlois@agence-corniche.example.fr"


def advisor(session: Session, email: str) -> Advisor:
    return session.scalars(select(Advisor).where(Advisor.email == email)).one()


def julies_open_case(m3: M3) -> dict[str, object]:
    code, listed = m3.json("cases", "--date", "2026-11-24", "--advisor", JULIE, today="2026-11-24")
    assert code == 0
    return next(c for c in listed if c["state"] == "open")


def test_a_taken_case_stays_taken_across_imports_until_the_crm_moves_the_client(
    loaded: M3, sample_dir: Path, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    with factory.begin() as session:
        taken = take_case(
            session,
            case_id=int(case["id"]),  # type: ignore[call-overload]
            expected_advisor_id=advisor(session, JULIE).id,
            asker=advisor(session, MANAGER),
            target=advisor(session, MANAGER),
            today=dt.date(2026, 11, 24),
        )
        assert isinstance(taken, Taken)
        catherine = advisor(session, MANAGER).id
    # The next daily export, unchanged for this client (Julie is still the advisor in Lagon).
    code, _ = loaded.json(
        "import", "portfolio", str(sample_dir / "portfolio.csv"), today="2026-11-25"
    )
    assert code == 0
    with factory() as session:
        assert session.get(Case, case["id"]).advisor_id == catherine  # type: ignore[union-attr]
    # An export where the client's details change (a new e-mail) but not their advisor.
    raw = (sample_dir / "portfolio.csv").read_bytes().decode("cp1252").split("\n")
    header = raw[0].split(";")
    email_at, advisor_at = header.index("E-mail"), header.index("Chargé de clientèle")

    def export(name: str, **cells: str) -> Path:
        lines = [raw[0]]
        for line in raw[1:]:
            row = line.split(";")
            if row[0] == case["client_number"]:
                for index, value in cells.items():
                    row[int(index)] = value
            lines.append(";".join(row))
        path = tmp_path / name
        path.write_bytes("\n".join(lines).encode("cp1252"))
        return path

    code, _ = loaded.json(
        "import",
        "portfolio",
        str(export("e-mail.csv", **{str(email_at): "nouveau@exemple.fr"})),
        today="2026-11-26",
    )
    assert code == 0
    with factory() as session:
        assert session.get(Case, case["id"]).advisor_id == catherine  # type: ignore[union-attr]
    # The CRM now gives the client to Manon: the case follows the CRM.
    code, summary = loaded.json(
        "import",
        "portfolio",
        str(export("manon.csv", **{str(email_at): "nouveau@exemple.fr", str(advisor_at): MANON})),
        today="2026-11-27",
    )
    assert code == 0 and summary["cases"]["moved"] == 1
    with factory() as session:
        manon = advisor(session, MANON).id
        assert session.get(Case, case["id"]).advisor_id == manon  # type: ignore[union-attr]
        client = session.scalars(select(Client).where(Client.number == case["client_number"])).one()
        assert client.advisor_id == manon
