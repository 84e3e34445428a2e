"""Patches: JSON merge patch (which also stands in for strategic merge patch) and JSON patch."""

import copy
from typing import List

from .errors import APIError


def merge_patch(target, patch):
    """RFC 7386; keys starting with '$' (strategic-merge directives) are dropped."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> List[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc, ops: list):
    """RFC 6902 add/remove/replace/test, enough for kubectl patch --type=json."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        kind = op["op"]
        if kind == "test":
            cur = node[int(last)] if isinstance(node, list) else node.get(last)
            if cur != op["value"]:
                raise APIError(422, "Invalid", "test operation failed at %s" % op["path"])
        elif isinstance(node, list):
            idx = len(node) if last == "-" else int(last)
            if kind in ("remove", "replace"):
                node.pop(idx)
            if kind in ("add", "replace"):
                node.insert(idx, op["value"])
        elif kind == "remove":
            del node[last]
        elif kind in ("add", "replace"):
            node[last] = op["value"]
        else:
            raise APIError(400, "BadRequest", "unsupported JSON patch operation %r" % kind)
    return doc


PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def apply_patch(current: dict, patch, content_type: str) -> dict:
    """The object a PATCH of this Content-Type makes of `current` (415 for another type, 422 for a
    JSON patch that does not apply)."""
    if content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        new = merge_patch(current, patch)
    elif content_type == "application/json-patch+json":
        if not isinstance(patch, list):
            raise APIError(
                400,
                "BadRequest",
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
            )
        try:
            new = json_patch(current, patch)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise APIError(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request: %r" % e,
            ) from None
    else:
        raise APIError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted "
            "media types include: %s" % ", ".join(PATCH_TYPES),
        )
    if not isinstance(new, dict):
        raise APIError(400, "BadRequest", "the patch must leave an object")
    return new
