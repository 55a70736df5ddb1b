"""Shared pytest set-up. Under CI, hypothesis replays a fixed sequence of examples, so a run is
reproducible; locally it explores new ones each time."""

import os

import pytest
from hypothesis import settings

# The shared bad-input checks report a failed assert with its values, as the tests' own do.
pytest.register_assert_rewrite("bad_input_harness")

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
