"""Errors a user can cause. The CLI prints them without a traceback and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: a bad plan, an unreachable target, missing credentials."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message, *(f"  - {p}" for p in self.problems)]
        return "\n".join(lines)


class PlanError(UserError):
    """The plan file is invalid; each problem names the field path and what is expected."""
