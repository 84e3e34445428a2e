"""YAML as this tool reads and writes it, in one place.

Written by a small emitter for what this tool writes (mappings, lists, strings, numbers, booleans,
null): block style, keys in their order, a string plain when it cannot be read as anything else
and JSON-quoted (a YAML double-quoted scalar) otherwise, so every document reads back exactly as
it was (tests check it against PyYAML). That keeps PyYAML's import (about as long as the openssl
work of a create) for reading, which is safe_load only.
"""

import json
import re

# Plain scalars: a conservative shape, minus the words YAML 1.1 reads as booleans or null.
_PLAIN = re.compile(r"[A-Za-z_/.][A-Za-z0-9_@./:+=-]*")
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}
# What YAML may not hold raw in a double-quoted scalar (outside c-printable, or a line break it
# would fold: NEL, LS, PS), escaped there.
MAX_NODES = 200_000  # after alias expansion: a "billion laughs" document is refused, not expanded
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def dump(obj):
    return "".join(_lines(obj, 0)) if isinstance(obj, (dict, list)) and obj else _scalar(obj) + "\n"


def dump_all(objs):
    return "---\n".join(dump(obj) for obj in objs)


def _lines(obj, indent):
    pad = " " * indent
    if isinstance(obj, dict):
        for key, value in obj.items():
            # a list under a key stays at the key's indent, as PyYAML writes it
            yield from _entry(f"{pad}{_scalar(str(key))}:", value, indent + 2, indent)
    else:
        for value in obj:
            if isinstance(value, dict) and value:
                lines = list(_lines(value, indent + 2))
                yield f"{pad}- {lines[0][indent + 2:]}"
                yield from lines[1:]
            else:
                yield from _entry(f"{pad}-", value, indent + 2, indent + 2)


def _entry(head, value, mapping_indent, list_indent):
    if isinstance(value, (dict, list)) and value:
        yield head + "\n"
        yield from _lines(value, mapping_indent if isinstance(value, dict) else list_indent)
    else:
        yield f"{head} {_scalar(value)}\n"


def _scalar(value):
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED and not text.endswith(":") and \
            not re.fullmatch(r"\.(inf|nan)", text, re.I):
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return _UNPRINTABLE.sub(lambda match: f"\\u{ord(match.group(0)):04x}", quoted)


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
