"""The command line: the old path of :mod:`riskguard.app.cli`, kept as an alias.

This module replaces itself with that one in ``sys.modules``: ``riskguard.cli`` *is*
``riskguard.app.cli``, the same module object, so that imports, monkeypatching and isinstance
checks through either path agree.
"""

import sys

import riskguard.app.cli

sys.modules[__name__] = riskguard.app.cli
