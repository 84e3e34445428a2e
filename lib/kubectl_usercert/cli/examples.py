"""The examples each command's --help starts with: the commands people actually run, ready to paste."""

MAIN = """\
# A first run with no cluster: a throwaway CA, a user issued, what to try next
kubectl usercert demo

# Give alice access as a member of developers, with the pods-and-namespaces read-only role
kubectl usercert create alice developers --preset read-only"""

CREATE = """\
# On a control-plane node (the CA is found by itself; its key is usually root's)
sudo -E kubectl usercert create alice developers

# With a copy of the CA, two groups, 30 days, and an ECDSA key
kubectl usercert create alice -g developers -g oncall --ca-cert ca.crt --ca-key ca.key --days 30 --key-type ecdsa

# On a managed cluster (EKS, GKE, AKS): the CertificateSigningRequest API signs
kubectl usercert create alice developers --signer csr --approve --expiration 8h

# Access in the same command, then ask the cluster who the new user is
kubectl usercert create alice developers --clusterrole view --verify

# For scripts: the record on stdout, nothing on stderr
kubectl usercert create alice developers -o jsonpath='{.status.kubeconfig}' -q

# Many at once from a CSV of user,group,group... (a roster made in memory: see apply)
kubectl usercert create --from-file users.csv --preset view --days 30

# Every check (and the cluster asked, with dryRun=All), then the plan: nothing written, no key made
kubectl usercert create alice developers --clusterrole view --dry-run=server -o yaml"""

SIGN = """\
# The person ran `kubectl usercert request bob dev` on their machine and sent bob.csr
kubectl usercert sign --csr bob.csr --user bob -g dev
# With access in the same command, and a short life through the cluster's CSR API
kubectl usercert sign --csr bob.csr --user bob -g dev --clusterrole view --signer csr --approve --expiration 8h
# One request, signed by several clusters: one bundle, a context for each (bob imports them at once)
kubectl usercert sign --csr bob.csr --user bob -g dev --context prod --context staging --approve"""

REQUEST = """\
# On your own machine: a key kept in your store, and bob.csr for the admin (who runs the sign command printed)
kubectl usercert request bob dev
# With an ECDSA key, the request on stdout
kubectl usercert request bob -g dev --key-type ecdsa --request-file -
# Already some access (an expiring certificate, an OIDC login)? File it yourself and import the result
kubectl usercert request bob dev --submit --set-current"""

IMPORT = """\
# What the admin sent back (the kubeconfig `sign` wrote: a certificate, no key)
kubectl usercert import kubeconfig --set-current --verify
# Into another kubeconfig than kubectl's own
kubectl usercert import bob.kubeconfig --kubeconfig ~/.kube/work.yaml
# As a credential plugin: kubectl asks the store, which renews it in the background
kubectl usercert import kubeconfig --exec --renew-before 20m"""

CREDENTIAL = """\
# What kubectl runs for a user that `import --exec` wrote (you seldom run it yourself)
kubectl usercert credential --credential bob@prod"""

INSPECT = """\
kubectl usercert inspect alice
kubectl usercert inspect ./kubeconfig --ca-cert /etc/kubernetes/pki/ca.crt"""

LIST = """\
kubectl usercert list
# Just these users (exit 1 if one of them is not found)
kubectl usercert list alice bob
# The names of those about to expire (kubectl's jsonpath: filters, slices, ..)
kubectl usercert list -o jsonpath='{.items[?(@.status.state=="expiring")].metadata.name}'
# In cron or CI: fail when anything expires within two weeks
kubectl usercert list --expiring 14d --exit-code
# For node_exporter's textfile collector (written whole: a temporary file, renamed)
kubectl usercert list --textfile /var/lib/node_exporter/textfile/usercert.prom"""

WHOIS = """\
# The credential id kube-apiserver writes into its audit log
kubectl usercert whois X509SHA256=3f2a...e9"""

RENEW = """\
# Signed as before (the same CA, or the CSR API), for the lifetime it was issued with
kubectl usercert renew alice
# For another 90 days instead
kubectl usercert renew alice --days 90
# New key, new groups
kubectl usercert renew alice --rekey -g developers -g sre
# Your own credential, on your machine, as yourself (the admin approves the request)
kubectl usercert renew --self --context bob@prod
# ... and from now on through the credential plugin, renewing itself when a third is left
kubectl usercert renew --self --context bob@prod --exec"""

VERIFY = """\
kubectl usercert verify alice --request-timeout 10s"""

REVOKE = """\
# What would go (the cluster asked to delete with dryRun=All), then do it
kubectl usercert revoke alice --dry-run=server
kubectl usercert revoke alice"""

APPROVE = """\
# What would be approved, denied and left alone; then do it
kubectl usercert approve --dry-run
kubectl usercert approve
# Keep approving self-renewals as they arrive (ends cleanly on SIGTERM)
kubectl usercert approve --watch"""

DEMO = """\
kubectl usercert demo --dir /tmp/usercert-demo"""

APPLY = """\
# See what would change (every check made; a user that would fail fails here), then make it so
kubectl usercert apply -f team.yaml --dry-run
kubectl usercert apply -f team.yaml --ca-cert ca.crt --ca-key ca.key

# The cluster asked too, with dryRun=All: permission to bind, to submit requests
kubectl usercert apply -f team.yaml --dry-run=server

# Also revoke the users this out-dir holds that the roster no longer lists
kubectl usercert apply -f team.yaml --prune

# Several files (each user in one of them), or a roster from stdin
kubectl usercert apply -f team-a.yaml -f team-b.yaml
git show main:team.yaml | kubectl usercert apply -f - --dry-run"""
