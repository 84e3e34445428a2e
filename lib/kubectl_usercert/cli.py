"""The command line: plumbum applications that map switches to one core call, then render.

Flags are named as kubectl names them. Every error reaches the user through `main`, once.
"""

import os
import sys

from plumbum import cli
from plumbum.cli.application import ShowCompletion, ShowHelp, ShowHelpAll, ShowVersion
from plumbum.cli.switches import SwitchError

from . import __version__, issuing, ui
from .errors import InvalidInput, UsercertError

OUTPUT_FORMATS = cli.Set("json", "yaml", case_sensitive=True)


class Command(cli.Application):
    """Base: plumbum's usage errors become our one-line error with a hint."""

    def _parse_args(self, argv):
        return self._as_usage_error(super()._parse_args, argv)

    def _validate_args(self, swfuncs, tailargs):
        return self._as_usage_error(super()._validate_args, swfuncs, tailargs)

    def _as_usage_error(self, parse, *args):
        try:
            return parse(*args)
        except (ShowHelp, ShowHelpAll, ShowVersion, ShowCompletion):
            raise
        except SwitchError as exc:
            raise InvalidInput(str(exc).rstrip("."), hint=f"see '{self.PROGNAME} --help'") from None


class OutputSwitches(Command):
    output = cli.SwitchAttr(["o", "output"], OUTPUT_FORMATS, help="print the result on stdout as json or yaml")
    quiet = cli.Flag(["q", "quiet"], help="no human output on stderr (errors still show)")


class ClusterSwitches(Command):
    kubeconfig = cli.SwitchAttr("--kubeconfig", str, help="the admin kubeconfig to read (default: KUBECONFIG, "
                                                           "then ~/.kube/config)")
    context = cli.SwitchAttr("--context", str, help="the kubeconfig context to use (default: current-context)")
    cluster = cli.SwitchAttr("--cluster", str, help="the kubeconfig cluster to use, overriding the context's")


class Main(Command):
    """Give people access to a Kubernetes cluster with X.509 client certificates."""

    PROGNAME = "kubectl usercert"
    VERSION = __version__
    DESCRIPTION = ("Issue X.509 client certificates signed by the cluster's CA and write self-contained "
                   "kubeconfigs for them.")

    def main(self, *args):
        if args:
            raise InvalidInput(f"unknown command {args[0]!r}", hint=f"see '{self.PROGNAME} --help'")
        if not self.nested_command:
            self.help()
        return 0


@Main.subcommand("create")
class Create(OutputSwitches, ClusterSwitches):
    """Create a key, a certificate for USER in GROUPs, and a kubeconfig in OUT_DIR/USER/"""

    PROGNAME = "kubectl usercert create"
    groups = cli.SwitchAttr(["g", "group"], str, list=True, help="a group (certificate O); repeatable")
    out_dir = cli.SwitchAttr("--out-dir", str, default="clients", help="where the user's folder goes")
    days = cli.SwitchAttr("--days", cli.Range(1, 100 * 365), default=365, help="validity in days")
    key_type = cli.SwitchAttr("--key-type", cli.Set("rsa", "ecdsa", "ed25519"), default="rsa", help="key algorithm")
    key_size = cli.SwitchAttr("--key-size", int, help="RSA bits (2048, 3072, 4096) or ECDSA curve (256, 384, 521)")
    namespace = cli.SwitchAttr(["n", "namespace"], str, help="default namespace of the new context")
    ca_cert = cli.SwitchAttr("--ca-cert", str, help="CA certificate that signs (env USERCERT_CA_CERT)")
    ca_key = cli.SwitchAttr("--ca-key", str, help="CA private key (env USERCERT_CA_KEY)")
    ca_key_passphrase_file = cli.SwitchAttr("--ca-key-passphrase-file", str,
                                            help="file holding the CA key's passphrase")
    server = cli.SwitchAttr("--server", str, help="API server URL for the kubeconfig (overrides the kubeconfig's)")
    force = cli.Flag("--force", help="replace an existing OUT_DIR/USER folder")
    allow_system_masters = cli.Flag("--allow-system-masters",
                                    help="allow group system:masters (bypasses RBAC; cannot be revoked)")

    def main(self, user, *groups):
        ui.set_quiet(self.quiet)
        request = issuing.CreateRequest(
            user=user, groups=tuple(groups) + tuple(self.groups), out_dir=self.out_dir, days=self.days,
            key_type=self.key_type, key_size=self.key_size, namespace=self.namespace, force=self.force,
            allow_system_masters=self.allow_system_masters, ca_cert=self.ca_cert, ca_key=self.ca_key,
            ca_key_passphrase_file=self.ca_key_passphrase_file, kubeconfig=self.kubeconfig,
            context=self.context, cluster=self.cluster, server=self.server)
        with ui.steps() as progress:
            credential = issuing.create(request, progress)
        ui.created(credential)
        if self.output:
            ui.emit(credential.as_record(), self.output)
        return 0


def main(argv=None):
    """Entry point: run the CLI, funnel every error to one place, exit with its code."""
    argv = list(sys.argv if argv is None else argv)
    argv[0] = os.path.basename(argv[0])
    try:
        _, code = Main.run(argv, exit=False)
    except UsercertError as exc:
        ui.error(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        ui.interrupted()
        code = 130
    sys.exit(code)
