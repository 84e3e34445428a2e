"""kubectl-usercert: X.509 client certificates and kubeconfigs for Kubernetes users."""

__version__ = "0.1.0"
