"""State-store micro-benchmarks (``python -m bench.state``): see ``__main__``."""
