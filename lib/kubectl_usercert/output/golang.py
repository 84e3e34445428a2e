"""Go's ways with values that kubectl's jsonpath inherits, so -o jsonpath prints what kubectl prints:
strconv's unquoting of "..." literals, fmt's printing of a value (`%v`), encoding/json's marshalling.

Values are those kubectl holds after decoding JSON: dict, list, str, bool, None (a nil interface:
a JSON null), int (an int64; a larger one Go decodes as a float64) and float; INVALID stands for
Go's zero reflect.Value, which prints as `<no value>`.
"""

import json
import math
import re
from decimal import Decimal

INVALID = type("Invalid", (), {"__repr__": lambda self: "<invalid reflect.Value>"})()
INT64 = (-(2**63), 2**63 - 1)
_SURROGATES = re.compile("[\ud800-\udfff]")
_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}


def is_int64(value):
    return isinstance(value, int) and not isinstance(value, bool) and INT64[0] <= value <= INT64[1]


def atoi(digits):
    """strconv.Atoi: an int64 written in ASCII decimal digits, with a sign or not; None otherwise."""
    significant = digits.lstrip("+-").lstrip("0") or "0"
    if not re.fullmatch(r"[+-]?[0-9]+", digits) or len(significant) > 19:
        return None  # (checked before int(), which refuses thousands of digits)
    number = int(significant) * (-1 if digits.startswith("-") else 1)
    return number if is_int64(number) else None


def unquote(quoted):
    """client-go's UnquoteExtend: strconv.Unquote for "..." and '...' strings alike; ValueError if Go
    would refuse it. \\x and octal escapes are bytes (not UTF-8 on their own: shown as U+FFFD here)."""
    quote, body = quoted[:1], quoted[1:-1]
    if len(quoted) < 2 or quoted[-1] != quote or quote not in ("'", '"'):
        raise ValueError("invalid syntax")
    if "\\" not in body and quote not in body:
        return body
    out, i = bytearray(), 0
    while i < len(body):
        char = body[i]
        if char == quote:
            raise ValueError("invalid syntax")
        if char != "\\":
            out += char.encode("utf-8", "surrogatepass")
            i += 1
            continue
        code, i = _escape(body, i + 1, quote)
        out += code
    return out.decode("utf-8", "replace")


def _escape(body, i, quote):
    """The bytes of the escape that starts at body[i] (after the backslash), and where it ends."""
    char = body[i : i + 1]
    if char in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[char].encode(), i + 1
    if char in ("'", '"') and char == quote:
        return char.encode(), i + 1
    if char in ("x", "u", "U"):
        width = {"x": 2, "u": 4, "U": 8}[char]
        digits = body[i + 1 : i + 1 + width]
        if len(digits) == width and re.fullmatch(r"[0-9a-fA-F]+", digits):
            value = int(digits, 16)
            if char == "x":
                return bytes([value]), i + 1 + width
            if value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF:
                return chr(value).encode(), i + 1 + width
    if char and char in "01234567":
        digits = body[i : i + 3]
        if re.fullmatch(r"[0-7]{3}", digits) and int(digits, 8) <= 255:
            return bytes([int(digits, 8)]), i + 3
    raise ValueError("invalid syntax")


def rune(char):
    """fmt's %#U of a character: U+0021 '!'."""
    return f"U+{ord(char):04X} '{char}'" if char.isprintable() else f"U+{ord(char):04X}"


def valid_utf8(text):
    """What Go would write for `text`: a lone surrogate (not UTF-8) becomes U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def text(value):
    """fmt.Fprint of one value (client-go's evalToText): strings bare, nil as null."""
    if value is INVALID:
        return "<no value>"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_int64(value):
        return str(value)
    if isinstance(value, (int, float)):
        return _float_text(_float(value), json_style=False)
    return str(value)


def to_json(value):
    """json.Marshal: keys sorted, no spaces, <, > and & escaped, numbers as Go writes them."""
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{_json_string(key)}:{to_json(value[key])}" for key in sorted(value))
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not is_int64(value):
        return _float_text(_float(value), json_style=True)
    return text(value)


def _json_string(string):
    return re.sub(
        "[<>&\u2028\u2029]",
        lambda match: _HTML[match.group(0)],
        json.dumps(string, ensure_ascii=False),
    )


def _float(value):
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _float_text(number, json_style):
    """fmt's %v of a float64 (an exponent from 1e+06 and below 1e-04), or encoding/json's (from 1e21 and
    below 1e-6, written e-7 rather than e-07); the shortest digits that read back the same, either way."""
    if math.isinf(number) or math.isnan(number):
        return "NaN" if math.isnan(number) else "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1, number) < 0 else "0"
    sign, digits, exponent = Decimal(repr(number)).as_tuple()
    digits = "".join(map(str, digits))
    exponent += len(digits) - len(digits.rstrip("0"))
    digits = digits.rstrip("0")
    power = len(digits) + exponent - 1  # number = d.ddd * 10**power
    scientific = not 1e-6 <= abs(number) < 1e21 if json_style else (power < -4 or power >= 6)
    minus = "-" if sign else ""
    if not scientific:
        return minus + _fixed(digits, power + 1)
    written = f"{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}e{'-' if power < 0 else '+'}{abs(power):02d}"
    return minus + (re.sub(r"e-0(\d)\Z", r"e-\1", written) if json_style else written)


def _fixed(digits, point):
    """Digits with the decimal point `point` places from their start."""
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def type_name(value):
    """The Go type client-go names in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64" if is_int64(value) else "float64"
    return {
        dict: "map[string]interface {}",
        list: "[]interface {}",
        str: "string",
        float: "float64",
    }.get(type(value), "invalid value")


def go_value(value):
    """fmt's %v of a value, for an error message: map[a:1 b:[x y]]."""
    if value is None:
        return "<nil>"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{go_value(value[key])}" for key in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(item) for item in value) + "]"
    return text(value)
