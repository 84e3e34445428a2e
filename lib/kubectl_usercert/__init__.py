"""kubectl-usercert: X.509 client certificates and kubeconfigs for Kubernetes users."""

__version__ = "0.1.0"
# The API group of what -o prints and of the UserRoster file apply reads.
API_VERSION = "usercert.kubectl.io/v1alpha1"
# Values the command line, the roster and the core share (here, so that --help loads nothing more).
SIGNER_KINDS = ("auto", "local", "csr")
PRESETS = ("read-only", "view", "edit", "admin")  # rbac.py says what each grants
