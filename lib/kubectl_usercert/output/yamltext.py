"""YAML as this tool reads and writes it, in one place.

Written by PyYAML's safe dumper (its C emitter where PyYAML has one): block style, keys in their
order, lines never folded (base64 data stays on one line). PyYAML quotes what YAML 1.1 would read as
anything but a string; kubectl reads kubeconfigs with go-yaml, which also reads `y`, `n`, `+.5`,
`1e3`, `0o17` and the like as booleans and numbers, so those are quoted too (`_GO_SCALARS`): a user
named `.5` or `y` stays a string for kubectl. yaml is imported on the first write or read only.
"""

import functools
import re

from ..errors import InvalidInput

MAX_NODES = 200_000  # after alias expansion: a "billion laughs" document is refused, not expanded
MAX_DEPTH = (
    100  # nesting: PyYAML composes recursively, and no file this tool reads nests deeper than ten
)
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

    return yaml.dump_all(
        objs,
        Dumper=_dumper(pure),
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=_NEVER_FOLD,
    )


_NEVER_FOLD = (
    2**31 - 1
)  # libyaml keeps the width in a C int (float("inf") suits the pure emitter only)


@functools.lru_cache(maxsize=None)
def _dumper(pure):
    import yaml

    class Dumper(yaml.SafeDumper if pure else getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
        """PyYAML's safe dumper that also quotes what go-yaml reads as other than a string."""

    Dumper.add_implicit_resolver(
        "tag:yaml.org,2002:go-scalar", _GO_SCALARS, list("yYnNoOtTfF~<+-.0123456789_")
    )
    Dumper.add_representer(str, _string)
    Dumper.add_representer(tuple, Dumper.represent_list)
    return Dumper


def _string(dumper, value):
    if _SURROGATE.search(
        value
    ):  # bytes that were not UTF-8 (in argv, say): no YAML reader takes them back
        shown = value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        raise InvalidInput(
            f"'{shown}' holds bytes that are not UTF-8 text, which YAML cannot hold",
            hint="retype it as UTF-8 text",
        )
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style='"' if _ODD_BREAKS.search(value) else None
    )


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
_TAGS = {
    _YAML_TAG + name
    for name in ("null", "bool", "int", "float", "str", "timestamp", "seq", "map", "merge")
}


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
        if (
            mark is not None
        ):  # (libyaml puts the end of a text without a final newline on a line of its own)
            line = min(mark.line + 1, text.count("\n") + 1)
        else:  # a ReaderError (a character YAML does not allow) knows its position only
            line = text.count("\n", 0, getattr(exc, "position", 0)) + 1
        if (
            getattr(exc, "problem", None) == "exceeded maximum nesting depth"
        ):  # libyaml's own bound (1000) came first
            raise Refused(line, f"nested deeper than {MAX_DEPTH} levels") from None
        raise Refused(line, f"not valid YAML ({_problem(exc)})") from None
    finally:
        loader.dispose()


def _problem(exc):
    problem, context, context_mark = (
        getattr(exc, name, None) for name in ("problem", "context", "context_mark")
    )
    if problem == "second occurrence" and context and context_mark:  # PyYAML's duplicate anchor
        return f"{context} on line {context_mark.line + 1}"
    if problem:
        return problem
    character = getattr(exc, "character", None)  # a ReaderError
    if isinstance(character, str):
        character = ord(character)
    return (
        f"the character U+{character:04X} is not allowed"
        if isinstance(character, int)
        else "unreadable"
    )


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
            self.expanded, self.depth, self.sizes = (
                0,
                0,
                {},
            )  # sizes: id(anchored node) -> expanded size
            return super().compose_document()

        def compose_node(self, parent, index):
            event = self.peek_event()
            line = event.start_mark.line + 1
            if isinstance(event, yaml.AliasEvent):
                target = self.anchors.get(event.anchor)
                if target is not None and id(target) not in self.sizes:
                    raise Refused(
                        line,
                        f"the alias *{event.anchor} is inside the node it names (a recursive "
                        "document)",
                    )
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
                node.tag = (
                    _YAML_TAG + "str"
                )  # a plain '=' (YAML 1.1's value key): a string, as Kubernetes reads it
            if isinstance(node, yaml.MappingNode):
                _check_keys(self, node)  # as written: before a merge (<<) adds keys at construction
            if node.tag not in _TAGS:
                shown = (
                    node.tag.replace(_YAML_TAG, "!!", 1)
                    if node.tag.startswith(_YAML_TAG)
                    else node.tag
                )
                raise Refused(
                    line,
                    f"the YAML tag {shown} is not allowed here (only mappings, lists, strings, "
                    "numbers, booleans and null)",
                )
            return node

        def _count(self, values, line):
            self.expanded += values
            if self.expanded > self.max_nodes:
                raise Refused(
                    line, f"holds more than {self.max_nodes} values (with its aliases expanded)"
                )

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
            raise Refused(
                line,
                f"{key!r} is given twice in one mapping (first on line {first[type(key), key]}); "
                "YAML would keep only the last",
            )
        first[type(key), key] = line


def _line_of(root, path):
    """The line of `path` (keys and indexes) under the composed `root`: a key's own line, an item's
    first line; the deepest part of the path that is found."""
    import yaml

    node, line = root, root.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pairs = [
                (k, v)
                for k, v in node.value
                if isinstance(k, yaml.ScalarNode) and k.value == str(part)
            ]
            if not pairs:
                break
            key_node, node = pairs[
                -1
            ]  # after a merge (<<) the mapping's own key comes last, and wins
            line = key_node.start_mark.line + 1
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
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
