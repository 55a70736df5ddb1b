"""Backtests: the old path of :mod:`riskguard.app.backtest`, kept as an alias.

This module replaces itself with that one in ``sys.modules``: ``riskguard.backtest`` *is*
``riskguard.app.backtest``, the same module object, so that imports, monkeypatching and isinstance
checks through either path agree.
"""

import sys

import riskguard.app.backtest

sys.modules[__name__] = riskguard.app.backtest
