"""YAML as this tool reads and writes it, in one place.

Written by a small emitter for what this tool writes (mappings, lists, strings, numbers, booleans,
null): block style, keys in their order, a string plain when it cannot be read as anything else
and JSON-quoted (a YAML double-quoted scalar) otherwise, so every document reads back exactly as
it was (tests check it against PyYAML). That keeps PyYAML's import (about as long as the openssl
work of a create) for reading, which is safe_load only.
"""

import functools
import json
import re

# Plain scalars: a conservative shape, minus the words YAML 1.1 reads as booleans or null.
_PLAIN = re.compile(r"[A-Za-z_/.][A-Za-z0-9_@./:+=-]*")
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}
# What YAML may not hold raw in a double-quoted scalar (outside c-printable, or a line break it
# would fold: NEL, LS, PS), escaped there.
MAX_NODES = 200_000  # after alias expansion: a "billion laughs" document is refused, not expanded
MAX_DEPTH = 100  # nesting: PyYAML composes recursively, and no file this tool reads nests deeper than ten
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


class Refused(Exception):
    """Text read_bounded will not read: what is wrong, and on which line (1-based)."""

    def __init__(self, line, problem):
        super().__init__(problem)
        self.line, self.problem = line, problem


_YAML_TAG = "tag:yaml.org,2002:"
# The types a Kubernetes-style manifest holds (timestamps: a plain 2026-01-01 resolves to one, and is
# then refused as not a string by the reader's own checks); the rest (!!python/..., !!binary, !!set,
# !foo) is refused where it is written.
_TAGS = {_YAML_TAG + name for name in ("null", "bool", "int", "float", "str", "timestamp", "seq", "map", "merge")}


def read_bounded(text, max_nodes=MAX_NODES):
    """[(document, line_of)] for each document of `text`, with safe_load's types, but bounded before
    anything is built or walked: nesting at most MAX_DEPTH, at most `max_nodes` values with every alias
    expanded (counted as the nodes are composed, so a "billion laughs" costs what its text does), no
    alias inside the node it names, only YAML's own tags, keys that are plain values and given once
    in their mapping. `line_of(path)` is the line of a path of keys and indexes (the deepest part of
    it found). Refused otherwise, and for text that is not YAML."""
    import yaml

    loader = _bounded_loader()(text)
    loader.max_nodes = max_nodes
    try:
        found = []
        while loader.check_node():
            node = loader.get_node()
            found.append((loader.construct_document(node), functools.partial(_line_of, node)))
        return found
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:  # (libyaml puts the end of a text without a final newline on a line of its own)
            line = min(mark.line + 1, text.count("\n") + 1)
        else:  # a ReaderError (a character YAML does not allow) knows its position only
            line = text.count("\n", 0, getattr(exc, "position", 0)) + 1
        if getattr(exc, "problem", None) == "exceeded maximum nesting depth":  # libyaml's own bound (1000) came first
            raise Refused(line, f"nested deeper than {MAX_DEPTH} levels") from None
        raise Refused(line, f"not valid YAML ({_problem(exc)})") from None
    finally:
        loader.dispose()


def _problem(exc):
    problem, context, context_mark = (getattr(exc, name, None) for name in ("problem", "context", "context_mark"))
    if problem == "second occurrence" and context and context_mark:  # PyYAML's duplicate anchor
        return f"{context} on line {context_mark.line + 1}"
    if problem:
        return problem
    character = getattr(exc, "character", None)  # a ReaderError
    if isinstance(character, str):
        character = ord(character)
    return f"the character U+{character:04X} is not allowed" if isinstance(character, int) else "unreadable"


@functools.lru_cache(maxsize=None)
def _bounded_loader():
    """PyYAML's composer (checked at each node) over libyaml's parser where present: PyYAML's own parser
    in Python takes ten times as long for the same events."""
    import yaml
    from yaml.composer import Composer

    base = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader

    class BoundedLoader(Composer, base):
        def __init__(self, text):
            base.__init__(self, text)
            Composer.__init__(self)

        def compose_document(self):
            self.expanded, self.depth, self.sizes = 0, 0, {}  # sizes: id(anchored node) -> expanded size
            return super().compose_document()

        def compose_node(self, parent, index):
            event = self.peek_event()
            line = event.start_mark.line + 1
            if isinstance(event, yaml.AliasEvent):
                target = self.anchors.get(event.anchor)
                if target is not None and id(target) not in self.sizes:
                    raise Refused(line, f"the alias *{event.anchor} is inside the node it names (a recursive "
                                        "document)")
                node = super().compose_node(parent, index)  # (PyYAML's error for an unknown alias)
                self._count(self.sizes[id(node)], line)
                return node
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise Refused(line, f"nested deeper than {MAX_DEPTH} levels")
            before = self.expanded
            node = super().compose_node(parent, index)
            node.end_mark = None  # (never read; a mark per node is a third of the memory)
            self.depth -= 1
            self._count(1, line)
            if event.anchor is not None:
                self.sizes[id(node)] = self.expanded - before
            if node.tag == _YAML_TAG + "value" and event.tag is None:
                node.tag = _YAML_TAG + "str"  # a plain '=' (YAML 1.1's value key): a string, as Kubernetes reads it
            if isinstance(node, yaml.MappingNode):
                _check_keys(self, node)  # as written: before a merge (<<) adds keys at construction
            if node.tag not in _TAGS:
                shown = node.tag.replace(_YAML_TAG, "!!", 1) if node.tag.startswith(_YAML_TAG) else node.tag
                raise Refused(line, f"the YAML tag {shown} is not allowed here (only mappings, lists, strings, "
                                    "numbers, booleans and null)")
            return node

        def _count(self, values, line):
            self.expanded += values
            if self.expanded > self.max_nodes:
                raise Refused(line, f"holds more than {self.max_nodes} values (with its aliases expanded)")

    return BoundedLoader


def _check_keys(loader, node):
    """Keys are plain values, each given once (PyYAML would keep the last, silently)."""
    import yaml

    first = {}
    for key_node, _value in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == _YAML_TAG + "merge":
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            raise Refused(line, "a key must be a plain value, not a list or a mapping")
        key = loader.construct_object(key_node)
        if (type(key), key) in first:
            raise Refused(line, f"{key!r} is given twice in one mapping (first on line {first[type(key), key]}); "
                                "YAML would keep only the last")
        first[type(key), key] = line


def _line_of(root, path):
    """The line of `path` (keys and indexes) under the composed `root`: a key's own line, an item's
    first line; the deepest part of the path that is found."""
    import yaml

    node, line = root, root.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pairs = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
            if not pairs:
                break
            key_node, node = pairs[-1]  # after a merge (<<) the mapping's own key comes last, and wins
            line = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


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
