"""Confidential HR cases: who a call targeted, the case lifecycle, its timeline and reports.

Import the submodules directly (`callscreen.cases.service`, `callscreen.cases.model`, ...);
this package file imports nothing, so the store can use the models without a cycle.
"""
