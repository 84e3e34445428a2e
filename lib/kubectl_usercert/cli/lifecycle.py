"""The commands that look after what was issued: inspect, list, whois, renew, verify, revoke,
approve.

Registered with `Main` in applications.py by name, so each command loads this module only when it
runs (or when help lists it).
"""

from plumbum import cli

from ..errors import InvalidInput
from . import examples, switches
from .command import Command


class Inspect(Command, switches.Output, switches.OutDir, switches.Cluster):
    """Show what a credential says: a user in OUT_DIR, a kubeconfig, or a PEM certificate."""

    USAGE_ARGS = "USER|KUBECONFIG|CERT.pem"
    EXAMPLES = examples.INSPECT
    ca_cert = cli.SwitchAttr(
        "--ca-cert",
        str,
        argname="FILE",
        help="check the chain against this CA (default: the CA found)",
    )

    SEVERAL_CONTEXTS = True

    def main(self, target):
        from ..commands.inspect import InspectRequest, inspect

        return self.perform(
            inspect,
            InspectRequest(target, self.out_dir, self.ca_cert, self.kubectl(), self.contexts()),
        )


class List(Command, switches.Output, switches.OutDir, switches.Cluster):
    """List issued certificates (user folders and the ledger), soonest expiry first: all, or the USERs named."""

    USAGE_ARGS = "[USER...]"
    EXAMPLES = examples.LIST
    OUTPUTS = ("prometheus",)
    expiring = cli.SwitchAttr(
        "--expiring",
        str,
        argname="DURATION",
        help="only those expiring within this window (e.g. 30d; expired included, revoked not)",
    )
    exit_code = cli.Flag(
        "--exit-code",
        help="exit 1 when any certificate is listed (with --expiring: about to expire)",
    )
    textfile = cli.SwitchAttr(
        "--textfile",
        str,
        argname="FILE",
        group=switches.OUTPUT,
        help="write the -o prometheus metrics to FILE (NAME.prom in node_exporter's textfile "
        "folder) whole: a temporary file beside it, renamed over it",
    )

    def main(self, *users):
        from ..commands.list import ListRequest, list_certificates
        from ..times import parse_duration

        if self.textfile is not None:
            if self.output not in (None, "prometheus"):
                raise InvalidInput(
                    f"--textfile writes -o prometheus metrics, not -o {self.output}",
                    hint="drop -o, or use -o prometheus",
                )
            self.output = "prometheus"
            from ..output.metrics import check_textfile

            check_textfile(self.textfile)
        window = parse_duration(self.expiring, "--expiring") if self.expiring else None
        return self.perform(
            list_certificates,
            ListRequest(
                self.out_dir, window, self.expiring, self.exit_code, self.kubectl(), users=users
            ),
        )

    def write_metrics(self, inventory):
        from ..output import console, metrics

        text = metrics.prometheus(inventory, self.out_dir)
        if self.textfile is None:
            return console.emit_text(text)
        metrics.write_textfile(self.textfile, text)
        console.say(
            f"Wrote the metrics of {len(inventory.rows)} certificate(s) to {console.text(self.textfile)}"
        )
        if not self.textfile.endswith(".prom"):
            console.warn(
                "node_exporter's textfile collector reads only files whose names end in .prom"
            )


class Whois(Command, switches.Output, switches.OutDir):
    """Which user an audit-log credential id (X509SHA256=...), fingerprint or serial belongs to."""

    USAGE_ARGS = "X509SHA256=...|FINGERPRINT|SERIAL"
    EXAMPLES = examples.WHOIS

    def main(self, fingerprint_or_serial):
        from ..commands.whois import WhoisRequest, whois

        return self.perform(whois, WhoisRequest(fingerprint_or_serial, self.out_dir))


class Renew(
    Command,
    switches.Output,
    switches.OutDir,
    switches.Signer,
    switches.Key,
    switches.KeptValidity,
    switches.Masters,
):
    """A new certificate for USER as the ledger last recorded (groups, lifetime, signer; same key unless --rekey), in place; or --self, your own."""

    USAGE_ARGS = "USER | --self"
    EXAMPLES = examples.RENEW
    groups = cli.SwitchAttr(
        ["g", "group"],
        str,
        argname="GROUP",
        list=True,
        help="change the groups (default: those the ledger last recorded)",
    )
    rekey = cli.Flag("--rekey", group=switches.KEY, help="make a new key too")
    SEVERAL_CONTEXTS = True
    self_renewal = cli.Flag(
        "--self",
        help="renew your own credential through the cluster's CSR API, as yourself, while it is "
        "valid: the current context's and those imported with it (a bundle of several clusters), "
        "or those of --context",
    )
    keep_key = cli.Flag(
        "--keep-key", group=switches.KEY, help="--self: keep the key (default: a new one)"
    )
    credential = cli.SwitchAttr(
        "--credential",
        str,
        argname="USER@CLUSTER",
        help="--self: the credential of your store to renew (default: the one --context uses)",
    )
    background = cli.Flag(
        "--background",
        help="--self: as the credential plugin runs it: only if no other renewal of it runs, "
        "waiting at most until it expires",
    )
    exec_plugin = cli.Flag(
        "--exec",
        help="--self: from now on the kubeconfig user runs the credential plugin (kubectl "
        "usercert credential), which renews it by itself",
    )
    renew_before = cli.SwitchAttr(
        "--renew-before",
        str,
        argname="DURATION",
        help="--self: the plugin renews once less than this is left (default: as before, or a "
        "third of the lifetime)",
    )

    def main(self, user=None):
        from ..commands.renew import RenewRequest, renew

        if self.self_renewal:
            from .person import renew_self

            return renew_self(self, user)
        if user is None:
            raise InvalidInput(
                "accepts 1 arg(s), received 0",
                hint=f"usage: {self.PROGNAME} USER [options], or --self",
            )
        personal = [
            flag
            for flag, given in (
                ("--keep-key", self.keep_key),
                ("--credential", self.credential),
                ("--background", self.background),
                ("--exec", self.exec_plugin),
                ("--renew-before", self.renew_before),
            )
            if given
        ]
        if personal:
            raise InvalidInput(
                f"{personal[0]} is for --self", hint="renew keeps the key unless --rekey"
            )

        return self.perform(
            renew,
            RenewRequest(
                user=user,
                out_dir=self.out_dir,
                groups=tuple(self.groups) if self.groups else None,
                validity=self.validity(),
                rekey=self.rekey,
                key_type=self.key_type,
                key_size=self.key_size,
                allow_system_masters=self.allow_system_masters,
                signing=self.signer_options(per_context=True),
                signer_given=self.signer_given(),
                contexts=self.contexts(),
            ),
        )


class Verify(Command, switches.Output, switches.OutDir, switches.Cluster):
    """Ask the cluster who USER's credential is (kubectl auth whoami) and compare with the certificate."""

    USAGE_ARGS = "USER|KUBECONFIG"
    EXAMPLES = examples.VERIFY

    SEVERAL_CONTEXTS = True

    def main(self, user_or_kubeconfig):
        from ..commands.verify import VerifyRequest, verify

        return self.perform(
            verify,
            VerifyRequest(user_or_kubeconfig, self.out_dir, self.kubectl(), self.contexts()),
        )


class Revoke(Command, switches.Output, switches.OutDir, switches.Cluster, switches.DryRun):
    """Delete USER's bindings, archive their files, record it; the certificate stays valid until it expires."""

    USAGE_ARGS = "USER"
    EXAMPLES = examples.REVOKE
    SEVERAL_CONTEXTS = True

    def main(self, user):
        from ..commands.revoke import RevokeRequest, revoke

        return self.perform(
            revoke,
            RevokeRequest(user, self.out_dir, self.kubectl(), self.dry_run, self.contexts()),
        )


class Approve(Command, switches.Output, switches.OutDir, switches.Cluster, switches.DryRun):
    """Approve pending self-renewals of credentials this tool issued; deny those that fail a check; leave the rest."""

    EXAMPLES = examples.APPROVE
    watch = cli.Flag(
        ["w", "watch"],
        help="keep approving as requests arrive (a watch), until SIGTERM or Ctrl-C ends it cleanly",
    )

    def main(self):
        from ..commands.approve import ApproveRequest, approve
        from ..output import approval_view  # noqa: F401 (registers how an Approvals is shown)

        request = ApproveRequest(self.out_dir, self.kubectl(), self.dry_run)
        if self.watch:
            return self._watch(request)
        return self.perform(approve, request)

    def _watch(self, request):
        """Each batch shown (and, with -o, printed) as it is decided; a signal ends it, exit 0."""
        from ..commands.approve import watch
        from ..errors import EXIT_OK, Interrupted
        from ..output import console, contract, ui

        if self.output:
            contract.check_output_format(self.output, self.OUTPUTS)
            console.require_stdout()
        console.set_quiet(self.quiet)
        console.say("Watching certificate signing requests (SIGTERM or Ctrl-C ends it)")
        batches = watch(request)
        try:
            for batch in batches:
                ui.render(batch, data_on_stdout=bool(self.output))
                if self.output:
                    console.emit(contract.to_object(batch), self.output)
        except Interrupted as exc:
            batches.close()
            console.say(f"Stopped watching ({exc.signal_name})")
        return EXIT_OK
