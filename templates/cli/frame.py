"""The frame of `m3`'s help and usage errors, in French (`bot.cli` puts it in place).

A Python module rather than a Jinja template: it is read on every `m3 --help`, where importing
Jinja would cost more than the whole help. Each word says which English one it replaces.

GETTEXT: typer's own words, by the English text it passes to gettext.
WORDS: the words its copy of click writes in, and the usage errors, by a name.
"""

from __future__ import annotations

NB = "\u00a0"  # the no-break space of French typography, before « : ; ? ! » and inside « »

GETTEXT: dict[str, str] = {
    "Options": "Options",
    "Arguments": "Arguments",
    "Commands": "Commandes",
    "default: {default}": f"défaut{NB}: {{default}}",
    "required": "obligatoire",
    "env var: {var}": f"variable d'environnement{NB}: {{var}}",
    "(dynamic)": "(dynamique)",
    "Missing command.": "commande manquante",
    "No such command {name!r}.": f"commande inconnue «{NB}{{name}}{NB}»",
    "Aborted!": "Interrompu.",
}

WORDS: dict[str, str] = {
    # "Usage: m3 [OPTIONS] COMMAND [ARGS]..."
    "usage": f"Utilisation{NB}: ",
    "subcommand_metavar": "COMMANDE [ARGUMENTS]...",
    # The heading of a section ("Options:").
    "heading": f"{{heading}}{NB}:",
    # "--help  Show this message and exit."
    "help_option": "Affiche cette aide et quitte.",
    # "Try 'm3 cases --help' for help."
    "help_hint": f"Aide{NB}: {{command}} {{option}}",
    # "Error: …"
    "error": f"Erreur{NB}: {{message}}",
    # "No such command 'cses'. Did you mean 'cases', 'case'?", "(Possible options: …)"
    "did_you_mean": f"{{message}}{NB}; vouliez-vous dire {{names}}{NB}?",
    "or": "ou",
    "quoted": f"«{NB}{{name}}{NB}»",
    # "No such option: --foo"
    "no_such_option": f"option inconnue «{NB}{{name}}{NB}»",
    # "Missing argument 'client_number'.", "Missing option '--date'."
    "missing_argument": f"argument manquant{NB}: {{name}}",
    "missing_option": f"option manquante{NB}: {{name}}",
    # "Option '--date' requires an argument.", "Option '--all' does not take a value."
    "option_needs_value": f"l'option «{NB}{{name}}{NB}» attend une valeur",
    "option_takes_no_value": f"l'option «{NB}{{name}}{NB}» ne prend pas de valeur",
    # "Got unexpected extra argument(s) (a b)"
    "extra_argument": f"argument en trop{NB}: {{arguments}}",
    "extra_arguments": f"arguments en trop{NB}: {{arguments}}",
    # "Invalid value for '--clients': Input should be a valid integer, …"
    "invalid_value": f"valeur invalide pour «{NB}{{name}}{NB}»",
    "expected_integer": f"valeur invalide pour «{NB}{{name}}{NB}»{NB}: un nombre entier attendu",
    "expected_choice": f"valeur invalide pour «{NB}{{name}}{NB}»{NB}: {{choices}} attendu",
    # Any other usage error.
    "invalid_usage": "arguments invalides",
}
