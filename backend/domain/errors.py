"""Domain errors: every refused ticket move raises one of these and changes nothing.

DomainError
├── InvalidTransition  the action does not exist from the ticket's current status
├── PermissionDenied   the actor's role may not take this action
├── GuardFailed        the move exists and the role may make it, but a rule forbids it now
│                      (reason missing, 巡办分离, reopen limit, top tier, no 自办自结 …)
└── NotFound           the thing the action refers to does not exist
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every business-rule refusal; `message` is safe to show to the user."""

    code: str = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidTransition(DomainError):
    """The action is not allowed from the ticket's current status."""

    code = "invalid_transition"


class PermissionDenied(DomainError):
    """The actor's role is not allowed to take this action."""

    code = "permission_denied"


class GuardFailed(DomainError):
    """A guard of an otherwise allowed move failed (missing reason, limit reached, …)."""

    code = "guard_failed"


class NotFound(DomainError):
    """The referenced ticket, person or area does not exist."""

    code = "not_found"
