"""The bubblewrap arguments of a student's kernel: what it sees, what it can write.

Inside, the kernel sees

* read-only: the system's ``/usr`` (with the ``/bin``, ``/lib`` links of merged-/usr systems), a few
  files of ``/etc`` that programs need to start (the dynamic linker's cache, the time zone), a made-up
  ``/etc/passwd`` naming only itself, ``/sys``, the Python installation, the course's virtual
  environment and package, and the extra paths the grader names (the hidden split's inputs, caches);
* writable: a private ``/tmp`` (a tmpfs of a fixed size, which counts against the memory cap), where
  its home and working folder ``/tmp/home`` are, a private ``/dev/shm`` of a fixed size that also
  counts against the memory cap (the semaphores and shared tensors of multiprocessing: a DataLoader's
  workers hand their batches over there), the folder its records go to, and the folder of its IPC
  sockets;
* the GPU's device nodes, and nothing of the network (a namespace with only a loopback device).

Nothing else of the host is there: no ``/root``, no ``/home``, no course folder, no other student.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: The kernel's home and working folder inside the sandbox (on the /tmp tmpfs).
HOME = "/tmp/home"
#: matplotlib's configuration and cache folder inside the sandbox.
MPLCONFIGDIR = f"{HOME}/.matplotlib"
#: Where the records folder appears inside the sandbox.
RECORDS_MOUNT = "/run/dl4phys/records"
#: What the dynamic linker and Python need of /etc; the rest of /etc (keys, credentials) stays out.
ETC_FILES = [
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "alternatives",
    "os-release",
    "host.conf",
    "hosts",
    "fonts",
]
SYSTEM_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]


@dataclass
class SandboxLayout:
    """Everything :func:`bwrap_arguments` needs to know about one kernel's sandbox."""

    ipc_dir: str  # writable, bound at the same path (the grader connects to the sockets there)
    records_dir: str  # writable, bound at RECORDS_MOUNT
    passwd_fd: int  # an open file with the sandbox's /etc/passwd
    group_fd: int
    tmp_bytes: int  # size of the /tmp tmpfs
    shm_bytes: int = 256 * 2**20  # size of the /dev/shm tmpfs (multiprocessing: a DataLoader's workers' batches)
    readonly: list[str] = field(default_factory=list)  # extra read-only paths, bound at the same path
    files: list[tuple[int, str]] = field(default_factory=list)  # (open fd, name): copied into HOME
    #: (open fd, name): the grader's matplotlib font list, copied into MPLCONFIGDIR (matplotlib builds it
    #: otherwise, in every kernel: 0.4 s of scanning fonts before the first plot)
    config_files: list[tuple[int, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    privileged: bool = False  # bwrap runs as root: keep CAP_SETUID/SETGID for the entry's drop to the kernel user
    python_paths: list[str] = field(default_factory=list)  # the interpreter, the venv, the package (read-only)
    import_path: str = ""  # the folder the grader imports dl4phys from: the kernel imports that same copy


def _system(args: list[str]) -> None:
    args += ["--ro-bind", "/usr", "/usr"]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):  # merged-/usr: /lib -> usr/lib
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    args += ["--perms", "0755", "--dir", "/etc"]  # bwrap would make it private (0700) to the kernel's user
    for name in ETC_FILES:
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]


def bwrap_arguments(bwrap: str, layout: SandboxLayout) -> list[str]:
    """The bwrap command line (without the command to run inside) for ``layout``."""
    args = [
        bwrap,
        "--die-with-parent",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-pid",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--clearenv",
    ]
    if layout.privileged:  # the entry needs them to become the kernel's user; it loses them doing so
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--cap-drop", "ALL"]
    _system(args)
    args += [
        "--perms",
        "0644",
        "--ro-bind-data",
        str(layout.passwd_fd),
        "/etc/passwd",
        "--perms",
        "0644",
        "--ro-bind-data",
        str(layout.group_fd),
        "/etc/group",
    ]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(layout.shm_bytes), "--tmpfs", "/dev/shm"]
    for device in sorted(Path("/dev").glob("nvidia*")):  # the GPU, when there is one
        args += ["--dev-bind", str(device), str(device)]
    if os.path.isdir("/sys"):
        args += ["--ro-bind", "/sys", "/sys"]
    args += ["--perms", "1777", "--size", str(layout.tmp_bytes), "--tmpfs", "/tmp", "--perms", "0777", "--dir", HOME]
    for fd, name in layout.files:
        args += ["--perms", "0666", "--file", str(fd), f"{HOME}/{name}"]
    args += ["--perms", "0777", "--dir", MPLCONFIGDIR]
    for fd, name in layout.config_files:
        args += ["--perms", "0666", "--file", str(fd), f"{MPLCONFIGDIR}/{name}"]
    binds = [p for p in dict.fromkeys(layout.python_paths + layout.readonly) if os.path.exists(p)]
    # bwrap makes missing parent folders private (0700): make them traversable first, so the kernel's
    # user reaches what is bound below them, and nothing more (they are empty otherwise).
    for parent in _parents(binds + [layout.ipc_dir, RECORDS_MOUNT]):
        args += ["--perms", "0755", "--dir", parent]
    for path in binds:
        args += ["--ro-bind", path, path]
    args += ["--bind", layout.ipc_dir, layout.ipc_dir, "--bind", layout.records_dir, RECORDS_MOUNT]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME,
        "TMPDIR": "/tmp",
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": MPLCONFIGDIR,
        "DL4PHYS_RECORDS": RECORDS_MOUNT,
        **layout.env,
    }
    if layout.import_path:  # a package found through PYTHONPATH or a checkout, not the venv's own install
        env.setdefault("PYTHONPATH", layout.import_path)
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    # The sandbox's own root is a tmpfs that would take files written to, say, ``/``: make it read-only.
    args += ["--remount-ro", "/", "--chdir", HOME]
    return args


def _parents(paths: list[str]) -> list[str]:
    """Folders above ``paths`` that the sandbox must create, outermost first (none under /usr, /tmp, /sys)."""
    found: set[str] = set()
    for path in paths:
        parent = os.path.dirname(os.path.abspath(path))
        while parent not in ("/", "", "/tmp") and not parent.startswith(("/usr", "/sys", "/proc", "/dev")):
            found.add(parent)
            parent = os.path.dirname(parent)
    return sorted(found, key=lambda p: (p.count("/"), p))


def python_paths() -> list[str]:
    """The interpreter's installation, the virtual environment, any other package folder on the grader's
    path (``site-packages`` added by ``.pth`` files), and the course package itself. Never the current
    folder or a course folder: only folders of installed packages are shown to the kernel."""
    sites = [
        p for p in sys.path if p and os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages") and os.path.isdir(p)
    ]
    return [sys.base_prefix, sys.prefix, *sites, str(package_dir())]


def package_dir() -> Path:
    """The folder of the course package this process imported (bound read-only into the sandbox)."""
    import dl4phys

    return Path(dl4phys.__file__).resolve().parent
