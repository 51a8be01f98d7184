"""CDC benchmark: strom beside Debezium's embedded engine (``python -m bench.cdc``)."""
