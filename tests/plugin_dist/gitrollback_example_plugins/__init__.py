"""Example gitrollback plugins: a GitLab host and a Flux sync engine over the standard library's HTTP client.

They exist to prove that a plugin selected by name in the config runs the gitops runbook end to end; they use
only the public parts of gitrollback (ports, models, errors), as a third-party package would.
"""
