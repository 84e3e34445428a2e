"""kubectl-usercert: X.509 client certificates and kubeconfigs for Kubernetes users."""

__version__ = "0.1.0"
# The API group of what -o prints and of the UserRoster file apply reads.
API_VERSION = "usercert.kubectl.io/v1alpha1"
