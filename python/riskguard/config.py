"""The configuration: the old path of :mod:`riskguard.app.config`, kept as an alias.

This module replaces itself with that one in ``sys.modules``: ``riskguard.config`` *is*
``riskguard.app.config``, the same module object, so that imports, monkeypatching and isinstance
checks through either path agree.
"""

import sys

import riskguard.app.config

sys.modules[__name__] = riskguard.app.config
