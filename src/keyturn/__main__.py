"""`python -m keyturn` runs the CLI."""

from keyturn.cli.main import app

app()
