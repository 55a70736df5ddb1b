"""Shared pytest set-up. Under CI, hypothesis replays a fixed sequence of examples, so a run is
reproducible; locally it explores new ones each time."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
