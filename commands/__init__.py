"""Slack listeners: one module per /m3 subcommand family and per modal or surface; each has
`register(app, context)`."""
