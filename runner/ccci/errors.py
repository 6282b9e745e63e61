"""Errors a user can act on.

Every problem found before anything is deployed is a ``CcciError``: the CLI prints
its message and records it in results.json instead of a traceback.
"""


class CcciError(Exception):
    """A problem with the input (recipe, ref, config, names) that stops a run early."""


class BadInput(CcciError):
    """The run was refused before anything was deployed."""


class Unavailable(CcciError):
    """Something outside the input was not there (a free slot on the host, the recipe's
    forge): nothing was deployed, and the same run may pass when retried."""
