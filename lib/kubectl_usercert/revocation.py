"""`revoke`: take away what can be taken away, and say plainly what cannot.

Kubernetes cannot revoke a client certificate: it stays valid until its notAfter. What revoke
can do is delete the bindings this tool made for the user (so only RBAC stands between the
certificate and the cluster), archive the local files, and record it in the ledger.
"""

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import List, Optional, Tuple

from . import ledger, openssl, rbac
from .errors import InvalidInput
from .kubectl import Kubectl
from .layout import UserFiles, records_dir
from .staging import ensure_private_dir
from .times import iso, parse_iso


@dataclass
class RevokeRequest:
    user: str
    out_dir: str = "clients"
    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    cluster: Optional[str] = None
    dry_run: bool = False


@dataclass
class Revocation:
    user: str
    groups: Tuple[str, ...]
    serial: Optional[str]
    not_after: Optional[datetime]
    removed: List[rbac.Binding] = field(default_factory=list)
    group_bindings_kept: List[rbac.Binding] = field(default_factory=list)
    archived_to: Optional[str] = None
    dry_run: bool = False

    def as_record(self):
        return {
            "user": self.user, "groups": list(self.groups), "serial": self.serial,
            "notAfter": iso(self.not_after) if self.not_after else None,
            "dryRun": self.dry_run,
            "bindingsRemoved": [b.as_record() for b in self.removed],
            "groupBindingsKept": [b.as_record() for b in self.group_bindings_kept],
            "archivedTo": self.archived_to,
            "certificateStillValid": bool(self.not_after and self.not_after > datetime.now(self.not_after.tzinfo)),
        }


def revoke(request, progress=lambda _message: None):
    files = UserFiles.for_user(request.out_dir, request.user)
    groups, serial, not_after, fingerprint = _what_was_issued(files, request)
    admin = Kubectl(request.kubeconfig, request.context, request.cluster)
    progress("Finding the bindings this tool made")
    managed = rbac.managed_bindings(admin)
    result = Revocation(request.user, groups, serial, not_after, dry_run=request.dry_run,
                        removed=[b for b in managed if b.subject_kind == "User" and b.subject == request.user],
                        group_bindings_kept=[b for b in managed if b.subject_kind == "Group" and b.subject in groups])
    if request.dry_run:
        return result
    for binding in result.removed:
        progress(f"Deleting {binding.ref}")
        rbac.delete(admin, binding)
    if os.path.isdir(files.directory):
        result.archived_to = _archive(files, request.out_dir, serial)
    ledger.append(request.out_dir, "revoked", {
        "user": request.user, "groups": list(groups), "serial": serial, "fingerprintSHA256": fingerprint,
        "notAfter": iso(not_after) if not_after else None, "bindingsRemoved": [b.name for b in result.removed],
        "archivedTo": result.archived_to})
    return result


def _what_was_issued(files, request):
    if os.path.isfile(files.cert):
        info = openssl.certificate_info(files.cert)
        return info.organizations, info.serial, info.not_after, info.fingerprint_sha256
    entries = [e for e in ledger.read(request.out_dir).entries if e.get("user") == request.user]
    if not entries:
        raise InvalidInput(f"no user {request.user!r} in {request.out_dir} or its ledger",
                           hint="see 'kubectl usercert list' for the users issued there (and check --out-dir)")
    last = entries[-1]
    not_after = parse_iso(last["notAfter"]) if last.get("notAfter") else None
    return tuple(last.get("groups") or ()), last.get("serial"), not_after, last.get("fingerprintSHA256")


def _archive(files, out_dir, serial):
    archive = os.path.join(records_dir(out_dir), "revoked")
    ensure_private_dir(archive)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = os.path.join(archive, f"{files.stem}.{serial or 'unknown'}.{stamp}")
    os.rename(files.directory, target)
    return target
