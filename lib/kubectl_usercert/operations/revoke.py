"""`revoke` (and apply --prune): take away what can be taken away, and say plainly what cannot.

Kubernetes cannot revoke a client certificate: it stays valid until its notAfter. What revoke
can do is archive the local files, delete the bindings this tool made for the user (so only
RBAC stands between the certificate and the cluster), and record it in the ledger. It works from
the ledger when the files are damaged or gone, and without the cluster: then it archives and
records locally and says which bindings remain to be removed (running it again removes them).
Revoking twice says so and adds no second record.
"""

import errno
import os
import shutil
import stat
from dataclasses import replace

from .. import signals
from ..cluster import rbac, self_renewal_rbac
from ..cluster.kubeconfig import kubeconfig_paths
from ..cluster.kubectl import last_error_line, summary
from ..errors import InvalidInput, UsercertError
from ..output.results import Revocation
from ..pki import openssl
from ..pki.signers.cluster_csr import CSR_RESOURCE, self_renewal_name
from ..store import files, ledger, locks
from ..store.layout import revoked_archive, revoked_dir
from ..store.ledger import LedgerEntry
from .adopt import adopt, ca_known_here


def _silent(_message):
    pass


def revoke_user(*, user, out_dir, kubectl, dry_run="none", progress=_silent):
    """Revoke `user` of `out_dir` (its bindings deleted with `kubectl`, the admin's); a Revocation.
    `dry_run`: client says what would go; server also asks the cluster to delete with dryRun=All."""
    with locks.user_operation(out_dir, user, progress, dry_run=dry_run != "none") as user_files:
        trust_file = dry_run != "none" or _adopted(out_dir, user, user_files, progress)
        history = ledger.history(out_dir, user)
        issued = _what_was_issued(user_files, history, out_dir, user, trust_file)
        already = (
            bool(history)
            and history[-1].event == "revoked"
            and not os.path.isdir(user_files.directory)
        )
        result = replace(issued, dry_run=dry_run != "none", already_revoked=already)
        progress("Finding the bindings this tool made")
        try:
            if not kubeconfig_paths(kubectl.kubeconfig):
                raise UsercertError("there is no kubeconfig here")
            managed = rbac.managed_bindings(kubectl)
        except UsercertError as exc:
            managed = None
            result = replace(
                result,
                remaining=(
                    f"the bindings this tool made for {user} (the cluster could "
                    f"not be asked: {summary(exc)}); run revoke again "
                    "when it can be (with --kubeconfig)",
                ),
            )
        if managed is not None:
            result = replace(
                result,
                removed=tuple(b for b in managed if b.subject_kind == "User" and b.subject == user),
                group_bindings_kept=tuple(
                    b for b in managed if b.subject_kind == "Group" and b.subject in result.groups
                ),
            )
        if dry_run == "server":
            result = delete_bindings(kubectl, dry_run, result, [], progress)
            return _withdraw_self_renewal(kubectl, user, dry_run, result, history, progress)
        if dry_run != "none":
            return result
        if not already:
            result = replace(result, archived_to=archive_folder(user_files, out_dir, result.serial))
        removed = []
        try:
            result = delete_bindings(kubectl, dry_run, result, removed, progress)
            if managed is not None:
                result = _withdraw_self_renewal(kubectl, user, dry_run, result, history, progress)
        finally:  # interrupted or not, what was done is recorded
            if not already:
                _record(out_dir, user, replace(result, removed=tuple(removed)), history)
        if not already:
            result = replace(result, recorded=True)
    return result


def _adopted(out_dir, user, user_files, progress):
    """Adopt a certificate a killed run left unrecorded (see adopt.py) before acting; False when the
    folder holds one this tool could not have issued (said, and not taken for what was issued)."""
    recorded = next((e for e in reversed(ledger.history(out_dir, user)) if e.signer), None)
    adopted = adopt(out_dir, user, user_files, ca_known_here(None, recorded))
    if adopted.refused:
        progress(
            f"Not recording {user_files.cert}: it is not in the ledger, and this tool could not have "
            f"issued it ({adopted.refused})"
        )
    return adopted.refused is None


def _what_was_issued(user_files, history, out_dir, user, trust_file=True):
    """Groups, serial and expiry from the certificate, else (damaged or gone, or put there by hand
    while the ledger knows what was issued) from the ledger."""
    issued = [e for e in history if e.event != "revoked"]
    if (trust_file or not issued) and os.path.isfile(user_files.cert):
        try:
            info = openssl.certificate_info(user_files.cert)
            return Revocation(user, info.organizations, info.serial, info.not_after)
        except UsercertError:
            pass  # damaged: the ledger still knows
    if not issued and not os.path.isdir(user_files.directory):
        raise InvalidInput(
            f"no user {user!r} in {out_dir} or its ledger",
            hint="see 'kubectl usercert list' for the users issued there (and check --out-dir)",
        )
    last = issued[-1] if issued else None
    return Revocation(
        user,
        last.groups if last else (),
        last.serial if last else None,
        last.not_after if last else None,
    )


def archive_folder(user_files, out_dir, serial):
    """Move the user's folder into the archive, within the out-dir. The lock refused a folder that is a
    link (ownership), and lstat makes sure: a link is never followed, so nothing of another out-dir
    is ever copied here."""
    if not stat.S_ISDIR(_lstat_mode(user_files.directory)):
        return None
    files.ensure_dir(revoked_dir(out_dir))
    target = revoked_archive(out_dir, user_files.stem, serial)
    try:
        os.rename(user_files.directory, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise files.write_error(target, exc) from None
        _copy_across(user_files.directory, target)  # the archive folder is a mount point of its own
    signals.record(f"archived {user_files.directory} to {target}")
    return target


def _lstat_mode(path):
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0


def _copy_across(source, target):
    """Copy to another file system, whole or not at all: into a private folder beside the target,
    renamed into place once complete; only then is the source removed."""
    partial = target + ".partial"
    try:
        shutil.copytree(source, partial, symlinks=True)
        os.rename(partial, target)
    except OSError as exc:  # shutil.Error too: it says which files, not an errno
        shutil.rmtree(partial, ignore_errors=True)
        reason = exc.strerror or _first_reason(exc)
        raise UsercertError(
            f"cannot archive {source} to {target} (another file system): {reason}",
            hint="free some space there, or check its permissions; nothing was revoked",
        ) from None
    try:
        shutil.rmtree(source)
    except OSError as exc:
        raise UsercertError(
            f"archived {source} to {target}, but could not remove it: {exc.strerror}",
            hint=f"remove {source} by hand, then run revoke again to record it",
        ) from None


def _first_reason(error):
    """What shutil.Error (a list of (source, target, why)) says first."""
    failures = error.args[0] if error.args and isinstance(error.args[0], list) else []
    return (
        str(failures[0][2])
        if failures and len(failures[0]) == 3
        else "some files could not be copied"
    )


def delete_bindings(kubectl, dry_run, result, removed, progress):
    try:
        for binding in result.removed:
            progress(
                f"Deleting {binding.ref}" + (" (server dry run)" if dry_run == "server" else "")
            )
            with (
                signals.critical()
            ):  # deleted and noted together, so the record says exactly what went
                rbac.delete(kubectl, binding, dry_run=dry_run)
                removed.append(binding)
    except UsercertError as exc:
        left = [b.ref for b in result.removed if b not in removed]
        return replace(
            result,
            removed=tuple(removed),
            remaining=result.remaining
            + (f"{', '.join(left)} (could not be deleted: {summary(exc)}); run revoke again",),
        )
    return result


def _withdraw_self_renewal(kubectl, user, dry_run, result, history, progress):
    """The right to self-renew goes with the user's bindings: its ClusterRole too (when its binding
    was among them), and, for a user who had the right, the pending renewal request, so nobody
    approves it later."""
    server = ["--dry-run=server"] if dry_run == "server" else []
    role = self_renewal_rbac.role_name(user, rbac.name_part)
    had_role = any(b.name == role and b.kind == "ClusterRoleBinding" for b in result.removed)
    targets = [("clusterroles.rbac.authorization.k8s.io", role)] * had_role + [
        (CSR_RESOURCE, self_renewal_name(user))
    ] * (had_role or any(entry.self_renew for entry in history))
    left = []
    for resource, name in targets:
        progress(
            f"Deleting {resource.split('.')[0]} {name}" + (" (server dry run)" if server else "")
        )
        answer = kubectl.run(
            ["delete", *server, resource, name, "--ignore-not-found", "--wait=false"]
        )
        if not answer.ok:
            left.append(
                f"{resource}/{name} (could not be deleted: {last_error_line(answer.stderr)})"
            )
        elif answer.stdout.strip() and not server:
            signals.record(f"deleted {resource}/{name}")
    return replace(result, remaining=result.remaining + tuple(left)) if left else result


def _record(out_dir, user, result, history):
    last = next((e for e in reversed(history) if e.event != "revoked"), None)
    with signals.critical():
        ledger.append(
            out_dir,
            LedgerEntry(
                event="revoked",
                user=user,
                groups=result.groups,
                serial=result.serial,
                fingerprint_sha256=last.fingerprint_sha256 if last else None,
                not_after=result.not_after,
                bindings_removed=tuple(b.name for b in result.removed),
                archived_to=result.archived_to,
            ),
        )
    signals.record(f"recorded the revocation of {user} in the ledger")
