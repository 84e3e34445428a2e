"""What this tool uses of plumbum beyond its documented API, all of it here and nowhere else.

plumbum stays the parser; these are the seams where what goes in (kubectl's flag syntax) and what
comes out (kubectl's words, kubectl's help, completion's table) are changed. Every name below is
private to plumbum (or lives in a module of it that `plumbum.cli` does not export), and each has
had the same meaning from plumbum 1.6.0 to 2.0.x, the range setup.cfg asks for and
tests/test_plumbum_versions.py proves (the lowest and the newest of it):

- `Application._parse_args(argv)`: overridden, so argv is rewritten the way kubectl reads flags
  (`rewrite_argv`, see flags.py) before plumbum parses it, and its usage errors are ours.
- `Application._validate_args(swfuncs, tailargs)`: overridden, so plumbum's own checks (the count
  of arguments, mandatory switches) end in this tool's errors (`refuse_arguments`, `refuse_missing`).
- `Application._handle_argument(val, argtype, name)`: overridden, so a value of the wrong type is
  said as kubectl says it (`refuse_value`).
- `Application._switches_by_name` ({name: SwitchInfo}) and `_switches_by_func` ({function:
  SwitchInfo}): a command's switches, for the flag syntax, the help and completion's table
  (SwitchInfo's own attributes, names, argtype, list, group, help, argname, mandatory, func, are
  plain ones).
- `Application._subcommands` ({name: Subcommand}; `Subcommand.get()` is the application class):
  the commands, for help and completion's table.
- `Application._get_prog_version()`: what --version prints.
- `_switch_info` of a switch's function, and `_default_value` of a SwitchAttr: each flag's default,
  for help and completion's table.
- `plumbum.cli.application`'s ShowHelp, ShowHelpAll, ShowVersion and (since 2.0) ShowCompletion:
  how the meta-switches end a parse; passed on untouched. `plumbum.cli.switches`'
  MissingMandatorySwitch and PositionalArgumentsError: what the checks above raise.
"""

from plumbum import cli
from plumbum.cli import application
from plumbum.cli.switches import MissingMandatorySwitch, PositionalArgumentsError, SwitchError

# (ShowCompletion, for plumbum's --completions, came with 2.0)
_META_SWITCHES = tuple(
    getattr(application, name)
    for name in ("ShowHelp", "ShowHelpAll", "ShowVersion", "ShowCompletion")
    if hasattr(application, name)
)


class Application(cli.Application):
    """plumbum's Application, with its private hooks turned into named ones a subclass fills in:
    `rewrite_argv`, and the errors `refuse_usage`, `refuse_arguments`, `refuse_missing`,
    `refuse_value` (each returns what to raise, or say)."""

    def rewrite_argv(self, argv):
        return argv

    def refuse_usage(self, message):
        return SwitchError(message)

    def refuse_arguments(self, arguments):
        return SwitchError(f"wrong number of arguments: {arguments}")

    def refuse_missing(self, names):
        return SwitchError(f"missing: {', '.join(names)}")

    def refuse_value(self, value, argtype, name):
        return f"invalid value {value!r} for {name}"

    def _parse_args(self, argv):
        return self._usage_errors(super()._parse_args, self.rewrite_argv(argv))

    def _validate_args(self, swfuncs, tailargs):
        return self._usage_errors(self._checked, swfuncs, tailargs)

    def _checked(self, swfuncs, tailargs):
        try:
            return super()._validate_args(swfuncs, tailargs)
        except PositionalArgumentsError:
            raise self.refuse_arguments(tailargs) from None
        except MissingMandatorySwitch:
            missing = sorted(
                long_name(info)
                for info in self._switches_by_func.values()
                if info.mandatory and info.func not in swfuncs
            )
            raise self.refuse_missing(missing) from None

    def _usage_errors(self, parse, *args):
        try:
            return parse(*args)
        except _META_SWITCHES:
            raise
        except SwitchError as exc:
            raise self.refuse_usage(str(exc)) from None

    def _handle_argument(
        self, val, argtype, name
    ):  # (a static method in plumbum, always called on self)
        try:
            return cli.Application._handle_argument(val, argtype, name)
        except SwitchError:
            raise SwitchError(self.refuse_value(val, argtype, name)) from None


def long_name(info):
    return max(info.names, key=len)


def switches_by_name(app):
    """{name without dashes: SwitchInfo} of an application (an instance)."""
    return app._switches_by_name


def reachable_switches(app):
    """The switches an application (an instance) takes: each once, unbound and overridden ones gone."""
    return list({id(info.func): info for info in app._switches_by_name.values()}.values())


def subcommand_names(app):
    return tuple(app._subcommands)


def subcommands(app):
    """{name: application class} of an application's subcommands."""
    return {name: subcommand.get() for name, subcommand in app._subcommands.items()}


def program_version(app):
    return app._get_prog_version()


def switch_defaults(app_class):
    """{long name: default} of the switches an application class declares with a default."""
    found = {}
    for klass in reversed(app_class.__mro__):
        for value in vars(klass).values():
            info = getattr(value, "_switch_info", None)
            default = getattr(value, "_default_value", None)
            if info is not None and default is not None:
                found[long_name(info)] = default
    return found
