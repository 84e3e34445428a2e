"""Results drawn for people: `render(result)` draws any command's result, in one place.

Summaries and reports go to stderr (through console); what is the command's data for a pipe
(list's table, --print-rbac's manifests) goes to stdout, unless -o already puts data there.
"""

import os
import shlex
from functools import singledispatch

from ..pki.subject import group_list
from ..times import days_left
from . import fleet_ui, plan_ui
from .console import dump_yaml, emit_text, quiet, say, show, table, text, warn
from .fleet_results import FleetIssued, PerCluster
from .results import (
    DemoResult,
    Inspection,
    Inventory,
    Issued,
    Renewal,
    Revocation,
    RosterApplied,
    Signed,
    Verification,
    WhoisResult,
    not_found_message,
)
from .ui_parts import STATE_STYLES as _STATE_STYLES
from .ui_parts import binding_label as _binding_label
from .ui_parts import expiry as _expiry
from .ui_parts import fields as _fields
from .ui_parts import groups_field as _groups_field
from .ui_parts import key_label as _key_label
from .ui_parts import state_label as _state
from .ui_parts import yes_no as _yes_no


@singledispatch
def render(result, data_on_stdout=False):
    """Draw a command's result; `data_on_stdout` when -o prints the data (so no table there)."""
    raise TypeError(f"nothing draws {type(result).__name__}")


@render.register
def _(result: Issued, data_on_stdout=False):
    _credential(result.credential, "Issued")
    if result.printed_rbac and result.manifests:
        emit_text(dump_yaml(list(result.manifests), many=True))
    elif result.bindings:
        say(f"Bound: {text(', '.join(b.name for b in result.bindings))}")
    if result.verification is not None:
        render(result.verification)


render.register(FleetIssued)(lambda result, data_on_stdout=False: fleet_ui.issued(result, render))


@render.register
def _(result: Signed, data_on_stdout=False):
    lines = "\n".join(f"  [bold]{text(line)}[/]" for line in result.owner_instructions)
    _credential(
        result.credential,
        "Signed",
        try_it=f"The kubeconfig holds no key. Send it to its owner, who takes it in and tries it:\n{lines}",
    )
    if result.printed_rbac and result.manifests:
        emit_text(dump_yaml(list(result.manifests), many=True))
    elif result.bindings:
        say(f"Bound: {text(', '.join(b.name for b in result.bindings))}")


@render.register
def _(result: Renewal, data_on_stdout=False):
    if result.previous_certificate:
        say(f"Previous certificate kept as {text(result.previous_certificate)}")
    _credential(result.credential, "Renewed" if result.previous_serial else "Issued")


@render.register
def _(result: PerCluster, data_on_stdout=False):
    if result.items and all(isinstance(item, Renewal) for _, _, item in result.items):
        return fleet_ui.renewed(result)
    for cluster, context, item in result.items:
        say(f"[bold]{text(result.user)} on {text(cluster)}[/] (context {text(context or '?')})")
        render(item, data_on_stdout)


def _credential(credential, verb, try_it=None):
    for message in credential.warnings:
        warn(message)
    if quiet():
        return
    show(f"[bold green]{verb}[/] a client certificate for [bold]{text(credential.user)}[/]")
    _fields(
        [
            ("user", text(credential.user)),
            ("groups", _groups_field(credential.groups)),
            ("serial", credential.serial),
            ("expires", _expiry(credential.not_after)),
            ("lifetime", credential.lifetime or "?"),
            ("key", _key_label(credential.key_type, credential.key_bits)),
            ("sha256", credential.fingerprint_sha256),
            ("signer", credential.signer),
            ("cluster", f"{text(credential.cluster)} ({text(credential.server)})"),
            ("kubeconfig", text(credential.kubeconfig)),
        ]
    )
    if try_it is None:
        show(
            f"Try it: [bold]kubectl --kubeconfig {text(shlex.quote(credential.kubeconfig))} auth whoami[/]"
        )
    elif try_it:
        show(try_it)


@render.register
def _(report: Inspection, data_on_stdout=False):
    for warning in report.warnings:
        warn(warning)
    if quiet():
        return
    info = report.info
    rows = [
        ("source", text(report.source)),
        ("user", text(report.user or "(no CN: anonymous)")),
        ("groups", _groups_field(report.groups)),
        ("issuer", text(", ".join(f"{a}={v}" for a, v in info.issuer))),
        ("serial", info.serial),
        ("valid from", f"{info.not_before:%Y-%m-%d %H:%M}Z"),
        ("expires", _expiry(info.not_after)),
        ("status", _state(report.state)),
        ("key", _key_label(info.key_type, info.key_bits)),
        ("sha256", info.fingerprint_sha256),
        ("key matches", _yes_no(report.key_matches))
        if report.key_held_by != "owner"
        else ("key held by", "its owner (signed from their request; the key never came here)"),
        (
            "chain",
            _yes_no(
                report.chain_ok,
                f"valid (CA {text(report.chain_ca or '')})",
                f"does NOT chain to {text(report.chain_ca or '')}",
            ),
        ),
    ]
    if report.server:
        rows.append(("server", text(report.server)))
    if report.bindings is not None:
        rows.append(
            (
                "bindings",
                text(", ".join(_binding_label(b) for b in report.bindings)) or "[dim](none)[/]",
            )
        )
    _fields(rows)
    for note in report.notes:
        say(f"[dim]{text(note)}[/]")


@render.register
def _(report: Inventory, data_on_stdout=False):
    for problem in report.problems:
        warn(problem)
    for note in report.notes:
        say(f"[dim]{text(note)}[/]")
    for user in report.not_found:  # an error, so even with --quiet (the exit code is 1)
        show(f"[bold red]error:[/] {text(not_found_message(user))}")
    if data_on_stdout:
        return
    if not report.rows and report.not_found:
        return
    if not report.rows:
        say(
            "No certificates found."
            if report.expiring_within is None
            else f"No certificates expire within {text(report.expiring_within)}."
        )
        return
    with_bindings = any(row.bindings is not None for row in report.rows)
    clusters = any(row.cluster for row in report.rows)
    owners = any(row.key_held_by == "owner" for row in report.rows)  # (a column only then)
    headers = (
        ["USER"]
        + (["CLUSTER"] if clusters else [])
        + ["GROUPS", "EXPIRES", "DAYS LEFT", "STATUS", "SERVER"]
        + (["KEY HELD BY"] if owners else [])
        + (["BINDINGS"] if with_bindings else [])
    )
    rows = []
    for row in report.rows:
        days = days_left(row.not_after, report.observed_at)
        cells = [
            (row.user, None),
            *([(row.cluster or "", None)] if clusters else []),
            (group_list(row.groups), None),
            (f"{row.not_after:%Y-%m-%d}", None),
            (str(days), _STATE_STYLES.get(row.state)),
            (row.state, _STATE_STYLES.get(row.state)),
            (row.server or "", None),
        ] + ([(row.key_held_by or "", None)] if owners else [])
        rows.append(
            cells
            + ([(",".join(b.name for b in row.bindings or ()), None)] if with_bindings else [])
        )
    table(headers, rows)


@render.register
def _(result: WhoisResult, data_on_stdout=False):
    for problem in result.problems:
        warn(problem)
    for match in result.matches:
        when = f"{match.time:%Y-%m-%dT%H:%M:%SZ}" if match.time else ""
        expires = f"{match.not_after:%Y-%m-%dT%H:%M:%SZ}" if match.not_after else "?"
        where = f" on cluster {text(match.cluster)}" if match.cluster else ""
        where += f" (context {text(match.context)})" if match.context else ""
        say(
            f"[bold]{text(match.user)}[/] (groups: {text(group_list(match.groups, ', ')) or 'none'}) — "
            f"{text(match.event)} {when}{where}, serial {text(match.serial or '?')}, expires {expires}"
        )


@render.register
def _(result: Verification, data_on_stdout=False):
    if result.reported_user is not None:
        say(
            f"The cluster sees user [bold]{text(result.reported_user)}[/] in groups "
            f"{text(group_list(result.reported_groups, ', ')) or '(none)'}"
        )
    for note in result.notes:
        warn(note)
    for problem in result.problems:
        say(f"[bold red]✗[/] {text(problem)}")
    if result.ok:
        say(f"[bold green]✓ verified[/] {text(result.expected_user)} through {result.method}")


@render.register
def _(result: Revocation, data_on_stdout=False):
    if result.already_revoked:
        say(f"{text(result.user)} was revoked already; nothing new is recorded.")
    verb = "Would delete" if result.dry_run else "Deleted"
    for binding in result.removed:
        where = f" in {binding.namespace}" if binding.namespace else ""
        say(f"{verb} {text(binding.kind)} [bold]{text(binding.name)}[/]{text(where)}")
    if not result.removed and not result.remaining:
        say("No bindings made by this tool name this user.")
    if result.archived_to:
        say(f"Archived the local files to {text(result.archived_to)}")
    for left in result.remaining:
        say(f"[bold red]Still to remove:[/] {text(left)}")
    if result.not_after:
        say(
            f"[bold yellow]The certificate itself stays valid until {result.not_after:%Y-%m-%d %H:%M}Z[/]: "
            "Kubernetes cannot revoke a client certificate, so only RBAC now stands between it and the cluster."
        )
    for binding in result.group_bindings_kept:
        say(
            f"[yellow]Not touched:[/] {text(binding.name)} binds group {text(binding.subject)}, which this "
            "certificate still carries; remove it separately if needed."
        )
    if result.groups and not result.group_bindings_kept:
        say(f"Bindings to its groups ({text(group_list(result.groups, ', '))}) were not touched.")


@render.register
def _(result: DemoResult, data_on_stdout=False):
    _credential(result.issued.credential, "Issued", try_it="")
    if quiet():
        return
    say("")
    render(result.inspection)
    folder = shlex.quote(result.directory)
    say(f"""
This was a rehearsal: a throwaway CA in {text(folder)} stood in for the cluster's.
Look at what was made:
  [bold]kubectl config view --kubeconfig {text(shlex.quote(result.issued.credential.kubeconfig))} --minify[/]
  [bold]kubectl usercert list --out-dir {text(shlex.quote(os.path.join(result.directory, "clients")))}[/]
On a real cluster (a control-plane node, as root, or with --ca-cert/--ca-key):
  [bold]kubectl usercert create alice developers --preset read-only --days 30[/]
  [bold]kubectl --kubeconfig clients/alice/kubeconfig auth whoami[/]
On a managed cluster (EKS, GKE, AKS), where nobody holds the CA key:
  [bold]kubectl usercert create alice developers --signer csr --approve[/]""")


render.register(RosterApplied)(plan_ui.draw)
