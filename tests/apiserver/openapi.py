"""OpenAPI documents: v3 JSON for kubectl 1.29+, v2 protobuf for kubectl 1.27/1.28."""

import hashlib
import json

from .discovery import SERVER_VERSION, _group_versions, _gv_path
from .protobuf import _pb
from .resources import ResourceType
from .store import ObjectStore


def openapi_v3_root(store: ObjectStore) -> dict:
    paths = {}
    for group, versions in _group_versions(store).items():
        for v in versions:
            doc = json.dumps(openapi_v3_document(store, group, v), sort_keys=True).encode()
            paths[_gv_path(group, v)] = {
                "serverRelativeURL": "/openapi/v3/%s?hash=%s"
                % (_gv_path(group, v), hashlib.sha512(doc).hexdigest().upper())
            }
    return {"paths": paths}


_WRITE_PARAMS = [
    {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for n in ("dryRun", "fieldManager", "fieldValidation")
]


def _operation(rt: ResourceType, action: str, params: bool) -> dict:
    op = {
        "operationId": "%s%s" % (action, rt.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "version": rt.version,
            "kind": rt.kind,
        },
        "responses": {"200": {"description": "OK"}},
    }
    if params:
        op["parameters"] = list(_WRITE_PARAMS)
    return op


def openapi_v3_document(store: ObjectStore, group: str, version: str) -> dict:
    """Paths only. kubectl's QueryParamVerifierV3 finds a PATCH operation for
    the kind that takes `fieldValidation` and then leaves validation to the
    server, so no schemas are needed; the PATCH has no requestBody, which
    makes kubectl apply build patches from its compiled-in types."""
    paths = {}
    for rt in store.types.values():
        if rt.group != group or rt.version != version or rt.hidden:
            continue
        base = (
            "/"
            + _gv_path(group, version)
            + ("/namespaces/{namespace}/" if rt.namespaced else "/")
            + rt.resource
        )
        if rt.review:
            paths[base] = {"post": _operation(rt, "post", True)}
            continue
        paths[base] = {"get": _operation(rt, "list", False), "post": _operation(rt, "post", True)}
        paths[base + "/{name}"] = {
            "get": _operation(rt, "get", False),
            "put": _operation(rt, "put", True),
            "patch": _operation(rt, "patch", True),
            "delete": _operation(rt, "delete", False),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _v2_patch_operation(rt: ResourceType) -> bytes:
    # gnostic openapi_v2: Operation{operation_id=5, parameters=8, vendor_extension=13}
    query_params = b"".join(
        _pb(8, _pb(1, _pb(2, _pb(3, _pb(2, "query") + _pb(4, name) + _pb(6, "string")))))
        for name in ("dryRun", "fieldManager", "fieldValidation")
    )
    gvk = json.dumps({"group": rt.group, "kind": rt.kind, "version": rt.version})  # JSON is YAML
    extension = _pb(1, "x-kubernetes-group-version-kind") + _pb(2, _pb(2, gvk))
    return _pb(5, "patch" + rt.kind) + query_params + _pb(13, extension)


def openapi_v2_protobuf(store: ObjectStore) -> bytes:
    """/openapi/v2 as kubectl 1.27/1.28 read it (protobuf only): one PATCH
    operation per kind, taking fieldValidation, so that kubectl's
    QueryParamVerifier leaves validation to the server. No definitions:
    kubectl apply then falls back to its compiled-in types for patches."""
    paths = b""
    for rt in store.types.values():
        if rt.review or rt.hidden:
            continue
        url = (
            "/"
            + _gv_path(rt.group, rt.version)
            + ("/namespaces/{namespace}/" if rt.namespaced else "/")
            + rt.resource
            + "/{name}"
        )
        paths += _pb(
            2, _pb(1, url) + _pb(2, _pb(8, _v2_patch_operation(rt)))
        )  # NamedPathItem{PathItem{patch}}
    info = _pb(1, "Kubernetes") + _pb(2, SERVER_VERSION["gitVersion"])
    return _pb(1, "2.0") + _pb(2, info) + _pb(8, paths)
