"""One module per command: each takes a request and returns one result (see output/results.py).

A command module uses the operations (operations/: issue, renew, revoke) and the layers under them
(pki, cluster, store), never another command module.
"""
