"""apply's plan drawn for people (ui.render draws a RosterApplied through here): a table like
terraform's, a line per user (and on a fleet per user and cluster), and the totals."""

from .console import say, table, text, warn


def draw(result, data_on_stdout=False):
    """A plan like terraform's: user, action, why (and what came of it) on stdout; the totals on stderr."""
    for warning in result.warnings:
        warn(warning)
    if result.approvals is not None and result.approvals.outcomes + result.approvals.recorded:
        from . import approval_view  # noqa: F401 (registers how an Approvals is shown)
        from .ui import render

        render(result.approvals, data_on_stdout)
    for user in result.users:
        for note in user.notes:
            if user.outcome in ("planned", "done"):
                say(f"[dim]{text(_on(user))}: {text(note)}[/]")
    if not data_on_stdout and result.users:
        clusters = any(user.cluster for user in result.users)
        headers = (
            ["USER"]
            + (["CLUSTER"] if clusters else [])
            + ["ACTION", "WHY"]
            + ([] if result.dry_run else ["RESULT"])
        )
        rows = []
        for user in result.users:
            style = _ACTION_STYLES.get(user.actions[0])
            row = [
                (user.user, None),
                *([(user.cluster or "", None)] if clusters else []),
                (",".join(user.actions), style),
                ("; ".join(user.reasons), None),
            ]
            if not result.dry_run:
                shown = "-" if user.outcome in ("unchanged", "reported") else user.outcome
                row.append(
                    (
                        shown + (f": {user.error}" if user.error else ""),
                        "red" if user.outcome == "failed" else None,
                    )
                )
            rows.append(row)
        table(headers, rows)
    counts = [
        f"{result.count(action)} {word}"
        for action, word in (
            ("create", "to create" if result.dry_run else "created"),
            ("renew", "to renew" if result.dry_run else "renewed"),
            ("reissue", "to reissue" if result.dry_run else "reissued"),
            ("rebind", "to rebind" if result.dry_run else "rebound"),
            ("prune", "to prune" if result.dry_run else "pruned"),
            ("unlisted", "not in the roster"),
            ("unchanged", "unchanged"),
        )
        if result.count(action)
    ]
    failed = [user for user in result.users if user.outcome == "failed"]
    totals = counts + ([f"[bold red]{len(failed)} failed[/]"] if failed else [])
    say(("Plan: " if result.dry_run else "") + (", ".join(totals) or "nothing to do"))
    for user in failed:
        say(f"[bold red]✗[/] {text(_on(user))}: {text(user.error or '')}")


def _on(user):
    """A line of apply's plan, named: the user, and on a fleet the cluster too."""
    return f"{user.user} ({user.cluster})" if user.cluster else user.user


_ACTION_STYLES = {
    "create": "green",
    "renew": "cyan",
    "reissue": "yellow",
    "rebind": "cyan",
    "prune": "red",
    "refused": "red",
    "unlisted": "magenta",
}
