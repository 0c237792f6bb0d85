"""Errors of the HR case area."""

from __future__ import annotations

from callscreen.errors import CallscreenError


class CaseNotFoundError(CallscreenError, LookupError):
    """No case has this id or case number."""

    def __init__(self, message: str, *, case: str) -> None:
        self.case = case
        super().__init__(message)


class CaseStateError(CallscreenError, ValueError):
    """The requested change does not fit the case's state or lacks a required field."""


class AccessDeniedError(CallscreenError, PermissionError):
    """The user is not an enabled hr account; the attempt was audited."""

    def __init__(self, message: str, *, user: str) -> None:
        self.user = user
        super().__init__(message)
