"""``python -m gitrollback watch``: poll Image Factory for failed installer jobs and remediate (``docs/watch.md``).

Small modules, no I/O in constructors:

* ``leader``: leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's semantics;
* ``handled``: the failed jobs already handled (on the Lease, or in the state directory) and the rate limit;
* ``actions``: what each policy does (``notify``, ``propose``, ``rollback``);
* ``metrics`` and ``http``: ``/healthz`` and ``/metrics``;
* ``service``: the loop that ties them together (``WatchService``).
"""
