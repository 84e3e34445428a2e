"""The in-memory object store, with label and field selectors, and the events watches read."""

import collections
import copy
import datetime
import random
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from .errors import APIError, not_found
from .resources import ResourceType
from .timestamps import _timestamp


def _random_suffix(n: int = 5) -> str:
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


class LabelSelector:
    """labels.Parse: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b)."""

    _PART = re.compile(r"(?:[^,(]|\([^)]*\))+")
    _SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")

    def __init__(self, text: str):
        self.requirements = [
            self._parse(p.strip()) for p in self._PART.findall(text or "") if p.strip()
        ]

    def _parse(self, part: str):
        m = self._SET.match(part)
        if m:
            return m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
        for op in ("!=", "==", "="):
            if op in part:
                key, value = (s.strip() for s in part.split(op, 1))
                return key, "!=" if op == "!=" else "=", {value}
        if part.startswith("!"):
            return part[1:].strip(), "!", set()
        if re.match(r"^[A-Za-z0-9./_-]+$", part):
            return part, "exists", set()
        raise APIError(400, "BadRequest", "unable to parse requirement: %r" % part)

    def matches(self, labels: Dict[str, str]) -> bool:
        return all(self._one(labels, *req) for req in self.requirements)

    @staticmethod
    def _one(labels, key, op, values) -> bool:
        present, value = key in labels, labels.get(key)
        return {
            "=": present and value in values,
            "in": present and value in values,
            "!=": not present or value not in values,
            "notin": not present or value not in values,
            "exists": present,
            "!": not present,
        }[op]


def _field_terms(text: str) -> List[Tuple[str, str, bool]]:
    """fields.ParseSelector: (field, value, negated) terms; =, == and != (unescaped values)."""
    terms = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        match = re.match(r"^([^=!]+)(!=|==|=)(.*)$", part)
        if match is None:
            raise APIError(400, "BadRequest", "invalid field selector: %r" % part)
        terms.append((match.group(1).strip(), match.group(3).strip(), match.group(2) == "!="))
    return terms


def exact_field_match(text: str, field: str) -> str:
    """Selector.RequiresExactMatch(field): the value a selector pins `field` to, else "" (also for a
    selector that does not parse: kube-apiserver's RequestInfo then leaves the name empty)."""
    try:
        return next((v for f, v, neg in _field_terms(text) if f == field and not neg), "")
    except APIError:
        return ""


def _field_value(obj: dict, path: str) -> str:
    node = obj
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def parse_field_selector(text: str, rt: Optional[ResourceType] = None) -> Callable[[dict], bool]:
    """metadata.name / metadata.namespace (what kubectl delete --wait and get NAME --watch use) and
    the type's own selectable fields (a CSR's spec.signerName)."""
    allowed = ("metadata.name", "metadata.namespace") + (rt.selectable_fields if rt else ())
    tests = _field_terms(text)
    for key, _, _ in tests:
        if key not in allowed:
            raise APIError(400, "BadRequest", "field label not supported: %s" % key)
    return lambda obj: all((_field_value(obj, k) == v) != neg for k, v, neg in tests)


@dataclass(frozen=True)
class StoredEvent:
    """One change, as etcd's watch reports it: `obj` after the change (for DELETED, the last state
    with the deletion's resourceVersion); `previous` is the state before a MODIFIED."""

    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    rt: ResourceType
    namespace: str
    obj: dict
    previous: Optional[dict] = None


class ObjectStore:
    """Objects keyed by (resource type, namespace, name); thread-safe. Every change is kept as an
    event (the last `history` of them) for watches; an older resourceVersion has expired (410)."""

    def __init__(self, history: int = 10000):
        self.types: Dict[Tuple[str, str, str], ResourceType] = {}
        self._objects: Dict[Tuple[ResourceType, str, str], dict] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._rv = 1000
        self._events: "collections.deque[StoredEvent]" = collections.deque(maxlen=history)
        self._history_start = self._rv  # events newer than this are all held

    # -- types
    def register(self, rt: ResourceType) -> ResourceType:
        self.types[(rt.group, rt.version, rt.resource)] = rt
        return rt

    def type_for(self, group: str, version: str, resource: str) -> Optional[ResourceType]:
        return self.types.get((group, version, resource))

    def serves(self, group: str, version: str) -> bool:
        return any(
            t.group == group and t.version == version and not t.hidden for t in self.types.values()
        )

    def type_for_kind(self, api_version: str, kind: str) -> ResourceType:
        for rt in self.types.values():
            if rt.api_version == api_version and rt.kind == kind and not rt.review:
                return rt
        raise KeyError("no resource for %s %s" % (api_version, kind))

    # -- objects
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        obj: dict,
        now: Optional[datetime.datetime] = None,
        dry_run: bool = False,
    ) -> dict:
        """The object as stored; with `dry_run` (dryRun=All) as it would be, with a uid and no
        resourceVersion (as kube's DryRunnableStorage answers), and nothing stored."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        with self._lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + _random_suffix()
            name = meta.get("name")
            if not name:
                raise APIError(
                    422,
                    "Invalid",
                    '%s.%s "" is invalid: metadata.name: Required value: '
                    "name or generateName is required" % (rt.kind, rt.group or "core"),
                )
            if rt.namespaced:
                self._require_namespace(namespace)
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            key = (rt, namespace if rt.namespaced else "", name)
            if key in self._objects:
                raise APIError(
                    409,
                    "AlreadyExists",
                    '%s "%s" already exists' % (rt.qualified, name),
                    {"name": name, "group": rt.group, "kind": rt.resource},
                )
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_timestamp(now))
            if dry_run:
                return obj
            meta["resourceVersion"] = self._next_rv()
            self._objects[key] = obj
            self._emit("ADDED", rt, key[1], obj)
            return copy.deepcopy(obj)

    def _require_namespace(self, namespace: str) -> None:
        ns_type = self.type_for("", "v1", "namespaces")
        if ns_type and (ns_type, "", namespace) not in self._objects:
            raise not_found(ns_type, namespace)

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict:
        with self._lock:
            obj = self._objects.get((rt, namespace if rt.namespaced else "", name))
            if obj is None:
                raise not_found(rt, name)
            return copy.deepcopy(obj)

    def list(
        self,
        rt: ResourceType,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
    ) -> List[dict]:
        selector, fields = LabelSelector(label_selector), parse_field_selector(field_selector, rt)
        with self._lock:
            items = [
                copy.deepcopy(o)
                for (t, ns, _), o in sorted(self._objects.items(), key=lambda kv: kv[0][1:])
                if t == rt and (not namespace or ns == namespace)
            ]
        return [
            o for o in items if selector.matches(o["metadata"].get("labels") or {}) and fields(o)
        ]

    def replace(
        self, rt: ResourceType, namespace: str, name: str, obj: dict, dry_run: bool = False
    ) -> dict:
        """PUT/PATCH result: keeps identity fields; bumps resourceVersion only on change (with `dry_run`,
        the result as it would be, its resourceVersion the current one, and nothing stored)."""
        with self._lock:
            current = self.get(rt, namespace, name)
            sent_rv = (obj.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise APIError(
                    409,
                    "Conflict",
                    'Operation cannot be fulfilled on %s "%s": the object has been '
                    "modified; please apply your changes to the latest version and try again"
                    % (rt.qualified, name),
                    {"name": name, "group": rt.group, "kind": rt.resource},
                )
            new = copy.deepcopy(obj)
            meta = new.setdefault("metadata", {})
            for k in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion"):
                if k in current["metadata"]:
                    meta[k] = current["metadata"][k]
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            if dry_run:
                return new
            if new == current:
                return copy.deepcopy(new)
            meta["resourceVersion"] = self._next_rv()
            self._objects[(rt, namespace if rt.namespaced else "", name)] = new
            self._emit("MODIFIED", rt, namespace if rt.namespaced else "", new, current)
            return copy.deepcopy(new)

    def delete(self, rt: ResourceType, namespace: str, name: str, dry_run: bool = False) -> dict:
        with self._lock:
            obj = self.get(rt, namespace, name)
            if dry_run:
                return obj
            del self._objects[(rt, namespace if rt.namespaced else "", name)]
            gone = copy.deepcopy(obj)
            gone["metadata"]["resourceVersion"] = self._next_rv()
            self._emit("DELETED", rt, namespace if rt.namespaced else "", gone)
            return obj

    def resource_version(self) -> str:
        with self._lock:
            return str(self._rv)

    # -- events
    def _emit(
        self,
        kind: str,
        rt: ResourceType,
        namespace: str,
        obj: dict,
        previous: Optional[dict] = None,
    ) -> None:
        if len(self._events) == self._events.maxlen:
            self._history_start = self._events[0].resource_version
        self._events.append(
            StoredEvent(
                int(obj["metadata"]["resourceVersion"]),
                kind,
                rt,
                namespace,
                copy.deepcopy(obj),
                previous,
            )
        )
        self._changed.notify_all()

    def expired(self, resource_version: int) -> Optional[str]:
        """kube's 'too old resource version' text when events after `resource_version` are no longer
        all held, else None."""
        with self._lock:
            if resource_version < self._history_start:
                return "too old resource version: %d (%d)" % (resource_version, self._history_start)
            return None

    def events_after(self, resource_version: int, timeout: float) -> List[StoredEvent]:
        """The events newer than `resource_version`, waiting up to `timeout` seconds for one (or for
        wake_watchers)."""
        with self._changed:
            if not self._events or self._events[-1].resource_version <= resource_version:
                self._changed.wait(timeout)
            return [e for e in self._events if e.resource_version > resource_version]

    def wake_watchers(self) -> None:
        with self._changed:
            self._changed.notify_all()

    @property
    def lock(self) -> "threading.RLock":
        """Held across a read-modify-write (approval, signing) so that nothing slips in between."""
        return self._lock
