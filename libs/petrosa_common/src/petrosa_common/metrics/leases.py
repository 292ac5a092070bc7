"""Leader election (:mod:`petrosa_common.leases`), recorded by every elected service.

Labels: ``role`` is the lease's role (``auditor``, ``analytics``); ``event`` is ``elected``,
``lapsed``, ``lost`` or ``stepped_down``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

LEADER_STATUS = Gauge(
    "data_manager_audit_leader_status",
    "1 while this process holds the leader lease of the role, else 0",
    ["role"],
)
LEADER_TRANSITIONS = Counter(
    "data_manager_leader_transitions_total",
    "Leadership changes of this process, by role and event (elected, lapsed, lost, ...)",
    ["role", "event"],
)
