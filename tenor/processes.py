"""Child processes the parts start (the server's vLLM, the eval's server) die with their parent."""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Callable

PR_SET_PDEATHSIG = 1
try:  # looked up here, in the parent: loading a library between fork and exec can deadlock
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the parent's own cleanup is all there is
    _prctl = None


def cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def die_with_parent() -> Callable[[], None]:
    """A ``Popen`` ``preexec_fn`` for a child of this process (it runs in the child between fork
    and exec): the child gets SIGTERM when the thread that started it ends, the process with it,
    even of SIGKILL, when no handler of ours can stop it; and it gets its own process group, so a
    Ctrl-C on the terminal reaches the parent, which stops it. Start the child from a thread that
    lives as long as it should (the main thread, or one kept for it)."""
    parent = os.getpid()

    def preexec() -> None:
        os.setsid()
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl: no signal will ever come
            os._exit(1)
    return preexec
