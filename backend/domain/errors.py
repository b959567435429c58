"""Domain errors: every refused ticket move raises one of these and changes nothing.

DomainError
├── InvalidTransition  the action does not exist from the ticket's current status
├── PermissionDenied   the actor's role may not take this action
├── GuardFailed        the move exists and the role may make it, but a rule forbids it now
│                      (reason missing, 巡办分离, reopen limit, top tier, no 自办自结 …)
└── NotFound           the thing the action refers to does not exist

An error carries a catalogue key (`code`, e.g. "error.reason_required") and the parameters of its text;
`kind` is the class of refusal the API maps to an HTTP status. `str(exc)` is the Chinese text, so logs
and API details stay readable; chat shows `backend.texts.error_text(exc, lang)` in the user's language.
"""

from __future__ import annotations

from typing import ClassVar

from backend.texts import DEFAULT_LANG, t


class DomainError(Exception):
    """Base class of every business-rule refusal: a catalogue key and the parameters of its text."""

    kind: ClassVar[str] = "domain_error"

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def message(self) -> str:
        """The Chinese text of the refusal, safe to show to the user."""
        return t(self.code, DEFAULT_LANG, **self.params)

    def __str__(self) -> str:
        return self.message


class InvalidTransition(DomainError):
    """The action is not allowed from the ticket's current status."""

    kind = "invalid_transition"


class PermissionDenied(DomainError):
    """The actor's role is not allowed to take this action."""

    kind = "permission_denied"


class GuardFailed(DomainError):
    """A guard of an otherwise allowed move failed (missing reason, limit reached, …)."""

    kind = "guard_failed"


class NotFound(DomainError):
    """The referenced ticket, person or area does not exist."""

    kind = "not_found"
