"""What this tool keeps on disk: the out-dir's layout, files written whole and private, whose a path
is, one run at a time per user, the ledger, what an out-dir holds, a credential found by name or
file, and the small facts cached between runs."""
