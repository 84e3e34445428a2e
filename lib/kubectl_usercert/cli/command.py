"""The base of every command: flags read as kubectl reads them, plumbum's usage errors as our one-line
error, help that reads like kubectl's, and `perform`: the one tail every command shares. (The one
funnel every error reaches the user through is the entry point, cli.main.)

plumbum stays the parser; this only changes what goes in (flags.normalize) and what comes out.
"""

import inspect
import json
import re

from plumbum import cli

from ..errors import EXIT_OK, InvalidInput
from . import flags, plumbum_adapter
from .plumbum_adapter import (
    long_name,
    program_version,
    reachable_switches,
    subcommands,
    switch_defaults,
)

_GROUP_ORDER = (
    "Options",
    "Key options",
    "Signer options",
    "RBAC options",
    "Cluster options",
    "Output options",
)


class Command(plumbum_adapter.Application):
    """A command: `main` builds one request and calls `perform(core, request)`."""

    EXAMPLES = ""  # "# what it does\nkubectl usercert ..." blocks, shown first by --help
    USAGE_ARGS = ""  # e.g. "USER [GROUP...]"
    OUTPUTS = ()  # -o formats of this command beyond json, yaml, name and jsonpath

    def rewrite_argv(self, argv):
        """The command line as kubectl reads flags, in the one spelling plumbum reads exactly."""
        return flags.normalize(
            argv,
            plumbum_adapter.switches_by_name(self),
            plumbum_adapter.subcommand_names(self),
            f"see '{self.PROGNAME} --help'",
        )

    # plumbum's usage errors, with cobra's words for a missing flag and a wrong count of arguments.

    def refuse_usage(self, message):
        return InvalidInput(_kubectl_style(message), hint=f"see '{self.PROGNAME} --help'")

    def refuse_arguments(self, arguments):
        usage = f"usage: {self.PROGNAME} {self.USAGE_ARGS} [options]" if self.USAGE_ARGS else None
        return InvalidInput(
            arguments_error(self, arguments), hint=usage or f"see '{self.PROGNAME} --help'"
        )

    def refuse_missing(self, names):
        return InvalidInput(
            f"required flag(s) {', '.join(map(go_quote, names))} not set",
            hint=f"see '{self.PROGNAME} --help'",
        )

    def refuse_value(self, value, argtype, name):
        expected = (
            f"one of {', '.join(sorted(map(str, argtype.values)))}"
            if isinstance(argtype, cli.Set)
            else f"a number from {argtype.start} to {argtype.end}"
            if isinstance(argtype, cli.Range)
            else "a number"
        )
        return f'invalid argument "{value}" for "--{name}" flag: must be {expected}'

    def perform(self, core, request, steps=None):
        """quiet, steps (console.steps, or console.bar for apply), the core call, what people see, what
        scripts read, the exit code."""
        from ..output import console, ui

        output = getattr(self, "output", None)
        if output:
            from ..output import contract, fleet_contract  # noqa: F401  (a fleet person's kinds)

            contract.check_output_format(output, self.OUTPUTS)
            console.require_stdout()  # before the work: its result must not be lost
        console.set_quiet(getattr(self, "quiet", False))
        with (steps or console.steps)() as progress:
            result = core(request, progress)
        ui.render(result, data_on_stdout=bool(output))
        if output == "prometheus":
            self.write_metrics(result)  # (list's own format: see OUTPUTS)
        elif output:
            console.emit(contract.to_object(result), output)
        return getattr(result, "exit_code", EXIT_OK)

    @cli.switch(["h", "help"], overridable=True, group="Meta-switches", help="show this help")
    def help(self):
        print(kubectl_help(self))

    @cli.switch(["version"], overridable=True, group="Meta-switches", help="print the version")
    def version(self):
        print(f"{self.PROGNAME} {program_version(self)}")


# plumbum's --completions writes a script for a program named "kubectl usercert", which no shell can
# call (kubectl completes plugins through kubectl_complete-usercert); kubectl has no --help-all, and its
# -v is log verbosity (the version is --version only).
Command.unbind_switches("--completions", "--help-all", "-v")


def _kubectl_style(message):
    message = message.rstrip(".")
    for plumbum_says, kubectl_says in (("Switch ", "flag "), ("Unknown switch", "unknown flag")):
        if message.startswith(plumbum_says):
            message = kubectl_says + message[len(plumbum_says) :]
    return message


def arguments_error(app, arguments):
    """What cobra's argument checks say (NoArgs, ExactArgs, MinimumNArgs, ...) for a wrong count of
    arguments to `app.main`, instead of plumbum's "Expected at most 0 positional arguments, got ['x']"."""
    spec = inspect.getfullargspec(app.main)
    most = len(spec.args) - 1 if spec.varargs is None else None
    least = len(spec.args) - 1 - len(spec.defaults or ())
    got = len(arguments)
    if most == 0:
        return f"unknown command {go_quote(arguments[0])} for {go_quote(app.PROGNAME)}"
    if least == most:
        return f"accepts {most} arg(s), received {got}"
    if most is None:
        return f"requires at least {least} arg(s), only received {got}"
    if least == 0:
        return f"accepts at most {most} arg(s), received {got}"
    return f"accepts between {least} and {most} arg(s), received {got}"


def go_quote(text):
    """Go's %q, as cobra quotes a word in its messages."""
    return json.dumps(str(text), ensure_ascii=False)


def kubectl_help(app):
    """Description, examples, flags by group, usage: as `kubectl CMD --help` reads."""
    lines = [_summary(type(app)), ""]
    if app.EXAMPLES.strip():
        lines += (
            ["Examples:"]
            + ["  " + line if line else "" for line in app.EXAMPLES.strip().splitlines()]
            + [""]
        )
    commands = subcommands(app)
    if commands:
        lines.append("Commands:")
        width = max(map(len, commands)) + 2
        for name, command in sorted(commands.items()):
            summary = _summary(command).splitlines()[0]
            lines.append(f"  {name.ljust(width)}{summary}")
        lines.append("")
    lines += _flag_groups(app)
    args = f" {app.USAGE_ARGS}" if app.USAGE_ARGS else ""
    lines += [
        "Usage:",
        f"  {app.PROGNAME}{args} [options]"
        if not commands
        else f"  {app.PROGNAME} COMMAND [options]",
        "",
    ]
    if commands:
        lines.append(f'Use "{app.PROGNAME} COMMAND --help" for more information about a command.')
    return "\n".join(lines).rstrip() + "\n"


def _summary(app_class):
    # (a class's own docstring: inspect.getdoc would also find a base class's, and costs an import)
    return (app_class.DESCRIPTION or app_class.__dict__.get("__doc__") or "").strip()


def _flag_groups(app):
    groups = {}
    for info in reachable_switches(app):
        group = "Options" if info.group in ("Switches", "Meta-switches") else info.group
        groups.setdefault(group, []).append(info)
    defaults = switch_defaults(type(app))
    lines = []
    for group in sorted(groups, key=lambda g: _GROUP_ORDER.index(g) if g in _GROUP_ORDER else 99):
        lines.append(f"{group}:")
        for info in sorted(groups[group], key=long_name):
            lines += _flag(info, defaults, app.OUTPUTS if "output" in info.names else ())
        lines.append("")
    return lines


def _flag(info, defaults, more_formats=()):
    short = [n for n in info.names if len(n) == 1]
    long = long_name(info)
    prefix = (f"-{short[0]}, " if short else "    ") + f"--{long}"
    if info.argtype is not None:
        default = defaults.get(long)
        value = info.argname if info.argname and info.argname != "VALUE" else "VALUE"
        prefix += f"={value}" + (
            f" (default {default})" if default not in (None, "", False, []) else ""
        )
        if info.list:
            prefix += " (repeatable)"
    text = re.sub(
        r";\s*the default is .*$", "", info.help or "", flags=re.S
    )  # plumbum's; shown above
    if more_formats:  # this command's own -o formats (list: prometheus)
        text += "; also " + ", ".join(more_formats)
    return [f"  {prefix}", f"        {text}"] if text else [f"  {prefix}"]
