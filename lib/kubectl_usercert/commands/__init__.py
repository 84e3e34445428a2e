"""One module per command: each takes a request and returns one result (see results.py).

A command module uses the capabilities (issuance, signers, rbac, ledger, ...), never another
command module.
"""
