"""Shell completion for `kubectl usercert`, in the protocol kubectl (1.26+) uses for plugins.

When the shell asks kubectl to complete `kubectl usercert WORDS... CURRENT`, kubectl looks up
an executable `kubectl_complete-usercert` on PATH and runs it with WORDS and CURRENT as its
arguments (CURRENT is "" when the cursor starts a new word), with kubectl's environment and
working directory. It reads stdout: one candidate per line, optionally `candidate<TAB>help`,
and last `:<n>`, a cobra ShellCompDirective. A non-zero exit means "no completions".
stderr reaches the user's terminal in the middle of a prompt, so nothing is ever written there.

Subcommands and switches come from the plumbum applications in `cli`, so new ones appear here
without changes; values are completed for Set switches, --context/--cluster (from the
kubeconfig kubectl's rules find) and USER arguments (folders under --out-dir).
"""

import inspect
import os
import sys
import traceback

# cobra's ShellCompDirective bits (spf13/cobra completions.go).
DIRECTIVE_DEFAULT = 0  # the shell may fall back to file names
DIRECTIVE_ERROR = 1
DIRECTIVE_NO_SPACE = 2
DIRECTIVE_NO_FILE_COMP = 4
DIRECTIVE_FILTER_FILE_EXT = 8
DIRECTIVE_FILTER_DIRS = 16
DIRECTIVE_KEEP_ORDER = 32

# Words in the name of a subcommand's `main` parameter that say what the argument is:
# `user` -> an existing user's name; `user_or_kubeconfig`, `target` -> a user or a file.
USER_WORDS = {"user", "users", "target"}
PATH_WORDS = {"kubeconfig", "file", "path", "target", "cert", "csr"}

# Meta-switches that mean nothing through kubectl (plumbum's own completion-script generator).
HIDDEN_SWITCHES = {"completions"}
PROGNAME = "kubectl usercert"


def main(argv=None):
    """Entry point of `kubectl_complete-usercert`: print candidates, then `:<directive>`."""
    words = list(sys.argv[1:] if argv is None else argv) or [""]
    try:
        candidates, directive = complete(words)
    except Exception:  # never a traceback in the middle of someone's prompt
        _debug(traceback.format_exc())
        candidates, directive = [], DIRECTIVE_ERROR
    out = "".join(candidate + "\n" for candidate in candidates) + f":{directive}\n"
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


def complete(words, environ=None):
    """Candidates and a directive for the last of `words` (the words after `kubectl usercert`)."""
    environ = os.environ if environ is None else environ
    words = list(words) or [""]
    state = _CommandLine(words[:-1])
    current = words[-1]
    if state.pending is not None:
        return _switch_values(state, state.pending, current, "", environ)
    if current.startswith("--") and "=" in current and not state.only_positional:
        name, _, partial = current[2:].partition("=")
        swinfo = state.app._switches_by_name.get(name)
        if swinfo is None or swinfo.argtype is None:
            return [], DIRECTIVE_NO_FILE_COMP
        return _switch_values(state, swinfo, partial, f"--{name}=", environ)
    if current.startswith("-") and not state.only_positional:
        return _switch_names(state, current), DIRECTIVE_NO_FILE_COMP
    return _positional(state, current)


class _CommandLine:
    """What the words before the cursor say: the (sub)application, its switches, its arguments."""

    def __init__(self, words):
        from .cli import Main

        self.app = Main(PROGNAME)
        self.is_root = True
        self.seen = {}  # SwitchInfo -> list of values given
        self.positionals = []
        self.pending = None  # a switch still waiting for its value
        self.only_positional = False
        for word in words:
            self._take(word)

    def _take(self, word):
        if self.pending is not None:
            self.seen.setdefault(self.pending, []).append(word)
            self.pending = None
        elif word == "--" and not self.only_positional:
            self.only_positional = True
        elif word.startswith("-") and word != "-" and not self.only_positional:
            self._take_switch(word)
        elif self.is_root and not self.positionals and word in self.app._subcommands:
            subapp = self.app._subcommands[word].get()
            self.app = subapp(f"{PROGNAME} {word}")
            self.is_root = False
        else:
            self.positionals.append(word)

    def _take_switch(self, word):
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            attached = value if eq else None
        else:  # -n VALUE, -nVALUE
            name, attached = word[1:2], (word[2:] or None)
        swinfo = self.app._switches_by_name.get(name)
        if swinfo is None:
            return
        values = self.seen.setdefault(swinfo, [])
        if swinfo.argtype is None:
            return
        if attached is not None:
            values.append(attached)
        else:
            self.pending = swinfo

    def value_of(self, switch_name, default=None):
        """The last value given for a switch, else the application's default for it."""
        swinfo = self.app._switches_by_name.get(switch_name)
        if swinfo is not None and self.seen.get(swinfo):
            return self.seen[swinfo][-1]
        for klass in type(self.app).__mro__:
            for attr, obj in vars(klass).items():
                info = getattr(obj, "_switch_info", None)
                if info is not None and switch_name in info.names:
                    value = getattr(self.app, attr, None)
                    return default if value is None else value
        return default


def _switch_names(state, current):
    """Long names matching `current`; short ones too when `current` is "-" or "-x" (as cobra)."""
    candidates, done = [], set()
    for name, swinfo in sorted(state.app._switches_by_name.items()):
        if id(swinfo) in done or HIDDEN_SWITCHES & set(swinfo.names):
            continue
        done.add(id(swinfo))
        if state.seen.get(swinfo) is not None and not swinfo.list:
            continue  # already given; only repeatable switches come back
        help_text = _one_line(swinfo.help)
        for switch_name in swinfo.names:
            flag = ("-" if len(switch_name) == 1 else "--") + switch_name
            if flag.startswith(current):
                candidates.append(f"{flag}\t{help_text}" if help_text else flag)
    return sorted(candidates)


def _switch_values(state, swinfo, partial, prefix, environ):
    names = set(swinfo.names)
    if "context" in names:
        return _kubeconfig_names(state, "contexts", partial, prefix, environ), DIRECTIVE_NO_FILE_COMP
    if "cluster" in names:
        return _kubeconfig_names(state, "clusters", partial, prefix, environ), DIRECTIVE_NO_FILE_COMP
    if "user" in names:
        return _user_names(state.value_of("out-dir", "clients"), partial, prefix), DIRECTIVE_NO_FILE_COMP
    choices = _set_choices(swinfo.argtype)
    if choices is not None:
        return [prefix + c for c in choices if c.startswith(partial)], DIRECTIVE_NO_FILE_COMP
    if any(n.endswith("dir") for n in names):
        return [], DIRECTIVE_FILTER_DIRS
    if any(n.endswith(("file", "cert", "key", "kubeconfig", "config", "csr")) for n in names):
        return [], DIRECTIVE_DEFAULT  # the shell completes file names
    return [], DIRECTIVE_NO_FILE_COMP


def _positional(state, current):
    if state.is_root:
        if state.positionals:
            return [], DIRECTIVE_NO_FILE_COMP
        candidates = []
        for name, sub in sorted(state.app._subcommands.items()):
            if name.startswith(current):
                help_text = _one_line(sub.get().DESCRIPTION or inspect.getdoc(sub.get()))
                candidates.append(f"{name}\t{help_text}" if help_text else name)
        return candidates, DIRECTIVE_NO_FILE_COMP
    words = set((_argument_name(type(state.app).main, len(state.positionals)) or "").split("_"))
    users = _user_names(state.value_of("out-dir", "clients"), current) if words & USER_WORDS else []
    # cobra: with DIRECTIVE_DEFAULT the shell offers file names when no candidate matches
    return users, DIRECTIVE_DEFAULT if words & PATH_WORDS else DIRECTIVE_NO_FILE_COMP


def _argument_name(main, index):
    """The name of `main`'s parameter that receives positional argument `index`."""
    params = [p for p in inspect.signature(main).parameters.values()][1:]  # drop self
    for i, param in enumerate(params):
        if param.kind == param.VAR_POSITIONAL or i == index:
            return param.name
    return None


def _user_names(out_dir, current, prefix=""):
    """Users with a folder under `out_dir` (folder names are file-safe encodings)."""
    from .subject import from_file_safe

    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return []
    users = set()
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue  # hidden: staging folders of a create in progress
        user = from_file_safe(entry.name)
        if user.startswith(current) and user.isprintable():
            users.add(prefix + user)
    return sorted(users)


def _kubeconfig_names(state, kind, partial, prefix, environ):
    from . import kubeconfig
    from .errors import UsercertError

    try:
        paths = kubeconfig.kubeconfig_paths(state.value_of("kubeconfig"), environ)
        merged = kubeconfig.load_merged(paths)
    except (UsercertError, OSError):
        return []
    entries = getattr(merged, kind)
    candidates = []
    for name in sorted(entries):
        if not isinstance(name, str) or not name.startswith(partial) or not name.isprintable():
            continue
        help_text = ""
        if kind == "contexts" and isinstance(entries[name], dict):
            context = entries[name]
            help_text = _one_line(", ".join(f"{key} {context[key]}" for key in ("cluster", "user")
                                           if context.get(key)))
            if name == merged.current_context:
                help_text = (help_text + " (current)").strip()
        candidates.append(f"{prefix}{name}\t{help_text}" if help_text else prefix + name)
    return candidates


def _set_choices(argtype):
    """The string values of a plumbum `cli.Set`, or None for any other type."""
    from plumbum import cli

    if isinstance(argtype, cli.Set):
        return sorted(v for v in argtype.values if isinstance(v, str))
    return None


def _one_line(text):
    if not text:
        return ""
    return " ".join(str(text).split("\n\n")[0].split())


def _debug(message):
    """cobra's convention: BASH_COMP_DEBUG_FILE names a file that collects completion logs."""
    path = os.environ.get("BASH_COMP_DEBUG_FILE")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(f"kubectl_complete-usercert: {message}\n")
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
