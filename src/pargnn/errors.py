"""The exceptions pargnn raises for problems a user can fix.

Each is a :class:`PargnnError`; the CLI prints its message (no traceback) and exits non-zero.
Anything else escaping to the CLI is a bug in pargnn and keeps its traceback.
"""

from __future__ import annotations


class PargnnError(Exception):
    """A problem with what the user asked for or gave; the message says how to fix it."""


class GraphError(PargnnError):
    """A graph that breaks an invariant of :class:`pargnn.graph.Graph`."""


class DatasetError(PargnnError):
    """A dataset that cannot be found, read or trusted."""


class ConfigError(PargnnError):
    """A training configuration that cannot run."""
