"""The only writer to the terminal.

People read stderr (steps, warnings, summaries, errors) through one rich Console; scripts read
stdout (-o json|yaml), written plainly after any spinner stopped, never through rich.
"""

import json
import shlex
import sys
from contextlib import contextmanager

import yaml
from rich.console import Console
from rich.markup import escape

# NO_COLOR and a non-terminal stderr are honoured by rich itself.
console = Console(stderr=True, highlight=False)
_state = {"quiet": False}


def set_quiet(quiet):
    _state["quiet"] = bool(quiet)


def _print(text):
    # soft_wrap: never wrap or cut a line, so paths and fingerprints stay whole and pasteable.
    console.print(text, soft_wrap=True)


def _say(text):
    if not _state["quiet"]:
        _print(text)


def warn(message):
    _say(f"[yellow]warning:[/] {escape(message)}")


def error(exc):
    """One line for the error, one for the hint; shown even with --quiet."""
    _print(f"[bold red]error:[/] {escape(exc.message)}")
    if exc.details:
        for line in exc.details.splitlines():
            _print(f"  [dim]{escape(line)}[/]")
    if exc.hint:
        _print(f"[cyan]hint:[/] {escape(exc.hint)}")


def interrupted():
    _print("[bold red]interrupted:[/] nothing was written")


@contextmanager
def steps():
    """Yield progress(message): a spinner shows the current step, finished steps get a tick."""
    if _state["quiet"]:
        yield lambda _message: None
        return
    current = []
    with console.status("", spinner="dots") as status:
        def progress(message):
            if current:
                _print(f"[green]✓[/] {escape(current[0])}")
            current[:] = [message]
            status.update(escape(message) + " …")
        yield progress
    if current:
        _print(f"[green]✓[/] {escape(current[0])}")


def emit(record, output):
    """Machine output on stdout: json or yaml, nothing else there."""
    if output == "json":
        text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.safe_dump(record, default_flow_style=False, sort_keys=False, allow_unicode=True)
    sys.stdout.write(text)
    sys.stdout.flush()


def _days_style(days):
    return "red" if days < 0 else "yellow" if days < 30 else "green"


def _key_label(key_type, bits):
    return f"{key_type} {bits}" if bits else key_type


def created(credential):
    for message in credential.warnings:
        warn(message)
    if _state["quiet"]:
        return
    days = credential.days_left
    rows = [
        ("user", escape(credential.user)),
        ("groups", escape(", ".join(credential.groups)) or "[dim](none)[/]"),
        ("serial", credential.serial),
        ("expires", f"{credential.not_after:%Y-%m-%d %H:%M}Z [{_days_style(days)}]({days} days left)[/]"),
        ("key", _key_label(credential.key_type, credential.key_bits)),
        ("sha256", credential.fingerprint_sha256),
        ("signer", credential.signer),
        ("cluster", f"{escape(credential.cluster)} ({escape(credential.server)})"),
        ("kubeconfig", escape(credential.kubeconfig_path)),
    ]
    _print(f"[bold green]Issued[/] a client certificate for [bold]{escape(credential.user)}[/]")
    _fields(rows)
    try_it = f"kubectl --kubeconfig {shlex.quote(credential.kubeconfig_path)} auth whoami"
    _print(f"Try it: [bold]{escape(try_it)}[/]")


def _fields(rows):
    width = max(len(name) for name, _ in rows) + 2
    for name, value in rows:
        _print(f"  [bold]{name.ljust(width)}[/]{value}")
