"""Window-operator micro-benchmarks (``python -m bench.windows``): see ``__main__``."""
