"""Implementations of the :class:`~riskguard.ports.Venue` port, one package each:
:mod:`.paper`, the deterministic simulator. A venue uses ``riskguard.model``, ``riskguard.ports``
and its own client library; venues never import each other."""
