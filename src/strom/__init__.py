"""strom: production event streaming for Python.

Stream processing over Apache Kafka or an embedded durable log, with one API.
"""

from strom.errors import StromError

__version__ = "0.1.0"

__all__ = ["StromError", "__version__"]
