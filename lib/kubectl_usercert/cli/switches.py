"""The flags commands share, in the groups `--help` shows them in, each turned into the one value
the core takes (a Kubectl, SignerOptions, a KeySpec, a validity).

Only plumbum and light modules are imported here: `--help` and `--version` must start fast.
"""

from datetime import timedelta

from plumbum import cli

from .. import PRESETS, SIGNER_KINDS
from ..errors import InvalidInput
from ..pki.keys import KEY_TYPES, SIZES_HELP, key_spec
from ..times import parse_duration

OUTPUT, KEY, SIGNER, CLUSTER, FILES = (
    "Output options",
    "Key options",
    "Signer options",
    "Cluster options",
    "Options",
)
RBAC_OPTIONS = "RBAC options"


class _DryRunStrategy(cli.Set):
    """kubectl's --dry-run values, its deprecated booleans (true is client, false none), and its words
    for anything else (cmdutil.GetDryRunStrategy)."""

    def __call__(self, value, check_csv=True):
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return "client"
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return "none"
        if value in self.values:
            return value
        raise InvalidInput(
            f'Invalid dry-run value ({value}). Must be "none", "server", or "client".',
            hint="--dry-run alone is --dry-run=client",
        )


class DryRun(cli.Application):
    # (flags.OPTIONAL_VALUES: a bare --dry-run is client, and never takes the next word as its value)
    dry_run = cli.SwitchAttr(
        "--dry-run",
        _DryRunStrategy("none", "client", "server", case_sensitive=True),
        argname="STRATEGY",
        default="none",
        group=FILES,
        help="client: change nothing, only say what would change after every check the "
        "work makes first (--dry-run alone); server: the cluster is asked too, with "
        "dryRun=All; none: do it",
    )


class Output(cli.Application):
    output = cli.SwitchAttr(
        ["o", "output"],
        str,
        argname="FORMAT",
        group=OUTPUT,
        help="print the result on stdout: json, yaml, name, or jsonpath=TEMPLATE",
    )
    quiet = cli.Flag(
        ["q", "quiet"], group=OUTPUT, help="no human output on stderr (errors still show)"
    )


class OutDir(cli.Application):
    out_dir = cli.SwitchAttr(
        "--out-dir",
        str,
        argname="DIR",
        default="clients",
        group=FILES,
        help="the folder of user folders (and of the ledger, in DIR/.usercert)",
    )


class RequestTimeout(cli.Application):
    request_timeout = cli.SwitchAttr(
        ["request-timeout", "timeout"],
        str,
        argname="DURATION",
        default="30s",
        group=CLUSTER,
        help="how long to wait for each answer from the cluster",
    )

    def timeout_seconds(self):
        """--request-timeout in seconds (a bare number is seconds, as kubectl takes it); at least 1."""
        timeout = parse_duration(self.request_timeout, "--request-timeout", default_unit="s")
        return max(1.0, timeout.total_seconds())


class Cluster(RequestTimeout):
    kubeconfig = cli.SwitchAttr(
        "--kubeconfig",
        str,
        argname="FILE",
        group=CLUSTER,
        help="the admin kubeconfig to use (default: KUBECONFIG, then ~/.kube/config)",
    )
    context = cli.SwitchAttr(
        "--context",
        str,
        argname="NAME",
        list=True,
        group=CLUSTER,
        help="the kubeconfig context to use (default: its current-context); repeatable: several "
        "clusters (create, sign: one person on each; renew, revoke, verify, inspect: those of a "
        "person's clusters)",
    )
    cluster = cli.SwitchAttr(
        "--cluster",
        str,
        argname="NAME",
        group=CLUSTER,
        help="the kubeconfig cluster to use, overriding the context's",
    )

    def kubectl(self):
        """kubectl for the admin kubeconfig, and the one --context given (several: see contexts)."""
        from ..cluster.kubectl import Kubectl

        contexts = self.contexts()
        return Kubectl(
            self.kubeconfig,
            contexts[0] if len(contexts) == 1 else None,
            self.cluster,
            self.timeout_seconds(),
        )

    def contexts(self):
        """Every --context given, in order, each once; several only where the command takes them."""
        contexts = tuple(dict.fromkeys(self.context or ()))
        if len(contexts) > 1 and not getattr(self, "SEVERAL_CONTEXTS", False):
            raise InvalidInput(
                f"--context given {len(contexts)} times: this command works on one cluster",
                hint="give one --context",
            )
        return contexts


class Key(cli.Application):
    key_type = cli.SwitchAttr(
        "--key-type",
        cli.Set(*KEY_TYPES),
        argname="TYPE",
        group=KEY,
        help="key algorithm: rsa (default, 4096 bits), ecdsa or ed25519",
    )
    key_size = cli.SwitchAttr("--key-size", int, argname="BITS", group=KEY, help=SIZES_HELP)

    def key(self, default_type="rsa"):
        return key_spec(self.key_type or default_type, self.key_size)


class Validity(cli.Application):
    days = cli.SwitchAttr(
        "--days",
        cli.Range(1, 100 * 365),
        argname="N",
        default=365,
        group=KEY,
        help="validity in days",
    )
    expiration = cli.SwitchAttr(
        "--expiration",
        str,
        argname="DURATION",
        group=KEY,
        help="validity as a duration instead (e.g. 8h, 30d; at least 10m)",
    )

    def validity(self):
        if self.expiration:
            return parse_duration(self.expiration, "--expiration")
        return timedelta(days=self.days)


class KeptValidity(cli.Application):
    """renew's: the lifetime the certificate was issued with, unless a flag gives another."""

    days = cli.SwitchAttr(
        "--days",
        cli.Range(1, 100 * 365),
        argname="N",
        group=KEY,
        help="validity in days (default: the lifetime it was issued with)",
    )
    expiration = cli.SwitchAttr(
        "--expiration",
        str,
        argname="DURATION",
        group=KEY,
        help="validity as a duration instead (e.g. 8h, 30d; at least 10m)",
    )

    def validity(self):
        """The lifetime given on the command line; None keeps the one it was issued with."""
        if self.expiration:
            return parse_duration(self.expiration, "--expiration")
        return timedelta(days=self.days) if self.days else None


class Signer(Cluster):
    signer = cli.SwitchAttr(
        "--signer",
        cli.Set(*SIGNER_KINDS),
        argname="KIND",
        default="auto",
        group=SIGNER,
        help="local (the CA key here), csr (the cluster's CertificateSigningRequest API), "
        "or auto: local when a CA key is given or found, else csr",
    )
    ca_cert = cli.SwitchAttr(
        "--ca-cert",
        str,
        argname="FILE",
        list=True,
        group=SIGNER,
        help="the CA certificate that signs (env USERCERT_CA_CERT); with --signer csr, the "
        "client CA the issued certificate must chain to; CONTEXT=FILE: that cluster's (several "
        "clusters: one each)",
    )
    ca_key = cli.SwitchAttr(
        "--ca-key",
        str,
        argname="FILE",
        list=True,
        group=SIGNER,
        help="its private key (env USERCERT_CA_KEY); CONTEXT=FILE: that cluster's",
    )
    ca_key_passphrase_file = cli.SwitchAttr(
        "--ca-key-passphrase-file",
        str,
        argname="FILE",
        list=True,
        group=SIGNER,
        help="a file holding the CA key's passphrase; CONTEXT=FILE: that cluster's",
    )
    approve = cli.Flag(
        "--approve",
        group=SIGNER,
        help="csr: approve the request yourself (kubectl certificate approve)",
    )
    wait = cli.SwitchAttr(
        "--wait",
        str,
        argname="DURATION",
        default="5m",
        group=SIGNER,
        help="csr: how long to wait for approval and signing",
    )
    keep_csr = cli.Flag(
        "--keep-csr", group=SIGNER, help="csr: keep the CertificateSigningRequest object afterwards"
    )

    def signer_given(self):
        """--signer, or CA files given without CONTEXT= (for every cluster the command signs for)."""
        from ..pki.signers import context_values

        plain = [context_values(given)[0] for given in (self.ca_cert, self.ca_key)]
        return self.signer != "auto" or any(plain)

    def signer_options(self, per_context=False):
        """SignerOptions from the flags; CONTEXT=FILE values only where the command takes them
        (`per_context`: those that sign for several clusters, or for the one --context names)."""
        from ..pki.signers import SignerOptions, context_cas, context_values

        values = (self.ca_cert, self.ca_key, self.ca_key_passphrase_file)
        cas = context_cas(*values)
        if cas and not per_context:
            raise InvalidInput(
                f"--ca-cert/--ca-key {cas[0].context}=FILE: this command signs for one cluster",
                hint="give the files without CONTEXT=",
            )
        plain = [context_values(given)[0] for given in values]
        return SignerOptions(
            kind=self.signer,
            ca_cert=plain[0],
            ca_key=plain[1],
            ca_key_passphrase_file=plain[2],
            kubectl=self.kubectl(),
            approve=self.approve,
            wait_seconds=parse_duration(self.wait, "--wait").total_seconds(),
            keep_csr=self.keep_csr,
            per_context=cas,
        )


class UserKubeconfig(cli.Application):
    """Switches of the commands that write a user's folder and kubeconfig (create, sign)."""

    namespace = cli.SwitchAttr(
        ["n", "namespace"],
        str,
        argname="NAMESPACE",
        group=FILES,
        help="the default namespace of the new kubeconfig's context",
    )
    server = cli.SwitchAttr(
        "--server",
        str,
        argname="URL",
        group=CLUSTER,
        help="the API server URL to write (overrides the kubeconfig's)",
    )
    force = cli.Flag("--force", group=FILES, help="replace an existing OUT_DIR/USER folder")


class Masters(cli.Application):
    allow_system_masters = cli.Flag(
        "--allow-system-masters",
        group=FILES,
        help="allow group system:masters (bypasses RBAC; cannot be revoked)",
    )


class RBAC(cli.Application):
    """create's bindings, made in the same command."""

    clusterroles = cli.SwitchAttr(
        "--clusterrole",
        str,
        argname="NAME",
        list=True,
        group=RBAC_OPTIONS,
        help="bind this ClusterRole (cluster-wide, or in -n NAMESPACE)",
    )
    roles = cli.SwitchAttr(
        "--role",
        str,
        argname="NAME",
        list=True,
        group=RBAC_OPTIONS,
        help="bind this Role in -n NAMESPACE",
    )
    preset = cli.SwitchAttr(
        "--preset",
        cli.Set(*PRESETS),
        argname="NAME",
        group=RBAC_OPTIONS,
        help="read-only (pods and namespaces, created if missing), or the built-in view, edit, "
        "admin",
    )
    bind_group = cli.Flag(
        "--bind-group", group=RBAC_OPTIONS, help="bind the certificate's groups instead of the user"
    )
    self_renew = cli.Flag(
        "--self-renew",
        group=RBAC_OPTIONS,
        help="let the user renew their own certificate through the CSR API (create on CSRs, "
        "get and delete on their renewal's name); kubectl usercert approve approves it",
    )
    print_rbac = cli.Flag(
        "--print-rbac",
        group=RBAC_OPTIONS,
        help="print the RBAC manifests on stdout instead of applying them",
    )

    def access(self):
        """The bindings asked for (namespace: the command's -n)."""
        from ..cluster import rbac

        return rbac.plan_bindings(
            self.clusterroles,
            self.roles,
            self.namespace,
            self.preset,
            self.bind_group,
            self.self_renew,
        )

    def refuse_two_on_stdout(self):
        if self.print_rbac and (self.output or getattr(self, "dry_run", "none") != "none"):
            raise InvalidInput(
                "--print-rbac and "
                + ("-o" if self.output else "--dry-run")
                + " both write to stdout",
                hint="use one of them",
            )
