"""Discovery: the server's version, and the API groups and resources it serves."""

from typing import Dict, List, Optional

from .resources import ResourceType
from .store import ObjectStore

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T17:59:15Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _group_versions(store: ObjectStore) -> Dict[str, List[str]]:
    groups: Dict[str, List[str]] = {}
    for rt in store.types.values():
        if not rt.hidden and rt.version not in groups.setdefault(rt.group, []):
            groups[rt.group].append(rt.version)
    return groups


def api_group_list(store: ObjectStore) -> dict:
    groups = []
    for name, versions in sorted(_group_versions(store).items()):
        if not name:
            continue
        gvs = [{"groupVersion": "%s/%s" % (name, v), "version": v} for v in versions]
        groups.append({"name": name, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(store: ObjectStore, group: str, version: str) -> Optional[dict]:
    types = [
        rt
        for rt in store.types.values()
        if rt.group == group and rt.version == version and not rt.hidden
    ]
    if not types:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": types[0].api_version,
        "resources": [_api_resource(rt) for rt in sorted(types, key=lambda t: t.resource)],
    }


def _api_resource(rt: ResourceType) -> dict:
    res = {
        "name": rt.resource,
        "singularName": rt.kind.lower(),
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        res["shortNames"] = list(rt.short_names)
    return res


def _gv_path(group: str, version: str) -> str:
    return "apis/%s/%s" % (group, version) if group else "api/%s" % version
