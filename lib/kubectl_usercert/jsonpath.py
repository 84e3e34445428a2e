"""`-o jsonpath=TEMPLATE`: the part of kubectl's JSONPath templates one-liners use.

Text outside braces is printed as it is; `{.a.b}`, `{.items[0].x}`, `{.items[*].metadata.name}`,
`{['key.with.dots']}`, `{"\\n"}` (a quoted literal) and `{range .items[*]}...{end}`. Several
results are joined with a space, strings are printed bare and anything else as JSON, as kubectl
does. A template it cannot read is a one-line error.
"""

import json
import re

from .errors import InvalidInput

_TOKEN = re.compile(r"\{(.*?)\}", re.S)
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\*|-?\d+|'[^']*'|\"[^\"]*\")\]")
_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\r", '\\"': '"', "\\\\": "\\"}


def render(template, data):
    template = _unquote(template)
    out, rest = [], template
    try:
        _render(_parse(rest), [data], out)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise InvalidInput(f"error executing jsonpath {template!r}: {exc}",
                           hint="e.g. -o jsonpath='{.status.kubeconfig}' or '{.items[*].metadata.name}'") from None
    return "".join(out)


def _unquote(template):
    if len(template) >= 2 and template[0] == template[-1] and template[0] in "'\"":
        return template[1:-1]
    return template


def _parse(template):
    """A list of parts: ("text", s), ("expr", path), ("range", path, parts)."""
    parts, stack, last = [], [], 0
    for match in _TOKEN.finditer(template):
        if match.start() > last:
            parts.append(("text", template[last:match.start()]))
        last = match.end()
        inner = match.group(1).strip()
        if inner.startswith("range "):
            stack.append((parts, inner[6:].strip()))
            parts = []
        elif inner == "end":
            if not stack:
                raise ValueError("{end} without {range}")
            outer, path = stack.pop()
            outer.append(("range", path, parts))
            parts = outer
        elif inner[:1] in "\"'":
            parts.append(("text", _literal(inner)))
        else:
            parts.append(("expr", inner))
    if stack:
        raise ValueError("{range} without {end}")
    if last < len(template):
        parts.append(("text", template[last:]))
    return parts


def _literal(text):
    body = text[1:-1]
    return re.sub(r"\\[ntr\"\\]", lambda m: _ESCAPES[m.group(0)], body)


def _render(parts, scopes, out):
    for part in parts:
        if part[0] == "text":
            out.append(part[1])
        elif part[0] == "expr":
            out.append(" ".join(_shown(value) for value in _select(part[1], scopes[-1])))
        else:
            for value in _select(part[1], scopes[-1]):
                _render(part[2], scopes + [value], out)


def _select(path, data):
    path = path.strip()
    if path in ("", "@", "$", "."):
        return [data]
    path = path[1:] if path.startswith(("$", "@")) else path
    values, position = [data], 0
    for match in _STEP.finditer(path):
        if match.start() != position:
            raise ValueError(f"cannot read {path[position:]!r}")
        position = match.end()
        values = [child for value in values for child in _step(value, match)]
    if position != len(path):
        raise ValueError(f"cannot read {path[position:]!r}")
    return values


def _step(value, match):
    name, index = match.group(1), match.group(2)
    if name is not None or index[0] in "'\"":
        key = name if name is not None else index[1:-1]
        if not isinstance(value, dict):
            raise ValueError(f"{key} is not found")
        if key not in value:
            raise KeyError(f"{key} is not found")
        return [value[key]]
    if not isinstance(value, list):
        raise ValueError("not a list")
    return list(value) if index == "*" else [value[int(index)]]


def _shown(value):
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
