"""Every word a person reads, as Jinja templates (French).

This folder is installed as the package `bot.templates` (see pyproject.toml), so that
`bot.rendering` finds it the same way in a checkout, an editable install and a wheel.
"""
