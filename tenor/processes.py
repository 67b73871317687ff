"""Child processes the parts start (the server's vLLM, the eval's server) die with their parent."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A ``Popen`` ``preexec_fn`` (it runs in the child between fork and exec): the child gets
    SIGTERM when its parent dies, even of SIGKILL, when no handler can stop it; and it gets its
    own process group, so a Ctrl-C on the terminal reaches the parent, which stops it."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the parent's own cleanup is all there is
        pass
