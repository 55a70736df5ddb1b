"""`python -m riskguard` runs the command line."""

from riskguard.cli import app

app(prog_name="riskguard")
