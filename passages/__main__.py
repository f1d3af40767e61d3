"""``python -m passages`` runs the command line."""

from passages.cli import app

app()
