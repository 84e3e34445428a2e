"""`-o jsonpath=TEMPLATE`, read as kubectl reads it: a port of client-go's util/jsonpath (parser.go
here, jsonpath.go in jsonpath_engine), with kubectl's default --allow-missing-template-keys=true.

Text outside braces is printed as it is. Inside: fields `.a.b` (`\\.` escapes a dot in a key),
`['key']` (which kubectl reads as `.key`, dots and all), `[0]`, slices `[1:3]`, `[-1:]`, `[::2]`,
unions `[0,2]`, wildcards `[*]` and `.*`, recursive descent `..name`, filters `[?(@.x=="v")]`
with `==`, `!=`, `<`, `>`, `<=`, `>=` or a bare `[?(@.x)]` (the key exists), `{range ...}` ...
`{end}`, quoted literals `{"\\t"}`, numbers and true/false. A key that is missing prints nothing.
Maps and lists print as compact JSON (keys sorted), strings bare, null as `null`, several results
of one expression joined by a space: byte for byte what kubectl prints for the same data (the
tests run kubectl on it), but for the order of a map's entries under `.*` and `..`, which Go
leaves random and this port sorts.
"""

import re

from ..errors import InvalidInput
from . import golang

HINT = "e.g. -o jsonpath='{.status.kubeconfig}' or '{.items[*].metadata.name}'"
_EOF = ""
_DICT_KEY = re.compile(r"'([^']*)'\Z")
_SLICE = re.compile(r"(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?\Z")
_FILTER = re.compile(r"([^!<>=]+)([!<>=]+)(.+?)\Z", re.S)
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\Z")


class JSONPathError(ValueError):
    """What client-go's parser or executor would return as its error."""


def render(template, data):
    """What `kubectl ... -o jsonpath=TEMPLATE` prints for `data` (JSON-shaped values)."""
    from .jsonpath_engine import execute

    root = parse(template)
    try:
        return execute(root, data)
    except JSONPathError as exc:
        raise InvalidInput(f'error executing jsonpath "{template}": {exc}', hint=HINT) from None


def parse(template):
    """The template's nodes, or the one-line error kubectl gives for it."""
    if not template:
        raise InvalidInput("template format specified but no template given", hint=HINT)
    try:
        return _Parser(template).parse()
    except JSONPathError as exc:
        raise InvalidInput(f"error parsing jsonpath {template}, {exc}", hint=HINT) from None


def _parse_action(text):
    """parser.go's parseAction: `text` read as if it were the inside of one `{...}`."""
    return _Parser("{" + text + "}").parse()[0][1]


class _Parser:
    """parser.go's Parser. Its functions call each other in tail position; here each returns the next
    (function, argument) instead, so a long template cannot exhaust Python's stack.

    Nodes are tuples: ("text", s), ("list", [nodes]), ("field", name), ("identifier", name),
    ("array", [[value, known, derived] * 3]), ("filter", left, right, operator), ("int", n),
    ("float", x), ("bool", b), ("wildcard",), ("recursive",), ("union", [lists of nodes])."""

    def __init__(self, text):
        self.input, self.pos, self.start, self.width = text, 0, 0, 0
        self.root = []

    def parse(self):
        step = (self._text, self.root)
        while step is not None:
            step = step[0](step[1])
        return self.root

    def _consume(self):
        value = self.input[self.start : self.pos]
        self.start = self.pos
        return value

    def _next(self):
        if self.pos >= len(self.input):
            self.width = 0
            return _EOF
        self.width = 1
        self.pos += 1
        return self.input[self.pos - 1]

    def _peek(self):
        rune = self._next()
        self.pos -= self.width
        return rune

    def _text(self, cur):
        found = self.input.find("{", self.pos)
        self.pos = len(self.input) if found < 0 else found
        if self.pos > self.start:
            cur.append(("text", self._consume()))
        return None if found < 0 else (self._left_delim, cur)

    def _left_delim(self, cur):
        self.pos += 1
        self._consume()
        action = []
        cur.append(("list", action))
        return self._inside, action

    def _inside(self, cur):
        if self.input.startswith("}", self.pos):
            self.pos += 1
            self._consume()
            return self._text, self.root
        if self.input.startswith("[?(", self.pos):
            return self._filter, cur
        if self.input.startswith("..", self.pos):
            return self._recursive, cur
        rune = self._next()
        if rune == _EOF or rune in "\r\n":
            raise JSONPathError("unclosed action")
        if rune in " @$":  # the current object: nothing to do
            self._consume()
            return self._inside, cur
        if rune == "[":
            return self._array, cur
        if rune in "\"'":
            return self._quote, (cur, rune)
        if rune == ".":
            return self._field, cur
        if rune in "+-" or rune.isdecimal():
            self.pos -= self.width
            return self._number, cur
        if _is_alphanumeric(rune):
            self.pos -= self.width
            return self._identifier, cur
        raise JSONPathError(f"unrecognized character in action: {golang.rune(rune)}")

    def _identifier(self, cur):
        while not _is_terminator(self._next()):
            pass
        self.pos -= self.width
        value = self._consume()
        cur.append(
            ("bool", value == "true") if value in ("true", "false") else ("identifier", value)
        )
        return self._inside, cur

    def _recursive(self, cur):
        if cur and cur[-1][0] == "recursive":
            raise JSONPathError("invalid multiple recursive descent")
        self.pos += 2
        self._consume()
        cur.append(("recursive",))
        return (self._field if _is_alphanumeric(self._peek()) else self._inside), cur

    def _number(self, cur):
        if self._peek() in ("+", "-"):
            self._next()
        while True:
            rune = self._next()
            if rune != "." and not rune.isdecimal():
                self.pos -= self.width
                break
        value = self._consume()
        if golang.atoi(value) is not None:
            cur.append(("int", golang.atoi(value)))
        elif _FLOAT.match(value) and float(value) not in (float("inf"), float("-inf")):
            cur.append(("float", float(value)))
        else:
            raise JSONPathError(f"cannot parse number {value}")
        return self._inside, cur

    def _array(self, cur):
        while True:
            rune = self._next()
            if rune in (_EOF, "\n"):
                raise JSONPathError("unterminated array")
            if rune == "]":
                break
        text = self._consume()[1:-1]
        text = ":" if text == "*" else text
        if "," in text:  # a union: each part read as [part]
            cur.append(
                ("union", [_parse_action(f"[{part.strip(' ')}]") for part in text.split(",")])
            )
            return self._inside, cur
        key = _DICT_KEY.match(text)
        if key:  # ['key'] is read as .key (so a dot in it still separates fields, as in kubectl)
            cur.extend(_parse_action("." + key.group(1)))
            return self._inside, cur
        cur.append(("array", _slice(text)))
        return self._inside, cur

    def _filter(self, cur):
        self.pos += 3
        self._consume()
        begin = end = False
        pair = None
        while True:
            rune = self._next()
            if rune in (_EOF, "\n"):
                raise JSONPathError("unterminated filter")
            if rune in "\"'":
                if not begin:
                    begin, pair = True, rune
                    continue
                if self.input[self.pos - 2] != "\\" and rune == pair:
                    end = True
            elif rune == ")" and begin == end:
                break
        if self._next() != "]":
            raise JSONPathError("unclosed array expect ]")
        text = self._consume()[:-2]
        comparison = _FILTER.match(text)
        if comparison is None:
            cur.append(("filter", _parse_action(text), [], "exists"))
        else:
            left, operator, right = comparison.groups()
            cur.append(("filter", _parse_action(left), _parse_action(right), operator))
        return self._inside, cur

    def _quote(self, cur_and_end):
        cur, end = cur_and_end
        while True:
            rune = self._next()
            if rune in (_EOF, "\n"):
                raise JSONPathError("unterminated quoted string")
            if rune == end and self.input[self.pos - 2] != "\\":
                break
        value = self._consume()
        try:
            cur.append(("text", golang.unquote(value)))
        except ValueError:
            raise JSONPathError(f"unquote string {value} error invalid syntax") from None
        return self._inside, cur

    def _field(self, cur):
        self._consume()
        while True:
            rune = self._next()
            if rune == "\\":
                self._next()
            elif _is_terminator(rune):
                self.pos -= self.width
                break
        value = self._consume()
        cur.append(("wildcard",) if value == "*" else ("field", value.replace("\\", "")))
        return self._inside, cur


def _slice(text):
    """[start, end, step] of an index or slice, each [value, known, derived], as parser.go sets them."""
    match = _SLICE.match(text)
    if match is None:
        raise JSONPathError(f"invalid array index {text}")
    params = []
    for i, group in enumerate(match.groups("")):
        if group:
            number = group[1:] if i > 0 else group
            if i > 0 and number == "":
                params.append([0, False, False])
            elif golang.atoi(number) is not None:
                params.append([golang.atoi(number), True, False])
            else:
                raise JSONPathError(f"array index {number} is not a number")
        elif i == 1:
            params.append([params[0][0] + 1, True, True])
        else:
            params.append([0, False, False])
    return params


def _is_terminator(rune):
    return rune in (_EOF, " ", "\t", "\r", "\n", ".", ",", "[", "]", "$", "@", "{", "}")


def _is_alphanumeric(rune):
    return rune == "_" or (rune != _EOF and (rune.isalpha() or rune.isdecimal()))
