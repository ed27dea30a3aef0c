"""Tasks for people on a case: pure due-time rules (due.py) and the task lists (repository.py). The
tasks themselves are kept by each case's workflow (workflows/engine/tasks.py); see docs/tasks.md."""
