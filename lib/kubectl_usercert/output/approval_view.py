"""`approve` drawn for people (stderr: one line per request, what was recorded) and as the
`Approval` object of -o json|yaml. Registered with ui.render and contract.to_object when approve
loads this module."""

from .. import API_VERSION
from ..pki.certificate import credential_id
from .approval_results import Approvals
from .console import quiet, say, text, warn
from .contract import _time, to_object
from .ui import render

_SAID = {
    ("approve", "none"): "[bold green]✓ approved[/]",
    ("deny", "none"): "[bold red]✗ denied[/]",
    ("approve", "client"): "[green]would approve[/]",
    ("deny", "client"): "[red]would deny[/]",
    ("approve", "server"): "[green]would approve (server dry run)[/]",
    ("deny", "server"): "[red]would deny (server dry run)[/]",
}


@render.register
def _(result: Approvals, data_on_stdout=False):
    for outcome in result.outcomes:
        for note in outcome.notes:
            warn(f"{outcome.name}: {note}")
        if outcome.done is False:
            warn(f"could not {outcome.action} {outcome.name}: {outcome.error}")
    for warning in result.warnings:
        warn(warning)
    if quiet():
        return
    if not result.outcomes and not result.recorded:
        say("No pending certificate signing requests.")
    for outcome in result.outcomes:
        filed = f" (filed by {text(outcome.requester or '?')})"
        if outcome.action == "leave":
            say(f"[dim]left alone[/] {text(outcome.name)}{filed}: not a self-renewal")
        elif outcome.done is not False:
            said = _SAID[(outcome.action, result.dry_run)]
            why = f"{text(outcome.reason)}: " if outcome.action == "deny" else ""
            say(f"{said} [bold]{text(outcome.name)}[/]{filed}: {why}{text(outcome.message)}")
    for renewal in result.recorded:
        say(
            f"Recorded the renewal of [bold]{text(renewal.user)}[/] in the ledger: serial "
            f"{renewal.serial}, expires {renewal.not_after:%Y-%m-%d %H:%M}Z"
        )


@to_object.register
def _(result: Approvals):
    return {
        "apiVersion": API_VERSION,
        "kind": "Approval",
        "metadata": {"name": "approve"},
        "spec": {"dryRun": result.dry_run},
        "status": {
            "observedAt": _time(result.observed_at),
            "requests": [
                {
                    "name": o.name,
                    "requester": o.requester,
                    "user": o.user,
                    "action": o.action,
                    "reason": o.reason or None,
                    "message": o.message or None,
                    "done": o.done,
                    "error": o.error,
                    "notes": list(o.notes),
                }
                for o in result.outcomes
            ],
            "recorded": [
                {
                    "request": r.request,
                    "user": r.user,
                    "groups": list(r.groups),
                    "serial": r.serial,
                    "fingerprintSHA256": r.fingerprint_sha256,
                    "credentialID": credential_id(r.fingerprint_sha256),
                    "notAfter": _time(r.not_after),
                    "previousSerial": r.previous_serial,
                }
                for r in result.recorded
            ],
            "warnings": list(result.warnings),
        },
    }
