"""Small pieces every drawing of results shares: aligned fields, expiry with days left, labels."""

from datetime import datetime, timezone

from ..pki.subject import group_list
from ..times import days_left, human_duration
from .console import show, text
from .results import EXPIRING_DAYS

STATE_STYLES = {
    "valid": "green",
    "expiring": "yellow",
    "expired": "red",
    "not yet valid": "yellow",
    "files missing": "magenta",
    "revoked": "red",
}


def fields(rows):
    width = max(len(name) for name, _ in rows) + 2
    for name, value in rows:
        show(f"  [bold]{name.ljust(width)}[/]{value}")


def days_style(days):
    return "red" if days < 0 else "yellow" if days < EXPIRING_DAYS else "green"


def groups_field(groups):
    """A certificate's groups (its O values) for a field: comma-separated, or a dim (none)."""
    return text(group_list(groups, ", ")) or "[dim](none)[/]"


def key_label(key_type, bits):
    return f"{key_type} {bits}" if bits else key_type


def expiry(not_after):
    days = days_left(not_after)
    return f"{not_after:%Y-%m-%d %H:%M}Z [{days_style(days)}]({time_left(not_after, days)})[/]"


def time_left(not_after, days):
    if days != 0:
        return f"{days} days left" if days > 0 else f"expired {-days} days ago"
    left = not_after - datetime.now(timezone.utc)
    return f"{human_duration(left)} left" if left.total_seconds() > 0 else "expired"


def yes_no(value, yes="yes", no="NO"):
    return (
        "[dim]not checked[/]"
        if value is None
        else f"[green]{yes}[/]"
        if value
        else f"[bold red]{no}[/]"
    )


def state_label(state):
    return f"[{STATE_STYLES.get(state, 'white')}]{state}[/]"


def binding_label(binding):
    where = f" in {binding.namespace}" if binding.namespace else ""
    return f"{binding.role}{where}" + (
        f" (group {group_list([binding.subject])})" if binding.subject_kind == "Group" else ""
    )
