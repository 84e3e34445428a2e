"""Flags read the way kubectl (spf13/pflag) reads them, before plumbum parses the command line.

`-x=value`, `-x value`, `-xvalue`, `--flag=value` and `--flag value` mean the same; boolean
flags take `--flag=true|false` (and what else strconv.ParseBool takes: 1, t, T, TRUE, True, 0, f, F,
FALSE, False; not yes or no); short booleans combine (`-qo json`); a flag given twice keeps
its last value (a list flag keeps them all); `--` ends the flags. The command line is rewritten
into one spelling that plumbum reads exactly (it would otherwise strip a leading '=' from
`--group =x` and read `-g=ops` as the group "=ops"), and kubectl's own messages are used for
unknown flags and missing values.
"""

from ..errors import InvalidInput

# What Go's strconv.ParseBool (so pflag, so kubectl) takes, exactly: not yes/no, not tRUE.
_TRUE, _FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")
# pflag's NoOptDefVal: a flag whose value is optional means this alone, and its value is given only
# with '=' (`--dry-run client` is --dry-run and an argument, as in kubectl).
OPTIONAL_VALUES = {"dry-run": "client"}


def normalize(argv, switches, stop_words=(), usage_hint=""):
    """Rewrite `argv` (the arguments after the command's name) for plumbum.

    `switches` maps each switch name (without dashes) to plumbum's SwitchInfo (its `names`,
    `argtype` and `list`); `stop_words` are subcommand names, after which the rest is the
    subcommand's to read.
    """
    given = []  # (switch info, tokens), in order; a repeated non-list switch keeps its last
    tail, rest = [], list(argv)
    while rest:
        word = rest.pop(0)
        if word == "--":
            tail += [word] + rest
            break
        if word in stop_words and not tail:
            tail += [word] + rest
            break
        if word.startswith("--") and len(word) > 2:
            _long(word, rest, switches, given, usage_hint)
        elif word.startswith("-") and len(word) > 1:
            _shorts(word, rest, switches, given, usage_hint)
        else:
            tail.append(word)
    if "-" in tail and "--" not in tail and tail[0] not in stop_words:
        tail.insert(0, "--")  # a lone "-" is an argument (stdin) to kubectl; plumbum reads a flag
    return [token for _, tokens in given for token in tokens] + tail


def _long(word, rest, switches, given, usage_hint):
    name, has_value, value = word[2:].partition("=")
    info = switches.get(name)
    if info is None or len(name) == 1:
        raise InvalidInput(f"unknown flag: --{name}", hint=usage_hint)
    if info.argtype is None:
        _boolean(info, f"--{name}", value if has_value else "true", given, usage_hint)
        return
    if not has_value and name in OPTIONAL_VALUES:
        value, has_value = OPTIONAL_VALUES[name], True
    if not has_value:
        if not rest:
            raise InvalidInput(f"flag needs an argument: --{name}", hint=usage_hint)
        value = rest.pop(0)
    _add(given, info, _spelled(info, value))


def _shorts(word, rest, switches, given, usage_hint):
    letters = word[1:]
    while letters:
        letter, letters = letters[0], letters[1:]
        info = switches.get(letter)
        if info is None:
            raise InvalidInput(f"unknown shorthand flag: {letter!r} in {word}", hint=usage_hint)
        if info.argtype is None:
            value = "true"
            if letters.startswith("="):
                value, letters = letters[1:], ""
            _boolean(info, f"-{letter}", value, given, usage_hint)
            continue
        if letters:
            value = letters[1:] if letters.startswith("=") else letters
        elif rest:
            value = rest.pop(0)
        else:
            raise InvalidInput(f"flag needs an argument: {letter!r} in {word}", hint=usage_hint)
        _add(given, info, _spelled(info, value))
        return


def _boolean(info, shown, value, given, usage_hint):
    if value in _TRUE:
        _add(given, info, ["--" + _long_name(info)])
    elif value in _FALSE:
        given[:] = [(seen, tokens) for seen, tokens in given if seen is not info]
    else:
        raise InvalidInput(
            f'invalid argument "{value}" for "{shown}" flag: not true or false', hint=usage_hint
        )


def _add(given, info, tokens):
    if not info.list:
        given[:] = [(seen, old) for seen, old in given if seen is not info]
    given.append((info, tokens))


def _long_name(info):
    return max(info.names, key=len)


def _spelled(info, value):
    """Tokens plumbum reads as exactly `value`: `--name=value` (plumbum drops one '=' after the
    name), or the name and an empty string (`--name=` would take the next word)."""
    name = _long_name(info)
    dashes = "--" if len(name) > 1 else "-"
    if value == "":
        return [dashes + name, ""]
    return [f"--{name}={value}"] if len(name) > 1 else [f"-{name}", value]
