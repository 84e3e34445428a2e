"""lib/kubectl_usercert/cli/completion.json, generated from the plumbum applications of the CLI, for
cli/completion.py (which must not import the CLI: it runs on every TAB). At development time only:
the runtime reads the generated table. Regenerate after changing a command's flags:

    python3 dev/completion_table.py

(with the development virtualenv's python, which has plumbum; tests/test_completion.py says when the
table is stale).
"""

import inspect
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from plumbum import cli as plumbum_cli  # noqa: E402

from kubectl_usercert.cli import completion  # noqa: E402
from kubectl_usercert.cli.applications import Main  # noqa: E402
from kubectl_usercert.cli.completion import OUTPUT_FORMATS, TABLE  # noqa: E402
from kubectl_usercert.cli.flags import OPTIONAL_VALUES  # noqa: E402
from kubectl_usercert.cli.plumbum_adapter import (  # noqa: E402
    long_name,
    reachable_switches,
    subcommands,
    switch_defaults,
)


def table_from_cli():
    """{command: {help, args, flags}} from the plumbum applications ("" is the root)."""
    table = {"": _describe(Main, "kubectl usercert")}
    for name, command in subcommands(Main("kubectl usercert")).items():
        table[name] = _describe(command, f"kubectl usercert {name}")
    return table


def _describe(app_class, prog):
    app = app_class(prog)
    defaults = {
        name: value for name, value in switch_defaults(app_class).items() if isinstance(value, str)
    }
    flags = [
        _flag(info, defaults, app_class.OUTPUTS)
        for info in sorted(reachable_switches(app), key=long_name)
    ]
    parameters = list(inspect.signature(app_class.main).parameters.values())[1:]
    args = [p.name + ("*" if p.kind == p.VAR_POSITIONAL else "") for p in parameters]
    summary = " ".join(
        (app_class.DESCRIPTION or inspect.getdoc(app_class) or "").split("\n\n")[0].split()
    )
    return {"help": summary, "args": args, "flags": flags}


def _flag(info, defaults, outputs=()):
    """A flag as completion reads it; `argname` says what its value is (FILE, DIR, ...)."""
    long = long_name(info)
    choices = (
        sorted(v for v in info.argtype.values if isinstance(v, str))
        if isinstance(info.argtype, plumbum_cli.Set)
        else None
    )
    if (
        long == "output"
    ):  # -o: the formats every command prints, and this command's own (list: prometheus)
        choices = sorted(OUTPUT_FORMATS + tuple(outputs))
    help_text = " ".join(re.sub(r";\s*the default is .*$", "", info.help or "", flags=re.S).split())
    flag = {
        "names": sorted(info.names, key=len),
        "long": long,
        "value": info.argtype is not None,
        "list": bool(info.list),
        "choices": choices,
        "help": help_text,
    }
    if info.argtype is not None:
        flag["argname"] = info.argname
    if long in defaults:
        flag["default"] = defaults[long]
    if long in OPTIONAL_VALUES:
        flag["optional"] = True  # its value only after '=': the next word is not taken
    return flag


def table_text(table):
    """The table as completion.json holds it: one line per command, so a change reads as one."""
    lines = [
        f"  {json.dumps(name)}: {json.dumps(table[name], sort_keys=True)}" for name in sorted(table)
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def regenerate():
    path = os.path.join(os.path.dirname(os.path.abspath(completion.__file__)), TABLE)
    text = table_text(table_from_cli())  # made whole first: a failure leaves the table as it was
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


if __name__ == "__main__":
    print(regenerate())
