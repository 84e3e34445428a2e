"""The cluster: kubectl (the only code that runs it), kubeconfigs read as kubectl reads them, the
cluster a user's kubeconfig points at, RBAC, and asking the cluster who a credential is."""
