"""Composition and faces (DESIGN.md, "Layout"): the configuration (:mod:`riskguard.app.config`),
:mod:`~riskguard.app.bootstrap` (the only place that names concrete venues and stores),
:mod:`~riskguard.app.facade` (the one surface the command line and the coming API call), the
command line (:mod:`riskguard.app.cli`), backtests, reports and the demo.

``app`` may use every other room; no other room imports it. Nothing is imported here, so that
``import riskguard.app.config`` loads the configuration alone.
"""
