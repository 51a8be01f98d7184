"""Applications the crash harness runs: strom's, and the peers' (each in its own virtualenv)."""
