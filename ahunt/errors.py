"""Exceptions raised by the library; only the CLI turns them into exit codes."""

__all__ = ["AhuntError", "ConfigError", "StoreError", "InputError", "WorkspaceError", "QueryError", "AhuntWarning"]


class AhuntError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(AhuntError):
    """A config file or value is invalid."""


class StoreError(AhuntError):
    """The image store cannot be read or written as asked."""


class InputError(StoreError):
    """Input data (a file, a folder, an array) cannot be read as images; the message names it."""


class WorkspaceError(AhuntError):
    """The workspace is missing, locked or in a state that forbids the operation."""


class QueryError(AhuntError):
    """Questions cannot be chosen as asked (bad strategy, bad interest weights)."""


class AhuntWarning(UserWarning):
    """Something went less well than asked, and the work went on another way (the CLI prints
    these as one line)."""
