"""riskguard's shipped test kit: a fault-injecting fake venue (:mod:`riskguard.testing.fake`) and
the conformance suite every venue must pass (:mod:`riskguard.testing.conformance`). Nothing in
the product imports it; it needs ``riskguard[testing]`` (aiohttp)."""
