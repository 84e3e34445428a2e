"""The krew manifest of a release (plugins/usercert.yaml): one platform, linux and darwin on any
architecture (the zipapp is pure Python), pointing at the archive of the GitHub release."""

import re

PLUGIN = "usercert"
REPOSITORY = "https://github.com/kubectl-usercert/kubectl-usercert"
PLATFORM_OSES = ("darwin", "linux")
SHORT_DESCRIPTION = "Issue X.509 client certificates and kubeconfigs"  # krew search shows 50

TEMPLATE = """\
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: @PLUGIN@
spec:
  version: @TAG@
  homepage: @HOMEPAGE@
  shortDescription: @SHORT@
  description: |
    Gives a person access to a cluster with an X.509 client certificate:
    `kubectl usercert create alice developers` makes a key, a certificate with
    CN=alice and O=developers signed by the cluster's CA, and a self-contained
    kubeconfig in clients/alice/. Names are validated so that the certificate
    holds exactly the user and groups asked for; keys and kubeconfigs are
    private (0600); nothing is overwritten without --force.
  caveats: |
    The plugin is a Python zipapp. It needs on PATH:
      kubectl
      python3, version 3.9 or newer
      openssl: OpenSSL 1.1.1, 3.0.x (3.0.2 included) or 3.x, or LibreSSL
        3.3.6 or later (as macOS ships)

    Shell completion (kubectl 1.26+) needs a helper next to the plugin:
      printf '#!/bin/sh\\nexec kubectl-usercert __complete "$@"\\n' \\
        > ${KREW_ROOT:-~/.krew}/bin/kubectl_complete-usercert
      chmod +x ${KREW_ROOT:-~/.krew}/bin/kubectl_complete-usercert
  platforms:
  - selector:
      matchExpressions:
      - key: os
        operator: In
        values: [@OSES@]
    uri: @URI@
    sha256: @SHA256@
    bin: kubectl-usercert
    files:
    - from: kubectl-usercert
      to: .
    - from: kubectl_complete-usercert
      to: .
    - from: LICENSE
      to: .
"""


def release_uri(tag, archive_name):
    """Where the archive is downloaded from once uploaded to the GitHub release `tag`."""
    return f"{REPOSITORY}/releases/download/{tag}/{archive_name}"


def manifest(tag, uri, sha256):
    """The manifest's text for the archive at `uri` with that sha256."""
    return fill(
        TEMPLATE,
        PLUGIN=PLUGIN,
        TAG=tag,
        HOMEPAGE=REPOSITORY,
        SHORT=SHORT_DESCRIPTION,
        OSES=", ".join(PLATFORM_OSES),
        URI=uri,
        SHA256=sha256,
    )


def fill(template, **values):
    """`template` with each @NAME@ replaced (str.format would trip over the shell's braces)."""
    for name, value in values.items():
        template = template.replace("@%s@" % name, value)
    left = re.search(r"@[A-Z_]+@", template)
    if left:
        raise ValueError(f"{left.group()} left unfilled")
    return template
