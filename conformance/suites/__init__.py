"""The conformance suites, one module per family.

Run them with ``pytest --pyargs conformance.suites`` (see the README).
"""
