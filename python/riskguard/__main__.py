"""`python -m riskguard` runs the command line."""

from riskguard.app.cli import app

app(prog_name="riskguard")
