"""The personal-data rules: how long what is kept, who may see a resident's contact details, how text is scrubbed.

Pure Python; the services apply these rules to the database (retention, erasure, reveal).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.domain.roles import Role
from backend.domain.tickets import TERMINAL_STATUSES, TicketStatus

# Staff who contact residents or go on site: they may reveal a masked phone number or address of a ticket
# in their own scope while it is open. Admins and supervisors oversee the work; they read the reveal log.
REVEAL_ROLES = frozenset(
    {
        Role.gridworker,
        Role.grid_leader,
        Role.community_dispatcher,
        Role.street_dispatcher,
        Role.department_handler,
    }
)
# Who may erase a resident's data on their behalf (a request by phone or at a counter), with a reason.
ERASE_ROLES = frozenset({Role.admin})
# Who reads the privacy log (reveals, erasures, exports).
AUDIT_ROLES = frozenset({Role.admin, Role.supervisor})

MIN_REASON_LENGTH = 4
# Photo stages the public may see through Open311: the handler's photo of the finished work. Residents'
# photos (report) and on-site or check photos may show people, homes and number plates.
PUBLIC_PHOTO_STAGES = ("resolved",)


@dataclass(frozen=True)
class RetentionPolicy:
    """How many days personal data is kept after a ticket is finished, and chat transcripts at all."""

    ticket_days: int
    photo_days: int
    transcript_days: int

    def cutoffs(self, now: datetime) -> RetentionCutoffs:
        """The moments before which each kind of data goes."""
        return RetentionCutoffs(
            tickets=now - timedelta(days=self.ticket_days),
            photos=now - timedelta(days=self.photo_days),
            transcripts=now - timedelta(days=self.transcript_days),
        )


@dataclass(frozen=True)
class RetentionCutoffs:
    """Finished tickets before `tickets` are anonymised, their photos before `photos` deleted, transcripts too."""

    tickets: datetime
    photos: datetime
    transcripts: datetime


FINISHED_STATUSES: frozenset[TicketStatus] = TERMINAL_STATUSES


def may_reveal(role: Role, *, in_scope: bool, ticket_open: bool) -> bool:
    """Whether a staff member may reveal a ticket's masked contact details now."""
    return role in REVEAL_ROLES and in_scope and ticket_open


def scrub(text: str, *, identifiers: Iterable[str], mask: Callable[[str], str]) -> str:
    """The text with a person's own identifiers (name, phone, home) removed and other personal data masked."""
    for ident in sorted({i.strip() for i in identifiers if i and len(i.strip()) >= 2}, key=len, reverse=True):
        text = re.sub(re.escape(ident), "***", text)
    return mask(text)
