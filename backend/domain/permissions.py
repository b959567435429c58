"""What an actor may do to a ticket now: the one answer chat buttons, the staff API and the dashboard share.

The state machine (tickets.py) says which roles may make a move from a status; these rules add who,
among them, may make it on this ticket:

- out of the actor's scope the ticket does not exist for them;
- a resident acts only on a ticket they reported (a follower may still merge theirs into it);
- the handler's moves (accept, on site, resolve, return, extension, 自办自结) belong to the assignee;
- a gridworker or department handler who is not the assignee may only verify it, passing or rejecting
  the work (巡办分离: someone else checks it); grid leaders, dispatchers and supervisors keep their own
  moves (escalate, suspend …);
- only a gridworker's own patrol find may be closed on the spot (自办自结); residents' reports go round
  the whole loop, through verification and the resident's rating.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.domain.errors import DomainError, GuardFailed, InvalidTransition, NotFound, PermissionDenied
from backend.domain.roles import Role
from backend.domain.tickets import TRANSITIONS, Action, Actor, TicketSnapshot, check_guards
from backend.texts import Term

HANDLER_ACTIONS = frozenset(
    {Action.accept, Action.start, Action.resolve, Action.return_, Action.request_extension, Action.self_close}
)
FRONTLINE_ROLES = frozenset({Role.gridworker, Role.department_handler})
UNSCOPED_ROLES = frozenset({Role.admin, Role.system})
VERIFY_ACTIONS = frozenset({Action.verify, Action.reject_verification})


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the rules need to know of a ticket besides its state."""

    number: str
    state: TicketSnapshot
    in_scope: bool  # the actor may see it (their area, their report, one they follow): access.can_see
    patrol_find: bool  # reported by staff on patrol
    assignee_id: int | None  # a staff id
    reporter_id: int | None  # a person id


@dataclass(frozen=True, slots=True)
class Acting:
    """Who asks: their role, person id and (for staff) staff id."""

    role: Role
    person_id: int | None = None
    staff_id: int | None = None

    @property
    def handler_id(self) -> int | None:
        """The id the state machine records as handler: staff act by staff id."""
        return self.staff_id if self.staff_id is not None else self.person_id

    @property
    def actor(self) -> Actor:
        """The state machine's view of who moves."""
        return Actor(id=self.handler_id, role=self.role)


def refusal(ticket: TicketFacts, actor: Acting, action: Action) -> DomainError | None:
    """Why this actor may not make this move on this ticket now, or None if they may (reasons aside)."""
    if not ticket.in_scope:
        return NotFound("error.ticket_not_visible", number=ticket.number)
    if actor.role is Role.resident and ticket.reporter_id != actor.person_id and action is not Action.merge:
        return PermissionDenied("error.only_reporter_may_act")
    rule = TRANSITIONS.get((ticket.state.status, action))
    if rule is None:
        return InvalidTransition("error.action_not_allowed_from_status", status=ticket.state.status, action=action)
    if actor.role not in rule.roles:
        return PermissionDenied("error.role_not_allowed", role=actor.role, action=action)
    someone_else_has_it = ticket.assignee_id is not None and ticket.assignee_id != actor.staff_id
    if someone_else_has_it and actor.role not in UNSCOPED_ROLES:
        if action in HANDLER_ACTIONS:
            return PermissionDenied("error.not_assigned_to_you", number=ticket.number, action=Term(f"task.{action}"))
        if actor.role in FRONTLINE_ROLES and action not in VERIFY_ACTIONS:
            return PermissionDenied("error.verify_only", number=ticket.number)
    if action is Action.self_close and not ticket.patrol_find:
        return GuardFailed("error.self_close_patrol_only")
    try:
        check_guards(ticket.state, action, rule, actor.handler_id)
    except GuardFailed as exc:
        return exc
    return None


def actions_for(ticket: TicketFacts, actor: Acting) -> frozenset[Action]:
    """Every move this actor may make on this ticket now: the buttons to offer."""
    return frozenset(action for action in Action if refusal(ticket, actor, action) is None)


def check_may(ticket: TicketFacts, actor: Acting, action: Action) -> None:
    """Raise the refusal, if any."""
    problem = refusal(ticket, actor, action)
    if problem is not None:
        raise problem
