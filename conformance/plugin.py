"""The pytest plugin (pytest11 entry point) of the conformance suites."""

from __future__ import annotations
