"""The only writer to the terminal: stderr for people, stdout for data.

People read stderr (steps, warnings, summaries, errors) through one rich Console; scripts read
stdout (-o json|yaml|name|jsonpath, --print-rbac manifests, list's table), written plainly after
any spinner stopped, never through rich's wrapping. Text from outside (names, certificates, tool
output) is shown with rich markup escaped and control and format characters (terminal escapes,
bidi overrides) as \\x.. codes, so a crafted name cannot drive the terminal.
"""

import codecs
import functools
import json
import os
import re
import sys
import unicodedata
from contextlib import contextmanager

from ..errors import UsercertError

_state = {"quiet": False}
# rich's markup: [tag] ... [/], a backslash before [ makes it literal (rich.markup.RE_TAGS, escape).
_TAGS = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_ESCAPABLE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


@functools.lru_cache(maxsize=None)
def _rich(stream="stderr"):
    """A rich Console, only where a terminal shows it (colour, spinner); rich is imported then only:
    logs, CI and pipes get plain text, and do not pay for rich's import."""
    from rich.console import Console

    # NO_COLOR is honoured by rich itself; no ":cd:" emoji inside fingerprints.
    return Console(stderr=stream == "stderr", highlight=False, emoji=False)


def _terminal(stream):
    handle = getattr(sys, stream)
    try:
        return handle.isatty()
    except (AttributeError, ValueError):
        return False


def escape(value):
    """Text made literal for rich's markup, as rich.markup.escape does it."""
    escaped = _ESCAPABLE.sub(
        lambda match: f"{match.group(1)}{match.group(1)}\\{match.group(2)}", value
    )
    return escaped + "\\" if escaped.endswith("\\") and not escaped.endswith("\\\\") else escaped


def plain(markup):
    """What rich would print for `markup` with no styles: tags dropped, escapes resolved."""
    out, position = [], 0
    for match in _TAGS.finditer(markup):
        full, escapes, _tag = match.groups()
        out.append(markup[position : match.start()])
        backslashes, escaped = divmod(len(escapes), 2)
        out.append("\\" * backslashes + (full[len(escapes) :] if escaped else ""))
        position = match.end()
    out.append(markup[position:])
    return "".join(out)


def shown(value):
    """Outside text with control and format characters shown as \\x.. codes (no markup escaping)."""
    return "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf") else ascii(ch)[1:-1] for ch in str(value)
    )


def text(value):
    """Outside text made safe to show through rich."""
    return escape(shown(value))


def set_quiet(quiet):
    _state["quiet"] = bool(quiet)


def quiet():
    return _state["quiet"]


def show(markup, stream="stderr"):
    if _terminal(stream):
        # soft_wrap: never wrap or cut a line, so paths and fingerprints stay whole and pasteable.
        _rich(stream).print(markup, soft_wrap=True)
    else:
        handle = getattr(sys, stream)
        if handle is None:  # closed (see prepare_streams): stdout's data is refused in emit_text
            return
        handle.write(plain(markup) + "\n")
        handle.flush()


def say(markup):
    if not _state["quiet"]:
        show(markup)


def warn(message):
    say(f"[yellow]warning:[/] {text(message)}")


def error(exc):
    """One line for the error, one for the hint; shown even with --quiet."""
    show(f"[bold red]error:[/] {text(exc.message)}")
    for line in (exc.details or "").splitlines():
        show(f"  [dim]{text(line)}[/]")
    if exc.hint:
        show(f"[cyan]hint:[/] {text(exc.hint)}")


def interrupted(signal_name, done):
    """After an interrupt: what the run had changed for good, or that it changed nothing."""
    if not done:
        show(f"[bold red]interrupted[/] ({signal_name}): nothing was written")
        return
    show(f"[bold red]interrupted[/] ({signal_name}) after it " + text("; ".join(done)))
    show("[cyan]hint:[/] run the same command again to finish; what was done stays done")


@contextmanager
def steps():
    """Yield progress(message): a spinner shows the current step, finished steps get a tick."""
    if _state["quiet"]:
        yield lambda _message: None
        return
    if not _terminal("stderr"):
        # A log or CI: each step as it starts, so a long wait says what it waits for while it waits.
        yield lambda message: show(f"- {text(message)} …")
        return
    current = []
    with _rich().status("", spinner="dots") as status:

        def progress(message):
            if current:
                show(f"[green]✓[/] {text(current[0])}")
            current[:] = [message]
            status.update(text(message) + " …")

        yield progress
    if current:
        show(f"[green]✓[/] {text(current[0])}")


def prepare_streams():
    """Before anything is written: a closed standard stream gets /dev/null in its place (so no file
    this run opens becomes fd 1, and no child inherits it), and a closed stdout is remembered as an
    error for whoever writes data; data on stdout is UTF-8 whatever the locale or PYTHONIOENCODING
    (JSON and YAML are UTF-8), and human text on stderr never fails to encode (escaped instead)."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            setattr(sys, name, None)
    for name, change in (
        ("stdout", {"encoding": "utf-8"}),
        ("stderr", {"errors": "backslashreplace"}),
    ):
        stream = getattr(sys, name)
        encoding = getattr(stream, "encoding", None) or "utf-8"
        if codecs.lookup(encoding).name != "utf-8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(**change)


def require_stdout():
    """Refuse up front to do what would end in data nobody can read: -o with a closed stdout."""
    if sys.stdout is None:
        raise UsercertError(
            "cannot write the output: stdout is closed",
            hint="give the command somewhere to write (a file, a pipe, the terminal)",
        )


def emit_text(data):
    """Plain data on stdout, as it is; a stdout that cannot take it (closed, a full disk) is an error."""
    require_stdout()
    try:
        sys.stdout.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        _discard_stdout()
        raise UsercertError(
            f"cannot write the output: {exc.strerror}",
            hint="check where stdout goes (a full disk, a file you cannot write)",
        ) from None


def _discard_stdout():
    """What stays in stdout's buffer would fail again at exit: it goes to /dev/null instead."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (
        AttributeError,
        ValueError,
        OSError,
    ):  # not a file (a test's capture): nothing is flushed at exit
        pass


def emit(obj, output):
    """Machine output on stdout: json, yaml, name or jsonpath=TEMPLATE; nothing else there."""
    from . import contract, jsonpath

    if output == "json":
        emit_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    elif output == "yaml":
        emit_text(dump_yaml(obj))
    elif output == "name":
        emit_text(contract.names(obj))
    else:
        emit_text(jsonpath.render(output[len("jsonpath=") :], obj))


def dump_yaml(obj, many=False):
    from . import yamltext

    return yamltext.dump_all(obj) if many else yamltext.dump(obj)


def table(headers, rows):
    """Columns aligned as kubectl aligns them (three spaces apart, no trailing blanks), on stdout,
    never wrapped or cut; coloured only on a terminal. `rows` hold (text, rich style or None)."""
    cells = [[(shown(value), style) for value, style in row] for row in rows]
    widths = [
        max([len(header)] + [len(row[i][0]) for row in cells]) for i, header in enumerate(headers)
    ]
    header = "   ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()
    if not _terminal("stdout"):
        lines = [
            "   ".join(value.ljust(w) for (value, _), w in zip(row, widths)).rstrip()
            for row in cells
        ]
        emit_text("\n".join([header] + lines) + "\n")
        return
    show(f"[bold]{escape(header)}[/]", "stdout")
    for row in cells:
        padded = [(value.ljust(w), style) for (value, style), w in zip(row, widths)]
        show(
            "   ".join(
                f"[{style}]{escape(v)}[/]" if style else escape(v) for v, style in padded
            ).rstrip(),
            "stdout",
        )


@contextmanager
def bar():
    """apply's progress: users done of the total, each one's current step, failures; on a terminal a
    rich progress bar, elsewhere a line per step and per result. Safe to call from worker threads."""
    tracker = _Bar()
    try:
        yield tracker
    finally:
        tracker.close()


class _Bar:
    def __init__(self):
        import threading

        self._lock, self._progress, self._task, self._failed = threading.Lock(), None, None, 0

    def __call__(self, message):
        if not _state["quiet"]:
            show(f"- {text(message)} …")

    def begin(self, total):
        if _state["quiet"] or not total:
            return
        if not _terminal("stderr"):
            show(f"- {total} user(s) to change")
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            console=_rich(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("applying", total=total, failed="")

    def step(self, user, message):
        if _state["quiet"]:
            return
        with self._lock:
            if self._progress is not None:
                self._progress.update(self._task, description=f"{text(user)}: {text(message)}")
            else:
                show(f"- {text(user)}: {text(message)} …")

    def done(self, user, ok):
        if _state["quiet"]:
            return
        with self._lock:
            self._failed += not ok
            if self._progress is not None:
                self._progress.update(
                    self._task,
                    advance=1,
                    failed=f"[red]{self._failed} failed[/]" if self._failed else "",
                )
            else:
                show(f"{'[green]✓[/]' if ok else '[red]✗[/]'} {text(user)}")

    def close(self):
        if self._progress is not None:
            self._progress.update(self._task, description="applied")
            self._progress.stop()
