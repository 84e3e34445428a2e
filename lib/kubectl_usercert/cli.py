"""The command line: plumbum applications that map switches to one core call, then render.

Flags are named as kubectl names them. Every error reaches the user through `main`, once.
"""

import os
import sys

from plumbum import cli
from plumbum.cli.application import ShowCompletion, ShowHelp, ShowHelpAll, ShowVersion
from plumbum.cli.switches import SwitchError

from . import (__version__, demo, flags, keys, external_csr, inspection, inventory, issuing, rbac, renewal, revocation, ui,
               verification)
from .errors import InvalidInput, UsercertError
from .signers import SIGNER_KINDS, SignerOptions
from .times import parse_duration

OUTPUT_FORMATS = cli.Set("json", "yaml", case_sensitive=True)


class Command(cli.Application):
    """Base: flags read as kubectl reads them; plumbum's usage errors become our one-line error with a hint."""

    def _parse_args(self, argv):
        hint = f"see '{self.PROGNAME} --help'"
        argv = flags.normalize(argv, self._switches_by_name, tuple(self._subcommands), hint)
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


# plumbum's --completions writes a script for a program named "kubectl usercert", which no shell can
# call; kubectl completes plugins through kubectl_complete-usercert instead. kubectl's -v is log
# verbosity, so the version is --version only.
Command.unbind_switches("--completions", "-v")


class OutputSwitches(Command):
    output = cli.SwitchAttr(["o", "output"], OUTPUT_FORMATS, help="print the result on stdout as json or yaml")
    quiet = cli.Flag(["q", "quiet"], help="no human output on stderr (errors still show)")


class OutDirSwitch(Command):
    out_dir = cli.SwitchAttr("--out-dir", str, argname="DIR", default="clients", help="the folder of user folders")


class SignerSwitches(Command):
    signer = cli.SwitchAttr("--signer", cli.Set(*SIGNER_KINDS), default="auto",
                            help="local (CA key here), csr (the cluster's CSR API), or auto: local when a CA key "
                                 "is given or found, else csr")
    ca_cert = cli.SwitchAttr("--ca-cert", str, argname="FILE", help="CA certificate that signs (env USERCERT_CA_CERT)")
    ca_key = cli.SwitchAttr("--ca-key", str, argname="FILE", help="CA private key (env USERCERT_CA_KEY)")
    ca_key_passphrase_file = cli.SwitchAttr("--ca-key-passphrase-file", str, argname="FILE",
                                            help="file holding the CA key's passphrase")
    approve = cli.Flag("--approve", help="csr: approve the request yourself (kubectl certificate approve)")
    wait = cli.SwitchAttr("--wait", str, argname="DURATION", default="5m",
                          help="csr: how long to wait for approval and signing")
    keep_csr = cli.Flag("--keep-csr", help="csr: keep the CertificateSigningRequest object afterwards")
    expiration = cli.SwitchAttr("--expiration", str, argname="DURATION",
                                help="csr: validity as a duration (e.g. 8h; at least 10m), "
                                     "instead of --days")

    def signer_options(self):
        expiration = parse_duration(self.expiration, "--expiration") if self.expiration else None
        return SignerOptions(
            kind=self.signer, ca_cert=self.ca_cert, ca_key=self.ca_key,
            ca_key_passphrase_file=self.ca_key_passphrase_file, kubeconfig=getattr(self, "kubeconfig", None),
            context=getattr(self, "context", None), cluster=getattr(self, "cluster", None), approve=self.approve,
            wait_seconds=parse_duration(self.wait, "--wait").total_seconds(), keep_csr=self.keep_csr,
            expiration_seconds=int(expiration.total_seconds()) if expiration else None)


class ValiditySwitches(Command):
    days = cli.SwitchAttr("--days", cli.Range(1, 100 * 365), argname="N", default=365, help="validity in days")
    key_type = cli.SwitchAttr("--key-type", cli.Set("rsa", "ecdsa", "ed25519"), help="key algorithm (default rsa)")
    key_size = cli.SwitchAttr("--key-size", int, argname="BITS",
                              help=keys.SIZES_HELP)
    allow_system_masters = cli.Flag("--allow-system-masters",
                                    help="allow group system:masters (bypasses RBAC; cannot be revoked)")


class TimeoutSwitch(Command):
    timeout = cli.SwitchAttr("--timeout", str, argname="DURATION", default="30s",
                             help="how long to wait for the cluster (e.g. 30s)")

    def timeout_seconds(self):
        return parse_duration(self.timeout if self.timeout[-1:].isalpha() else self.timeout + "s",
                              "--timeout").total_seconds()


class ClusterSwitches(Command):
    kubeconfig = cli.SwitchAttr("--kubeconfig", str, argname="FILE",
                                help="the admin kubeconfig to read (default: KUBECONFIG, "
                                     "then ~/.kube/config)")
    context = cli.SwitchAttr("--context", str, argname="NAME",
                             help="the kubeconfig context to use (default: current-context)")
    cluster = cli.SwitchAttr("--cluster", str, argname="NAME",
                             help="the kubeconfig cluster to use, overriding the context's")


class UserKubeconfigSwitches(Command):
    """Switches of the commands that write a user's folder and kubeconfig (create, sign)."""

    namespace = cli.SwitchAttr(["n", "namespace"], str, argname="NAMESPACE",
                               help="default namespace of the new context")
    server = cli.SwitchAttr("--server", str, argname="URL",
                            help="API server URL for the kubeconfig (overrides the kubeconfig's)")
    force = cli.Flag("--force", help="replace an existing OUT_DIR/USER folder")


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
class Create(OutputSwitches, ClusterSwitches, OutDirSwitch, UserKubeconfigSwitches, SignerSwitches, ValiditySwitches,
             TimeoutSwitch):
    """Create a key, a certificate for USER in GROUPs, and a kubeconfig in OUT_DIR/USER/"""

    PROGNAME = "kubectl usercert create"
    groups = cli.SwitchAttr(["g", "group"], str, argname="GROUP", list=True, help="a group (certificate O)")
    verify = cli.Flag("--verify", help="then ask the cluster who it thinks the new user is (kubectl auth whoami)")
    clusterroles = cli.SwitchAttr("--clusterrole", str, argname="NAME", list=True,
                                  help="bind this ClusterRole (cluster-wide, or in -n NAMESPACE)")
    roles = cli.SwitchAttr("--role", str, argname="NAME", list=True, help="bind this Role in -n NAMESPACE")
    preset = cli.SwitchAttr("--preset", cli.Set(*rbac.PRESETS),
                            help="read-only (pods and namespaces, created if missing), or the built-in view, edit, "
                                 "admin")
    bind_group = cli.Flag("--bind-group", help="bind the certificate's groups instead of the user")
    print_rbac = cli.Flag("--print-rbac", help="print the RBAC manifests on stdout instead of applying them")

    def main(self, user, *groups):
        ui.set_quiet(self.quiet)
        if self.print_rbac and self.output:
            raise InvalidInput("--print-rbac and -o both write to stdout", hint="use one of them")
        access = rbac.plan_bindings(self.clusterroles, self.roles, self.namespace, self.preset, self.bind_group)
        request = issuing.CreateRequest(
            user=user, groups=tuple(groups) + tuple(self.groups), out_dir=self.out_dir, days=self.days,
            key_type=self.key_type or "rsa", key_size=self.key_size, namespace=self.namespace, force=self.force,
            allow_system_masters=self.allow_system_masters, signing=self.signer_options(),
            kubeconfig=self.kubeconfig, context=self.context, cluster=self.cluster, server=self.server,
            access=access, print_rbac=self.print_rbac)
        with ui.steps() as progress:
            credential = issuing.create(request, progress)
        ui.created(credential)
        if self.print_rbac and credential.rbac_manifests:
            ui.emit_text(rbac.to_yaml(credential.rbac_manifests))
        record, code = credential.as_record(), 0
        if self.verify:
            result = _verify_with_progress(credential.kubeconfig_path, self.out_dir, self.timeout_seconds())
            ui.verification(result)
            record["verification"] = result.as_record()
            code = 0 if result.ok else 1
        if self.output:
            ui.emit(record, self.output)
        return code


def _verify_with_progress(target, out_dir, timeout):
    with ui.steps() as progress:
        progress("Asking the cluster who this credential is")
        return verification.verify(target, out_dir, timeout)


@Main.subcommand("sign")
class Sign(OutputSwitches, ClusterSwitches, OutDirSwitch, UserKubeconfigSwitches, SignerSwitches):
    """Sign a CSR a user made with their own key; write a kubeconfig without the key, for its owner"""

    PROGNAME = "kubectl usercert sign"
    csr = cli.SwitchAttr("--csr", str, argname="FILE", mandatory=True, help="the request file (PEM or DER)")
    user = cli.SwitchAttr("--user", str, argname="USER", mandatory=True, help="the user the request must name (its CN)")
    groups = cli.SwitchAttr(["g", "group"], str, argname="GROUP", list=True, help="a group the request must hold (O)")
    days = cli.SwitchAttr("--days", cli.Range(1, 100 * 365), argname="N", default=365, help="validity in days")
    allow_system_masters = cli.Flag("--allow-system-masters", help="allow group system:masters")

    def main(self):
        ui.set_quiet(self.quiet)
        request = external_csr.SignRequest(
            user=self.user, groups=tuple(self.groups), csr_path=self.csr, out_dir=self.out_dir, days=self.days,
            namespace=self.namespace, force=self.force, allow_system_masters=self.allow_system_masters,
            signing=self.signer_options(), kubeconfig=self.kubeconfig, context=self.context, cluster=self.cluster,
            server=self.server)
        with ui.steps() as progress:
            credential = external_csr.sign_external(request, progress)
        instructions = external_csr.owner_instructions(credential)
        ui.signed(credential, instructions)
        if self.output:
            ui.emit({**credential.as_record(), "ownerInstructions": instructions}, self.output)
        return 0


@Main.subcommand("inspect")
class Inspect(OutputSwitches, OutDirSwitch, ClusterSwitches):
    """Show what a credential says: a user in OUT_DIR, a kubeconfig, or a PEM certificate"""

    PROGNAME = "kubectl usercert inspect"
    ca_cert = cli.SwitchAttr("--ca-cert", str, argname="FILE",
                             help="check the chain against this CA (default: the CA found)")

    def main(self, target):
        ui.set_quiet(self.quiet)
        report = inspection.inspect(target, self.out_dir, self.ca_cert)
        report.bindings, report.bindings_note = _bindings_for(report.user, report.groups, self)
        ui.inspection(report)
        if self.output:
            ui.emit(report.as_record(), self.output)
        return 0


@Main.subcommand("list")
class List(OutputSwitches, OutDirSwitch, ClusterSwitches):
    """List issued certificates (user folders and the ledger), soonest expiry first"""

    PROGNAME = "kubectl usercert list"
    expiring = cli.SwitchAttr("--expiring", str, argname="DURATION",
                              help="only those expiring within this window (e.g. 30d)")

    def main(self):
        ui.set_quiet(self.quiet)
        report = inventory.take_inventory(self.out_dir)
        if self.expiring:
            report = inventory.expiring_within(report, parse_duration(self.expiring, "--expiring"))
        bindings, note = rbac.bindings_if_reachable(self.kubeconfig, self.context, self.cluster)
        inventory.attach_bindings(report, bindings, note)
        ui.inventory(report, as_table=not self.output)
        if self.output:
            ui.emit({"items": [row.as_record() for row in report.rows], "problems": report.problems}, self.output)
        return 0


@Main.subcommand("whois")
class Whois(OutputSwitches, OutDirSwitch):
    """Which user an audit-log credential id (X509SHA256=...), fingerprint or serial belongs to"""

    PROGNAME = "kubectl usercert whois"

    def main(self, fingerprint_or_serial):
        ui.set_quiet(self.quiet)
        matches, damaged = inventory.whois(fingerprint_or_serial, self.out_dir)
        ui.whois(matches, damaged)
        if self.output:
            ui.emit({"items": [match.as_record() for match in matches]}, self.output)
        return 0


@Main.subcommand("renew")
class Renew(OutputSwitches, OutDirSwitch, ClusterSwitches, SignerSwitches, ValiditySwitches):
    """Issue a new certificate for USER (same key unless --rekey) and update the kubeconfig in place"""

    PROGNAME = "kubectl usercert renew"
    groups = cli.SwitchAttr(["g", "group"], str, argname="GROUP", list=True,
                            help="change the groups (default: keep them)")
    rekey = cli.Flag("--rekey", help="make a new key too")

    def main(self, user):
        ui.set_quiet(self.quiet)
        request = renewal.RenewRequest(
            user=user, out_dir=self.out_dir, groups=tuple(self.groups) if self.groups else None, days=self.days,
            rekey=self.rekey, key_type=self.key_type, key_size=self.key_size,
            allow_system_masters=self.allow_system_masters, signing=self.signer_options())
        with ui.steps() as progress:
            credential, previous = renewal.renew(request, progress)
        ui.renewed(credential, previous)
        if self.output:
            ui.emit({**credential.as_record(), "previousCertificate": previous}, self.output)
        return 0


@Main.subcommand("verify")
class Verify(OutputSwitches, OutDirSwitch, TimeoutSwitch):
    """Ask the cluster who USER's credential is (kubectl auth whoami) and compare with the certificate"""

    PROGNAME = "kubectl usercert verify"

    def main(self, user_or_kubeconfig):
        ui.set_quiet(self.quiet)
        result = _verify_with_progress(user_or_kubeconfig, self.out_dir, self.timeout_seconds())
        ui.verification(result)
        if self.output:
            ui.emit(result.as_record(), self.output)
        return 0 if result.ok else 1


@Main.subcommand("revoke")
class Revoke(OutputSwitches, OutDirSwitch, ClusterSwitches):
    """Delete USER's bindings, archive their files, record it; the certificate stays valid until it expires"""

    PROGNAME = "kubectl usercert revoke"
    dry_run = cli.Flag("--dry-run", help="only list what would be removed")

    def main(self, user):
        ui.set_quiet(self.quiet)
        request = revocation.RevokeRequest(user, self.out_dir, self.kubeconfig, self.context, self.cluster,
                                           self.dry_run)
        with ui.steps() as progress:
            result = revocation.revoke(request, progress)
        ui.revoked(result)
        if self.output:
            ui.emit(result.as_record(), self.output)
        return 0


@Main.subcommand("demo")
class Demo(OutputSwitches):
    """A first run with no cluster: a throwaway CA, a user issued as 'create' does, and what to try next"""

    PROGNAME = "kubectl usercert demo"
    directory = cli.SwitchAttr("--dir", str, argname="DIR",
                               help="where to put the demo's files (default: a new temporary folder)")

    def main(self):
        ui.set_quiet(self.quiet)
        with ui.steps() as progress:
            result = demo.run_demo(self.directory, progress)
        ui.demo(result)
        if self.output:
            ui.emit(result.as_record(), self.output)
        return 0


def _bindings_for(user, groups, switches):
    """The bindings this tool made for a user (and their groups), or a note saying why there are none."""
    bindings, note = rbac.bindings_if_reachable(switches.kubeconfig, switches.context, switches.cluster)
    return (None, note) if bindings is None else (rbac.bindings_of(bindings, user, groups), None)


def main(argv=None):
    """Entry point: run the CLI, funnel every error to one place, exit with its code."""
    argv = list(sys.argv if argv is None else argv)
    argv[0] = os.path.basename(argv[0])
    if argv[1:2] == ["__complete"]:  # for a kubectl_complete-usercert wrapper (krew links only one binary)
        from .completion import main as complete
        sys.exit(complete(argv[2:]))
    try:
        _, code = Main.run(argv, exit=False)
    except UsercertError as exc:
        ui.error(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        ui.interrupted()
        code = 130
    sys.exit(code)
