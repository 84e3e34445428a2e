"""The output contract: every result as a Kubernetes-style object, what `-o json|yaml|name|jsonpath`
prints and what scripts and GitOps pipelines build on.

`apiVersion: usercert.kubectl.io/v1alpha1` (the group of the UserRoster file `apply` reads), a
`kind`, `metadata.name`, a `spec` (what was asked: the user and groups) and a `status` (what is:
the certificate, its files, what the cluster said). Lists are `kind: ...List` with `items`.
Values that change with the clock (`daysLeft`, `state`) are as of `status.observedAt`. One
schema per kind is kept in schemas/ and checked by the tests.
"""

import os
from functools import singledispatch

from .. import API_VERSION
from ..errors import InvalidInput
from ..store.layout import KUBECONFIG_NAME
from ..times import days_left, iso
from .results import (
    DemoResult,
    Inspection,
    Inventory,
    InventoryRow,
    Issued,
    Renewal,
    Revocation,
    RosterApplied,
    Signed,
    Verification,
    WhoisMatch,
    WhoisResult,
    certificate_state,
)


def _object(kind, name, spec, status):
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
        "status": status,
    }


def _time(value):
    return iso(value) if value is not None else None


def _validity(not_before, not_after, at):
    return {
        "notBefore": _time(not_before),
        "notAfter": _time(not_after),
        "daysLeft": days_left(not_after, at) if not_after else None,
        "state": certificate_state(not_before, not_after, at) if not_after else None,
    }


@singledispatch
def to_object(result):
    raise TypeError(f"no output form for {type(result).__name__}")


def _certificate(credential, **more):
    status = {
        "observedAt": _time(credential.observed_at),
        "serial": credential.serial,
        **_validity(credential.not_before, credential.not_after, credential.observed_at),
        "keyType": credential.key_type,
        "keySize": credential.key_bits,
        "fingerprintSHA256": credential.fingerprint_sha256,
        "credentialID": credential.credential_id,
        "issuer": credential.issuer,
        "signer": credential.signer,
        "caFingerprintSHA256": credential.ca_fingerprint_sha256,
        "lifetime": credential.lifetime,
        "cluster": credential.cluster,
        "server": credential.server,
        "context": credential.context,
        "adminContext": credential.admin_context,
        "namespace": credential.namespace,
        "kubeconfig": credential.kubeconfig,
        "certificate": credential.certificate,
        "key": credential.key,
        "warnings": list(credential.warnings),
        **more,
    }
    return _object(
        "UserCertificate",
        credential.user,
        {"user": credential.user, "groups": list(credential.groups)},
        status,
    )


@to_object.register
def _(result: Issued):
    return _certificate(
        result.credential,
        bindings=[_binding(b) for b in result.bindings],
        verification=to_object(result.verification)["status"] if result.verification else None,
    )


@to_object.register
def _(result: Signed):
    return _certificate(
        result.credential,
        ownerInstructions=list(result.owner_instructions),
        bindings=[_binding(b) for b in result.bindings],
    )


@to_object.register
def _(result: Renewal):
    previous = (
        {
            "previousCertificate": result.previous_certificate,
            "previousSerial": result.previous_serial,
        }
        if result.previous_serial
        else {}
    )  # (none: a cluster a roster added to a fleet person, issued for their key)
    return _certificate(result.credential, **previous)


@to_object.register
def _(result: Inspection):
    info = result.info
    status = {
        "observedAt": _time(result.observed_at),
        "source": result.source,
        "serial": info.serial,
        **_validity(info.not_before, info.not_after, result.observed_at),
        "keyType": info.key_type,
        "keySize": info.key_bits,
        "fingerprintSHA256": info.fingerprint_sha256,
        "credentialID": info.credential_id,
        "issuer": ",".join(f"{a}={v}" for a, v in info.issuer),
        "keyMatches": result.key_matches,
        "chainCA": result.chain_ca,
        "chainValid": result.chain_ok,
        "kubeconfig": result.kubeconfig,
        "server": result.server,
        "bindings": [_binding(b) for b in result.bindings] if result.bindings is not None else None,
        "keyHeldBy": result.key_held_by,
        "notes": list(result.warnings) + list(result.notes),
    }
    return _object(
        "UserCertificate",
        result.user or "",
        {"user": result.user, "groups": list(result.groups)},
        status,
    )


def _binding(binding):
    return {
        "kind": binding.kind,
        "name": binding.name,
        "namespace": binding.namespace,
        "role": binding.role,
        "subjectKind": binding.subject_kind,
        "subject": binding.subject,
    }


def _kubeconfig_in(row):
    """The user's kubeconfig where its folder holds a credential (the name create, inspect use too)."""
    if not row.directory or row.state in ("revoked", "files missing"):
        return None
    return os.path.join(row.directory, KUBECONFIG_NAME)


def _row(row: InventoryRow, at):
    status = {
        "observedAt": _time(at),
        "serial": row.serial,
        **_validity(row.not_before, row.not_after, at),
        "state": row.state,
        "keyType": row.key_type,
        "keySize": row.key_bits,
        "fingerprintSHA256": row.fingerprint_sha256,
        "credentialID": row.credential_id,
        "server": row.server,
        "directory": row.directory,
        "kubeconfig": _kubeconfig_in(row),
        "bindings": [_binding(b) for b in row.bindings] if row.bindings is not None else None,
        "keyHeldBy": row.key_held_by,
        **({"cluster": row.cluster, "context": row.context} if row.cluster else {}),
    }
    return _object(
        "UserCertificate", row.user, {"user": row.user, "groups": list(row.groups)}, status
    )


@to_object.register
def _(result: Inventory):
    return {
        "apiVersion": API_VERSION,
        "kind": "UserCertificateList",
        "metadata": {
            "observedAt": _time(result.observed_at),
            "expiringWithin": result.expiring_within,
        },
        "items": [_row(row, result.observed_at) for row in result.rows],
        "warnings": list(result.problems) + list(result.notes),
    }


def _match(match: WhoisMatch):
    return {
        "user": match.user,
        "groups": list(match.groups),
        "serial": match.serial,
        "fingerprintSHA256": match.fingerprint_sha256,
        "credentialID": match.credential_id,
        "notBefore": _time(match.not_before),
        "notAfter": _time(match.not_after),
        "keyType": match.key_type,
        "keySize": match.key_bits,
        "event": match.event,
        "time": _time(match.time),
        "directory": match.directory,
        "cluster": match.cluster,
        "context": match.context,
        "server": match.server,
    }


@to_object.register
def _(result: WhoisResult):
    return _object(
        "Whois",
        result.query,
        {"query": result.query},
        {"matches": [_match(m) for m in result.matches], "warnings": list(result.problems)},
    )


@to_object.register
def _(result: Verification):
    reported = (
        {"user": result.reported_user, "groups": list(result.reported_groups)}
        if result.reported_user is not None
        else None
    )
    return _object(
        "Verification",
        result.expected_user,
        {
            "kubeconfig": result.kubeconfig,
            "user": result.expected_user,
            "groups": list(result.expected_groups),
        },
        {
            "observedAt": _time(result.observed_at),
            "ok": result.ok,
            "accepted": result.accepted,
            "method": result.method,
            "reported": reported,
            "problems": list(result.problems),
            "notes": list(result.notes),
        },
    )


@to_object.register
def _(result: Revocation):
    return _object(
        "Revocation",
        result.user,
        {"user": result.user, "dryRun": result.dry_run},
        {
            "observedAt": _time(result.observed_at),
            "groups": list(result.groups),
            "serial": result.serial,
            "notAfter": _time(result.not_after),
            "certificateStillValid": result.certificate_still_valid,
            "bindingsRemoved": [_binding(b) for b in result.removed],
            "groupBindingsKept": [_binding(b) for b in result.group_bindings_kept],
            "remaining": list(result.remaining),
            "archivedTo": result.archived_to,
            "recorded": result.recorded,
            "alreadyRevoked": result.already_revoked,
        },
    )


@to_object.register
def _(result: DemoResult):
    certificate = to_object(result.issued)
    inspection = to_object(result.inspection)["status"]
    certificate["status"].update(
        keyMatches=inspection["keyMatches"],
        chainCA=inspection["chainCA"],
        chainValid=inspection["chainValid"],
    )
    return _object(
        "Demo",
        "demo",
        {"directory": result.directory},
        {"directory": result.directory, "certificate": certificate},
    )


@to_object.register
def _(result: RosterApplied):
    users = [
        {
            "name": u.user,
            "actions": list(u.actions),
            "reasons": list(u.reasons),
            "notes": list(u.notes),
            "outcome": u.outcome,
            "error": u.error,
            **({"cluster": u.cluster} if u.cluster else {}),
        }
        for u in result.users
    ]
    counts = {
        action: result.count(action)
        for action in ("create", "renew", "reissue", "rebind", "prune", "unchanged", "unlisted")
    }
    return _object(
        "UserRosterPlan",
        "roster",
        {"dryRun": result.dry_run, "prune": result.prune},
        {
            "observedAt": _time(result.observed_at),
            "users": users,
            "counts": counts,
            "failed": sum(1 for u in result.users if u.outcome == "failed"),
            "warnings": list(result.warnings),
            "approvals": _approvals(result.approvals),
        },
    )


def _approvals(approvals):
    """apply's self-renewals, as `approve -o json` shows them (an Approval)."""
    if approvals is None:
        return None
    from . import approval_view  # noqa: F401 (registers the Approvals form)

    return to_object(approvals)


def names(obj):
    """`-o name`, as kubectl prints it: kind.group/name, the kind lower-cased (as
    certificatesigningrequest.certificates.k8s.io/NAME), one per line (a list's items)."""
    items = obj["items"] if obj["kind"].endswith("List") else [obj]
    return "".join(
        f"{item['kind'].lower()}.{item['apiVersion'].split('/')[0]}/{item['metadata']['name']}\n"
        for item in items
    )


def check_output_format(output, extra=()):
    """json, yaml, name, jsonpath=TEMPLATE, or one of a command's `extra` formats (list's prometheus);
    a one-line error otherwise. A template is read now, so a typo in it costs nothing done."""
    if output in ("json", "yaml", "name", *extra):
        return output
    if (output or "").startswith("jsonpath="):
        from . import jsonpath

        jsonpath.parse(output[len("jsonpath=") :])
        return output
    raise InvalidInput(
        f'unable to match a printer suitable for the output format "{output}"',
        hint="allowed formats are: "
        + ", ".join(("json", "yaml", "name", "jsonpath=TEMPLATE", *extra)),
    )
