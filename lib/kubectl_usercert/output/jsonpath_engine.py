"""Running a parsed jsonpath template over data: a port of client-go's util/jsonpath/jsonpath.go (and
of the comparisons it borrows from Go's text/template), printing as kubectl prints.

The data is what kubectl holds after decoding JSON (unstructured): dicts, lists, str, bool, None,
int (an int64; a larger one is a float64, as Go decodes it) and float. Go's reflect values are
plain Python values here, with two marks Go has and Python lacks: None is a nil interface (a JSON
null, skipped by fields, indexes and wildcards) and INVALID is the zero reflect.Value a `range`
hands over for a null item (printed `<no value>`, as kubectl does).
"""

from .golang import INVALID, go_value, is_int64, text, to_json, type_name, valid_utf8
from .jsonpath import JSONPathError


def execute(root, data):
    """JSONPath.Execute with allowMissingKeys: everything found first, then printed (an error prints nothing)."""
    results = _Executor(root).find_results(data, 0)
    return valid_utf8("".join(_print_results(values) for values in results))


class _Executor:
    def __init__(self, root):
        self.root = root
        self.begin_range = self.in_range = self.end_range = 0
        self.last_end_node = None

    def find_results(self, data, start):
        """FindResults over root[start:]; a `range` runs the nodes after it once per item, up to its `end`."""
        current = [INVALID if data is None else data]
        full, i = [], start
        while i < len(self.root):
            results, error = self.walk(current, self.root[i])
            if error:
                raise JSONPathError(error)
            if 0 < self.end_range <= self.in_range:  # an end node closes the block being run
                self.end_range -= 1
                self.last_end_node = i
                break
            if self.begin_range > 0:
                self.begin_range -= 1
                self.in_range += 1
                for value in results:
                    full += self.find_results(value, i + 1)
                if not results:  # still walked, so the end node is found
                    self.find_results(None, i + 1)
                self.in_range -= 1
                i = (
                    next((k for k in range(i + 1, len(self.root)) if k == self.last_end_node), i)
                    + 1
                )
                continue
            full.append(results)
            i += 1
        return full

    def walk(self, values, node):
        """(results, error): Go returns what it had along with an error, and a filter's `exists` uses it."""
        kind = node[0]
        if kind == "list":
            return self.eval_list(values, node[1])
        if kind == "text":
            return [node[1]], None
        if kind in ("int", "float", "bool"):
            return [node[1]] * len(values), None
        return getattr(self, "eval_" + kind)(values, *node[1:])

    def eval_list(self, values, nodes):
        for node in nodes:
            values, error = self.walk(values, node)
            if error:
                return values, error
        return values, None

    def eval_identifier(self, values, name):
        if name == "range":
            self.begin_range += 1
            return values, None
        if name == "end":
            if self.in_range > 0:
                self.end_range += 1
                return [], None
            return [], "not in range, nothing to end"
        return values, f"unrecognized identifier {name}"

    def eval_field(self, values, name):
        # allowMissingKeys (kubectl's default): a key found nowhere is no result, not an error
        return [value[name] for value in values if isinstance(value, dict) and name in value], None

    def eval_array(self, values, params):
        results = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, list):
                return values, f"{type_name(value)} is not array or slice"
            (start, start_known, _), (end, end_known, end_derived), (step, step_known, _) = params
            length = len(value)
            start = start if start_known else 0
            start += length if start < 0 else 0
            end = end if end_known else length
            end += length if end < 0 or (end == 0 and end_derived) else 0
            if (
                end == start
            ):  # zero elements asked for: allowed (and the rest of the input is not looked at)
                return results, None
            if start >= length or start < 0:
                return values, f"array index out of bounds: index {start}, length {length}"
            if end > length or end < 0:
                return values, f"array index out of bounds: index {end - 1}, length {length}"
            if start > end:
                return values, f"starting index {start} is greater than ending index {end}"
            if step_known and step <= 0:
                return values, "step must be > 0"
            results += value[start:end][:: step if step_known else 1]
        return results, None

    def eval_union(self, values, lists):
        results = []
        for nodes in lists:
            found, error = self.eval_list(values, nodes)
            if error:
                return values, error
            results += found
        return results, None

    def eval_wildcard(self, values):
        return [child for value in values for child in _children(value)], None

    def eval_recursive(self, values):
        """Every value that has children, depth first, each before its children."""
        results, pending = [], list(reversed(values))
        while pending:
            value = pending.pop()
            children = _children(value)
            if children:
                results.append(value)
                pending += reversed(children)
        return results, None

    def eval_filter(self, values, left, right, operator):
        results = []
        for value in values:
            if not isinstance(value, list):
                return values, f"{go_value(value)} is not array or slice and cannot be filtered"
            for item in value:
                lefts, error = self.eval_list([item], left)
                if operator == "exists":
                    if lefts:
                        results.append(item)
                    continue
                if error:
                    return values, error
                if not lefts:
                    continue
                if len(lefts) > 1:
                    return values, "can only compare one element at a time"
                rights, error = self.eval_list([item], right)
                if error:
                    return values, error
                if not rights:
                    continue
                if len(rights) > 1:
                    return values, "can only compare one element at a time"
                if operator not in _COMPARISONS:
                    return results, f"unrecognized filter operator {operator}"
                passed, error = _COMPARISONS[operator](lefts[0], rights[0])
                if error:
                    return results, error
                if passed:
                    results.append(item)
        return results, None


def _children(value):
    """What a wildcard yields: a map's values (sorted by key: Go's order is random), a list's items, a
    string's bytes (as numbers, as Go's reflection yields them)."""
    if isinstance(value, dict):
        return [value[key] for key in sorted(value)]
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return list(value.encode("utf-8", "surrogatepass"))
    return []


# text/template's comparisons (funcs.go): kinds must match, but for signed and unsigned integers.
def _basic_kind(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if is_int64(value) else "float"
    if isinstance(value, (float, str)):
        return "float" if isinstance(value, float) else "string"
    return None


def _kinds(left, right):
    kinds = _basic_kind(left), _basic_kind(right)
    if None in kinds:
        return None, "invalid type for comparison"
    if kinds[0] != kinds[1]:
        return None, "incompatible types for comparison"
    return kinds[0], None


def _equal(left, right):
    kind, error = _kinds(left, right)
    return (False, error) if error else (_as(kind, left) == _as(kind, right), None)


def _less(left, right):
    kind, error = _kinds(left, right)
    if error:
        return False, error
    if kind == "bool":
        return False, "invalid type for comparison"
    return _as(kind, left) < _as(kind, right), None


def _as(kind, value):
    return float(value) if kind == "float" else value


def _less_equal(left, right):
    less, error = _less(left, right)
    return (less, error) if less or error else _equal(left, right)


def _not(compare):
    def inverse(left, right):
        result, error = compare(left, right)
        return (False, error) if error else (not result, None)

    return inverse


_COMPARISONS = {
    "==": _equal,
    "!=": _not(_equal),
    "<": _less,
    "<=": _less_equal,
    ">": _not(_less_equal),
    ">=": _not(_less),
}


def _print_results(values):
    """PrintResults: maps and lists as compact JSON, the rest as Go's fmt prints it; space-separated."""
    return " ".join(
        to_json(value) if isinstance(value, (dict, list)) else text(value) for value in values
    )
