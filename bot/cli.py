"""The `m3` command line: database, imports, the case listing and the demo.

Exit codes of the imports: 0 every row imported, 1 some rows rejected, 2 file refused (or bad
settings). Messages are in French; `--json` (or `--format json`) prints one JSON document and
nothing else, whatever happens: a failure is one object with `error` (`_print_error`).
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from typer.core import TyperCommand, TyperGroup

# Only typer at start-up: `m3 --help` and the light commands start in about the time typer
# takes to print its help. The database, SQLAlchemy, the settings, the rules (and their
# holiday calendars), rich and the importer are imported by the commands that use them.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy.orm import Session, sessionmaker
    from typer._click import Context, HelpFormatter
    from typer._click.core import Parameter
    from typer._click.exceptions import UsageError

    from bot.crm.run import ImportResult
    from bot.models import Advisor
    from bot.rules import CaseState
    from bot.settings import Settings


def _click_errors() -> Any:
    """The exceptions of the click typer runs on (its own copy in recent versions)."""
    import importlib

    package = TyperCommand.__bases__[0].__module__.rsplit(".", 1)[0]
    return importlib.import_module(f"{package}.exceptions")


if not TYPE_CHECKING:  # the same classes, from whichever click typer runs on
    Context = TyperCommand.context_class
    HelpFormatter = Context.formatter_class
    UsageError = _click_errors().UsageError


# --- The frame of the help and of the usage errors: French, and without rich ------------------
#
# With rich installed, typer draws its help and errors with it: 0.1 s of imports (markdown-it,
# pygments…) before the first line. The apps ask for click's plain layout instead
# (`rich_markup_mode=None`). Its frame words are English in two places: typer's own layer passes
# them through gettext (`typer.core._`), which gets the French catalogue instead; its copy of
# click writes them in, which the classes below override (the usage line, the headings, the help
# option, the usage errors). The words are in templates/cli/frame.py.


def _frame() -> Any:
    from bot.templates.cli import frame  # type: ignore[import-not-found]

    return frame


def _word(key: str, /, **values: str) -> str:
    return str(_frame().WORDS[key]).format(**values)


def _gettext(message: str) -> str:
    return str(_frame().GETTEXT.get(message, message))


def _speak_french() -> None:
    """typer's own words (panel headings, « default », « required », a missing command) through
    the French catalogue rather than gettext, which has no French for them."""
    import typer.core

    typer.core._ = _gettext  # type: ignore[attr-defined]


class _FrenchHelpFormatter(HelpFormatter):
    """click's help layout with the French usage prefix and headings (« Options : »)."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, _word("usage") if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{_word('heading', heading=_gettext(heading))}\n")


class _FrenchContext(Context):
    formatter_class = _FrenchHelpFormatter


def _french_help_option(option: Parameter | None) -> Any:
    if option is not None:
        option.help = _word("help_option")  # type: ignore[attr-defined]
        # Not given, the flag is False rather than None: typer would otherwise build a pydantic
        # adapter (0.1 s of imports) to pass None through on every command line.
        option.default = False
    return option


def _either(names: list[str]) -> str:
    quoted = [_word("quoted", name=name) for name in names]
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} {_word('or')} {quoted[-1]}"


class _FrenchUsageError(UsageError):
    """A usage error told in French: the usage line, where the help is, then what is wrong."""

    def show(self, file: Any = None) -> None:
        lines = []
        if self.ctx is not None:
            lines.append(self.ctx.get_usage())
            if self.ctx.command.get_help_option(self.ctx) is not None:
                option = self.ctx.help_option_names[0]
                lines.append(_word("help_hint", command=self.ctx.command_path, option=option))
            lines.append("")
        lines.append(_word("error", message=self.message))
        typer.echo("\n".join(lines), file=file, err=file is None)
        _json_error(self.message)


def _parameter_name(param: Any) -> str:
    opts = getattr(param, "opts", None) or []
    if getattr(param, "param_type_name", "") == "option" and opts:
        return " / ".join(opts)
    return str(getattr(param, "metavar", None) or param.name)


def _usage_error_in_french(exc: UsageError) -> str:
    """What click's usage error says, said in French (by its kind: its text is English)."""
    errors = _click_errors()
    if isinstance(exc, errors.NoSuchOption):
        message = _word("no_such_option", name=exc.option_name)
        if exc.possibilities:
            message = _word("did_you_mean", message=message, names=_either(exc.possibilities))
        return message
    if isinstance(exc, errors.MissingParameter):
        kind = exc.param_type or getattr(exc.param, "param_type_name", "argument")
        name = _parameter_name(exc.param) if exc.param is not None else ""
        return _word("missing_option" if kind == "option" else "missing_argument", name=name)
    if isinstance(exc, errors.BadParameter):
        if exc.param is None:
            return _word("invalid_usage")
        name = _parameter_name(exc.param)
        described = getattr(exc.param, "type_descriptor", None)
        if described is not None and described.is_choice and described.choices:
            choices = _either([str(getattr(c, "value", c)) for c in described.choices])
            return _word("expected_choice", name=name, choices=choices)
        if described is not None and described.annotation is int:
            return _word("expected_integer", name=name)
        return _word("invalid_value", name=name)
    if isinstance(exc, errors.BadOptionUsage):
        no_value = "does not take a value" in exc.message
        return _word(
            "option_takes_no_value" if no_value else "option_needs_value", name=exc.option_name
        )
    if "extra argument" in exc.message:
        extra = exc.message.split(" (", 1)[-1].removesuffix(")")
        return _word("extra_arguments" if " " in extra else "extra_argument", arguments=extra)
    return _word("invalid_usage")


@contextmanager
def _usage_errors_in_french() -> Iterator[None]:
    errors = _click_errors()
    try:
        yield
    except (errors.NoArgsIsHelpError, _FrenchUsageError):
        raise  # the help itself (`m3 import` alone), or already French
    except errors.UsageError as exc:
        raise _FrenchUsageError(_usage_error_in_french(exc), exc.ctx) from None


class _Command(TyperCommand):
    """A command whose help is French and drawn without rich."""

    context_class = _FrenchContext

    def get_help_option(self, ctx: Context) -> Any:
        return _french_help_option(super().get_help_option(ctx))

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The arguments and the options, as typer lists them, but an argument without the
        Python type typer writes after its name (« NUMÉRO <str> »): its help says what it is."""
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                shown = getattr(param, "display_type_rich", lambda _ctx: None)(ctx)
                name = record[0].removesuffix(f" {shown}") if shown else record[0]
                arguments.append((name, record[1]))
            elif param.param_type_name == "option":
                options.append(record)
        for heading, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(heading):
                    formatter.write_dl(rows)


class _Group(TyperGroup):
    """A group of commands whose help and usage errors are French and drawn without rich. The
    root one's `main` is the CLI's entry point, in `m3` as in the tests."""

    context_class = _FrenchContext

    def __init__(self, **attrs: Any) -> None:
        if attrs.get("subcommand_metavar") is None:
            attrs["subcommand_metavar"] = _word("subcommand_metavar")
        super().__init__(**attrs)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        _speak_french()
        given = kwargs.get("args", args[0] if args else None)
        _JSON_ERRORS.update(
            wanted=_json_asked(sys.argv[1:] if given is None else list(given)), printed=False
        )
        return super().main(*args, **kwargs)

    def get_help_option(self, ctx: Context) -> Any:
        return _french_help_option(super().get_help_option(ctx))

    def make_context(self, *args: Any, **kwargs: Any) -> Context:
        with _usage_errors_in_french():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Context) -> Any:
        with _usage_errors_in_french():
            return super().invoke(ctx)

    def resolve_command(self, ctx: Context, args: list[str]) -> Any:
        from difflib import get_close_matches

        name = args[0]
        if not name.startswith("-") and self.get_command(ctx, name) is None:
            message = _gettext("No such command {name!r}.").format(name=name)
            close = get_close_matches(name, self.list_commands(ctx))
            if close:
                message = _word("did_you_mean", message=message, names=_either(close))
            raise _FrenchUsageError(message, ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """Each command with the first sentence of its help, whole: click cuts it at the
        terminal's width with « ... », and loses its no-break spaces (a line would start with
        « : »)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, _first_sentence(command.short_help or command.help or "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _first_sentence(text: str) -> str:
    import inspect
    import re

    words = re.split(r"[ \t\n]+", inspect.cleandoc(text).partition("\n\n")[0].strip())
    for end, word in enumerate(words, start=1):
        if word.endswith("."):
            return " ".join(words[:end])
    return " ".join(words)


app = typer.Typer(
    cls=_Group,
    help="Bot M+3\u00a0: import de l'export CRM, dossiers M+3 et récapitulatif du matin.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # the subcommands' and groups' too
    suggest_commands=False,  # _Group suggests, in French
)
db_app = typer.Typer(cls=_Group, help="Base de données.", no_args_is_help=True)
import_app = typer.Typer(cls=_Group, help="Import des exports (CSV ou XLSX).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")


class _LazyConsole:
    """A rich `Console` made on first use: rich is imported by the commands that print through
    it, not by `m3 --help` nor by an import's JSON."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


err = cast("Console", _LazyConsole(stderr=True, soft_wrap=True))
out = cast("Console", _LazyConsole(soft_wrap=True))


def _print_error(message: str, label: str = "Erreur") -> None:
    """One French line on stderr, its label in red on a terminal (and, when the command line
    asks for JSON, `_json_error`). Without rich: a usage error or a refused file is told
    before any work, as fast as the help."""
    typer.secho(f"{label} :", fg="red", err=True, nl=False)
    typer.echo(f" {message}", err=True)
    _json_error(message if label == "Erreur" else f"{label}\u00a0: {message}")


# Whether the command line asks for JSON (`_Group.main`), and whether its error was printed.
_JSON_ERRORS = {"wanted": False, "printed": False}


def _options(args: list[str]) -> list[str]:
    """The words of a command line before `--`: after it, `--json` is a file's name."""
    return args[: args.index("--")] if "--" in args else args


def _json_asked(args: list[str]) -> bool:
    """`--json`, or `--format json` (`--format=json`, any case): a script reads stdout."""
    args = _options(args)
    if "--json" in args:
        return True
    for index, arg in enumerate(args):
        value = arg.partition("=")[2] if arg.startswith("--format=") else None
        if arg == "--format" and index + 1 < len(args):
            value = args[index + 1]
        if value is not None and value.strip().casefold() == "json":
            return True
    return False


def _json_error(message: str) -> None:
    """With JSON asked for, a failure is one JSON object with `error` on stdout (the first
    failure only: a script parses one object), besides the French line on stderr."""
    if _JSON_ERRORS["wanted"] and not _JSON_ERRORS["printed"]:
        _JSON_ERRORS["printed"] = True
        print(json.dumps({"error": message}, ensure_ascii=False), flush=True)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("m3-bot")
        except PackageNotFoundError:  # run from a checkout that was never installed
            number = "inconnue"
        print(f"m3 {number}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Affiche la version et quitte.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    pass


def _fail(message: str, code: int = 2, *, label: str = "Erreur") -> typer.Exit:
    _print_error(message, label)
    return typer.Exit(code)


_SETTINGS_LABEL = "Erreur de configuration"


def _settings_problem(exc: Exception) -> str:
    """A bad setting's line without its own heading: the CLI labels it (« Erreur de
    configuration\u00a0: M3_TIMEZONE — … »), never twice."""
    text = str(exc)
    for heading in ("Configuration invalide\u00a0: ", "Configuration invalide : "):
        text = text.removeprefix(heading)
    return text


def _settings() -> Settings:
    from bot.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        raise _fail(_settings_problem(exc), label=_SETTINGS_LABEL) from None


def _sqlite_folder_problem(url: str) -> str | None:
    """For a SQLite file whose folder does not exist, the line that says so (SQLite would only
    say it cannot open the file); None otherwise."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    if (
        parsed.get_backend_name() != "sqlite"
        or name in ("", ":memory:")
        or name.startswith("file:")
    ):
        return None
    folder = Path(name).expanduser().absolute().parent
    if folder.is_dir():
        return None
    return (
        f"base de données injoignable : le dossier {folder}, où DATABASE_URL place le fichier "
        "SQLite, n'existe pas\u00a0; créez-le ou corrigez DATABASE_URL"
    )


def _unreachable(exc: BaseException) -> str:
    """An unreachable database in one line: a SQLite file that cannot be opened is not a
    server to start."""
    from bot.outages import database_cause

    cause = database_cause(exc)
    if "SQLite" in cause:
        return (
            f"base de données injoignable ({cause}) : vérifiez DATABASE_URL, que le dossier du "
            "fichier existe et que vous pouvez y écrire"
        )
    return (
        f"base de données injoignable ({cause}) : vérifiez DATABASE_URL "
        "et que le serveur de base de données est démarré"
    )


@contextmanager
def _database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    from bot import db

    problem = _sqlite_folder_problem(settings.database_url)
    if problem is not None:
        raise _fail(problem, 1)
    engine = db.make_engine(settings.database_url)
    try:
        db.ensure_schema(engine)
        yield db.session_factory(engine)
    finally:
        engine.dispose()


def _parse_date(value: str | None, settings: Settings) -> dt.date:
    if not value:
        return settings.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        try:
            return dt.datetime.strptime(value, "%d/%m/%Y").date()
        except ValueError:
            raise _fail(f"date invalide « {value} » (AAAA-MM-JJ ou JJ/MM/AAAA)") from None


@db_app.command("upgrade", cls=_Command)
def db_upgrade() -> None:
    """Applique les migrations (à lancer à chaque déploiement)."""
    from bot import db

    settings = _settings()
    problem = _sqlite_folder_problem(settings.database_url)
    if problem is not None:
        raise _fail(problem, 1)
    engine = db.make_engine(settings.database_url)
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()
    out.print("Base de données à jour.")


class _Bar:
    """A progress bar on an interactive terminal, nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.progress: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("Import"),
                BarColumn(),
                TextColumn("{task.completed} lignes"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.task = self.progress.add_task("import", total=None)

    def __enter__(self) -> Callable[[int], None] | None:
        if self.progress is None:
            return None
        self.progress.start()
        progress, task = self.progress, self.task
        return lambda rows: progress.update(task, completed=rows)

    def __exit__(self, *_: object) -> None:
        if self.progress is not None:
            self.progress.stop()


ImportRun = Callable[["Session", dt.date, Callable[[int], None] | None], "ImportResult"]


def _import_failure(message: str, code: int, *, as_json: bool, label: str = "Erreur") -> typer.Exit:
    """An import that could not be done: one French line on stderr and, with --json, one JSON
    object with `error` on stdout (`_print_error`)."""
    _JSON_ERRORS["wanted"] = _JSON_ERRORS["wanted"] or as_json
    return _fail(message, code, label=label)


def _run_import(kind: str, path: Path, *, dry_run: bool, as_json: bool, run: ImportRun) -> None:
    """Run an import in one transaction, rolled back with --dry-run. Whatever goes wrong, the
    message is French and --json prints one object with `error`: exit 2 for a refused file or
    bad settings, 1 for an unreachable database, 3 for an unexpected error."""
    from bot.crm.reading import FileRefused, shown_name
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise _import_failure(
            _settings_problem(exc), 2, as_json=as_json, label=_SETTINGS_LABEL
        ) from None
    problem = _sqlite_folder_problem(settings.database_url)
    if problem is not None:
        raise _import_failure(problem, 1, as_json=as_json)
    try:
        with _database(settings) as factory:
            session = factory()
            try:
                with _Bar(not as_json and sys.stderr.isatty()) as progress:
                    result = run(session, settings.today(), progress)
            except BaseException:
                session.rollback()
                raise
            else:
                if dry_run:
                    session.rollback()
                else:
                    session.commit()
            finally:
                session.close()
    except FileRefused as exc:
        raise _import_failure(f"fichier refusé : {exc}", 2, as_json=as_json) from None
    except Exception as exc:
        if os.environ.get("M3_DEBUG"):
            raise
        from bot.outages import is_database_outage

        if is_database_outage(exc):
            raise _import_failure(_unreachable(exc), 1, as_json=as_json) from None
        raise _import_failure(
            f"erreur inattendue ({type(exc).__name__}) : rien n'a été enregistré ; relancez "
            "avec M3_DEBUG=1 pour le détail technique",
            3,
            as_json=as_json,
        ) from None
    if as_json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        from bot.rendering import render

        print(
            render(
                "cli/import_summary.txt.j2",
                kind=kind,
                filename=shown_name(path),
                result=result,
                dry_run=dry_run,
                show_cases=kind == "Portefeuille",
                show_staff=kind == "Conseillers",
            )
        )
    raise typer.Exit(result.exit_code)


def _usage_in_french(exc: Any, errors: Any) -> str:
    command = exc.ctx.command_path if exc.ctx is not None else "m3 import"
    if isinstance(exc, errors.MissingParameter):
        return f"fichier à importer manquant : {command} FICHIER (voir {command} --help)"
    if isinstance(exc, errors.NoSuchOption):
        return f"option inconnue « {exc.option_name} » (voir {command} --help)"
    if "extra argument" in str(exc.message):
        return f"un seul fichier à la fois : {command} FICHIER (voir {command} --help)"
    return f"arguments invalides (voir {command} --help)"


class _ImportCommand(_Command):
    """An import command whose usage errors (no file, an unknown option) are French and, with
    --json, one JSON object."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        errors = _click_errors()
        as_json = "--json" in _options(args)
        try:
            return super().parse_args(ctx, args)
        except errors.UsageError as exc:
            raise _import_failure(_usage_in_french(exc, errors), 2, as_json=as_json) from None


# The file is not checked here (click's `Path` would refuse an unreadable one in English, as a
# usage error): the import opens it and says in French why it cannot (`os_reason`).
FileArg = Annotated[
    Path,
    typer.Argument(
        metavar="FICHIER", help="Export CSV (; , ou tabulation) ou XLSX.", readable=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Résultat en JSON, rien d'autre.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Tout vérifier sans rien enregistrer.")]


@import_app.command("advisors", cls=_ImportCommand)
def import_advisors_command(
    file: FileArg,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    keep_missing: Annotated[
        bool,
        typer.Option(
            "--keep-missing",
            help="Ne pas désactiver les personnes absentes du fichier (fichier partiel).",
        ),
    ] = False,
    confirm_departures: Annotated[
        bool,
        typer.Option(
            "--confirm-departures",
            help="Désactiver les absents même s'ils sont plus de la moitié de l'équipe active.",
        ),
    ] = False,
) -> None:
    """Importe l'équipe (e-mail, prénom, nom, téléphone, agence, rôle)\u00a0: le fichier est toute
    l'équipe, les absents du fichier sont désactivés et leurs dossiers en cours listés."""
    from bot.crm.advisors import import_advisors

    _run_import(
        "Conseillers",
        file,
        dry_run=dry_run,
        as_json=as_json,
        run=lambda session, today, _progress: import_advisors(
            session,
            file,
            today=today,
            keep_missing=keep_missing,
            confirm_departures=confirm_departures,
        ),
    )


@import_app.command("portfolio", cls=_ImportCommand)
def import_portfolio_command(
    file: FileArg, dry_run: DryRunOpt = False, as_json: JsonOpt = False
) -> None:
    """Importe l'export du portefeuille (une ligne par contrat) et met à jour les dossiers M+3."""
    from bot.crm.portfolio import import_portfolio

    _run_import(
        "Portefeuille",
        file,
        dry_run=dry_run,
        as_json=as_json,
        run=lambda session, today, progress: import_portfolio(
            session, file, today=today, progress=progress
        ),
    )


# By `CaseState` value (a `CaseState`, a str, finds its label): no import of the rules here.
_STATE_LABELS = {
    "upcoming": "à venir",
    "open": "à traiter",
    "late": "en retard",
    "expired": "expiré",
    "cancelled": "annulé",
    "done": "fait",
}
_STATUS_LABELS = {"a_faire": "À faire", "en_cours": "En cours", "termine": "Terminé"}
# `--state` takes the French words (with or without accents), shown in the help and the
# errors, and the codes `--json` gives (`state`).
_FRENCH_STATES = {
    "a_venir": "upcoming",
    "a_traiter": "open",
    "en_retard": "late",
    "expire": "expired",
    "annule": "cancelled",
    "fait": "done",
}


def _state_option(value: str | None) -> CaseState | None:
    if value is None:
        return None
    import unicodedata

    from bot.rules import CaseState

    _STATE_NAMES = {name: CaseState(code) for name, code in _FRENCH_STATES.items()} | {
        state.value: state for state in CaseState
    }
    key = unicodedata.normalize(
        "NFKD", value.strip().casefold().replace(" ", "_").replace("-", "_")
    )
    key = "".join(c for c in key if not unicodedata.combining(c))
    if key not in _STATE_NAMES:
        words = ", ".join(_FRENCH_STATES)
        raise _fail(f"état inconnu «\u00a0{value}\u00a0» pour --state\u00a0: {words}")
    return _STATE_NAMES[key]


@app.command("cases", cls=_Command)
def cases_command(
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            metavar="DATE",
            help="Date de référence, AAAA-MM-JJ ou JJ/MM/AAAA (défaut\u00a0: aujourd'hui).",
        ),
    ] = None,
    advisor: Annotated[
        str | None,
        typer.Option(
            "--advisor",
            metavar="CONSEILLER",
            help="Seulement les dossiers de ce conseiller (e-mail ou prénom.nom).",
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="ÉTAT",
            help="Seulement cet état\u00a0: a_venir, a_traiter, en_retard, expire, annule, "
            "fait (ou son code «\u00a0state\u00a0» du JSON\u00a0: upcoming, open, late, expired, "
            "cancelled, done).",
            show_default=False,
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Inclure les dossiers à venir.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Liste les dossiers M+3 à une date, le plus urgent d'abord.

    Sans --all, les dossiers à venir sont omis.
    Dernier jour\u00a0: la fin de la fenêtre, ou pour un dossier en retard le jour où il expire."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from bot import db
    from bot.cases.queries import list_cases
    from bot.rendering import date_fr, render
    from bot.rules import CaseState

    settings = _settings()
    today = _parse_date(date, settings)
    wanted = _state_option(state)
    if wanted is not None:
        states: set[CaseState] = {wanted}
    else:
        states = set(CaseState) - ({CaseState.UPCOMING} if not show_all else set())
    with _database(settings) as factory, db.session_scope(factory) as session:
        email = None
        if advisor:
            from bot.stats_cli import StatsRefused, find_one_advisor

            try:
                email = find_one_advisor(session, advisor).email
            except StatsRefused as exc:
                raise _fail(str(exc)) from None
        views = list_cases(session, today=today, advisor_email=email, states=states)
    if as_json:
        print(json.dumps([v.as_json() for v in views], ensure_ascii=False, indent=2))
        return
    if not views:
        out.print(f"Aucun dossier M+3 au {date_fr(today)}.")
        return
    # Narrow columns that never wrap (phone, dates, state), the names wrapping between words:
    # readable on an 80-column terminal.
    table = Table(
        title=f"Dossiers M+3 au {date_fr(today)} ({len(views)})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
    )
    table.add_column("Client")
    table.add_column("Téléphone", no_wrap=True)
    table.add_column("Dernier\njour", no_wrap=True)
    table.add_column("État", no_wrap=True)
    if not advisor:
        table.add_column("Conseiller")
    for view in views:
        details = " · ".join([f"n° {view.client_number}", *view.products])
        row: list[Text | str] = [
            Text(view.client_name) + Text("\n" + details, style="dim"),
            Text(render("cli/phone_cell.txt.j2", case=view).strip()),
            date_fr(view.last_day()) if view.state in (CaseState.OPEN, CaseState.LATE) else "—",
            f"{_STATE_LABELS[view.state]}\n{_STATUS_LABELS.get(view.status, view.status)}",
        ]
        if not advisor:
            row.append(Text(view.advisor_name))
        table.add_row(*row)
    _print_table(table)


def _print_table(table: Table) -> None:
    """A table fit to the terminal's width (or to `COLUMNS`); in a pipe without `COLUMNS`, at
    its natural width rather than cut to 80 columns."""
    from rich.console import Console

    if out.is_terminal:
        out.print(table)
    elif os.environ.get("COLUMNS", "").isdigit():
        Console(width=int(os.environ["COLUMNS"])).print(table)
    else:
        Console(width=240).print(table)


def _shown_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("demo", cls=_Command)
def demo_command(
    clients: Annotated[
        int, typer.Option(metavar="NOMBRE", help="Nombre de clients générés.")
    ] = 120,
) -> None:
    """Charge un portefeuille de démonstration daté d'aujourd'hui et affiche les files du jour
    (refusé sur une base qui contient les données d'une agence)."""
    from bot import db, demo
    from bot.cases.queries import queues_for
    from bot.rendering import render
    from bot.rules import previous_working_day

    if clients < 1:
        raise _fail(f"--clients doit valoir au moins 1 (reçu : {clients})")
    settings = _settings()
    today = settings.today()
    with _database(settings) as factory:
        try:
            with db.session_scope(factory) as session:
                result = demo.load(session, today=today, clients=clients)
                total = demo.cases_held(session)
        except demo.NotADemoDatabase as exc:
            # An example of another base: never the one just refused.
            other = "demo.db" if not settings.database_url.endswith("/demo.db") else "demo-2.db"
            raise _fail(
                f"la base {_shown_url(settings.database_url)} contient des données qui ne "
                f"viennent pas de la démo ({exc}) : la démo n'y a rien écrit. Lancez-la sur "
                f"une autre base, par exemple : DATABASE_URL=sqlite:///{other} m3 demo"
            ) from None
        loaded = render(
            "cli/demo.txt.j2",
            url=_shown_url(settings.database_url),
            rows=result.rows,
            opened=result.cases.opened,
            total=total,
        )
        out.print(f"{loaded}\n", highlight=False)
        with db.session_scope(factory) as session:
            queues = queues_for(session, today=today, since=previous_working_day(today))
            for queue in queues:
                print(render("cli/queue.txt.j2", queue=queue) + "\n")


@app.command("advisors", cls=_Command)
def advisors_command(as_json: JsonOpt = False) -> None:
    """Liste l'équipe\u00a0: rôle, agence, compte Slack relié ou non, état, absences."""
    from rich.table import Table
    from sqlalchemy import select

    from bot import db
    from bot.cases.queries import list_cases
    from bot.models import Advisor
    from bot.rendering import date_fr
    from bot.rules import CaseState

    settings = _settings()
    today = settings.today()
    with _database(settings) as factory, db.session_scope(factory) as session:
        advisors = list(session.scalars(select(Advisor)))
        counts: dict[str, int] = {}
        for view in list_cases(session, today=today, states=(CaseState.OPEN, CaseState.LATE)):
            counts[view.advisor_email] = counts.get(view.advisor_email, 0) + 1
        staff = [_staff_entry(a, today, counts.get(a.email, 0)) for a in advisors]
    staff.sort(key=lambda e: (not e["active"], e["branch"] or "", e["last_name"], e["email"]))
    if as_json:
        print(json.dumps(staff, ensure_ascii=False, indent=2))
        return
    if not staff:
        out.print("Aucun conseiller : importez l'équipe avec m3 import advisors conseillers.csv")
        return
    table = Table(title=f"Équipe au {date_fr(today)} ({len(staff)})")
    for column in ("Nom", "E-mail", "Rôle", "Agence", "Slack", "État", "M+3 en cours"):
        table.add_column(column, justify="right" if column == "M+3 en cours" else "left")
    for entry in staff:
        table.add_row(
            f"{entry['first_name']} {entry['last_name']}".strip(),
            entry["email"],
            entry["role"],
            entry["branch"] or "—",
            "relié" if entry["slack_linked"] else "non relié",
            entry["state_label"],
            str(entry["open_cases"]),
        )
    _print_table(table)


def _staff_entry(advisor: Advisor, today: dt.date, open_cases: int) -> dict[str, Any]:
    from bot.rendering import date_fr

    current = advisor.absence_on(today)
    coming = advisor.absences_from(today)
    if not advisor.active:
        state, label = "inactive", "inactif"
    elif current is not None:
        state, label = "absent", f"absent jusqu'au {date_fr(current.end_on)}"
    elif coming:
        state = "active"
        label = f"actif (absent du {date_fr(coming[0].start_on)} au {date_fr(coming[0].end_on)})"
    else:
        state, label = "active", "actif"
    shown = current or (coming[0] if coming else None)
    return {
        "email": advisor.email,
        "first_name": advisor.first_name,
        "last_name": advisor.last_name,
        "role": advisor.role,
        "branch": advisor.branch.name if advisor.branch else None,
        "slack_linked": advisor.slack_user_id is not None,
        "active": advisor.active,
        # The absence going on, else the next one planned (all of them under "absences").
        "absent_from": shown.start_on.isoformat() if shown else None,
        "absent_until": shown.end_on.isoformat() if shown else None,
        "absences": [
            {"start": a.start_on.isoformat(), "end": a.end_on.isoformat()} for a in coming
        ],
        "state": state,
        "state_label": label,
        "open_cases": open_cases,
    }


def _require(settings: Settings, *names: str) -> None:
    """Stop with one line when a Slack variable is missing."""
    from bot.app import MissingToken, require

    try:
        require(settings, *names)
    except MissingToken as exc:
        raise _fail(str(exc)) from None


def _slack_app(settings: Settings, *, socket_mode: bool) -> Any:
    from bot.app import create_app

    _require(settings, "SLACK_BOT_TOKEN")
    _require(settings, "SLACK_APP_TOKEN" if socket_mode else "SLACK_SIGNING_SECRET")
    return create_app(settings, socket_mode=socket_mode)


def _log_to_stderr() -> None:
    """One line per event, time first (the scheduler's and the bot's logs)."""
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%d/%m %H:%M:%S"
    )
    # The libraries' routine news (jobs added, migrations context, retried requests) is noise
    # next to the bot's own lines; their warnings and errors still show.
    for name in ("apscheduler", "alembic", "slack_sdk", "slack_bolt"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _start_scheduler(
    settings: Settings, client: Any, *, blocking: bool
) -> tuple[Any, sessionmaker[Session]]:
    """The database reached (a few tries, one line each, then exit 1) and migrated if SQLite,
    then the scheduler built (not started), with the session factory it uses."""
    from bot import db
    from jobs.schedule import DatabaseUnreachable, build_scheduler, reach_database

    if not settings.managers_channel:
        import logging

        logging.getLogger(__name__).warning(
            "M3_MANAGERS_CHANNEL n'est pas défini\u00a0: pas de récapitulatif des managers, et "
            "les dossiers des conseillers absents ou partis ne seront signalés à personne"
        )
    engine = db.make_engine(settings.database_url)
    factory = db.session_factory(engine)

    def start() -> Any:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        db.ensure_schema(engine)
        return build_scheduler(settings, factory, client, blocking=blocking)

    try:
        return reach_database(start), factory
    except DatabaseUnreachable as exc:
        engine.dispose()
        raise _fail(str(exc), 1) from None


@app.command("run", cls=_Command)
def run_command() -> None:
    """Lance le bot en Socket Mode avec le planificateur (une agence, pas d'URL publique)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app
    from bot.slack import make_web_client

    _log_to_stderr()
    settings = _settings()
    _require(settings, "SLACK_BOT_TOKEN")
    _require(settings, "SLACK_APP_TOKEN")
    client = make_web_client(settings)
    scheduler, factory = _start_scheduler(settings, client, blocking=False)
    bolt = create_app(settings, client, factory=factory, socket_mode=True)
    scheduler.start()
    try:
        SocketModeHandler(bolt, settings.slack_app_token).start()  # type: ignore[no-untyped-call]
    finally:
        scheduler.shutdown(wait=False)


@app.command("web", cls=_Command)
def web_command(
    workers: Annotated[int, typer.Option(metavar="NOMBRE", help="Processus gunicorn.")] = 2,
) -> None:
    """Lance le serveur HTTP (POST /slack/events, GET /healthz) sur $PORT, sans planificateur."""
    from bot import db
    from bot.card_web import card_routes
    from bot.web import serve, wsgi_app

    settings = _settings()
    engine = db.make_engine(settings.database_url)
    engine.dispose()  # each forked worker opens its own connections
    cards = card_routes(settings, db.session_factory(engine))
    serve(
        wsgi_app(_slack_app(settings, socket_mode=False), cards=cards),
        port=settings.port,
        workers=workers,
    )


@app.command("clock", cls=_Command)
def clock_command() -> None:
    """Lance le planificateur seul (le récapitulatif du matin)\u00a0: un seul processus clock."""
    from bot.slack import make_web_client

    _log_to_stderr()
    settings = _settings()
    _require(settings, "SLACK_BOT_TOKEN")
    scheduler, _ = _start_scheduler(settings, make_web_client(settings), blocking=True)
    scheduler.start()


def _print_message(message: dict[str, Any]) -> None:
    """A Slack message's words in a terminal, without Slack's marks (bold, italics, links,
    emoji codes) nor its buttons and menus."""
    from bot.rendering import plain

    for block in message["blocks"]:
        if block["type"] == "actions":
            continue
        text = block.get("text", {}).get("text") or " ".join(
            e.get("text", "") for e in block.get("elements", [])
        )
        if text:
            print(plain(text))
    print()


@app.command("digest", cls=_Command)
def digest_command(
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            metavar="DATE",
            help="Jour du récapitulatif, AAAA-MM-JJ ou JJ/MM/AAAA (défaut\u00a0: aujourd'hui).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Afficher les messages sans rien envoyer.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Envoyer même un samedi, un dimanche ou un jour férié."),
    ] = False,
) -> None:
    """Envoie le récapitulatif du matin à la main.

    Une seule fois par conseiller et par jour.
    Les jours ouvrés seulement, comme le planificateur, sauf avec --force."""
    from bot.rendering import date_fr, plural, render
    from bot.rules import is_public_holiday, is_working_day
    from bot.slack import make_web_client
    from jobs import digest

    settings = _settings()
    today = _parse_date(date, settings)
    if not is_working_day(today) and not force:
        kind = "un jour férié" if is_public_holiday(today) else f"un {_DAYS[today.weekday()]}"
        raise _fail(
            f"le {date_fr(today)} est {kind}\u00a0: pas de récapitulatif ce jour-là (le "
            "planificateur le saute). Ajoutez --force pour l'envoyer quand même."
        )
    client = None
    if not dry_run:
        _require(settings, "SLACK_BOT_TOKEN")
        client = make_web_client(settings)
    with _database(settings) as factory:
        report = digest.run(
            factory=factory,
            client=client,
            today=today,
            managers_channel=settings.managers_channel,
            dry_run=dry_run,
        )
    if dry_run:
        # What each advisor would read, laid out for a terminal as `m3 demo` shows it.
        for queue in report.preview_queues:
            print(render("cli/queue.txt.j2", queue=queue) + "\n")
        if report.summary is not None:
            print("━━ Récapitulatif des managers")
            _print_message(report.summary)
        count = plural(len(report.previews), "récapitulatif")
        print(f"{count} à envoyer le {date_fr(today)} (simulation).")
        return
    print(
        f"Récapitulatif du {date_fr(today)}\u00a0: {plural(len(report.sent), 'envoyé')}, "
        f"{len(report.skipped)} sans objet ou déjà "
        f"{'envoyés' if len(report.skipped) > 1 else 'envoyé'}, "
        f"{len(report.failed)} en échec, {len(report.no_slack)} sans compte Slack."
    )
    if report.failed:
        # Exit 1: a script or a scheduler sees that the morning's DMs did not all leave.
        unsent = plural(
            len(report.failed), "récapitulatif non envoyé", "récapitulatifs non envoyés"
        )
        raise _fail(
            f"{unsent}\u00a0: ils restent en file, relancez m3 digest (ou m3 outbox "
            "--deliver) quand Slack répond",
            1,
        )


_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


class CorrectionsFormat(enum.StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@app.command("case", cls=_Command)
def case_command(
    client_number: Annotated[
        str, typer.Argument(metavar="NUMÉRO", help="Numéro du client dans Lagon.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Le dossier M+3 en cours d'un client\u00a0: état, tags, tentatives, bilan, actions,
    corrections."""
    from sqlalchemy import select

    from bot.cases.queries import case_loads, may_be_the_clients_case, the_clients_case
    from bot.cases.views import case_view
    from bot.corrections import list_corrections
    from bot.models import Case, CaseReview, Client
    from bot.rendering import render

    settings = _settings()
    today = settings.today()
    with _database(settings) as factory, factory() as session:
        found = the_clients_case(
            session.scalars(
                select(Case)
                .join(Client, Case.client_id == Client.id)
                .where(Client.number == client_number.strip(), may_be_the_clients_case(today))
                .options(
                    *case_loads(),
                )
            ),
            today,
        )
        case = found[0] if found else None
        if case is None:
            known = session.scalar(select(Client.id).where(Client.number == client_number.strip()))
            if known is None:
                raise _fail(
                    f"aucun client n°\u00a0«\u00a0{client_number}\u00a0» dans la base "
                    "(vérifiez le numéro, ou importez l'export du CRM)."
                )
            raise _fail(f"le client n°\u00a0«\u00a0{client_number}\u00a0» n'a pas de dossier M+3.")
        view = case_view(case, today, settings.zone)
        review = session.scalar(select(CaseReview).where(CaseReview.case_id == case.id))
        corrections = [
            c for c in list_corrections(session) if c.client_number == view.client_number
        ]
    if as_json:
        data = view.as_json()
        data["review"] = (
            {
                "crm_checked": review.crm_checked,
                "dp_signed": review.dp_signed,
                "quotes_signed": review.quotes_signed,
                "pieces_missing": review.pieces_missing,
                "review_done": review.review_done,
                "held_elsewhere": review.held_elsewhere,
                "gaps": review.gaps,
            }
            if review is not None
            else None
        )
        data["corrections"] = [c.as_json() for c in corrections]
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print(render("cli/case.txt.j2", case=view, review=review, corrections=corrections))


@app.command("corrections", cls=_Command)
def corrections_command(
    output: Annotated[
        CorrectionsFormat,
        typer.Option(
            "--format", metavar="FORMAT", help="table, csv ou json.", case_sensitive=False
        ),
    ] = CorrectionsFormat.TABLE,
    pending: Annotated[
        bool, typer.Option("--pending", help="Seulement celles pas encore dans Lagon.")
    ] = False,
) -> None:
    """Les valeurs corrigées pendant les appels, à reporter dans Lagon (client, champ, ancienne
    et nouvelle valeur, qui, quand, appliquée ou non)."""
    from rich.table import Table

    from bot import db
    from bot.corrections import list_corrections
    from bot.rendering import render

    settings = _settings()
    with _database(settings) as factory, db.session_scope(factory) as session:
        rows = list_corrections(session, pending_only=pending)
    if output is CorrectionsFormat.JSON:
        print(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2))
        return
    header = ["client", "nom", "champ", "ancienne valeur", "nouvelle valeur", "par", "le"]
    header.append("appliquée le")
    lines = [
        [
            r.client_number,
            r.client_name,
            render("cli/field_label.txt.j2", key=r.field),
            r.old_value or "",
            r.new_value or "(numéro erroné)",
            r.by,
            r.at.astimezone(settings.zone).strftime("%d/%m/%Y %H:%M"),
            r.applied_on.strftime("%d/%m/%Y") if r.applied_on else "",
        ]
        for r in rows
    ]
    if output is CorrectionsFormat.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(lines)
        print(buffer.getvalue(), end="")
        return
    if not rows:
        print("Aucune correction à reporter dans Lagon.")
        return
    table = Table(title=f"Corrections pour Lagon ({len(rows)})")
    for column in header:
        table.add_column(column.capitalize())
    for line in lines:
        table.add_row(*line)
    _print_table(table)


@app.command("outbox", cls=_Command)
def outbox_command(
    deliver: Annotated[
        bool, typer.Option("--deliver", help="Envoyer une fois ce qui est dû, puis lister.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Les envois (carte de contact par SMS et e-mail, messages Slack)\u00a0: en file, envoyés, en
    échec, numéros et adresses masqués. --deliver envoie une fois ceux qui sont dus."""
    from bot.outbox import deliver_due, list_lines, make_transports
    from bot.rendering import render

    settings = _settings()
    problem = settings.sending_problem()
    if deliver and problem:
        raise _fail(problem)
    with _database(settings) as factory:
        report = None
        if deliver:
            client = None
            if settings.slack_bot_token:
                from bot.slack import make_web_client

                client = make_web_client(settings)
            printer = (lambda _text: None) if as_json else print
            report = deliver_due(
                factory, make_transports(settings, client, printer=printer), now=settings.now()
            )
        with factory() as session:
            lines = list_lines(session)
            advisors = _advisors_of_sends(session)
    if as_json:
        data: dict[str, Any] = {"rows": [line.as_json() for line in lines]}
        if report is not None:
            data["delivered"] = {
                "sent": report.sent,
                "simulated": report.simulated,
                "failed": report.failed,
                "retry_later": report.retry_later,
                "uncertain": report.uncertain,
                "cancelled": report.cancelled,
            }
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print(
        render(
            "cli/outbox.txt.j2", lines=lines, report=report, zone=settings.zone, advisors=advisors
        )
    )


def _advisors_of_sends(session: Session) -> dict[int, str]:
    """The advisor a Slack message goes to, by outbox row: « Agnès Fournier
    (agnes.fournier@…) » rather than the DM's channel or the row's `advisor:2`."""
    from sqlalchemy import select

    from bot.models import Advisor, Outbox

    rows = session.execute(
        select(Outbox.id, Advisor)
        .join(Advisor, Outbox.advisor_id == Advisor.id)
        .where(Outbox.channel == "slack")
    )
    return {
        row_id: advisor.email
        if advisor.full_name == advisor.email
        else f"{advisor.full_name} ({advisor.email})"
        for row_id, advisor in rows
    }


@app.command("stats", cls=_Command)
def stats_command(
    period: Annotated[
        str,
        typer.Option(
            "--period",
            metavar="PÉRIODE",
            help="semaine, mois, trimestre, année, AAAA-MM, « du JJ/MM/AAAA au JJ/MM/AAAA » "
            "ou « N derniers mois ».",
        ),
    ] = "mois",
    branch: Annotated[
        str | None, typer.Option("--branch", metavar="AGENCE", help="Une agence.")
    ] = None,
    advisor: Annotated[
        str | None,
        typer.Option(
            "--advisor", metavar="CONSEILLER", help="Un conseiller (e-mail ou prénom.nom)."
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table, csv, json, xlsx ou png.")
    ] = "table",
    output: Annotated[
        Path | None,
        # (Not checked by click, in English: the writing says in French why it cannot.)
        typer.Option(
            "--output",
            "-o",
            metavar="FICHIER",
            help="Fichier à écrire (xlsx, png).",
            readable=False,
        ),
    ] = None,
) -> None:
    """Les chiffres M+3 d'une période (dossiers dont la fenêtre s'y ouvre), par agence et par
    conseiller, comme /m3 stats\u00a0: entonnoir, délais, tags, corrections, multi-équipement."""
    from bot import db
    from bot.stats import compute
    from bot.stats_cli import StatsFormat, StatsRefused, as_table, default_filename, resolve
    from bot.stats_cli import output as document

    try:
        fmt = StatsFormat(output_format.strip().lower())
    except ValueError:
        raise _fail(f"format inconnu « {output_format} » (table, csv, json, xlsx ou png)") from None
    settings = _settings()
    today = settings.today()
    with _database(settings) as factory, db.session_scope(factory) as session:
        try:
            chosen, scope = resolve(
                session, period=period, branch=branch, advisor=advisor, today=today
            )
        except StatsRefused as exc:
            raise _fail(str(exc)) from None
        report = compute(session, period=chosen, today=today, scope=scope)
    if fmt is StatsFormat.TABLE:
        _print_table(as_table(report))
        return
    content = document(report, fmt)
    if output is None and fmt in (StatsFormat.XLSX, StatsFormat.PNG):
        output = Path(default_filename(report, fmt))
    if output is None:
        if isinstance(content, bytes):
            sys.stdout.buffer.write(content)
        else:
            print(content)
        return
    try:
        output.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    except OSError as exc:
        from bot.crm.reading import os_reason

        raise _fail(os_reason(exc, str(output), writing=True)) from None
    err.print(f"Écrit : {output}", highlight=False)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point (`m3`): an unreachable database or an unexpected error is one French
    line, not a traceback (set `M3_DEBUG=1` to see it)."""
    try:
        return app(args=argv if argv is not None else sys.argv[1:], prog_name="m3")
    except Exception as exc:
        if os.environ.get("M3_DEBUG"):
            raise
        from bot.outages import is_database_outage

        if is_database_outage(exc):
            _print_error(_unreachable(exc))
            sys.exit(1)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _print_error(
            f"{type(exc).__name__}: {first_line} "
            "(relancez avec M3_DEBUG=1 pour le détail technique)",
            label="Erreur inattendue",
        )
        sys.exit(3)


def console() -> Any:
    """The `m3` command: `main`, then the objects of the process are left out of the garbage
    collector's passes as it exits. Python's finalization runs full collections over every
    object the modules made (SQLAlchemy, pydantic, typer and the models: 0.15–0.2 s of every
    command, an import's as `m3 --help`'s); they are freed all the same, by reference counting,
    and what the commands opened they closed themselves (`atexit` handlers still run)."""
    import gc

    try:
        return main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    console()
