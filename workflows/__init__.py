"""Workflow definitions: the process of a case and nothing else (no I/O).

Empty on purpose: Temporal's sandbox imports a workflow's module and its packages afresh for every
run it loads, so this package imports nothing (the worker's list is `workflows.registry`).
"""
