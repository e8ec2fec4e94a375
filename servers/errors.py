"""Exceptions raised by the launchers.

The tree::

    Exception
    └── HarnessError                  anything the harness itself could not do
        ├── ServerStartError          the server exited, or did not answer, before the deadline
        ├── ServerStopError           a process of the server's group survived SIGKILL
        ├── CommandTemplateError      (a ValueError) a malformed command-template server
        └── UnknownServerError        (a LookupError) no built-in variant has that name

Start and stop errors carry the tail of the server's log in their message, because that is
where the reason is (a traceback, "address already in use", ...).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CommandTemplateError",
    "HarnessError",
    "ServerStartError",
    "ServerStopError",
    "UnknownServerError",
]


class HarnessError(Exception):
    """Base class of every error raised by :mod:`servers`."""


class _ServerLogError(HarnessError):
    """An error about one server process, reported with the end of its log."""

    def __init__(self, name: str, reason: str, *, log_path: Path, log_tail: str) -> None:
        self.name = name
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        tail = log_tail.rstrip() or "(the log is empty)"
        super().__init__(f"{name}: {reason}\n--- last lines of {log_path} ---\n{tail}")


class ServerStartError(_ServerLogError):
    """The server exited, could not be executed, or did not answer before the deadline.

    Attributes:
        name: The variant name, e.g. ``"uvicorn-h11"``.
        reason: One line saying what went wrong.
        exit_code: The exit code if the process exited, else None.
        log_path: The server's log file.
        log_tail: The end of that log.
    """

    def __init__(
        self,
        name: str,
        reason: str,
        *,
        log_path: Path,
        log_tail: str,
        exit_code: int | None = None,
    ) -> None:
        self.exit_code = exit_code
        super().__init__(name, reason, log_path=log_path, log_tail=log_tail)


class ServerStopError(_ServerLogError):
    """A process of the server's process group was still alive after SIGKILL."""


class CommandTemplateError(HarnessError, ValueError):
    """A command-template server is malformed: bad syntax, unknown field or capability."""


class UnknownServerError(HarnessError, LookupError):
    """No built-in server variant has the requested name."""
