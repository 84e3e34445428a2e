"""Request handling: the HTTP handler, from authentication and authorization to the verbs."""

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Dict, List
from urllib.parse import parse_qs, unquote, urlsplit

from .authentication import AuthenticationError, UserInfo, authenticate
from .discovery import SERVER_VERSION, api_group_list, api_resource_list
from .errors import APIError, method_not_allowed, no_such_path
from .field_validation import _ANY, FIELD_SCHEMAS, unknown_fields
from .openapi import openapi_v2_protobuf, openapi_v3_document, openapi_v3_root
from .patches import apply_patch
from .protobuf import decode_protobuf
from .rbac import Attributes, forbidden_message
from .request_log import RequestRecord
from .resources import ResourceType
from .store import exact_field_match
from .tables import to_table
from .watch import WatchStream

if TYPE_CHECKING:
    from .server import APIServer

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


def request_attributes(
    user: UserInfo, method: str, path: str, query: Dict[str, List[str]]
) -> Attributes:
    """RequestInfoFactory.NewRequestInfo, for the /api and /apis prefixes."""
    parts = [p for p in path.strip("/").split("/") if p]
    verb = method.lower()
    a = Attributes(user=user, verb=verb, path=path)
    grouped = bool(parts) and parts[0] == "apis"
    if len(parts) < 3 or parts[0] not in ("api", "apis") or (grouped and len(parts) < 4):
        return a
    parts = parts[1:]
    if grouped:
        a.api_group, parts = parts[0], parts[1:]
    a.resource_request, a.api_version, parts = True, parts[0], parts[1:]
    if parts[0] == "namespaces" and len(parts) > 1:
        a.namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    a.resource = parts[0]
    a.name = parts[1] if len(parts) > 1 else ""
    a.subresource = parts[2] if len(parts) > 2 else ""
    a.verb = _resource_verb(method, bool(a.name), query)
    if a.verb in ("list", "watch") and not a.subresource:
        # RBAC's resourceNames narrow list/watch through a metadata.name field selector
        name = exact_field_match(query.get("fieldSelector", [""])[0], "metadata.name")
        if name not in (".", "..") and "/" not in name and "%" not in name:
            a.name = name
    return a


def _resource_verb(method: str, named: bool, query: Dict[str, List[str]]) -> str:
    if method == "GET":
        if query.get("watch", [""])[0].lower() in ("true", "1", "t"):
            return "watch"
        return "get" if named else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: kubectl makes many requests per run
    server_version = "kube-apiserver-test"

    def log_message(self, fmt, *args):  # the request log replaces stderr noise
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    # -- plumbing
    def _serve(self, method: str) -> None:
        app: APIServer = self.server.app
        url = urlsplit(self.path)
        self.method, self.url_path, self.query = method, unquote(url.path), parse_qs(url.query)
        try:
            self.body, unreadable = self._read_body(), False
        except ValueError:  # a framing the server cannot read: answer, then drop the connection
            self.body, unreadable, self.close_connection = b"", True, True
        self.warnings: List[str] = []
        self.record = RequestRecord(
            method,
            self.url_path,
            url.query,
            None,
            (),
            0,
            user_agent=self.headers.get("User-Agent", ""),
        )
        self._logged = False
        try:
            if unreadable:
                raise APIError(400, "BadRequest", "the body of the request could not be read")
            self._dispatch(app)
        except APIError as e:
            self._send(e.code, e.status())
        except Exception as e:  # a harness bug must show as a 500, not a hang
            self._send(500, APIError(500, "InternalError", "test apiserver: %r" % e).status())
        finally:
            self.log_answered()

    def _read_body(self) -> bytes:
        """The request body: Content-Length bytes, or chunks (kubectl replace --raw -f - streams stdin)."""
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF after each chunk

    def log_answered(self) -> None:
        """Log the request once it is answered (a watch: once its stream has begun)."""
        if not self._logged:
            self._logged = True
            self.server.app._record(self.record)

    def _send(self, code: int, obj: dict) -> None:
        self._send_bytes(code, json.dumps(obj).encode(), "application/json")

    def _send_bytes(self, code: int, data: bytes, content_type: str) -> None:
        self.record.status = code
        self.send_response(code)
        for warning in self.warnings:  # kubectl prints these as "Warning: ..."
            self.send_header("Warning", "299 - %s" % json.dumps(warning))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(data)

    def _authenticate(self, app) -> UserInfo:
        try:
            user = authenticate(
                self.connection.getpeercert(binary_form=True),
                app.client_cas,
                credential_ids=app.credential_ids,
            )
        except AuthenticationError as e:
            self.record.reason, self.record.detail = e.reason, str(e)
            raise APIError(401, "Unauthorized", "Unauthorized") from None
        self.record.user, self.record.groups, self.record.extra = (
            user.name,
            user.groups,
            user.extra_map(),
        )
        return user

    def _dispatch(self, app) -> None:
        user = self._authenticate(app)
        a = request_attributes(user, self.method, self.url_path, self.query)
        allowed, reason = app.authorizer.authorize(a)
        if not allowed:
            message = forbidden_message(a) + (": " + reason if reason else "")
            self.record.detail = message
            details = {"group": a.api_group, "kind": a.resource}
            if a.name:
                details["name"] = a.name
            raise APIError(403, "Forbidden", message, details if a.resource_request else {})
        if a.resource_request:
            self._resource(app, a)
        else:
            self._non_resource(app)

    # -- non-resource paths
    def _non_resource(self, app) -> None:
        if self.method != "GET":
            raise method_not_allowed()
        path = self.url_path.rstrip("/") or "/"
        doc = self._non_resource_doc(app, path)
        if doc is None:
            raise no_such_path()
        if isinstance(doc, str):
            self._send_bytes(200, doc.encode(), "text/plain; charset=utf-8")
        elif isinstance(doc, bytes):
            self._send_bytes(200, doc, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        else:
            self._send(200, doc)

    def _non_resource_doc(self, app, path: str):
        store = app.store
        if path in ("/healthz", "/livez", "/readyz"):
            return "ok"
        if path == "/version":
            return SERVER_VERSION
        if path == "/api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % app.port}
                ],
            }
        if path == "/apis":
            return api_group_list(store)
        if path == "/openapi/v3":
            return openapi_v3_root(store)
        if path == "/openapi/v2":
            return openapi_v2_protobuf(store)
        m = re.match(r"^/(?:openapi/v3/)?(?:api|apis/([^/]+))/([^/]+)$", path)
        if m:
            group, version = m.group(1) or "", m.group(2)
            if path.startswith("/openapi/v3/"):
                return (
                    openapi_v3_document(store, group, version)
                    if store.serves(group, version)
                    else None
                )
            return api_resource_list(store, group, version)
        m = re.match(r"^/apis/([^/]+)$", path)
        if m:
            return next(
                (g for g in api_group_list(store)["groups"] if g["name"] == m.group(1)), None
            )
        return None

    # -- resources
    def _resource(self, app, a: Attributes) -> None:
        rt = app.store.type_for(a.api_group, a.api_version, a.resource)
        hook = (
            app.subresources.get((a.api_group, a.resource, a.subresource))
            if rt and a.subresource
            else None
        )
        if hook is not None:
            code, obj = hook(app, rt, a, self._body_object(), self._content_type())
            self._send(code, obj)
            return
        if rt is None or (a.subresource and not rt.review):
            raise no_such_path()
        if a.namespace and not rt.namespaced and a.resource != "namespaces":
            raise no_such_path()
        if rt.review:
            if a.verb != "create":
                raise method_not_allowed()
            self._send(201, app.review(rt, a.user, self._body_object()))
            return
        handler = getattr(self, "_verb_" + a.verb, None)
        if handler is None:
            raise method_not_allowed()
        handler(app, rt, a)

    def _content_type(self) -> str:
        return (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()

    def _body_object(self) -> dict:
        ctype = self._content_type()
        try:
            if ctype == "application/vnd.kubernetes.protobuf":
                return decode_protobuf(self.body)
            obj = json.loads(self.body or b"{}")
        except ValueError as e:
            raise APIError(
                400, "BadRequest", "the body of the request could not be decoded: %s" % e
            ) from None
        if not isinstance(obj, (dict, list)):
            raise APIError(400, "BadRequest", "the body of the request must be an object")
        return obj

    def _wants_table(self) -> bool:
        return "as=Table" in self.headers.get("Accept", "")

    def _check_body(self, rt: ResourceType, a: Attributes, obj: dict) -> None:
        if obj.get("apiVersion") and (obj.get("apiVersion"), obj.get("kind")) != (
            rt.api_version,
            rt.kind,
        ):
            raise APIError(
                400,
                "BadRequest",
                "the API version in the data (%s) does not match the expected API "
                "version (%s)" % (obj.get("apiVersion"), rt.api_version),
            )
        meta = obj.get("metadata") or {}
        if (
            meta.get("namespace")
            and rt.namespaced
            and a.namespace
            and meta["namespace"] != a.namespace
        ):
            raise APIError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the "
                "namespace sent on the request",
            )
        if a.name and meta.get("name") and meta["name"] != a.name:
            raise APIError(
                400,
                "BadRequest",
                "the name of the object (%s) does not match the name on the URL (%s)"
                % (meta["name"], a.name),
            )

    def _validate_fields(self, rt: ResourceType, obj: dict) -> None:
        """kube-apiserver's strict decoding; kubectl sends fieldValidation=Strict."""
        unknown = unknown_fields(obj, FIELD_SCHEMAS.get(rt.kind, _ANY))
        mode = self.query.get("fieldValidation", ["Warn"])[0]  # kube's default is Warn
        if not unknown or mode == "Ignore":
            return
        errors = ['unknown field "%s"' % f for f in unknown]
        if mode == "Strict":
            raise APIError(
                400,
                "BadRequest",
                '%s in version "%s" cannot be handled as a %s: strict decoding '
                "error: %s" % (rt.kind, rt.version, rt.kind, ", ".join(errors)),
            )
        self.warnings += errors

    def _namespace_of(self, rt: ResourceType, a: Attributes) -> str:
        return a.namespace if rt.namespaced else ""

    def _verb_get(self, app, rt, a) -> None:
        obj = app.store.get(rt, self._namespace_of(rt, a), a.name)
        if self._wants_table():
            self._send(200, to_table(rt, [obj], obj["metadata"]["resourceVersion"]))
        else:
            self._send(200, obj)

    def _verb_list(self, app, rt, a) -> None:
        q = lambda k: self.query.get(k, [""])[0]  # noqa: E731
        items = app.store.list(
            rt, self._namespace_of(rt, a), q("labelSelector"), q("fieldSelector")
        )
        rv = app.store.resource_version()
        if self._wants_table():
            self._send(200, to_table(rt, items, rv))
            return
        self._send(
            200,
            {
                "kind": rt.kind + "List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            },
        )

    def _verb_watch(self, app, rt, a) -> None:
        stream = WatchStream(self, app, rt, a)  # bad parameters are a 400 before the stream begins
        with app.watching():
            stream.serve()

    def _dry_run(self, options: str) -> bool:
        """dryRun=All: every check made, nothing stored (metav1 ValidateDryRun: All is the only value).
        A DELETE carries its DeleteOptions in the body (as kubectl sends them), else in the query."""
        values = self.query.get("dryRun", [])
        if options == "DeleteOptions" and self.body:
            body = self._body_object()
            values = body.get("dryRun") or [] if isinstance(body, dict) else []
        if any(v != "All" for v in values):
            raise APIError(
                422,
                "Invalid",
                '%s.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{%s}: '
                'supported values: "All"' % (options, ", ".join('"%s"' % v for v in values)),
            )
        return bool(values)

    def _verb_create(self, app, rt, a) -> None:
        dry_run = self._dry_run("CreateOptions")
        obj = self._body_object()
        self._check_body(rt, a, obj)
        self._validate_fields(rt, obj)
        obj = app.prepare_for_create(rt, a, obj)
        self._send(
            201, app.store.create(rt, a.namespace if rt.namespaced else "", obj, dry_run=dry_run)
        )

    def _verb_update(self, app, rt, a) -> None:
        dry_run = self._dry_run("UpdateOptions")
        obj = self._body_object()
        self._check_body(rt, a, obj)
        self._validate_fields(rt, obj)
        obj = app.prepare_for_update(
            rt, a, obj, app.store.get(rt, self._namespace_of(rt, a), a.name)
        )
        self._send(
            200, app.store.replace(rt, self._namespace_of(rt, a), a.name, obj, dry_run=dry_run)
        )

    def _verb_patch(self, app, rt, a) -> None:
        dry_run = self._dry_run("PatchOptions")
        current = app.store.get(rt, self._namespace_of(rt, a), a.name)
        patch = self._body_object()
        new = apply_patch(current, patch, self._content_type())
        self._validate_fields(rt, new)
        new = app.prepare_for_update(rt, a, new, current)
        new.setdefault("metadata", {}).pop("resourceVersion", None)
        if isinstance(patch, dict) and (patch.get("metadata") or {}).get("resourceVersion"):
            new["metadata"]["resourceVersion"] = patch["metadata"]["resourceVersion"]
        self._send(
            200, app.store.replace(rt, self._namespace_of(rt, a), a.name, new, dry_run=dry_run)
        )

    def _verb_delete(self, app, rt, a) -> None:
        dry_run = self._dry_run("DeleteOptions")
        self._send(200, app.store.delete(rt, self._namespace_of(rt, a), a.name, dry_run=dry_run))

    def _verb_deletecollection(self, app, rt, a) -> None:
        dry_run = self._dry_run("DeleteOptions")
        items = app.store.list(
            rt, self._namespace_of(rt, a), self.query.get("labelSelector", [""])[0]
        )
        for obj in items:
            app.store.delete(
                rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], dry_run=dry_run
            )
        self._send(
            200,
            {
                "kind": rt.kind + "List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": app.store.resource_version()},
                "items": items,
            },
        )
