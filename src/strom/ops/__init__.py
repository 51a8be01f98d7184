"""Operations: Prometheus metrics, health and readiness, the HTTP endpoint, structured logs.

Example:
    >>> from strom.ops import Health, Metrics, OpsServer
    >>> metrics, health = Metrics("orders"), Health()
    >>> server = OpsServer(metrics, health, port=0).start()
    >>> server.host
    '127.0.0.1'
    >>> server.close()
"""

from strom.ops.health import Health, State, Status
from strom.ops.metrics import Metrics, StepMetrics
from strom.ops.server import OpsServer

__all__ = ["Health", "Metrics", "OpsServer", "State", "Status", "StepMetrics"]
