"""Tables for `kubectl get` (server-side printing)."""

import datetime
from typing import Callable, List

from .resources import ResourceType


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration, the AGE column."""
    s = int(max(seconds, 0))
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return "%ds" % s
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if h < 3:
        return "%dm" % m
    if h < 8:
        return "%dh%dm" % (h, m % 60) if m % 60 else "%dh" % h
    if h < 48:
        return "%dh" % h
    if d < 8:
        return "%dd%dh" % (d, h % 24) if h % 24 else "%dd" % d
    return "%dd" % d


def _age(obj: dict) -> str:
    created = datetime.datetime.strptime(obj["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return human_duration((now - created).total_seconds())


def _pod_ready(obj: dict) -> str:
    statuses = obj.get("status", {}).get("containerStatuses") or []
    return "%d/%d" % (
        sum(1 for c in statuses if c.get("ready")),
        len(obj.get("spec", {}).get("containers") or []),
    )


def _subjects_of(kind: str) -> Callable[[dict], str]:
    return lambda o: ", ".join(s["name"] for s in o.get("subjects") or [] if s.get("kind") == kind)


def csr_condition_column(o: dict) -> str:
    """kubectl get csr's CONDITION: Pending|Approved|Denied, then ,Failed and ,Issued."""
    status = o.get("status") or {}
    types = {c.get("type") for c in status.get("conditions") or []}
    text = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    return (
        text
        + (",Failed" if "Failed" in types else "")
        + (",Issued" if status.get("certificate") else "")
    )


def _requested_duration(o: dict) -> str:
    seconds = (o.get("spec") or {}).get("expirationSeconds")
    return "<none>" if seconds is None else human_duration(seconds)


_NAME = ("Name", "string", "name", 0, lambda o: o["metadata"]["name"])
_AGE = ("Age", "string", "", 0, _age)
_CREATED_AT = ("Created At", "string", "date", 0, lambda o: o["metadata"]["creationTimestamp"])
_BINDING_COLUMNS = [
    _NAME,
    ("Role", "string", "", 0, lambda o: "%s/%s" % (o["roleRef"]["kind"], o["roleRef"]["name"])),
    _AGE,
    ("Users", "string", "", 1, _subjects_of("User")),
    ("Groups", "string", "", 1, _subjects_of("Group")),
    ("ServiceAccounts", "string", "", 1, _subjects_of("ServiceAccount")),
]
TABLE_COLUMNS = {
    "pods": [
        _NAME,
        ("Ready", "string", "", 0, _pod_ready),
        ("Status", "string", "", 0, lambda o: o.get("status", {}).get("phase", "")),
        (
            "Restarts",
            "string",
            "",
            0,
            lambda o: str(
                sum(
                    c.get("restartCount", 0)
                    for c in o.get("status", {}).get("containerStatuses") or []
                )
            ),
        ),
        _AGE,
        ("IP", "string", "", 1, lambda o: o.get("status", {}).get("podIP", "<none>")),
        ("Node", "string", "", 1, lambda o: o.get("spec", {}).get("nodeName", "<none>")),
    ],
    "namespaces": [
        _NAME,
        ("Status", "string", "", 0, lambda o: o.get("status", {}).get("phase", "")),
        _AGE,
    ],
    "clusterroles": [_NAME, _CREATED_AT],
    "roles": [_NAME, _CREATED_AT],
    "clusterrolebindings": _BINDING_COLUMNS,
    "rolebindings": _BINDING_COLUMNS,
    "certificatesigningrequests": [
        _NAME,
        _AGE,
        (
            "SignerName",
            "string",
            "",
            0,
            lambda o: (o.get("spec") or {}).get("signerName") or "<none>",
        ),
        ("Requestor", "string", "", 0, lambda o: (o.get("spec") or {}).get("username", "")),
        ("RequestedDuration", "string", "", 0, _requested_duration),
        ("Condition", "string", "", 0, csr_condition_column),
    ],
}


def to_table(
    rt: ResourceType, objects: List[dict], resource_version: str, headers: bool = True
) -> dict:
    """ConvertToTable; without `headers` (TableOptions.NoHeaders, as a watch's events after the
    first are) the column definitions are left out."""
    columns = TABLE_COLUMNS.get(rt.resource, [_NAME, _AGE])
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": n, "type": t, "format": f, "description": n, "priority": p}
            for n, t, f, p, _ in columns
        ]
        if headers
        else None,
        "rows": [
            {
                "cells": [fn(o) for *_, fn in columns],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            }
            for o in objects
        ],
    }
