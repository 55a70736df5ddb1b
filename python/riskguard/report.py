"""Reports: the old path of :mod:`riskguard.app.report`, kept as an alias.

This module replaces itself with that one in ``sys.modules``: ``riskguard.report`` *is*
``riskguard.app.report``, the same module object, so that imports, monkeypatching and isinstance
checks through either path agree.
"""

import sys

import riskguard.app.report

sys.modules[__name__] = riskguard.app.report
