"""What commands and apply's rollout do to one user, each written once: issue, renew, revoke, and
adopt (recording what a killed run left unrecorded)."""
