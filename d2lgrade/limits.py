"""Resource limits for the student's process, set by the process on itself before any student code runs.

Memory is not limited here: an address-space limit (RLIMIT_AS) breaks CUDA,
which maps far more address space than it uses. The per-call and per-cell
time limits of the grading side stay the main defence against hangs; the
CPU limit below is a backstop for a process that escapes them.
"""

from __future__ import annotations

import signal

__all__ = ["CALL_TIMEOUT", "LIMITS", "apply_limits"]

#: Seconds a single call into student code may take unless the grader says otherwise (the grading side
#: enforces it; it is here so that modules which only pass it on need not import the grading side).
CALL_TIMEOUT = 30.0

#: (resource, soft and hard limit) applied to every student process.
LIMITS = {
    "RLIMIT_FSIZE": 64 * 1024 * 1024,  # no single file over 64 MiB
    "RLIMIT_CPU": 30 * 60,  # 30 minutes of CPU time in all
    "RLIMIT_CORE": 0,  # no core dumps
    # Bounds the descriptors the memory watch reads, and the memfds a process can hide from it in
    # messages of its own UNIX sockets (the kernel allows this many in flight per user).
    "RLIMIT_NOFILE": 1024,
}


def apply_limits() -> None:
    """Lower this process's limits (never raise them); a file too large becomes an OSError."""
    import resource  # here: the in-kernel checks import this module for CALL_TIMEOUT, on Windows too

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing
    for name, value in LIMITS.items():
        kind = getattr(resource, name)
        soft, hard = resource.getrlimit(kind)
        limit = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (limit, limit))
