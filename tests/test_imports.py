"""The public package's import cost and its error tree: ``import riskguard`` and an analytics
call load neither SQLAlchemy nor httpx nor pydantic-settings (DESIGN.md, "Layout"); the heavy
names load on first use and are the same objects as in their modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "httpx", "pydantic_settings", "pydantic", "typer", "rich", "polars")


def loaded_after(code: str) -> list[str]:
    """The heavy top-level modules a fresh interpreter has loaded after running ``code``."""
    script = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_analytics_load_no_io_stack() -> None:
    code = (
        "import numpy as np, riskguard as rg\n"
        "r = np.random.default_rng(0).normal(0, 0.01, 500)\n"
        "assert rg.var_historical(r, confidence=0.99) > 0\n"
        "rg.max_drawdown(r); rg.sharpe_ratio(r)\n"
        "rg.RiskEngine(rg.Limits(), 1000.0, 0)\n"
        "try:\n    rg.var_historical([1.0, float('inf')])\nexcept rg.RiskError:\n    pass\n"
    )
    assert loaded_after(code) == []


def test_heavy_names_load_on_first_use() -> None:
    assert "sqlalchemy" in loaded_after("import riskguard as rg; rg.Guard")
    assert "pydantic_settings" in loaded_after("import riskguard as rg; rg.Config")


def test_lazy_names_are_the_modules_objects() -> None:
    import riskguard as rg
    from riskguard import config, errors, guard

    assert rg.Config is config.Config and rg.BatchLimits is config.BatchLimits
    assert rg.Guard is guard.Guard and rg.GuardStatus is guard.GuardStatus
    assert rg.ConfigError is config.ConfigError is errors.ConfigError
    assert rg.GuardError is guard.GuardError is errors.GuardError
    assert set(rg.__all__) <= set(dir(rg))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rg.nope  # noqa: B018


def test_error_tree() -> None:
    import riskguard as rg
    from riskguard import errors

    assert issubclass(rg.RiskError, ValueError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), rg.RiskError), name
        assert getattr(rg, name) is getattr(errors, name), name
    venue = (
        errors.VenueUnavailable,
        errors.RateLimited,
        errors.OrderRejected,
        errors.UnknownOrder,
        errors.AuthFailed,
        errors.AmbiguousOutcome,
    )
    for cls in venue:
        assert issubclass(cls, errors.VenueError)
    e = errors.RateLimited("429 from binance", venue="binance", retry_after=2.5)
    assert (e.venue, e.retry_after, str(e)) == ("binance", 2.5, "429 from binance")
    c = errors.ConfigError([("journal.batch", "must be an integer >= 1, got 0")])
    assert c.problems == [("journal.batch", "must be an integer >= 1, got 0")]
    assert "journal.batch: must be an integer >= 1, got 0" in str(c)
