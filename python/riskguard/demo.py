"""The demo: the old path of :mod:`riskguard.app.demo`, kept as an alias.

This module replaces itself with that one in ``sys.modules``: ``riskguard.demo`` *is*
``riskguard.app.demo``, the same module object, so that imports, monkeypatching and isinstance
checks through either path agree.
"""

import sys

import riskguard.app.demo

sys.modules[__name__] = riskguard.app.demo
