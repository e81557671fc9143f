"""A sandboxed Jupyter kernel for grading untrusted notebooks, made with bubblewrap.

The autograder selects the kernelspec ``dl4phys-sandbox`` (``dl4phys/kernelspecs/``), whose command
is ``python -m dl4phys.sandbox -f {connection_file}``. This launcher starts the ordinary IPython
kernel inside ``bwrap``, where the student's code

* sees a read-only system (``/usr``, ``/etc``, the Python installation and the venv), the course
  package, and any extra read-only files the grader names (the hidden split's inputs, never labels);
* sees and can write only its own folder (the kernel's working directory: the student's
  ``autograded/<student>/<assignment>/``) and a private ``/tmp``;
* has no network (a fresh network namespace; the grader talks to the kernel over IPC sockets in a
  private folder made for this one kernel by :class:`SandboxKernelManager`);
* has no capabilities, its own PID namespace (no ``/proc/<grader>/root`` to walk through), and is
  killed when it uses more memory than ``DL4PHYS_SANDBOX_MEMORY_MB`` or runs longer than
  ``DL4PHYS_SANDBOX_WALLTIME_S`` seconds. The reason is left in ``sandbox-exit.txt`` beside the
  connection file, where :class:`dl4phys.preprocessors.SandboxedExecute` reads it.

NVIDIA device nodes are passed through, so the GPU stays usable.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import default

PACKAGE_DIR = Path(__file__).resolve().parent
KERNELSPEC_ROOT = PACKAGE_DIR / "kernelspecs"  # JUPYTER_PATH entry holding kernels/dl4phys-sandbox
KERNEL_NAME = "dl4phys-sandbox"
EXIT_REASON_FILE = "sandbox-exit.txt"

MEMORY_ENV = "DL4PHYS_SANDBOX_MEMORY_MB"
WALLTIME_ENV = "DL4PHYS_SANDBOX_WALLTIME_S"
READONLY_ENV = "DL4PHYS_SANDBOX_READONLY"
DEFAULT_MEMORY_MB = 6144
DEFAULT_WALLTIME_S = 1800

SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"]
# Passed into the sandbox; everything else in the grader's environment (tokens, JPY_PARENT_PID) is not.
ENV_KEEP = ["PATH", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
            "NVIDIA_DRIVER_CAPABILITIES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "DL4PHYS_HIDDEN_DATA", "DL4PHYS_CACHE",
            "NBGRADER_EXECUTION", "PYTORCH_CUDA_ALLOC_CONF"]


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def require_bwrap() -> str:
    path = bwrap_path()
    if path is None:
        raise RuntimeError("bubblewrap is not installed: `apt-get install bubblewrap` (or grade with --unsafe)")
    return path


def _bind_existing(args: list[str], path: str | os.PathLike, *, writable: bool = False) -> None:
    path = os.path.abspath(path)
    if not os.path.exists(path):
        return
    if os.path.islink(path) and os.path.dirname(path) == "/":  # merged-/usr systems: /lib -> usr/lib
        args += ["--symlink", os.readlink(path), path]
        return
    args += ["--bind" if writable else "--ro-bind", path, path]


def bwrap_command(workdir: str, connection_dir: str, readonly: list[str]) -> list[str]:
    """The bwrap arguments for a kernel working in ``workdir`` and talking over ``connection_dir``."""
    args = [require_bwrap(), "--die-with-parent", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-pid", "--unshare-cgroup-try", "--cap-drop", "ALL", "--clearenv"]
    for directory in SYSTEM_DIRS:
        _bind_existing(args, directory)
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for device in sorted(Path("/dev").glob("nvidia*")):  # the GPU, when there is one
        args += ["--dev-bind", str(device), str(device)]
    if os.path.isdir("/sys"):
        args += ["--ro-bind", "/sys", "/sys"]
    # The interpreter (a venv's python links into its base installation), the venv, the course package.
    for path in {sys.base_prefix, sys.prefix, str(PACKAGE_DIR)}:
        _bind_existing(args, path)
    for path in readonly:
        _bind_existing(args, path)
    _bind_existing(args, workdir, writable=True)
    _bind_existing(args, connection_dir, writable=True)
    env = {k: os.environ[k] for k in ENV_KEEP if k in os.environ}
    env.update(HOME="/tmp", TMPDIR="/tmp", PYTHONNOUSERSITE="1", MPLBACKEND="Agg", MPLCONFIGDIR="/tmp/matplotlib")
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    # The sandbox's own root is a tmpfs that would take files written to, say, ``..``: make it read-only.
    args += ["--remount-ro", "/", "--chdir", workdir]
    return args


def _tree_rss(process) -> int:
    import psutil

    total = 0
    try:
        procs = [process] + process.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _kill_tree(process) -> None:
    import psutil

    try:
        procs = process.children(recursive=True) + [process]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def main(argv: list[str] | None = None) -> int:
    """Launch ipykernel in the sandbox and watch its memory and time until it exits."""
    import psutil

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "-f":
        print("usage: python -m dl4phys.sandbox -f CONNECTION_FILE [kernel arguments]", file=sys.stderr)
        return 2
    connection_file = os.path.abspath(argv[1])
    connection_dir = os.path.dirname(connection_file)
    memory_limit = int(os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_MB)) * 2**20
    walltime = float(os.environ.get(WALLTIME_ENV, DEFAULT_WALLTIME_S))
    readonly = [p for p in os.environ.get(READONLY_ENV, "").split(os.pathsep) if p]

    command = bwrap_command(os.getcwd(), connection_dir, readonly)
    # parent_handle=1: no parent poller (the PID namespace hides the grader) and no connection banner.
    command += [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file,
                "--IPKernelApp.parent_handle=1", *argv[2:]]

    # The kernel manager interrupts a cell by signalling our process group, which the kernel shares;
    # the launcher itself must survive that, and go down (taking the sandbox with it) on SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernel = subprocess.Popen(command)
    watched = psutil.Process(kernel.pid)

    def stop(signum, frame):
        _kill_tree(watched)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    reason = ""
    while kernel.poll() is None:
        if _tree_rss(watched) > memory_limit:
            reason = f"memory limit of {memory_limit // 2**20} MB exceeded"
        elif time.monotonic() - started > walltime:
            reason = f"time limit of {walltime:g} s for the whole notebook exceeded"
        if reason:
            _kill_tree(watched)
            kernel.wait()
            break
        time.sleep(0.05)
    if reason:
        Path(connection_dir, EXIT_REASON_FILE).write_text(reason + "\n")
        return 137
    return kernel.returncode


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that talks to its kernel over IPC sockets in a folder of its own.

    TCP would not reach a kernel without network, and a shared runtime folder would let one
    student's kernel see another's connection file; each kernel gets a fresh private folder.
    """

    @default("transport")
    def _default_transport(self):
        return "ipc"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sandbox_dir = tempfile.mkdtemp(prefix="dl4phys-kernel-")
        os.chmod(self.sandbox_dir, 0o700)
        self.connection_file = os.path.join(self.sandbox_dir, "kernel.json")
        self.ip = os.path.join(self.sandbox_dir, "kernel-ipc")

    def exit_reason(self) -> str:
        """Why the sandbox killed the kernel (memory, time), or '' if it did not."""
        path = Path(self.sandbox_dir, EXIT_REASON_FILE)
        return path.read_text().strip() if path.exists() else ""

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self.sandbox_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
