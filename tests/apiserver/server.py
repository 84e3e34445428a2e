"""The server: APIServer, the HTTP server that does the TLS handshake per connection, wait_for_port."""

import contextlib
import datetime
import socket
import ssl
import threading
from http.server import ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .authentication import UserInfo
from .bootstrap import bootstrap_objects, builtin_types
from .csr import CERTIFICATES_GROUP, CLUSTER_SIGNING_DURATION, CSRStrategy
from .csr_approval import csr_approval
from .csr_signer import CSRSigner
from .errors import APIError
from .handler import _Handler
from .rbac import Attributes, RBACAuthorizer
from .request_log import RequestRecord
from .resources import ResourceType
from .store import ObjectStore
from .tls import _server_context


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, app: "APIServer"):
        self.app = app
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        # The handshake runs here, in the connection's own thread, so a slow or
        # broken client cannot stall the accept loop.
        request.settimeout(30)
        try:
            conn = self.app.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.app.handshake_errors.append(
                str(e)
            )  # e.g. a port probe, or the fallback mode refusing
            return
        self.app._track(conn, True)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            self.app._track(conn, False)
            conn.close()


def _load_cas(path: str) -> List[x509.Certificate]:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())


class APIServer:
    """The test API server. `with APIServer(cert, key, client_ca) as srv: srv.url`"""

    def __init__(
        self,
        server_cert,
        server_key,
        client_ca_file,
        *,
        host: str = "127.0.0.1",
        anonymous_discovery: bool = True,
        csr_signing_key=None,
        cluster_signing_duration: datetime.timedelta = CLUSTER_SIGNING_DURATION,
        credential_ids: bool = True,
    ):
        """credential_ids: whether a client certificate's user carries its credential id in extra
        (authentication.kubernetes.io/credential-id, kube-apiserver 1.32+) or, False, not (older
        clusters); CSRs' spec.extra and SelfSubjectReview follow."""
        self.server_cert, self.server_key = str(server_cert), str(server_key)
        self.credential_ids = credential_ids
        self.client_ca_file = str(client_ca_file)
        self.client_cas = _load_cas(self.client_ca_file)
        self.host = host
        self.store = ObjectStore()
        for rt in builtin_types():
            self.store.register(rt)
        self.authorizer = RBACAuthorizer(self.store)
        # (group, resource, subresource) -> fn(server, rt, attributes, body) -> (http code, object)
        self.subresources: Dict[Tuple[str, str, str], Callable] = {
            (CERTIFICATES_GROUP, "certificatesigningrequests", "approval"): csr_approval
        }
        # (group, resource) -> object with prepare_for_create(server, rt, a, obj) -> obj and
        # prepare_for_update(server, rt, a, new, old) -> new: kube's registry strategy + admission
        self.strategies: Dict[Tuple[str, str], object] = {
            (CERTIFICATES_GROUP, "certificatesigningrequests"): CSRStrategy()
        }
        # kube-controller-manager's signer for kubernetes.io/kube-apiserver-client; None: approved
        # requests stay unsigned, as on a cluster whose controller has no signing key
        self.csr_signer: Optional[CSRSigner] = None
        self.log: List[RequestRecord] = []
        self.handshake_errors: List[str] = []
        self._log_lock = threading.RLock()
        self._logged = threading.Condition(self._log_lock)
        self._connections = set()
        self.stopping = False  # watches end when it turns True
        self._watches = 0  # open watch streams
        self._httpd: Optional[_TLSServer] = None
        self._thread: Optional[threading.Thread] = None
        self.seed(*bootstrap_objects(anonymous_discovery), age=datetime.timedelta(days=3))
        if csr_signing_key is not None:
            self.sign_csrs_with(self.client_cas[0], csr_signing_key, cluster_signing_duration)

    # -- lifecycle
    def start(self) -> "APIServer":
        self.ssl_context, self.client_cert_mode = _server_context(
            self.server_cert, self.server_key, self.client_ca_file
        )
        self._httpd = _TLSServer((self.host, 0), self)
        # A short poll interval keeps stop() (and so every test's teardown) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="test-apiserver",
            daemon=True,
        )
        self._thread.start()
        self.stopping = False
        wait_for_port(self.host, self.port)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.stopping = True
        self.store.wake_watchers()  # each open watch sends its terminal chunk and ends
        with self._logged:
            self._logged.wait_for(lambda: self._watches == 0, timeout=5)
        self._httpd.shutdown()
        self._httpd.server_close()
        for conn in list(self._connections):  # idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=10)
        self._httpd = None

    def __enter__(self) -> "APIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return "https://%s:%d" % (self.host, self.port)

    # -- state for tests
    def seed(self, *objects: dict, age: Optional[datetime.timedelta] = None) -> List[dict]:
        """Store objects as if created earlier (default: now); returns them as stored."""
        now = datetime.datetime.now(datetime.timezone.utc) - (age or datetime.timedelta(0))
        out = []
        for obj in objects:
            rt = self.store.type_for_kind(obj["apiVersion"], obj["kind"])
            ns = (obj.get("metadata") or {}).get("namespace", "default") if rt.namespaced else ""
            out.append(self.store.create(rt, ns, obj, now=now))
        return out

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict:
        rt = self.store.type_for_kind(api_version, kind)
        return self.store.get(rt, namespace if rt.namespaced else "", name)

    def list(self, api_version: str, kind: str, namespace: str = "") -> List[dict]:
        return self.store.list(self.store.type_for_kind(api_version, kind), namespace)

    def wait_for(
        self, predicate: Callable[[], object], timeout: float = 30.0, what: str = ""
    ) -> object:
        """Block until predicate() is truthy, re-checking after every request the server answers
        (no polling); return its value. Raises TimeoutError."""
        with self._logged:
            value = self._logged.wait_for(predicate, timeout)
        if not value:
            raise TimeoutError(
                "test apiserver: nothing satisfied %s within %gs" % (what or predicate, timeout)
            )
        return value

    def records(
        self, path: Optional[str] = None, status: Optional[int] = None
    ) -> List[RequestRecord]:
        with self._log_lock:
            return [
                r
                for r in self.log
                if (path is None or r.path == path) and (status is None or r.status == status)
            ]

    def _record(self, record: RequestRecord) -> None:
        with self._logged:
            self.log.append(record)
            self._logged.notify_all()

    @property
    def open_watches(self) -> int:
        """How many watch streams are open now (wait_for sees it change)."""
        with self._log_lock:
            return self._watches

    @contextlib.contextmanager
    def watching(self):
        """Held while a watch streams, so that stop() lets it end cleanly first."""
        with self._logged:
            self._watches += 1
        try:
            yield
        finally:
            with self._logged:
                self._watches -= 1
                self._logged.notify_all()

    def _track(self, conn, add: bool) -> None:
        with self._log_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    # -- registry strategies (kube's PrepareForCreate/Update, validation and admission)
    def prepare_for_create(self, rt: ResourceType, a: Attributes, obj: dict) -> dict:
        strategy = self.strategies.get((rt.group, rt.resource))
        return strategy.prepare_for_create(self, rt, a, obj) if strategy else obj

    def prepare_for_update(self, rt: ResourceType, a: Attributes, new: dict, old: dict) -> dict:
        strategy = self.strategies.get((rt.group, rt.resource))
        return strategy.prepare_for_update(self, rt, a, new, old) if strategy else new

    # -- the CSR signer (kube-controller-manager)
    def sign_csrs_with(
        self,
        ca_cert,
        ca_key,
        cluster_signing_duration: datetime.timedelta = CLUSTER_SIGNING_DURATION,
    ) -> CSRSigner:
        """Start signing approved kubernetes.io/kube-apiserver-client requests with this CA
        (cryptography objects or PEM paths); requests approved earlier are signed now."""
        if not isinstance(ca_cert, x509.Certificate):
            with open(str(ca_cert), "rb") as f:
                ca_cert = x509.load_pem_x509_certificate(f.read())
        if not hasattr(ca_key, "sign"):
            with open(str(ca_key), "rb") as f:
                ca_key = serialization.load_pem_private_key(f.read(), password=None)
        self.csr_signer = CSRSigner(ca_cert, ca_key, cluster_signing_duration)
        self.run_csr_signer()
        return self.csr_signer

    def run_csr_signer(self, name: Optional[str] = None) -> None:
        """One pass of the signing controller over one request (or all); it writes status as
        UpdateStatus would."""
        signer = self.csr_signer
        rt = self.store.type_for(CERTIFICATES_GROUP, "v1", "certificatesigningrequests")
        if signer is None or rt is None:
            return
        with self.store.lock:
            try:
                requests = [self.store.get(rt, "", name)] if name else self.store.list(rt)
            except APIError:
                return  # deleted meanwhile
            for csr in requests:
                status = signer.handle(csr)
                if status is not None:
                    csr["status"] = status
                    self.store.replace(rt, "", csr["metadata"]["name"], csr)

    # -- reviews: answered from the request's user, never stored
    def review(self, rt: ResourceType, user: UserInfo, body: dict) -> dict:
        out = {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": {"creationTimestamp": None},
        }
        if rt.resource == "selfsubjectreviews":
            out["status"] = {"userInfo": user.as_user_info()}
        elif rt.resource == "selfsubjectaccessreviews":
            out["spec"] = body.get("spec") or {}
            allowed, reason = self.authorizer.authorize(self._review_attributes(user, out["spec"]))
            out["status"] = {"allowed": allowed}
            if reason:
                out["status"]["reason"] = reason
        else:
            out["spec"] = body.get("spec") or {}
            out["status"] = self._rules_review(user, out["spec"].get("namespace", ""))
        return out

    @staticmethod
    def _review_attributes(user: UserInfo, spec: dict) -> Attributes:
        res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes") or {}
        if res is None:
            return Attributes(user=user, verb=non.get("verb", ""), path=non.get("path", ""))
        return Attributes(
            user=user,
            verb=res.get("verb", ""),
            path="",
            resource_request=True,
            api_group=res.get("group", ""),
            api_version=res.get("version", ""),
            resource=res.get("resource", ""),
            subresource=res.get("subresource", ""),
            namespace=res.get("namespace", ""),
            name=res.get("name", ""),
        )

    def _rules_review(self, user: UserInfo, namespace: str) -> dict:
        found, errors = self.authorizer.applicable(user, namespace)
        rules = [r for _, rs in found for r in rs]
        resource = [
            {k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k)}
            for r in rules
            if r.get("resources")
        ]
        non = [
            {"verbs": r["verbs"], "nonResourceURLs": r["nonResourceURLs"]}
            for r in rules
            if r.get("nonResourceURLs")
        ]
        status = {"resourceRules": resource, "nonResourceRules": non, "incomplete": False}
        if errors:
            status["evaluationError"] = "; ".join(errors)
        return status


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until HOST:PORT accepts a TCP connection (no sleeps)."""
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if datetime.datetime.now() > deadline:
                raise
