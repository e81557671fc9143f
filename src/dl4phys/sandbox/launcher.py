"""The sandboxed kernel's command: start bubblewrap and watch the kernel until it ends.

``python -m dl4phys.sandbox.launcher --private DIR [limits] -- -f CONNECTION_FILE [kernel arguments]``

The kernel manager (:mod:`.kernel`) starts this with the limits of its settings. The launcher

* decides the kernel's user: when the grader is root, a user id of the kernel's own
  (``KERNEL_UID_BASE`` + the launcher's process id, unique among running kernels, no account, no
  files anywhere) so that the per-user process limit and file permissions confine it; otherwise the
  grader's own user, in a user namespace;
* starts bwrap (:mod:`.bwrap`) with the entry point :mod:`.entry` inside;
* kills the kernel when its memory (every process's, shared pages counted once, plus the fixed sizes of
  its ``/tmp`` and ``/dev/shm``) passes the cap, when the notebook's time limit passes, or when the folders it may write
  (records, IPC) outgrow their cap; and writes why into ``DIR/exit-reason``, in a folder that only the
  grader can reach (the kernel cannot plant or read anything there).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

KERNEL_UID_BASE = 200_000
EXIT_REASON = "exit-reason"
POLL_S = 0.05
DISK_POLL_S = 1.0


def _tree_processes(process) -> list:
    import psutil

    try:
        return [process] + process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _pss(pid: int) -> int | None:
    """Proportional set size of one process, in bytes (its pages, shared ones divided among their users);
    0 for a process that has ended (its pages are freed or belong to the others now); None where it
    cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
        return 0  # no memory map left: a zombie
    except (FileNotFoundError, ProcessLookupError):
        return 0  # it ended after its resident size was read
    except (OSError, ValueError, IndexError):
        return None


def _proportional_total(sizes: list[tuple[int, int]]) -> int:
    """The proportional sizes of ``(pid, resident size)`` pairs, summed; a process whose proportional size
    cannot be read counts with its resident size. A DataLoader's workers that exit between the two reads
    count 0, not their resident size, or the kernel (whose share of the pages grows as they go) would be
    charged for them twice and killed on a busy machine."""
    return sum(pss if (pss := _pss(pid)) is not None else rss for pid, rss in sizes)


def _tree_memory(process, cap: int) -> int:
    """Memory of the kernel and its children. The sum of resident sizes, cheap, while it is under ``cap``;
    above it, the sum of proportional sizes, which counts a page that forked workers share once (a
    DataLoader's workers are copies of the kernel: their resident sizes would count it once per worker)."""
    import psutil

    sizes = []
    for proc in _tree_processes(process):
        try:
            sizes.append((proc.pid, proc.memory_info().rss))
        except psutil.NoSuchProcess:
            pass
    total = sum(rss for _, rss in sizes)
    if total <= cap:
        return total
    return _proportional_total(sizes)


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


def folder_bytes(folder: str, max_entries: int = 20_000) -> int:
    """Bytes allocated under ``folder`` (links not followed); a folder with more entries counts as over any cap."""
    total, seen, stack = 0, 0, [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_entries:
                        return 1 << 62
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += info.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total


def _die_with_parent() -> None:
    """SIGTERM when the grader that started us dies: its kernel must not outlive it."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the line above
        sys.exit(1)


def _process_limit(max_processes: int, root: bool) -> int:
    """The kernel's RLIMIT_NPROC. It counts every process and thread of the kernel's user: a user of the
    kernel's own when the grader is root; otherwise the grader's, whose own processes count too."""
    if root:
        return max_processes
    import psutil

    mine = 0
    for process in psutil.process_iter(["uids", "num_threads"]):
        try:
            if process.info["uids"] and process.info["uids"].real == os.getuid():
                mine += process.info["num_threads"] or 1
        except (psutil.Error, TypeError):
            continue
    return mine + max_processes


def _write_reason(private: Path, reason: str) -> None:
    fd = os.open(private / EXIT_REASON, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(reason + "\n")


def _private_file(private: Path, name: str, text: str) -> int:
    path = private / name
    path.write_text(text)
    return os.open(path, os.O_RDONLY)


def _opened(paths: list[str]) -> list[tuple[int, str]]:
    """(open descriptor, file name) of each path that opens without following a link (the grader checked
    that they are regular files too); bwrap copies them into the sandbox from the descriptors."""
    opened = []
    for path in paths:
        try:
            opened.append((os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), os.path.basename(path)))
        except OSError:
            continue
    return opened


def main(argv: list[str] | None = None) -> int:
    import psutil

    from . import bwrap_path
    from .bwrap import SandboxLayout, bwrap_arguments, package_dir, python_paths

    parser = argparse.ArgumentParser(prog="python -m dl4phys.sandbox.launcher")
    parser.add_argument("--private", required=True, help="the grader's own folder of this kernel (exit reason)")
    parser.add_argument("--ipc", required=True)
    parser.add_argument("--records", required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--tmp-mb", type=int, required=True)
    parser.add_argument("--shm-mb", type=int, default=256)
    parser.add_argument("--walltime-s", type=float, required=True)
    parser.add_argument("--max-processes", type=int, required=True)
    parser.add_argument("--writable-mb", type=int, required=True, help="cap of the records and IPC folders together")
    parser.add_argument("--readonly", action="append", default=[])
    parser.add_argument("--file", action="append", default=[], help="a file copied into the kernel's home")
    parser.add_argument("--font-cache", help="the grader's matplotlib font list, copied into the kernel's MPLCONFIGDIR")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE set inside the sandbox")
    parser.add_argument("kernel", nargs=argparse.REMAINDER)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    _die_with_parent()
    kernel_args = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    private = Path(args.private)
    bwrap = bwrap_path()
    if bwrap is None:
        print("dl4phys sandbox: bubblewrap is not installed", file=sys.stderr)
        return 2

    root = os.geteuid() == 0
    uid = gid = KERNEL_UID_BASE + os.getpid() if root else os.getuid()
    if not root:
        gid = os.getgid()
    if root:  # the kernel's own user writes its records and sockets, nowhere else, and reads its connection file
        for folder in (args.ipc, args.records):
            os.chown(folder, uid, gid)
        if "-f" in kernel_args:
            connection = kernel_args[kernel_args.index("-f") + 1]
            if os.path.dirname(os.path.abspath(connection)) == os.path.abspath(args.ipc):
                os.chown(connection, uid, gid, follow_symlinks=False)
    passwd = _private_file(
        private, "passwd", f"root:x:0:0:root:/root:/bin/false\nstudent:x:{uid}:{gid}:student:/tmp/home:/bin/sh\n"
    )
    group = _private_file(private, "group", f"root:x:0:\nstudent:x:{gid}:\n")
    files = _opened(args.file)
    config_files = _opened([args.font_cache] if args.font_cache else [])
    fds = [passwd, group] + [fd for fd, _ in files + config_files]
    env = dict(item.split("=", 1) for item in args.env)
    layout = SandboxLayout(
        ipc_dir=args.ipc,
        records_dir=args.records,
        passwd_fd=passwd,
        group_fd=group,
        tmp_bytes=args.tmp_mb * 2**20,
        shm_bytes=args.shm_mb * 2**20,
        readonly=args.readonly,
        files=files,
        config_files=config_files,
        env=env,
        privileged=root,
        python_paths=python_paths(),
        import_path=str(package_dir().parent),
    )
    entry = [sys.executable, "-m", "dl4phys.sandbox.entry", "--nproc", str(_process_limit(args.max_processes, root))]
    if root:
        entry += ["--uid", str(uid), "--gid", str(gid)]
    # parent_handle=1: no parent poller (the PID namespace hides the grader) and no connection banner.
    command = bwrap_arguments(bwrap, layout) + entry + ["--", *kernel_args, "--IPKernelApp.parent_handle=1"]

    # The kernel manager interrupts a cell by signalling our process group, which the kernel shares;
    # the launcher itself must survive that, and go down (taking the sandbox with it) on SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernel = subprocess.Popen(command, pass_fds=fds)
    for fd in fds:
        os.close(fd)
    watched = psutil.Process(kernel.pid)

    def stop(signum, frame):
        _kill_tree(watched)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    # /tmp and /dev/shm may hold tmp_mb and shm_mb of the memory budget (files there are memory too)
    memory_cap = (args.memory_mb - args.tmp_mb - args.shm_mb) * 2**20
    writable_cap = args.writable_mb * 2**20
    started = last_disk_check = time.monotonic()
    reason = ""
    while kernel.poll() is None:
        now = time.monotonic()
        if _tree_memory(watched, memory_cap) > memory_cap:
            reason = f"memory limit of {args.memory_mb} MB exceeded"
        elif now - started > args.walltime_s:
            reason = f"time limit of {args.walltime_s:g} s for the whole notebook exceeded"
        elif now - last_disk_check > DISK_POLL_S:
            last_disk_check = now
            if folder_bytes(args.records) + folder_bytes(args.ipc) > writable_cap:
                reason = f"wrote more than {args.writable_mb} MB of files outside /tmp"
        if reason:
            _kill_tree(watched)
            kernel.wait()
            break
        time.sleep(POLL_S)
    if reason:
        _write_reason(private, reason)
        return 137
    return kernel.returncode


if __name__ == "__main__":
    sys.exit(main())
