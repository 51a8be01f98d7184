"""Peak resident memory of this process, as the process itself sees it.

``ru_maxrss`` from ``wait4`` is not usable here: a child started by fork/vfork + exec keeps the
largest of its own peak and the parent's resident memory at the time of the exec (Linux
carries ``maxrss`` across exec), so every child would report at least the runner's size. The
kernel's ``VmHWM`` counts the new address space only.

Standard library only.
"""

from __future__ import annotations


def peak_rss_mib() -> float:
    """``VmHWM`` of this process in MiB (0.0 where /proc is not there)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0
