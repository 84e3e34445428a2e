"""The only writer to the terminal.

People read stderr (steps, warnings, summaries, errors) through one rich Console; scripts read
stdout (-o json|yaml), written plainly after any spinner stopped, never through rich.
"""

import functools
import json
import os
import shlex
import sys
import unicodedata
from contextlib import contextmanager

from datetime import datetime, timezone

import yaml
from rich.console import Console
from rich.markup import escape

from .inspection import EXPIRING_DAYS

# NO_COLOR and a non-terminal stderr are honoured by rich itself.
console = Console(stderr=True, highlight=False, emoji=False)  # no ":cd:" emoji inside fingerprints
_state = {"quiet": False}


def _text(value):
    """Text from outside (names, certificates, tool output) made safe to show: rich markup escaped,
    and control and format characters (terminal escapes, bidi overrides) shown as \\x.. codes."""
    return escape(_shown(value))


def set_quiet(quiet):
    _state["quiet"] = bool(quiet)


def _print(text):
    # soft_wrap: never wrap or cut a line, so paths and fingerprints stay whole and pasteable.
    console.print(text, soft_wrap=True)


def _say(text):
    if not _state["quiet"]:
        _print(text)


def warn(message):
    _say(f"[yellow]warning:[/] {_text(message)}")


def error(exc):
    """One line for the error, one for the hint; shown even with --quiet."""
    _print(f"[bold red]error:[/] {_text(exc.message)}")
    if exc.details:
        for line in exc.details.splitlines():
            _print(f"  [dim]{_text(line)}[/]")
    if exc.hint:
        _print(f"[cyan]hint:[/] {_text(exc.hint)}")


def interrupted():
    _print("[bold red]interrupted:[/] nothing was written")


@contextmanager
def steps():
    """Yield progress(message): a spinner shows the current step, finished steps get a tick."""
    if _state["quiet"]:
        yield lambda _message: None
        return
    if not console.is_terminal:
        # A log or CI: each step as it starts, so a long wait says what it waits for while it waits.
        yield lambda message: _print(f"- {_text(message)} …")
        return
    current = []
    with console.status("", spinner="dots") as status:
        def progress(message):
            if current:
                _print(f"[green]✓[/] {_text(current[0])}")
            current[:] = [message]
            status.update(_text(message) + " …")
        yield progress
    if current:
        _print(f"[green]✓[/] {_text(current[0])}")


def emit_text(text):
    """Plain data on stdout (manifests), as it is."""
    sys.stdout.write(text)
    sys.stdout.flush()


def emit(record, output):
    """Machine output on stdout: json or yaml, nothing else there."""
    if output == "json":
        text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.safe_dump(record, default_flow_style=False, sort_keys=False, allow_unicode=True)
    sys.stdout.write(text)
    sys.stdout.flush()


def _days_style(days):
    return "red" if days < 0 else "yellow" if days < EXPIRING_DAYS else "green"


def _key_label(key_type, bits):
    return f"{key_type} {bits}" if bits else key_type


def created(credential, verb="Issued", try_it=None):
    for message in credential.warnings:
        warn(message)
    if _state["quiet"]:
        return
    rows = [
        ("user", _text(credential.user)),
        ("groups", _text(", ".join(credential.groups)) or "[dim](none)[/]"),
        ("serial", credential.serial),
        ("expires", _expiry(credential.not_after, credential.days_left)),
        ("key", _key_label(credential.key_type, credential.key_bits)),
        ("sha256", credential.fingerprint_sha256),
        ("signer", credential.signer),
        ("cluster", f"{_text(credential.cluster)} ({_text(credential.server)})"),
        ("kubeconfig", _text(credential.kubeconfig_path)),
    ]
    _print(f"[bold green]{verb}[/] a client certificate for [bold]{_text(credential.user)}[/]")
    _fields(rows)
    if try_it is None:
        _print(f"Try it: [bold]kubectl --kubeconfig {_text(shlex.quote(credential.kubeconfig_path))} auth whoami[/]")
    elif try_it:
        _print(try_it)


def _fields(rows):
    width = max(len(name) for name, _ in rows) + 2
    for name, value in rows:
        _print(f"  [bold]{name.ljust(width)}[/]{value}")


def _expiry(not_after, days):
    return f"{not_after:%Y-%m-%d %H:%M}Z [{_days_style(days)}]({_time_left(not_after, days)})[/]"


def _time_left(not_after, days):
    if days != 0:
        return f"{days} days left" if days > 0 else f"expired {-days} days ago"
    seconds = (not_after - datetime.now(timezone.utc)).total_seconds()
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m left" if seconds > 0 else "expired"


def _yes_no(value, yes="yes", no="NO"):
    return "[dim]not checked[/]" if value is None else f"[green]{yes}[/]" if value else f"[bold red]{no}[/]"


def inspection(report):
    if _state["quiet"]:
        return
    info = report.info
    rows = [
        ("source", _text(report.source)),
        ("user", _text(report.user or "(no CN: anonymous)")),
        ("groups", _text(", ".join(report.groups)) or "[dim](none)[/]"),
        ("issuer", _text(", ".join(f"{a}={v}" for a, v in info.issuer))),
        ("serial", info.serial),
        ("valid from", f"{info.not_before:%Y-%m-%d %H:%M}Z"),
        ("expires", _expiry(info.not_after, info.days_left())),
        ("status", _status(report.status)),
        ("key", _key_label(info.key_type, info.key_bits)),
        ("sha256", info.fingerprint_sha256),
        ("key matches", _yes_no(report.key_matches)),
        ("chain", _yes_no(report.chain_ok, f"valid (CA {_text(report.chain_ca or '')})",
                          f"does NOT chain to {_text(report.chain_ca or '')}")),
    ]
    if report.server:
        rows.append(("server", _text(report.server)))
    if report.bindings is not None:
        rows.append(("bindings", _text(", ".join(_binding_label(b) for b in report.bindings)) or "[dim](none)[/]"))
    _fields(rows)
    if report.bindings_note:
        _say(f"[dim]{_text(report.bindings_note)}[/]")


_STATUS_STYLES = {"valid": "green", "expiring": "yellow", "expired": "red", "not yet valid": "yellow",
                  "files missing": "magenta", "revoked": "red"}


def _status(status):
    return f"[{_STATUS_STYLES.get(status, 'white')}]{status}[/]"


def inventory(report, as_table=True):
    """The table is the command's answer: on stdout, whole (as kubectl get prints); notes on stderr."""
    for problem in report.problems:
        warn(problem)
    if not as_table:
        return
    if not report.rows:
        _say("No certificates found.")
        return
    with_bindings = any(row.bindings is not None for row in report.rows)
    headers = ["USER", "GROUPS", "EXPIRES", "DAYS LEFT", "STATUS", "SERVER"] + (["BINDINGS"] if with_bindings else [])
    rows = []
    for row in report.rows:
        days = row.days_left
        cells = [(row.user, None), (",".join(row.groups), None), (f"{row.not_after:%Y-%m-%d}", None),
                 (str(days), _days_style(days)), (row.status, _STATUS_STYLES.get(row.status)), (row.server or "", None)]
        if with_bindings:
            cells.append((",".join(row.bindings or []), None))
        rows.append(cells)
    table(headers, rows)


def table(headers, rows):
    """Columns aligned as kubectl aligns them (three spaces apart, no trailing blanks), on stdout,
    never wrapped or cut; coloured only on a terminal. `rows` hold (text, rich style or None)."""
    shown = [[(_shown(text), style) for text, style in row] for row in rows]
    widths = [max([len(header)] + [len(row[i][0]) for row in shown]) for i, header in enumerate(headers)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    styled = []
    for row in shown:
        cells = [text.ljust(width) for (text, _), width in zip(row, widths)]
        lines.append("   ".join(cells).rstrip())
        styled.append("   ".join(escape(cell) if not style else f"[{style}]{escape(cell)}[/]"
                                 for cell, (_, style) in zip(cells, row)).rstrip())
    if not _stdout_console().is_terminal:
        emit_text("\n".join(lines) + "\n")
        return
    _stdout_console().print(f"[bold]{escape(lines[0])}[/]", soft_wrap=True)
    for line in styled:
        _stdout_console().print(line, soft_wrap=True)


def _shown(value):
    """Outside text with control and format characters shown as \\x.. codes (no markup escaping)."""
    return "".join(ch if unicodedata.category(ch) not in ("Cc", "Cf") else ascii(ch)[1:-1] for ch in str(value))


@functools.lru_cache(maxsize=None)
def _stdout_console():
    return Console(highlight=False, emoji=False)


def whois(matches, damaged):
    for problem in damaged:
        warn(problem)
    if _state["quiet"]:
        return
    for match in matches:
        _say(f"[bold]{_text(match.user)}[/] (groups: {_text(', '.join(match.groups)) or 'none'}) — "
             f"{_text(match.event)} {_text(match.time or '')}, serial {match.serial}, expires {match.not_after}")


def verification(result):
    if _state["quiet"]:
        return
    if result.reported_user is not None:
        _say(f"The cluster sees user [bold]{_text(result.reported_user)}[/] in groups "
             f"{_text(', '.join(result.reported_groups)) or '(none)'}")
    for note in result.notes:
        warn(note)
    for problem in result.problems:
        _say(f"[bold red]✗[/] {_text(problem)}")
    if result.ok:
        _say(f"[bold green]✓ verified[/] {_text(result.expected_user)} through {result.method}")


def renewed(credential, previous_path):
    _say(f"Previous certificate kept as {_text(previous_path)}")
    created(credential, verb="Renewed")


def signed(credential, instructions):
    lines = "\n".join(f"  [bold]{_text(line)}[/]" for line in instructions)
    created(credential, verb="Signed", try_it=(
        f"The kubeconfig holds no key. Send it to its owner, who adds their key and tries it:\n{lines}"))


def _binding_label(binding):
    where = f" in {binding.namespace}" if binding.namespace else ""
    return f"{binding.role}{where}" + (f" (group {binding.subject})" if binding.subject_kind == "Group" else "")


def revoked(result):
    if _state["quiet"]:
        return
    verb = "Would delete" if result.dry_run else "Deleted"
    for binding in result.removed:
        where = f" in {binding.namespace}" if binding.namespace else ""
        _say(f"{verb} {_text(binding.kind)} [bold]{_text(binding.name)}[/]{_text(where)}")
    if not result.removed:
        _say("No bindings made by this tool name this user.")
    if result.archived_to:
        _say(f"Archived the local files to {_text(result.archived_to)}")
    if result.not_after:
        _say(f"[bold yellow]The certificate itself stays valid until {result.not_after:%Y-%m-%d %H:%M}Z[/]: "
             "Kubernetes cannot revoke a client certificate, so only RBAC now stands between it and the cluster.")
    for binding in result.group_bindings_kept:
        _say(f"[yellow]Not touched:[/] {_text(binding.name)} binds group {_text(binding.subject)}, which this "
             "certificate still carries; remove it separately if needed.")
    if result.groups and not result.group_bindings_kept:
        _say(f"Bindings to its groups ({_text(', '.join(result.groups))}) were not touched.")


def demo(result):
    created(result.credential, try_it="")
    if _state["quiet"]:
        return
    _say("")
    inspection(result.report)
    folder = shlex.quote(result.directory)
    _say(f"""
This was a rehearsal: a throwaway CA in {_text(folder)} stood in for the cluster's.
Look at what was made:
  [bold]kubectl config view --kubeconfig {_text(shlex.quote(result.credential.kubeconfig_path))} --minify[/]
  [bold]kubectl usercert list --out-dir {_text(shlex.quote(os.path.join(result.directory, 'clients')))}[/]
On a real cluster (a control-plane node, as root, or with --ca-cert/--ca-key):
  [bold]kubectl usercert create alice developers --preset read-only --days 30[/]
  [bold]kubectl --kubeconfig clients/alice/kubeconfig auth whoami[/]
On a managed cluster (EKS, GKE, AKS), where nobody holds the CA key:
  [bold]kubectl usercert create alice developers --signer csr --approve[/]""")
