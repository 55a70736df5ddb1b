"""The paper broker: the old path of :mod:`riskguard.venues.paper`, kept as an alias.

This module replaces itself with that package in ``sys.modules``: ``riskguard.brokers.paper``
*is* ``riskguard.venues.paper``, so imports and monkeypatching through either path agree.
"""

import sys

import riskguard.venues.paper

sys.modules[__name__] = riskguard.venues.paper
