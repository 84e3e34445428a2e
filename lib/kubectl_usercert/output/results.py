"""What each command returns: one frozen value per command, built once by the core.

`ui.render` draws any of them for people; `contract.to_object` turns any of them into the
Kubernetes-style object `-o json|yaml` prints. Nothing here runs a tool or prints.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Optional, Tuple

from ..errors import EXIT_FAILED, EXIT_OK
from ..pki.certificate import CertificateInfo, credential_id

EXPIRING_DAYS = 30


def now():
    return datetime.now(timezone.utc).replace(microsecond=0)


class Outcome:
    """A result whose exit code says whether the command failed (verification disagreed, ...)."""

    @property
    def failed(self):
        return False

    @property
    def exit_code(self):
        return EXIT_FAILED if self.failed else EXIT_OK


def certificate_state(not_before, not_after, at):
    if not_after <= at:
        return "expired"
    if not_before and not_before > at:
        return "not yet valid"
    lifetime = not_after - not_before if not_before else None
    return "expiring" if not_after - at < renewal_window(lifetime) else "valid"


def renewal_window(lifetime):
    """When a certificate counts as expiring (and a roster renews it by default): its last 30 days, or
    the last third of a shorter life, so a 30-day certificate is not 'expiring' from its first day."""
    window = timedelta(days=EXPIRING_DAYS)
    return min(window, lifetime / 3) if lifetime else window


@dataclass(frozen=True, eq=False, repr=False)
class Credential:
    """A certificate this tool issued, and where its files are."""

    user: str
    groups: Tuple[str, ...]
    serial: str
    not_before: datetime
    not_after: datetime
    key_type: str
    key_bits: Optional[int]
    fingerprint_sha256: str
    issuer: str
    directory: str
    kubeconfig: str
    certificate: str
    key: Optional[str]  # None: its owner holds it (sign --csr)
    cluster: str
    server: str
    context: str
    namespace: Optional[str]
    signer: str
    ca_fingerprint_sha256: Optional[str]
    warnings: Tuple[str, ...] = ()
    observed_at: datetime = field(default_factory=now)
    lifetime: Optional[str] = (
        None  # the lifetime asked for (30d, 8h): what a renewal asks for again
    )
    admin_context: Optional[str] = None  # the admin kubeconfig's context it was issued through

    @property
    def credential_id(self):
        return credential_id(self.fingerprint_sha256)


@dataclass(frozen=True, eq=False, repr=False)
class Issued(Outcome):
    """create: the credential, its RBAC bindings, and what the cluster said of it (--verify)."""

    credential: Credential
    bindings: Tuple = ()  # rbac.Binding: the (Cluster)RoleBindings made or printed
    manifests: Tuple[dict, ...] = ()
    printed_rbac: bool = False  # --print-rbac: the manifests go to stdout instead of the cluster
    verification: Optional["Verification"] = None

    @property
    def failed(self):
        return self.verification is not None and not self.verification.ok


@dataclass(frozen=True, eq=False, repr=False)
class Signed:
    """sign --csr: a certificate for a key its owner keeps, and what the owner runs next."""

    credential: Credential
    owner_instructions: Tuple[str, ...]
    bindings: Tuple = ()  # rbac.Binding, as create's
    manifests: Tuple[dict, ...] = ()
    printed_rbac: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class PersonCredential:
    """A credential on the person's side: in their store and their kubeconfig."""

    user: str
    groups: Tuple[str, ...]
    context: str
    cluster: str
    server: str
    namespace: Optional[str]
    serial: str
    not_before: datetime
    not_after: datetime
    key_type: str
    key_bits: Optional[int]
    fingerprint_sha256: str
    key_fingerprint: str  # SHA-256 of the public key (SubjectPublicKeyInfo), hex: keys/<it>.key
    store: str  # its folder in the store

    @property
    def credential_id(self):
        return credential_id(self.fingerprint_sha256)


@dataclass(frozen=True, eq=False, repr=False)
class CredentialsInstalled(Outcome):
    """import, request --submit, renew --self: what went into the person's kubeconfig and store."""

    credentials: Tuple[PersonCredential, ...]
    kubeconfig: str
    source: Optional[str] = None  # the bundle imported; None when it came from the cluster
    backup: Optional[str] = None  # the kubeconfig as it was, when --force replaced an entry
    current_context: Optional[str] = None  # set by --set-current
    key_made_elsewhere: bool = False
    request_name: Optional[str] = None  # the CertificateSigningRequest it came through
    previous_serial: Optional[str] = None  # renew --self
    verifications: Tuple["Verification", ...] = ()  # --verify: what the cluster said of each
    warnings: Tuple[str, ...] = ()
    observed_at: datetime = field(default_factory=now)

    @property
    def failed(self):
        return any(not verification.ok for verification in self.verifications)


@dataclass(frozen=True, eq=False, repr=False)
class CertificateRequested:
    """request: a key in the person's store, and the request for it (the key itself never shows)."""

    user: str
    groups: Tuple[str, ...]
    key_type: str
    key_bits: Optional[int]
    request_pem: bytes
    request_file: Optional[str]  # None: written to stdout, or not written (--submit)
    key_fingerprint: str
    store: str
    sign_command: str  # what the admin runs
    submitted: Optional[CredentialsInstalled] = None  # --submit: the credential it brought
    warnings: Tuple[str, ...] = ()
    observed_at: datetime = field(default_factory=now)

    @property
    def exit_code(self):
        return self.submitted.exit_code if self.submitted is not None else EXIT_OK


@dataclass(frozen=True, eq=False, repr=False)
class Renewal:
    credential: Credential
    previous_certificate: str  # where the previous certificate was kept
    previous_serial: str


@dataclass(frozen=True, eq=False, repr=False)
class Inspection:
    source: str
    kubeconfig: Optional[str]
    info: CertificateInfo
    key_matches: Optional[bool]  # None: no key to compare with
    chain_ca: Optional[str]
    chain_ok: Optional[bool]  # None: no CA to check against, or this openssl cannot tell
    server: Optional[str] = None
    bindings: Optional[Tuple] = None  # the tool's RBAC bindings for this user; None: not looked up
    notes: Tuple[str, ...] = ()
    observed_at: datetime = field(default_factory=now)
    warnings: Tuple[str, ...] = ()  # a user folder that is not the runner's own, say
    key_held_by: Optional[str] = None  # a user of the out-dir: "owner" or "out-dir"; else None

    @property
    def user(self):
        return self.info.common_name

    @property
    def groups(self):
        return self.info.organizations

    @property
    def state(self):
        return certificate_state(self.info.not_before, self.info.not_after, self.observed_at)


@dataclass(frozen=True, eq=False, repr=False)
class Recorded:
    """A certificate as the ledger (or its file) knows it."""

    user: str
    groups: Tuple[str, ...]
    serial: Optional[str]
    fingerprint_sha256: Optional[str]
    not_before: Optional[datetime]
    not_after: Optional[datetime]
    key_type: Optional[str]
    key_bits: Optional[int]
    directory: Optional[str]

    @property
    def credential_id(self):
        return credential_id(self.fingerprint_sha256) if self.fingerprint_sha256 else None


STATES = (
    "valid",
    "expiring",
    "expired",
    "not yet valid",
    "files missing",
    "revoked",
)  # of a listed certificate


@dataclass(frozen=True, eq=False, repr=False)
class InventoryRow(Recorded):
    state: str = "valid"  # one of STATES
    server: Optional[str] = None
    bindings: Optional[Tuple] = None  # rbac.Binding; None: the cluster was not asked
    key_held_by: Optional[str] = None  # "owner" (sign: their own key), "out-dir"; None: unknown
    cluster: Optional[str] = None  # a fleet person's row: the cluster (one row per cluster)
    context: Optional[str] = None  # and the admin's context it was issued through


@dataclass(frozen=True, eq=False, repr=False)
class Inventory(Outcome):
    """list: every user of an out-dir, soonest expiry first."""

    rows: Tuple[InventoryRow, ...]
    problems: Tuple[str, ...] = ()  # damaged ledger lines, unreadable folders
    notes: Tuple[str, ...] = ()  # why bindings are not shown, say
    observed_at: datetime = field(default_factory=now)
    expiring_within: Optional[str] = None  # --expiring, as given
    fail_if_any: bool = False  # --exit-code
    not_found: Tuple[str, ...] = ()  # users asked for by name that the out-dir does not hold

    @property
    def failed(self):
        return (self.fail_if_any and bool(self.rows)) or bool(self.not_found)


def not_found_message(user):
    return f"user {json.dumps(user, ensure_ascii=False)} not found (no folder in the out-dir, no record in its ledger)"


@dataclass(frozen=True, eq=False, repr=False)
class WhoisMatch(Recorded):
    event: str = "issued"
    time: Optional[datetime] = None
    cluster: Optional[str] = None
    context: Optional[str] = None  # the admin's context it was issued through
    server: Optional[str] = None


@dataclass(frozen=True, eq=False, repr=False)
class WhoisResult:
    query: str
    matches: Tuple[WhoisMatch, ...]
    problems: Tuple[str, ...] = ()


@dataclass(frozen=True, eq=False, repr=False)
class Verification(Outcome):
    kubeconfig: str
    expected_user: str
    expected_groups: Tuple[str, ...]
    accepted: bool
    method: str  # "SelfSubjectReview" or "discovery"
    reported_user: Optional[str] = None
    reported_groups: Tuple[str, ...] = ()
    problems: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = ()
    observed_at: datetime = field(default_factory=now)

    @property
    def ok(self):
        return self.accepted and not self.problems

    @property
    def failed(self):
        return not self.ok


@dataclass(frozen=True, eq=False, repr=False)
class Revocation(Outcome):
    user: str
    groups: Tuple[str, ...]
    serial: Optional[str]
    not_after: Optional[datetime]
    removed: Tuple = ()  # rbac.Binding: deleted (or, with --dry-run, to delete)
    group_bindings_kept: Tuple = ()
    remaining: Tuple[str, ...] = ()  # what could not be done (the cluster was unreachable, ...)
    archived_to: Optional[str] = None
    recorded: bool = False
    already_revoked: bool = False
    dry_run: bool = False
    observed_at: datetime = field(default_factory=now)

    @property
    def certificate_still_valid(self):
        return bool(self.not_after and self.not_after > self.observed_at)

    @property
    def failed(self):
        return bool(self.remaining)


@dataclass(frozen=True, eq=False, repr=False)
class DemoResult:
    directory: str
    issued: Issued
    inspection: Inspection


@dataclass(frozen=True, eq=False, repr=False)
class AppliedUser:
    """One line of apply's plan, and what came of it."""

    user: str
    actions: Tuple[str, ...]
    reasons: Tuple[str, ...]
    notes: Tuple[str, ...] = ()
    outcome: str = "planned"  # planned (--dry-run), done, failed, unchanged, reported
    error: Optional[str] = None
    cluster: Optional[str] = None  # a fleet's line: the cluster it is about


@dataclass(frozen=True, eq=False, repr=False)
class RosterApplied(Outcome):
    """apply: the plan, user by user, and (unless --dry-run) what was done."""

    users: Tuple[AppliedUser, ...]
    dry_run: bool
    prune: bool
    observed_at: datetime = field(default_factory=now)
    warnings: Tuple[
        str, ...
    ] = ()  # what the out-dir holds that is nobody's: damaged ledger lines, stray folders
    approvals: object = None  # the roster's users' pending self-renewals (an Approvals), if any

    @property
    def failed(self):
        return any(user.outcome == "failed" for user in self.users)

    def count(self, action):
        return sum(1 for user in self.users if action in user.actions and user.outcome != "failed")
