"""Kernel managers for grading: the kernel never works in a folder the grader later reads or writes.

nbgrader's execute step starts a kernel in the student's ``autograded/`` folder, and afterwards
writes the graded notebook there and copies feedback from there. A student's kernel that could write
in that folder could plant links, FIFOs or files that the grader then follows. These managers:

* give the kernel its own scratch folders, made by the grader in a private folder outside the course
  (``/tmp/dl4phys-kernel-*``): a records folder and an IPC-socket folder (the only places it writes
  that outlive it; in the sandbox its home and working folder are in its own ``/tmp``);
* copy into the kernel's home only the regular files of the submission, never through a link;
* bring back, when the kernel has ended, only the record files a hidden test writes
  (``<grade_id>.npz``): regular files, opened without following links and without blocking, within
  size caps (:mod:`dl4phys.judging.records`); everything else the kernel left is noted and ignored;
* keep the launcher's report of why a kernel was killed in a folder the kernel cannot reach.

:class:`ScratchKernelManager` does this for ``--unsafe`` grading (no sandbox); :class:`SandboxKernelManager`
runs the kernel in bubblewrap (:mod:`.launcher`, :mod:`.bwrap`) with the limits below, all settings of
``nbgrader_config.py`` (``c.SandboxKernelManager.memory_mb = ...``).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict, Float, Integer, List, Unicode, default

from ..judging.probe import RECORDS_ENV
from ..judging.records import RecordError, read_file_safely
from . import KERNEL_NAME
from .launcher import EXIT_REASON

RECORD_FILE = re.compile(r"^[A-Za-z0-9_.\-]{1,120}\.npz$")
SUBMISSION_FILE = re.compile(r"^[A-Za-z0-9_.\- ()+,=]{1,120}$")
#: Passed from the grader's environment into the kernel (threads, GPUs); nothing else is.
PASSED_ENV = [
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
    "PYTORCH_CUDA_ALLOC_CONF",
    "NBGRADER_EXECUTION",
]


class CappedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets drop any single message larger than ``max_message_bytes``.

    Outputs are capped again, per output and per cell, as they arrive (:class:`dl4phys.preprocessors.
    SandboxedExecute`); this cap keeps one huge message from reaching the grader's memory at all.
    """

    max_message_bytes = Integer(64 * 2**20, help="Largest message the grader accepts from a kernel (bytes)").tag(config=True)

    def _create_connected_socket(self, channel, identity=None):
        from jupyter_client.channels import zmq as _  # noqa: F401 (same zmq as the channels)

        url = self._make_url(channel)
        from jupyter_client.connect import channel_socket_types

        sock = self.context.socket(channel_socket_types[channel])
        sock.linger = 1000
        sock.setsockopt(zmq.MAXMSGSIZE, int(self.max_message_bytes))
        if identity:
            sock.identity = identity
        if getattr(self, "curve_publickey", None) is not None:
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = self.curve_publickey
            sock.curve_serverkey = self.curve_publickey
        sock.connect(url)
        return sock


def remove_tree(path: str | os.PathLike) -> None:
    """Remove a folder a kernel wrote into, whatever it left (deep trees, odd names, links: never followed)."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except Exception:
        subprocess.run(
            ["rm", "-rf", "--one-file-system", "--", str(path)], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


def submission_files(folder: str | None, max_files: int = 50, max_bytes: int = 64 * 2**20) -> list[str]:
    """The regular files of a submission folder that the kernel gets a copy of (no links, no odd names)."""
    if not folder or not os.path.isdir(folder):
        return []
    chosen, total = [], 0
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode) or not SUBMISSION_FILE.match(entry.name):
                continue
            total += info.st_size
            if len(chosen) >= max_files or total > max_bytes:
                break
            chosen.append(entry.path)
    return chosen


def matplotlib_font_cache() -> str | None:
    """The grader's matplotlib font list (built here once, if need be), or None without matplotlib.

    A sandboxed kernel starts with an empty MPLCONFIGDIR, so without a copy of this file matplotlib
    scans the system's fonts again in every kernel (0.4 s) before its first plot.
    """
    try:
        import matplotlib
        from matplotlib.font_manager import FontManager
    except Exception:  # matplotlib absent or broken: the kernels build their own list, as before
        return None
    path = os.path.join(matplotlib.get_cachedir(), f"fontlist-v{FontManager.__version__}.json")
    return path if os.path.isfile(path) and not os.path.islink(path) else None


class ScratchKernelManager(AsyncKernelManager):
    """A kernel (unsandboxed: only for trusted code) that works and writes its records in scratch folders."""

    max_record_bytes = Integer(32 * 2**20, help="Largest record file the grader reads back (bytes)").tag(config=True)
    max_records_total_bytes = Integer(64 * 2**20, help="Record files read back per notebook, in all (bytes)").tag(config=True)
    kernel_env = Dict(Unicode(), help="Environment variables set for the kernel (e.g. where the course's caches are)").tag(
        config=True
    )

    @default("client_class")
    def _default_client_class(self):
        return "dl4phys.sandbox.kernel.CappedKernelClient"

    @default("client_factory")
    def _default_client_factory(self):
        return CappedKernelClient

    @default("transport")
    def _default_transport(self):
        # TCP would not reach a sandboxed kernel without network; IPC sockets live in a private folder.
        return "ipc"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.base_dir = tempfile.mkdtemp(prefix="dl4phys-kernel-")
        os.chmod(self.base_dir, 0o711)  # traversable, not listable: bwrap may run as the kernel's user
        self.private_dir = os.path.join(self.base_dir, "grader")  # the grader's alone
        self.ipc_dir = os.path.join(self.base_dir, "ipc")
        self.records_dir = os.path.join(self.base_dir, "records")
        for folder in (self.private_dir, self.ipc_dir, self.records_dir):
            os.mkdir(folder, 0o700)
        self.connection_file = os.path.join(self.ipc_dir, "kernel.json")
        self.ip = os.path.join(self.ipc_dir, "kernel-ipc")
        self.records: dict[str, bytes] = {}
        self.ignored: list[str] = []
        self.submission_dir: str | None = None

    # -- the kernel's command -------------------------------------------------------------------
    def kernel_argv(self) -> list[str]:
        return [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]

    @property
    def kernel_spec(self):
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=self.kernel_argv(),
                display_name="Python 3 (dl4phys grading)",
                language="python",
                interrupt_mode="signal",
                env={},
                metadata={"debugger": False},
            )
        return self._kernel_spec

    async def _async_pre_start_kernel(self, **kw):
        self.submission_dir = kw.get("cwd")
        self._kernel_spec = None  # built for this submission
        kw["cwd"] = self.prepare_workdir()
        kw["env"] = self.launch_env(kw.get("env") or dict(os.environ))
        return await super()._async_pre_start_kernel(**kw)

    def prepare_workdir(self) -> str:
        """The unsandboxed kernel's working folder: a scratch copy of the submission's regular files."""
        work = os.path.join(self.base_dir, "work")
        os.mkdir(work, 0o700)
        for path in submission_files(self.submission_dir):
            try:
                data = read_file_safely(path, 64 * 2**20)
            except RecordError:
                continue
            Path(work, os.path.basename(path)).write_bytes(data)
        return work

    def launch_env(self, env: dict) -> dict:
        return {**env, **self.kernel_env, RECORDS_ENV: self.records_dir}

    # -- after the kernel -----------------------------------------------------------------------
    def exit_reason(self) -> str:
        """Why the sandbox killed the kernel (memory, time, disk), or '' if it did not."""
        try:
            return read_file_safely(os.path.join(self.private_dir, EXIT_REASON), 4096).decode(errors="replace").strip()
        except RecordError:
            return ""

    def harvest(self) -> None:
        """Read back the record files the kernel wrote (see the module docstring); note anything else."""
        if self.records or self.ignored:
            return
        total = 0
        try:
            folder = os.open(self.records_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return
        try:
            names = sorted(os.listdir(folder))
            for name in names[:1000]:
                if not RECORD_FILE.match(name):
                    self.ignored.append(f"an unexpected entry {name[:40]!r}")
                    continue
                try:
                    data = read_file_safely(name, min(self.max_record_bytes, self.max_records_total_bytes - total), dir_fd=folder)
                except RecordError as err:
                    self.ignored.append(f"{name}: {err}")
                    continue
                total += len(data)
                self.records[name] = data
            if len(names) > 1000:
                self.ignored.append(f"{len(names) - 1000} more entries")
        finally:
            os.close(folder)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self.harvest()
            remove_tree(self.base_dir)

    # AsyncKernelManager binds cleanup_resources to the base class's coroutine; nbclient calls it
    # directly for a kernel that died, so point it at ours.
    cleanup_resources = _async_cleanup_resources


class SandboxKernelManager(ScratchKernelManager):
    """A kernel in the bubblewrap sandbox (:mod:`dl4phys.sandbox.bwrap`), with the limits below."""

    memory_mb = Integer(
        6400,
        help="Memory of one notebook's kernel: its processes (pages forked workers share counted once) plus its /tmp "
        "and /dev/shm, MB",
    ).tag(config=True)
    tmp_mb = Integer(1024, help="Size of the kernel's private /tmp (its home is there); part of memory_mb, MB").tag(config=True)
    shm_mb = Integer(
        256,
        help="Size of the kernel's private /dev/shm (multiprocessing: a DataLoader's workers hand their batches over "
        "there); part of memory_mb, MB",
    ).tag(config=True)
    walltime_s = Float(1800, help="Time limit of one whole notebook, seconds (each cell also has Execute.timeout)").tag(
        config=True
    )
    max_processes = Integer(512, help="Processes and threads the kernel's user may have at once (a fork bomb stops here)").tag(
        config=True
    )
    writable_mb = Integer(256, help="Files the kernel may write outside /tmp (records, sockets), MB").tag(config=True)
    readonly_paths = List(
        Unicode(),
        help="Files and folders the kernel may read besides the system and the course package "
        "(the hidden split's inputs, the grader's caches; never labels)",
    ).tag(config=True)

    @default("kernel_name")
    def _default_kernel_name(self):
        return KERNEL_NAME

    def kernel_argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "dl4phys.sandbox.launcher",
            "--private",
            self.private_dir,
            "--ipc",
            self.ipc_dir,
            "--records",
            self.records_dir,
            "--memory-mb",
            str(self.memory_mb),
            "--tmp-mb",
            str(self.tmp_mb),
            "--shm-mb",
            str(self.shm_mb),
            "--walltime-s",
            str(self.walltime_s),
            "--max-processes",
            str(self.max_processes),
            "--writable-mb",
            str(self.writable_mb),
        ]
        for path in self.readonly_paths:
            argv += ["--readonly", str(path)]
        for path in submission_files(self.submission_dir):
            argv += ["--file", path]
        font_cache = matplotlib_font_cache()
        if font_cache:
            argv += ["--font-cache", font_cache]
        env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
        env.update(self.kernel_env)
        for key, value in sorted(env.items()):
            argv += ["--env", f"{key}={value}"]
        return argv + ["--", "-f", "{connection_file}"]

    def prepare_workdir(self) -> str:
        return self.private_dir  # the launcher's; inside the sandbox the kernel works in its own /tmp/home

    def launch_env(self, env: dict) -> dict:
        return dict(env)  # bwrap clears it: the kernel gets only what kernel_argv passes
