"""A fleet person drawn for people (ui.render draws FleetIssued and a PerCluster of renewals
through here): the person once, then a line per cluster."""

import shlex

from ..pki.subject import group_list
from .console import dump_yaml, emit_text, quiet, say, show, text, warn
from .ui_parts import expiry, fields, groups_field, key_label


def issued(result, render):
    """create (or sign --csr) on several clusters: the person, a line per cluster, how to try one
    (sign: what the key's owner runs with the bundle)."""
    for message in result.warnings + tuple(
        f"{c.cluster}: {w}" for c in result.credentials for w in c.warnings
    ):
        warn(message)
    if result.printed_rbac and result.manifests:
        emit_text(dump_yaml(list(result.manifests), many=True))
    first = result.credentials[0]
    if not quiet():
        keys = dict.fromkeys(c.key for c in result.credentials)
        show(
            f"[bold green]{'Signed' if result.owner_instructions else 'Issued'}[/] client "
            f"certificates for [bold]{text(first.user)}[/] on {len(result.credentials)} clusters"
        )
        fields(
            [
                ("user", text(first.user)),
                ("groups", groups_field(first.groups)),
                ("key", key_label(first.key_type, first.key_bits) + _one_key(keys)),
                ("lifetime", first.lifetime or "?"),
                ("kubeconfig", text(first.kubeconfig)),
            ]
            + [
                (
                    f"  {text(c.cluster)}",
                    f"{text(c.server)} (context {text(c.admin_context)}), signer {c.signer}, "
                    f"serial {c.serial}, expires {expiry(c.not_after)}",
                )
                for c in result.credentials
            ]
        )
    if result.bindings and not result.printed_rbac:
        say(f"Bound on every cluster: {text(', '.join(b.name for b in result.bindings))}")
    for verification in result.verifications:
        render(verification)
    if result.owner_instructions and not quiet():
        lines = "\n".join(f"  [bold]{text(line)}[/]" for line in result.owner_instructions)
        show(
            "The kubeconfig holds no key. Send it to its owner, who takes in every context at once "
            f"and tries one:\n{lines}"
        )
    elif not quiet():
        show(
            f"Try it: [bold]kubectl --kubeconfig {text(shlex.quote(first.kubeconfig))} --context "
            f"{text(shlex.quote(result.credentials[-1].context))} auth whoami[/]"
        )


def _one_key(keys):
    if keys == {None: None}:
        return " (one key, held by its owner)"
    return f" (one key: {text(next(iter(keys)))})" if len(keys) == 1 else " (a key per cluster)"


def renewed(result):
    """A fleet person's renewals: a line per cluster, then how to try one."""
    credentials = [item.credential for _, _, item in result.items]
    for credential in credentials:
        for message in credential.warnings:
            warn(f"{credential.cluster}: {message}")
    if quiet():
        return
    show(f"[bold green]Renewed[/] {text(result.user)} on {len(credentials)} cluster(s)")
    fields(
        [
            (
                f"  {text(c.cluster)}",
                f"groups {text(group_list(c.groups, ', ')) or '(none)'}, {c.lifetime or '?'}, "
                f"signer {c.signer}, serial {c.serial}, expires {expiry(c.not_after)}"
                + (f" (was {item.previous_serial})" if item.previous_serial else " (new)"),
            )
            for c, (_, _, item) in zip(credentials, result.items)
        ]
    )
    show(
        f"Try it: [bold]kubectl --kubeconfig {text(shlex.quote(credentials[0].kubeconfig))} "
        f"--context {text(shlex.quote(credentials[0].context))} auth whoami[/]"
    )
