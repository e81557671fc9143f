"""The first code that runs inside the sandbox: become the kernel's own user, then start the IPython kernel.

``python -m dl4phys.sandbox.entry [--uid U --gid G] [--nproc N] -- KERNEL ARGUMENTS``

When the grader runs as root, bubblewrap runs as root too, and so would the student's kernel: it
could read every root-only file bound into the sandbox. This entry point sets the process limit,
switches to the unprivileged ``U:G`` given by the launcher (which loses every capability for good),
forbids regaining privileges (no_new_privs), and only then runs ``ipykernel_launcher``.
"""

from __future__ import annotations

import ctypes
import os
import resource
import runpy
import sys

PR_SET_NO_NEW_PRIVS = 38


def main(argv: list[str]) -> None:
    uid = gid = nproc = None
    while argv and argv[0] != "--":
        flag, value, argv = argv[0], argv[1], argv[2:]
        if flag == "--uid":
            uid = int(value)
        elif flag == "--gid":
            gid = int(value)
        elif flag == "--nproc":
            nproc = int(value)
        else:
            raise SystemExit(f"dl4phys.sandbox.entry: unknown option {flag}")
    kernel_args = argv[1:]
    if nproc is not None:  # counted per user: with a user of its own, a fork bomb stops at the kernel's limit
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # all three ids non-zero: every capability is dropped
        if os.getuid() == 0 or os.geteuid() == 0:
            raise SystemExit("dl4phys.sandbox.entry: could not leave root")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    sys.argv = ["ipykernel_launcher", *kernel_args]
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
