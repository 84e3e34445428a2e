"""The command line: `kubectl usercert` and its commands as plumbum applications (applications.py),
over `Command` (command.py: kubectl's flag syntax (flags.py) and help, and `perform`, the tail every
command shares), the flag groups commands share (switches.py) and their examples (examples.py).
Everything plumbum does not promise to keep is in one place: plumbum_adapter.py.

`main` is the entry point and the one funnel every error reaches the user through. It imports
nothing heavy until it runs, so completion.py (the keystroke answer, which imports none of plumbum,
rich or yaml) loads without plumbum, and so does the credential plugin (credential.py).
"""

import os
import sys

from ..errors import EXIT_FAILED, EXIT_INTERRUPTED, Interrupted, UsercertError


def main(argv=None):
    """Entry point: run the CLI, every error funnelled to one place (`_funnel`), and exit with its code."""
    argv = list(sys.argv if argv is None else argv)
    argv[0] = os.path.basename(argv[0])
    if argv[1:2] == [
        "__complete"
    ]:  # for a kubectl_complete-usercert wrapper (krew links only one binary)
        from .completion import main as complete

        sys.exit(complete(argv[2:]))
    if is_credential_call(argv):  # kubectl's credential plugin, on every kubectl call: as light
        from .credential import main as credential

        sys.exit(credential(argv[2:]))
    from .. import signals  # (not loaded for completion and the credential plugin: signal is slow)
    from ..output.console import prepare_streams
    from .applications import Main

    prepare_streams()
    signals.forget()
    with signals.handled():
        code = _funnel(Main, argv)
    sys.exit(code)


def is_credential_call(argv):
    """`credential ...` but not its --help (which plumbum draws)."""
    return argv[1:2] == ["credential"] and not {"-h", "--help"} & set(argv[2:])


def _funnel(main_class, argv):
    try:
        _, code = main_class.run(argv, exit=False)
        return code
    except UsercertError as exc:
        from ..output import console

        console.error(exc)
        return exc.exit_code
    except (Interrupted, KeyboardInterrupt) as exc:
        return _interrupted(exc)
    except BrokenPipeError:  # `... | head`: the reader has gone; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # a bug: one line and a way to see more, never a bare traceback
        signal_seen = _signal_within(exc)
        if signal_seen is not None:
            return _interrupted(signal_seen)
        if os.environ.get("USERCERT_DEBUG"):
            raise
        from ..output import console

        console.error(
            UsercertError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="please report this; USERCERT_DEBUG=1 shows where it happened",
            )
        )
        return EXIT_FAILED


def _interrupted(exc):
    from .. import signals
    from ..output import console

    name = getattr(exc, "signal_name", "SIGINT")
    console.interrupted(name, signals.journal())
    return signals.exit_code(name) if name != "SIGINT" else EXIT_INTERRUPTED


def _signal_within(exc):
    """The signal an error wraps: Python turns an exception raised while a class is being made (the
    signal's, when it comes during an import) into RuntimeError("Error calling __set_name__")."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (Interrupted, KeyboardInterrupt)):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
