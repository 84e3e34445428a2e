"""Watch: GET .../RESOURCE?watch=true as kube-apiserver's WatchServer serves it over HTTP/1.1.

A 200 with `Transfer-Encoding: chunked` and `Content-Type: application/json`, then one JSON
WatchEvent per line ({"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}), until the
client goes away, the server stops, or `timeoutSeconds` passes; then the terminal chunk (a clean
end: kubectl sees the stream close, not an error). resourceVersion as kube reads it:

* unset or "0": the objects that exist now, each as an ADDED event, then the changes after them
  (kubectl get NAME --watch asks for "0" and hides that first ADDED);
* N: only the changes after N (kubectl get --watch passes its list's resourceVersion); an N older
  than the store's history gets one ERROR event with a 410 Expired Status ("too old resource
  version") and the end of the stream; an N the store has not reached yet is waited for
  (kube-apiserver answers "Too large resource version" after a few seconds).

Label and field selectors filter events as the watch cache does: an object that starts to match
arrives as ADDED, one that stops matching as DELETED. `sendInitialEvents=true` (the WatchList
protocol) sends the objects that exist now whatever the resourceVersion, then a BOOKMARK annotated
k8s.io/initial-events-end. With an
`as=Table` Accept header (kubectl's human output) each event carries a one-row Table, column
definitions in the first only (TableOptions.NoHeaders afterwards), as watchEmbeddedEncoder does.
"""

import json
import select
import time
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple

from .errors import APIError
from .rbac import Attributes
from .resources import ResourceType
from .store import LabelSelector, StoredEvent, parse_field_selector
from .tables import to_table

if TYPE_CHECKING:
    from .handler import _Handler
    from .server import APIServer

_POLL = 0.2  # how often an idle watch looks whether its client left or the server stops
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _number(name: str, text: str) -> Optional[int]:
    if text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise APIError(
            400,
            "BadRequest",
            '%s: Invalid value: "%s": must be a non-negative integer' % (name, text),
        )
    return value


def visible(
    event: StoredEvent, rt: ResourceType, namespace: str, matches: Callable[[dict], bool]
) -> Optional[Tuple[str, dict]]:
    """The (type, object) a watch with these selectors sees of one stored event, or None."""
    if event.rt != rt or (namespace and event.namespace != namespace):
        return None
    now = matches(event.obj)
    if event.type != "MODIFIED":
        return (event.type, event.obj) if now else None
    before = matches(event.previous)
    if now:
        return ("MODIFIED" if before else "ADDED"), event.obj
    if before:  # it left the selection: DELETED, the last state that matched at the new version
        gone = dict(
            event.previous,
            metadata=dict(
                event.previous["metadata"], resourceVersion=event.obj["metadata"]["resourceVersion"]
            ),
        )
        return "DELETED", gone
    return None


class WatchStream:
    """One watch request, answered on the handler's connection."""

    def __init__(self, handler: "_Handler", app: "APIServer", rt: ResourceType, a: Attributes):
        self.handler, self.app, self.rt = handler, app, rt
        q = lambda k: handler.query.get(k, [""])[0]  # noqa: E731
        self.namespace = a.namespace if rt.namespaced else ""
        labels, fields = (
            LabelSelector(q("labelSelector")),
            parse_field_selector(q("fieldSelector"), rt),
        )
        self.matches = lambda o: (
            o is not None and labels.matches(o["metadata"].get("labels") or {}) and fields(o)
        )
        self.timeout = _number("timeoutSeconds", q("timeoutSeconds"))
        self.resource_version = q("resourceVersion")
        self.since = _number(
            "resourceVersion", "" if self.resource_version == "0" else self.resource_version
        )
        self.initial_events_end = q("sendInitialEvents").lower() == "true"
        self.table = handler._wants_table()
        self._headers_sent = False

    # -- the stream
    def serve(self) -> None:
        initial, expired = self._start()
        self._begin()
        try:
            for obj in initial:
                self._send("ADDED", obj)
            if self.initial_events_end:
                self._send(
                    "BOOKMARK",
                    {
                        "kind": self.rt.kind,
                        "apiVersion": self.rt.api_version,
                        "metadata": {
                            "resourceVersion": str(self.since),
                            "annotations": {INITIAL_EVENTS_END: "true"},
                        },
                    },
                )
            if expired:
                self._send("ERROR", APIError(410, "Expired", expired).status())
            else:
                self._follow()
            self._write(b"0\r\n\r\n")  # the terminal chunk: a clean end of the stream
        except OSError:
            pass  # the client went away while we wrote
        self.handler.close_connection = True

    def _start(self) -> Tuple[List[dict], Optional[str]]:
        store = self.app.store
        with store.lock:
            if self.since is not None and not self.initial_events_end:
                return [], store.expired(self.since)
            self.since = int(store.resource_version())
            return [o for o in store.list(self.rt, self.namespace) if self.matches(o)], None

    def _follow(self) -> None:
        deadline = time.monotonic() + self.timeout if self.timeout else None
        while not self._client_gone():
            if self.app.stopping:  # what happened before the server stopped still goes out
                self._deliver(self.app.store.events_after(self.since, 0))
                return
            left = deadline - time.monotonic() if deadline else _POLL
            if left <= 0:
                return
            self._deliver(self.app.store.events_after(self.since, min(left, _POLL)))

    def _deliver(self, events: List[StoredEvent]) -> None:
        for event in events:
            self.since = event.resource_version
            seen = visible(event, self.rt, self.namespace, self.matches)
            if seen:
                self._send(*seen)

    def _client_gone(self) -> bool:
        # The client sends nothing on a watch connection: anything readable is its FIN or close_notify.
        try:
            readable, _, _ = select.select([self.handler.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    # -- writing
    def _begin(self) -> None:
        h = self.handler
        h.record.status = 200
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-cache, private")
        h.end_headers()
        h.log_answered()  # a test can wait for the watch to be open

    def _send(self, kind: str, obj: dict) -> None:
        if self.table and kind != "ERROR" and kind != "BOOKMARK":
            obj = to_table(
                self.rt, [obj], obj["metadata"]["resourceVersion"], headers=not self._headers_sent
            )
            self._headers_sent = True
        self._write(self._chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n"))

    @staticmethod
    def _chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    def _write(self, data: bytes) -> None:
        self.handler.wfile.write(data)
        self.handler.wfile.flush()
