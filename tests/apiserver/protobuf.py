"""Protobuf: request bodies decoded (just enough of k8s.io/api's messages), and the few
encoding primitives that /openapi/v2 is built with."""

import base64
import datetime
from typing import List, Tuple

from .timestamps import _go_time

# --------------------------------------------------------------------------
# Protobuf request bodies (just enough of k8s.io/api's messages)
# --------------------------------------------------------------------------

_S, _LS, _MAP = "str", "[str]", "map"
_BYTES, _INT, _TIME = (
    "bytes",
    "int",
    "time",
)  # JSON: base64 string, number, RFC 3339 (absent when zero)
_META = {
    1: ("name", _S),
    2: ("generateName", _S),
    3: ("namespace", _S),
    5: ("uid", _S),
    6: ("resourceVersion", _S),
    8: ("creationTimestamp", _TIME),
    11: ("labels", _MAP),
    12: ("annotations", _MAP),
}
_PROTO = {
    "ObjectMeta": _META,
    "PolicyRule": {
        1: ("verbs", _LS),
        2: ("apiGroups", _LS),
        3: ("resources", _LS),
        4: ("resourceNames", _LS),
        5: ("nonResourceURLs", _LS),
    },
    "Subject": {1: ("kind", _S), 2: ("apiGroup", _S), 3: ("name", _S), 4: ("namespace", _S)},
    "RoleRef": {1: ("apiGroup", _S), 2: ("kind", _S), 3: ("name", _S)},
    "AggregationRule": {},
    "ClusterRole": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[PolicyRule]")},
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "[PolicyRule]")},
    "ClusterRoleBinding": {
        1: ("metadata", "ObjectMeta"),
        2: ("subjects", "[Subject]"),
        3: ("roleRef", "RoleRef"),
    },
    "RoleBinding": {
        1: ("metadata", "ObjectMeta"),
        2: ("subjects", "[Subject]"),
        3: ("roleRef", "RoleRef"),
    },
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SSARSpec")},
    "SSARSpec": {
        1: ("resourceAttributes", "ResourceAttributes"),
        2: ("nonResourceAttributes", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: ("namespace", _S),
        2: ("verb", _S),
        3: ("group", _S),
        4: ("version", _S),
        5: ("resource", _S),
        6: ("subresource", _S),
        7: ("name", _S),
    },
    "NonResourceAttributes": {1: ("path", _S), 2: ("verb", _S)},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SSRRSpec")},
    "SSRRSpec": {1: ("namespace", _S)},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},
    # k8s.io/api/certificates/v1/generated.proto (`kubectl certificate approve|deny` PUTs the whole object)
    "CertificateSigningRequest": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "CSRSpec"),
        3: ("status", "CSRStatus"),
    },
    "CSRSpec": {
        1: ("request", _BYTES),
        2: ("username", _S),
        3: ("uid", _S),
        4: ("groups", _LS),
        5: ("usages", _LS),
        7: ("signerName", _S),
        8: ("expirationSeconds", _INT),
    },
    "CSRStatus": {1: ("conditions", "[CSRCondition]"), 2: ("certificate", _BYTES)},
    "CSRCondition": {
        1: ("type", _S),
        6: ("status", _S),
        2: ("reason", _S),
        3: ("message", _S),
        4: ("lastUpdateTime", _TIME),
        5: ("lastTransitionTime", _TIME),
    },
}


def _varint(buf: bytes, i: int) -> Tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _pb_fields(buf: bytes) -> List[Tuple[int, object]]:
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i : i + size], i + size
        else:
            raise ValueError("unsupported protobuf wire type %d" % wire)
        out.append((number, value))
    return out


def _pb_decode(buf: bytes, message: str) -> dict:
    schema, obj = _PROTO[message], {}
    for number, raw in _pb_fields(buf):
        if number not in schema:
            continue  # fields the tests never look at
        name, kind = schema[number]
        if kind == _S:
            if raw:  # proto2 sends "" where JSON would omit the field
                obj[name] = raw.decode("utf-8")
        elif kind == _LS:
            obj.setdefault(name, []).append(raw.decode("utf-8"))
        elif kind == _BYTES:
            if raw:
                obj[name] = base64.b64encode(raw).decode("ascii")
        elif kind == _INT:
            obj[name] = (
                raw - (1 << 64) if raw >= 1 << 63 else raw
            )  # int32/int64 as varint, two's complement
        elif kind == _TIME:
            seconds = dict(_pb_fields(raw)).get(
                1, 0
            )  # metav1.Time{seconds=1, nanos=2}; zero time is empty
            if seconds:
                obj[name] = _go_time(
                    datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
                )
        elif kind == _MAP:
            entry = dict(_pb_fields(raw))
            obj.setdefault(name, {})[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
        elif kind.startswith("["):
            obj.setdefault(name, []).append(_pb_decode(raw, kind[1:-1]))
        else:
            obj[name] = _pb_decode(raw, kind)
    return obj


def decode_protobuf(body: bytes) -> dict:
    """k8s\\0 + runtime.Unknown{typeMeta, raw} -> the object as JSON would give it."""
    if not body.startswith(b"k8s\x00"):
        raise ValueError("protobuf body without the k8s magic prefix")
    unknown = dict(_pb_fields(body[4:]))
    type_meta = dict(_pb_fields(unknown.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    if kind not in _PROTO:
        raise ValueError("cannot decode protobuf for kind %r" % kind)
    obj = _pb_decode(unknown.get(2, b""), kind)
    obj.update(apiVersion=api_version, kind=kind)
    return obj


# --------------------------------------------------------------------------
# Encoding (for the /openapi/v2 document)
# --------------------------------------------------------------------------


def _pb_key(number: int, wire: int) -> bytes:
    return _varint_bytes(number << 3 | wire)


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb(number: int, payload) -> bytes:
    """One length-delimited field (string or embedded message)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _pb_key(number, 2) + _varint_bytes(len(data)) + data
