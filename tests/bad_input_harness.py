"""The harness of the bad-input tests of ``riskguard.RiskEngine`` (test_engine_bad_input.py and
test_gate_bad_input.py): the refused-and-unchanged checks, the parametrization of their case
tables, and the battery that runs every case in a child interpreter, which must survive it.

A case is ``(call, needles)``: ``call`` takes an engine, and the ``RiskError`` it raises must
mention every needle. A case table maps a case's name to it; a test file's ``TABLES`` maps an
entry point's name to its table.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import riskguard as rg

Case = tuple[Callable[[rg.RiskEngine], Any], list[str]]


def expect_risk_error(call: Callable[[], Any], needles: list[str]) -> rg.RiskError:
    """``call()`` raises RiskError (a ValueError) whose message contains every needle.

    Anything else (a ``TypeError`` from argument conversion, a ``PanicException``, a returned
    value such as a ``Decision``) fails with what happened named, and so does a RiskError that
    only wraps a caught panic."""
    try:
        out = call()
    except rg.RiskError as e:
        err = e
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - a panic is a BaseException
        pytest.fail(f"raised {type(e).__module__}.{type(e).__name__}: {e} instead of RiskError")
    else:
        pytest.fail(f"no error raised; returned {out!r}")
    assert isinstance(err, ValueError)
    message = str(err)
    assert "internal error" not in message, f"a panic in the core: {message}"
    missing = [n for n in needles if n.lower() not in message.lower()]
    assert not missing, f"message {message!r} does not mention {missing}"
    return err


def expect_unchanged(
    engine: rg.RiskEngine, call: Callable[[rg.RiskEngine], Any], needles: list[str]
) -> rg.RiskError:
    """``call(engine)`` is refused as :func:`expect_risk_error` says, and ``to_bytes()``, the
    engine's whole state, is the same before and after."""
    before = engine.to_bytes()
    err = expect_risk_error(lambda: call(engine), needles)
    assert engine.to_bytes() == before, f"the refused call changed the engine ({err})"
    return err


def refused_without_change(e: rg.RiskEngine, call: Callable[[rg.RiskEngine], Any]) -> str:
    """Runs a bad call; returns what is wrong if it went through or changed the engine. The
    exception's type and message are the parametrized test's business, not repeated here."""
    before = e.to_bytes()
    try:
        call(e)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - a panic is a BaseException
        return "" if e.to_bytes() == before else "changed the engine"
    return "was accepted"


def wrong_refusals(
    e: rg.RiskEngine, tables: Mapping[str, Mapping[str, Case]], entries: Iterable[str]
) -> dict[str, str]:
    """Every case of the ``entries`` tables run in turn on the one engine ``e``: what went wrong
    with each case that was not refused without change, by its test id."""
    return {
        f"{entry}-{name}": outcome
        for entry in entries
        for name, (call, _) in tables[entry].items()
        if (outcome := refused_without_change(e, call))
    }


def case_params(tables: Mapping[str, Mapping[str, Case]]) -> list:
    """Every case of every table as a ``pytest.param(call, needles)``, with the id
    ``"{entry}-{name}"``."""
    return [
        pytest.param(call, needles, id=f"{entry}-{name}")
        for entry, table in tables.items()
        for name, (call, needles) in table.items()
    ]


def default_limits_dict_with(**changes: Any) -> dict[str, Any]:
    """``Limits().to_dict()`` with ``changes`` made."""
    d = rg.Limits().to_dict()
    d.update(changes)
    return d


# --- the interpreter survives --------------------------------------------------------------------

# The test file itself is loaded as the module ``cases``: every call of its TABLES is run on a
# fresh ``cases.make_engine()`` and on one engine that takes them all in a row, then ``extra``,
# which may call ``run`` too. Only an ``Exception`` is caught: a panic (a BaseException) or an
# abort ends the child, and the test with it. The tests folder is appended to ``sys.path`` (not
# prepended, so that nothing in it can shadow an installed module) for the file's own imports.
BATTERY = textwrap.dedent(
    """
    import importlib.util, random, sys
    sys.path.append({tests!r})
    spec = importlib.util.spec_from_file_location({module!r}, {path!r})
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    import numpy as np
    import riskguard as rg

    outcomes = {{}}

    def run(call):
        try:
            call()
            outcome = "returned"
        except Exception as e:  # a panic (BaseException) or an abort is not caught here
            outcome = type(e).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    engine = cases.make_engine()
    for table in cases.TABLES.values():
        for call, _ in table.values():
            run(lambda c=call: c(cases.make_engine()))
            run(lambda c=call: c(engine))  # one engine through every bad call in a row
    {extra}
    print(sum(outcomes.values()), "calls", outcomes)
    print("survived")
    """
)


def battery_script(test_file: str, extra: str) -> str:
    """The :data:`BATTERY` over the test file ``test_file``, with ``extra`` (indented as it
    likes) run after the tables."""
    path = Path(test_file).resolve()
    module = path.stem.removeprefix("test_") + "_cases"
    return BATTERY.format(
        tests=str(path.parent), module=module, path=str(path), extra=textwrap.dedent(extra)
    )


def assert_survives(script: str) -> None:
    """Runs ``script`` in a child interpreter, which must exit cleanly, its last words
    ``survived``."""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (
        f"exit status {proc.returncode}\nstdout: {proc.stdout[-2000:]}\n"
        f"stderr: {proc.stderr[-2000:]}"
    )
    assert proc.stdout.strip().endswith("survived")
