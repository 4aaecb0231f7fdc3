"""Lambda handlers, one file per workflow state (Prepare ↔ prepare.py, ...).

Bundled as the package ``functions`` next to ``surge`` and ``reports``; each function's handler is
``functions.<state>.handler``. The contract with the workflow is in :mod:`functions.contracts`.
"""
