"""A team as code (`apply -f ROSTER`): the roster read and checked, the plan (what each user needs,
nothing changed), and the rollout (the plan carried out, several users at a time)."""
