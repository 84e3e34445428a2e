"""What `approve` did (or, with --dry-run, would do): one ApprovalOutcome per request it looked at,
the renewals it recorded in the ledger. Drawn by approval_view (people) and its contract (scripts)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional, Tuple

from ..errors import EXIT_FAILED, EXIT_OK
from .results import now


@dataclass(frozen=True, eq=False, repr=False)
class ApprovalOutcome:
    """One request: `action` approve, deny or leave (see self_renewal_policy.Decision); `done` says
    whether the cluster took it (False with `error` when it refused; None for a dry run or leave)."""

    name: str
    requester: str
    action: str
    user: Optional[str] = None
    reason: str = ""
    message: str = ""
    done: Optional[bool] = None
    error: Optional[str] = None
    notes: Tuple[str, ...] = ()


@dataclass(frozen=True, eq=False, repr=False)
class RecordedRenewal:
    """A certificate an approved self-renewal was issued, as the ledger now records it."""

    request: str
    user: str
    groups: Tuple[str, ...]
    serial: str
    fingerprint_sha256: str
    not_after: datetime
    previous_serial: Optional[str] = None


@dataclass(frozen=True, eq=False, repr=False)
class Approvals:
    outcomes: Tuple[ApprovalOutcome, ...] = ()
    recorded: Tuple[RecordedRenewal, ...] = ()
    dry_run: str = "none"
    warnings: Tuple[str, ...] = ()
    observed_at: datetime = field(default_factory=now)

    def of(self, action):
        return tuple(o for o in self.outcomes if o.action == action)

    @property
    def exit_code(self):
        """1 when the cluster refused an approval or a denial (the others were made)."""
        return EXIT_FAILED if any(o.done is False for o in self.outcomes) else EXIT_OK
