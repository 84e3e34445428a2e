"""YAML as this tool reads and writes it, in one place.

Written by PyYAML's safe dumper (its C emitter where PyYAML has one): block style, keys in their
order, lines never folded (base64 data stays on one line). PyYAML quotes what YAML 1.1 would read as
anything but a string; kubectl reads kubeconfigs with go-yaml, which also reads `y`, `n`, `+.5`,
`1e3`, `0o17` and the like as booleans and numbers, so those are quoted too (`_GO_SCALARS`): a user
named `.5` or `y` stays a string for kubectl. yaml is imported on the first write or read only.
"""

import functools
import re

from .errors import InvalidInput

MAX_NODES = 200_000  # after alias expansion: a "billion laughs" document is refused, not expanded
# What go-yaml (v2, as sigs.k8s.io/yaml uses it, and v3) resolves as a bool, null, number, merge key or
# timestamp, beyond what PyYAML's YAML 1.1 resolver already quotes: a generous superset of its rules
# (a string quoted needlessly is still the same string to every reader).
_GO_SCALARS = re.compile(r"""(?x) ^(?:
    [yYnN] | (?i:yes|no|on|off|true|false|null|~|\.nan|[-+]?\.inf|<<)
  | [-+]?(?=[0-9_.]*[0-9])[0-9_]*\.?[0-9_]*(?:[eE][-+]?[0-9_]+)?    # 1_000, .5, +.5, 1e3, .5e+3, 017
  | [-+]?0[xXoObB][0-9a-fA-F_]+                                          # 0x1F, 0o17, 0b101
  | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt\s].*)?                         # 2024-1-2, timestamps
)\Z""")
# Line breaks PyYAML's pure emitter writes raw in a quoted scalar and reads back as \n: escaped instead.
_ODD_BREAKS = re.compile("[\x85\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def dump(obj, pure=False):
    """One YAML document, as kubectl, kubectl apply and yaml.safe_load read it back."""
    return dump_all([obj], pure)


def dump_all(objs, pure=False):
    """Documents separated by ---. pure: PyYAML's Python emitter even where its C one is installed (the
    zipapp carries no C extension), for the tests to check both."""
    import yaml

    return yaml.dump_all(objs, Dumper=_dumper(pure), default_flow_style=False, sort_keys=False, allow_unicode=True,
                         width=_NEVER_FOLD)


_NEVER_FOLD = 2**31 - 1  # libyaml keeps the width in a C int (float("inf") suits the pure emitter only)


@functools.lru_cache(maxsize=None)
def _dumper(pure):
    import yaml

    class Dumper(yaml.SafeDumper if pure else getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
        """PyYAML's safe dumper that also quotes what go-yaml reads as other than a string."""

    Dumper.add_implicit_resolver("tag:yaml.org,2002:go-scalar", _GO_SCALARS, list("yYnNoOtTfF~<+-.0123456789_"))
    Dumper.add_representer(str, _string)
    Dumper.add_representer(tuple, Dumper.represent_list)
    return Dumper


def _string(dumper, value):
    if _SURROGATE.search(value):  # bytes that were not UTF-8 (in argv, say): no YAML reader takes them back
        shown = value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        raise InvalidInput(f"'{shown}' holds bytes that are not UTF-8 text, which YAML cannot hold",
                           hint="retype it as UTF-8 text")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if _ODD_BREAKS.search(value) else None)


def expanded_size(node, memo=None):
    """How many values the document holds once every alias is expanded (shared nodes counted each time)."""
    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = MAX_NODES + 1  # a cycle counts as too big
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    total = 1
    for child in children:
        total += expanded_size(child, memo)
        if total > MAX_NODES:
            break
    memo[id(node)] = total
    return total


def load(text):
    """The document (safe_load); yaml.YAMLError for text that is not YAML."""
    import yaml

    return yaml.safe_load(text)


def error_line(exc):
    """' (line N)' for a YAML error that knows where it is, else ''."""
    where = getattr(exc, "problem_mark", None)
    return f" (line {where.line + 1})" if where else ""


def is_error(exc):
    import yaml

    return isinstance(exc, yaml.YAMLError)
