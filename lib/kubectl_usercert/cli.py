"""The command line: one plumbum application per command, mapping flags to one request and one
`perform` call. Core modules are imported only by the command that runs, so --help, --version and
every other command start without them. Every error reaches the user through `main`, once.
"""

import os
import sys

from plumbum import cli

from . import __version__, signals, switches
from .app import Command
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, Interrupted, InvalidInput, UsercertError


class Main(Command):
    """Give people access to a Kubernetes cluster with X.509 client certificates."""

    PROGNAME = "kubectl usercert"
    VERSION = __version__
    DESCRIPTION = ("Issue X.509 client certificates signed by the cluster's CA, and self-contained kubeconfigs for "
                   "them; keep a ledger of what was issued.")
    EXAMPLES = """\
# A first run with no cluster: a throwaway CA, a user issued, what to try next
kubectl usercert demo

# Give alice access as a member of developers, with the pods-and-namespaces read-only role
kubectl usercert create alice developers --preset read-only"""

    def main(self, *args):
        if args:
            raise InvalidInput(f"unknown command {args[0]!r} for \"kubectl usercert\"",
                               hint=f"see '{self.PROGNAME} --help'")
        if not self.nested_command:
            self.help()
        return 0


@Main.subcommand("create")
class Create(Command, switches.Output, switches.OutDir, switches.UserKubeconfig, switches.Signer, switches.Key,
             switches.Validity, switches.Masters):
    """Create a key, a certificate for USER in GROUPs, and a kubeconfig in OUT_DIR/USER/."""

    USAGE_ARGS = "USER [GROUP...]"
    EXAMPLES = """\
# On a control-plane node (the CA is found by itself; its key is usually root's)
sudo -E kubectl usercert create alice developers

# With a copy of the CA, two groups, 30 days, and an ECDSA key
kubectl usercert create alice -g developers -g oncall --ca-cert ca.crt --ca-key ca.key --days 30 --key-type ecdsa

# On a managed cluster (EKS, GKE, AKS): the CertificateSigningRequest API signs
kubectl usercert create alice developers --signer csr --approve --expiration 8h

# Access in the same command, then ask the cluster who the new user is
kubectl usercert create alice developers --clusterrole view --verify

# For scripts: the record on stdout, nothing on stderr
kubectl usercert create alice developers -o jsonpath='{.status.kubeconfig}' -q"""
    groups = cli.SwitchAttr(["g", "group"], str, argname="GROUP", list=True, help="a group (certificate O)")
    verify = cli.Flag("--verify", group=switches.CLUSTER,
                      help="then ask the cluster who it thinks the new user is (kubectl auth whoami)")
    clusterroles = cli.SwitchAttr("--clusterrole", str, argname="NAME", list=True, group="RBAC options",
                                  help="bind this ClusterRole (cluster-wide, or in -n NAMESPACE)")
    roles = cli.SwitchAttr("--role", str, argname="NAME", list=True, group="RBAC options",
                           help="bind this Role in -n NAMESPACE")
    preset = cli.SwitchAttr("--preset", cli.Set(*switches.PRESETS), argname="NAME", group="RBAC options",
                            help="read-only (pods and namespaces, created if missing), or the built-in view, edit, "
                                 "admin")
    bind_group = cli.Flag("--bind-group", group="RBAC options", help="bind the certificate's groups instead of the user")
    print_rbac = cli.Flag("--print-rbac", group="RBAC options",
                          help="print the RBAC manifests on stdout instead of applying them")

    def main(self, user, *groups):
        from .openssl import PendingKey

        if self.print_rbac and self.output:
            raise InvalidInput("--print-rbac and -o both write to stdout", hint="use one of them")
        with PendingKey(self.key()) as pending:  # the slow step first: the rest is loaded and checked meanwhile
            from . import rbac
            from .commands.create import CreateRequest, create

            access = rbac.plan_bindings(self.clusterroles, self.roles, self.namespace, self.preset, self.bind_group)
            return self.perform(create, CreateRequest(
                user=user, groups=tuple(groups) + tuple(self.groups), out_dir=self.out_dir,
                validity=self.validity(), key=self.key(), namespace=self.namespace, force=self.force,
                allow_system_masters=self.allow_system_masters, signing=self.signer_options(), server=self.server,
                access=access, print_rbac=self.print_rbac, verify=self.verify, pending_key=pending))


@Main.subcommand("sign")
class Sign(Command, switches.Output, switches.OutDir, switches.UserKubeconfig, switches.Signer, switches.Validity,
           switches.Masters):
    """Sign a CSR a user made with their own key; write a kubeconfig without the key, for its owner."""

    EXAMPLES = """\
# The user made a key and a request on their own machine:
#   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout bob.key -subj '/O=dev/CN=bob' -out bob.csr
kubectl usercert sign --csr bob.csr --user bob -g dev"""
    csr = cli.SwitchAttr("--csr", str, argname="FILE", mandatory=True, help="the request file (PEM or DER)")
    user = cli.SwitchAttr("--user", str, argname="USER", mandatory=True, help="the user the request must name (its CN)")
    groups = cli.SwitchAttr(["g", "group"], str, argname="GROUP", list=True, help="a group the request must hold (O)")

    def main(self):
        from .commands.sign import SignRequest, sign

        return self.perform(sign, SignRequest(
            csr_path=self.csr, user=self.user, groups=tuple(self.groups), out_dir=self.out_dir,
            validity=self.validity(), namespace=self.namespace, force=self.force,
            allow_system_masters=self.allow_system_masters, signing=self.signer_options(), server=self.server))


@Main.subcommand("inspect")
class Inspect(Command, switches.Output, switches.OutDir, switches.Cluster):
    """Show what a credential says: a user in OUT_DIR, a kubeconfig, or a PEM certificate."""

    USAGE_ARGS = "USER|KUBECONFIG|CERT.pem"
    EXAMPLES = """\
kubectl usercert inspect alice
kubectl usercert inspect ./kubeconfig --ca-cert /etc/kubernetes/pki/ca.crt"""
    ca_cert = cli.SwitchAttr("--ca-cert", str, argname="FILE", help="check the chain against this CA (default: the CA found)")

    def main(self, target):
        from .commands.inspect import InspectRequest, inspect

        return self.perform(inspect, InspectRequest(target, self.out_dir, self.ca_cert, self.kubectl()))


@Main.subcommand("list")
class List(Command, switches.Output, switches.OutDir, switches.Cluster):
    """List issued certificates (user folders and the ledger), soonest expiry first."""

    EXAMPLES = """\
kubectl usercert list
# In cron or CI: fail when anything expires within two weeks
kubectl usercert list --expiring 14d --exit-code"""
    expiring = cli.SwitchAttr("--expiring", str, argname="DURATION", help="only those expiring within this window (e.g. 30d)")
    exit_code = cli.Flag("--exit-code", help="exit 1 when any certificate is listed (with --expiring: about to expire)")

    def main(self):
        from .commands.list import ListRequest, list_certificates
        from .times import parse_duration

        window = parse_duration(self.expiring, "--expiring") if self.expiring else None
        return self.perform(list_certificates, ListRequest(self.out_dir, window, self.expiring, self.exit_code,
                                                           self.kubectl()))


@Main.subcommand("whois")
class Whois(Command, switches.Output, switches.OutDir):
    """Which user an audit-log credential id (X509SHA256=...), fingerprint or serial belongs to."""

    USAGE_ARGS = "X509SHA256=...|FINGERPRINT|SERIAL"
    EXAMPLES = """\
# The credential id kube-apiserver writes into its audit log
kubectl usercert whois X509SHA256=3f2a...e9"""

    def main(self, fingerprint_or_serial):
        from .commands.whois import WhoisRequest, whois

        return self.perform(whois, WhoisRequest(fingerprint_or_serial, self.out_dir))


@Main.subcommand("renew")
class Renew(Command, switches.Output, switches.OutDir, switches.Signer, switches.Key, switches.Validity,
            switches.Masters):
    """Issue a new certificate for USER (same key unless --rekey) and update the kubeconfig in place."""

    USAGE_ARGS = "USER"
    EXAMPLES = """\
# Signed as before (the same CA, or the CSR API), for another 90 days
kubectl usercert renew alice --days 90
# New key, new groups
kubectl usercert renew alice --rekey -g developers -g sre"""
    groups = cli.SwitchAttr(["g", "group"], str, argname="GROUP", list=True, help="change the groups (default: keep them)")
    rekey = cli.Flag("--rekey", group=switches.KEY, help="make a new key too")

    def main(self, user):
        from .commands.renew import RenewRequest, renew

        return self.perform(renew, RenewRequest(
            user=user, out_dir=self.out_dir, groups=tuple(self.groups) if self.groups else None,
            validity=self.validity(), rekey=self.rekey, key_type=self.key_type, key_size=self.key_size,
            allow_system_masters=self.allow_system_masters, signing=self.signer_options(),
            signer_given=self.signer_given()))


@Main.subcommand("verify")
class Verify(Command, switches.Output, switches.OutDir, switches.Cluster):
    """Ask the cluster who USER's credential is (kubectl auth whoami) and compare with the certificate."""

    USAGE_ARGS = "USER|KUBECONFIG"
    EXAMPLES = "kubectl usercert verify alice --request-timeout 10s"

    def main(self, user_or_kubeconfig):
        from .commands.verify import VerifyRequest, verify

        return self.perform(verify, VerifyRequest(user_or_kubeconfig, self.out_dir, self.kubectl()))


@Main.subcommand("revoke")
class Revoke(Command, switches.Output, switches.OutDir, switches.Cluster):
    """Delete USER's bindings, archive their files, record it; the certificate stays valid until it expires."""

    USAGE_ARGS = "USER"
    EXAMPLES = """\
kubectl usercert revoke alice --dry-run
kubectl usercert revoke alice"""
    dry_run = cli.Flag("--dry-run", help="only show what would be removed")

    def main(self, user):
        from .commands.revoke import RevokeRequest, revoke

        return self.perform(revoke, RevokeRequest(user, self.out_dir, self.kubectl(), self.dry_run))


@Main.subcommand("demo")
class Demo(Command, switches.Output):
    """A first run with no cluster: a throwaway CA, a user issued as 'create' does, and what to try next."""

    EXAMPLES = "kubectl usercert demo --dir /tmp/usercert-demo"
    directory = cli.SwitchAttr("--dir", str, argname="DIR", help="where to put the demo's files (default: a new temporary folder)")

    def main(self):
        from .commands.demo import DemoRequest, demo

        return self.perform(demo, DemoRequest(self.directory))


def main(argv=None):
    """Entry point: run the CLI, funnel every error to one place, exit with its code."""
    argv = list(sys.argv if argv is None else argv)
    argv[0] = os.path.basename(argv[0])
    if argv[1:2] == ["__complete"]:  # for a kubectl_complete-usercert wrapper (krew links only one binary)
        from .completion import main as complete
        sys.exit(complete(argv[2:]))
    signals.forget()
    with signals.handled():
        code = _run(argv)
    sys.exit(code)


def _run(argv):
    try:
        _, code = Main.run(argv, exit=False)
        return code
    except UsercertError as exc:
        from . import console
        console.error(exc)
        return exc.exit_code
    except (Interrupted, KeyboardInterrupt) as exc:
        from . import console
        name = getattr(exc, "signal_name", "SIGINT")
        console.interrupted(name, signals.journal())
        return signals.exit_code(name) if name != "SIGINT" else EXIT_INTERRUPTED
    except BrokenPipeError:  # `... | head`: the reader has gone; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # a bug: one line and a way to see more, never a bare traceback
        if os.environ.get("USERCERT_DEBUG"):
            raise
        from . import console
        console.error(UsercertError(f"internal error: {type(exc).__name__}: {exc}",
                                    hint="please report this; USERCERT_DEBUG=1 shows where it happened"))
        return EXIT_FAILED
