"""`renew USER`: a new certificate for an existing user, in place, as the ledger last recorded it
(groups, lifetime, how it was signed; the same key unless --rekey). See operations/renew.py."""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Optional, Tuple

from ..operations.renew import renew_user
from ..pki.signers import SignerOptions


@dataclass(frozen=True, eq=False, repr=False)
class RenewRequest:
    user: str
    out_dir: str = "clients"
    groups: Optional[Tuple[str, ...]] = (
        None  # None: the groups of the ledger's latest record of the user
    )
    validity: Optional[timedelta] = (
        None  # None: the lifetime it was issued with, as the ledger recorded it
    )
    rekey: bool = False
    key_type: Optional[str] = None  # with --rekey; default: the current key's type
    key_size: Optional[int] = None
    allow_system_masters: bool = False
    signing: SignerOptions = field(default_factory=SignerOptions)
    signer_given: bool = (
        False  # --signer/--ca-cert/--ca-key on the command line: do not sign as before
    )


def renew(request, progress=lambda _message: None):
    return renew_user(
        user=request.user,
        out_dir=request.out_dir,
        signing=request.signing,
        groups=request.groups,
        lifetime=request.validity,
        rekey=request.rekey,
        key_type=request.key_type,
        key_size=request.key_size,
        allow_system_masters=request.allow_system_masters,
        signer_given=request.signer_given,
        progress=progress,
    )
