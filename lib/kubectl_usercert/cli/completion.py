"""Shell completion for `kubectl usercert`, in the protocol kubectl (1.26+) uses for plugins.

When the shell asks kubectl to complete `kubectl usercert WORDS... CURRENT`, kubectl looks up
an executable `kubectl_complete-usercert` on PATH and runs it with WORDS and CURRENT as its
arguments (CURRENT is "" when the cursor starts a new word), with kubectl's environment and
working directory. It reads stdout: one candidate per line, optionally `candidate<TAB>help`,
and last `:<n>`, a cobra ShellCompDirective. A non-zero exit means "no completions".
stderr reaches the user's terminal in the middle of a prompt, so nothing is ever written there.

It runs on every TAB, so it imports neither plumbum nor rich nor yaml: the commands and flags
come from completion.json, generated from the CLI at development time (`python3
dev/completion_table.py`; a test fails when it is stale). Context and cluster names come from
`kubectl config`, which reads kubeconfigs exactly as kubectl does; user names from the folders of
--out-dir. kubectl runs here through subprocess, not the process runner (process.py): importing
plumbum would cost more than the answer, and a keystroke needs neither its signals nor its steps.
"""

import os
import subprocess
import sys
import traceback

from ..errors import EXIT_OK

# cobra's ShellCompDirective bits (spf13/cobra completions.go).
DIRECTIVE_DEFAULT = 0  # the shell may fall back to file names
DIRECTIVE_ERROR = 1
DIRECTIVE_NO_SPACE = 2
DIRECTIVE_NO_FILE_COMP = 4
DIRECTIVE_FILTER_FILE_EXT = 8
DIRECTIVE_FILTER_DIRS = 16
DIRECTIVE_KEEP_ORDER = 32

# Words in the name of a command's argument that say what it is: `user` -> an existing user's
# name; `user_or_kubeconfig`, `target` -> a user or a file.
USER_WORDS = {"user", "users", "target"}
PATH_WORDS = {"kubeconfig", "file", "path", "target", "cert", "csr"}
OUTPUT_FORMATS = ("json", "jsonpath=", "name", "yaml")
MANIFEST_EXTENSIONS = (
    "json",
    "yaml",
    "yml",
)  # what kubectl's -f completes (FileExtensions in kubectl)


def main(argv=None):
    """Entry point of `kubectl_complete-usercert`: print candidates, then `:<directive>`."""
    words = list(sys.argv[1:] if argv is None else argv) or [""]
    try:
        candidates, directive = complete(words)
    except Exception:  # never a traceback in the middle of someone's prompt
        _debug(traceback.format_exc())
        candidates, directive = [], DIRECTIVE_ERROR
    sys.stdout.write("".join(candidate + "\n" for candidate in candidates) + f":{directive}\n")
    sys.stdout.flush()
    return EXIT_OK


def complete(words, environ=None):
    """Candidates and a directive for the last of `words` (the words after `kubectl usercert`)."""
    environ = os.environ if environ is None else environ
    words = list(words) or [""]
    commands = load_table()
    state = _CommandLine(commands, words[:-1])
    current = words[-1]
    if state.pending is not None:
        return _values(state, state.pending, current, environ)
    if current.startswith("-") and "=" in current and not state.only_positional:
        # --flag=VALUE or -f=VALUE: the candidates are values alone, as cobra gives them (its bash
        # script completes the part after '='; its zsh and fish scripts put the flag back in front)
        name, _, partial = current.lstrip("-").partition("=")
        flag = state.flags.get(name)
        if flag is None or not flag["value"]:
            return [], DIRECTIVE_NO_FILE_COMP
        return _values(state, flag, partial, environ)
    if current.startswith("-") and not state.only_positional:
        return _flag_names(state, current), DIRECTIVE_NO_FILE_COMP
    return _positional(commands, state, current, environ)


class _CommandLine:
    """What the words before the cursor say: the command, its flags given, its arguments."""

    def __init__(self, commands, words):
        self.command = ""
        self.flags = _by_name(commands[""])
        self.seen = {}  # flag's long name -> values given
        self.positionals = []
        self.pending = None  # a flag still waiting for its value
        self.only_positional = False
        for word in words:
            self._take(commands, word)

    def _take(self, commands, word):
        if self.pending is not None:
            self.seen.setdefault(self.pending["long"], []).append(word)
            self.pending = None
        elif word == "--" and not self.only_positional:
            self.only_positional = True
        elif word.startswith("-") and word != "-" and not self.only_positional:
            self._take_flag(word)
        elif self.command == "" and not self.positionals and word in commands and word:
            self.command = word
            self.flags = _by_name(commands[word])
        else:
            self.positionals.append(word)

    def _take_flag(self, word):
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            attached = value if eq else None
        else:  # -n VALUE, -nVALUE, -n=VALUE
            name, attached = word[1:2], (word[2:].lstrip("=") or None)
        flag = self.flags.get(name)
        if flag is None:
            return
        values = self.seen.setdefault(flag["long"], [])
        if not flag["value"]:
            return
        if attached is not None:
            values.append(attached)
        elif not flag.get("optional"):
            self.pending = flag

    def value_of(self, long_name, default=None):
        values = self.seen.get(long_name)
        if values:
            return values[-1]
        flag = self.flags.get(long_name)
        return flag.get("default", default) if flag else default


def _by_name(command):
    named = {}
    for flag in command["flags"]:
        for name in flag["names"]:
            named[name] = flag
    return named


def _flag_names(state, current):
    """Long names matching `current`; short ones too when `current` is "-" or "-x" (as cobra)."""
    candidates = []
    for flag in {flag["long"]: flag for flag in state.flags.values()}.values():
        if flag["long"] in state.seen and not flag["list"]:
            continue  # already given; only repeatable flags come back
        for name in flag["names"]:
            spelled = ("-" if len(name) == 1 else "--") + name
            if spelled.startswith(current):
                candidates.append(f"{spelled}\t{flag['help']}" if flag["help"] else spelled)
    return sorted(candidates)


def _values(state, flag, partial, environ):
    names = set(flag["names"])
    if "context" in names:
        return _kubectl_names(state, "get-contexts", partial, environ), DIRECTIVE_NO_FILE_COMP
    if "cluster" in names:
        return _kubectl_names(state, "get-clusters", partial, environ), DIRECTIVE_NO_FILE_COMP
    if "user" in names:
        return _user_names(state.value_of("out-dir", "clients"), partial), DIRECTIVE_NO_FILE_COMP
    if flag.get("choices") is not None:
        candidates = [c for c in flag["choices"] if c.startswith(partial)]
        # jsonpath= is not a whole word: no space after it (cobra's NoSpace holds for every candidate)
        whole = not candidates or not all(c.endswith("=") for c in candidates)
        return candidates, DIRECTIVE_NO_FILE_COMP | (0 if whole else DIRECTIVE_NO_SPACE)
    if (
        "filename" in names
    ):  # -f, as kubectl's own -f offers them: manifests, and folders to reach them
        return list(MANIFEST_EXTENSIONS), DIRECTIVE_FILTER_FILE_EXT
    if flag.get("argname") == "FILE":
        return [], DIRECTIVE_DEFAULT  # the shell completes file names
    if flag.get("argname") == "DIR":
        return [], DIRECTIVE_FILTER_DIRS
    return [], DIRECTIVE_NO_FILE_COMP


def _positional(commands, state, current, environ):
    if state.command == "":
        return (
            [] if state.positionals else _command_names(commands, current)
        ), DIRECTIVE_NO_FILE_COMP
    arguments = commands[state.command]["args"]
    index = len(state.positionals)
    name = (
        arguments[min(index, len(arguments) - 1)]
        if arguments and (index < len(arguments) or arguments[-1].endswith("*"))
        else ""
    )
    words = set(name.rstrip("*").split("_"))
    if "command" in words:  # help COMMAND
        return _command_names(commands, current), DIRECTIVE_NO_FILE_COMP
    users = _user_names(state.value_of("out-dir", "clients"), current) if words & USER_WORDS else []
    # cobra: with DIRECTIVE_DEFAULT the shell offers file names when no candidate matches
    return users, DIRECTIVE_DEFAULT if words & PATH_WORDS else DIRECTIVE_NO_FILE_COMP


def _command_names(commands, current):
    return [
        f"{name}\t{command['help']}" if command["help"] else name
        for name, command in sorted(commands.items())
        if name and name.startswith(current)
    ]


def _user_names(out_dir, current):
    """Users with a folder under `out_dir` (folder names are file-safe encodings)."""
    from ..store.layout import from_file_safe

    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return []
    users = set()
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue  # hidden: the ledger, and staging folders of a create in progress
        user = from_file_safe(entry.name)
        if user.startswith(current) and user.isprintable():
            users.add(user)
    return sorted(users)


def _kubectl_names(state, what, partial, environ):
    """Context or cluster names, as `kubectl config get-contexts|get-clusters` finds them."""
    argv = [environ.get("USERCERT_KUBECTL") or "kubectl", "config", what]
    if state.value_of("kubeconfig"):
        argv += ["--kubeconfig", state.value_of("kubeconfig")]
    if what == "get-contexts":
        argv += ["-o", "name"]
    try:
        answer = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=5,
            stdin=subprocess.DEVNULL,
            env=dict(environ),
        )
    except (OSError, subprocess.SubprocessError):
        return []
    names = (
        answer.stdout.splitlines()[0 if what == "get-contexts" else 1 :]
        if answer.returncode == 0
        else []
    )
    return sorted(name for name in names if name.startswith(partial) and name.isprintable())


def _debug(message):
    """cobra's convention: BASH_COMP_DEBUG_FILE names a file that collects completion logs."""
    path = os.environ.get("BASH_COMP_DEBUG_FILE")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(f"kubectl_complete-usercert: {message}\n")
        except OSError:
            pass


TABLE = "completion.json"


def load_table():
    """The commands and flags, as dev/completion_table.py generated them from the CLI."""
    import json
    import pkgutil

    return json.loads(pkgutil.get_data(__package__, TABLE).decode("utf-8"))


if __name__ == "__main__":
    sys.exit(main())
