"""The exactly-once crash harness (issue 13): feeds a known input while an application runs,
SIGKILLs it at random moments, restarts it, pauses it past its session timeout, restarts the
broker, then compares the read_committed outputs with the reference. See docs/reliability.md
and ``python -m tests.crash --help``. Imported by the peers' apps too: no strom import here.
"""
