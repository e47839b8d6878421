"""The sandbox of every `command` run: bubblewrap (Debian's `bubblewrap`, installed by
`make system-deps`).

What the command sees: /usr (and the /bin, /lib, /sbin links) and a few /etc files,
read-only; its own /proc, /dev and /tmp; and one writable directory, /workspace: a fresh
directory per run, or the repository checkout when one is configured. Not the project,
var/, media, the database or another run's directory. It has its own PID, IPC, UTS,
cgroup and (unless its profile allows the network) network namespaces, runs as an
unprivileged uid (a root worker also drops to RUN_SANDBOX_UID before starting bwrap),
gets an environment built from nothing, and is held to CPU seconds, open files and
processes (rlimits), memory (its processes' resident size, watched by the runner, with
a generous address-space rlimit as a backstop) and output bytes (counted by the runner).
Processes are counted per uid: concurrent runs on one machine share RUN_SANDBOX_UID's
process limit.

RUN_SANDBOX=none runs the command directly, as the worker's user, with the worker's view
of the machine: UNSAFE, for local development only.
"""

import contextlib
import os
import resource
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from runs.runners.base import Limits, RunContext, RunnerConfigError

WORKDIR = "/workspace"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# /etc files a program commonly needs; none holds a secret.
ETC_FILES = (
    "passwd",
    "group",
    "nsswitch.conf",
    "ld.so.cache",
    "localtime",
    "alternatives",
    "ssl",
    "ca-certificates",
    "mime.types",
)
NETWORK_ETC_FILES = ("resolv.conf", "hosts", "host.conf", "gai.conf")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Prepared:
    """A command ready to start: its argv (bwrap's, in the sandbox), cwd, environment,
    the uid to start it as, and what to clean up afterwards."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    user: int | None
    cleanup: list[Path] = field(default_factory=list)

    def close(self) -> None:
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def environment(context: RunContext, home: str) -> dict[str, str]:
    """Built from nothing: PATH, HOME, LANG, the robot's variables, the profile's
    secrets, and the run's ids. Nothing of the worker's own environment."""
    env = {"PATH": SYSTEM_PATH, "HOME": home, "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
    env.update({str(k): str(v) for k, v in (context.config.get("env") or {}).items()})
    env.update(context.secrets)
    env["TASKDESK_TASK_ID"] = context.task_id
    env["TASKDESK_RUN_NUMBER"] = str(context.run_number)
    return env


def prepare(context: RunContext, argv: list[str]) -> Prepared:
    if settings.RUN_SANDBOX == "none":
        return _unsandboxed(context, argv)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise RunnerConfigError(
            "bubblewrap (bwrap) is not installed, and command runs only start inside it: "
            "run `make system-deps` (or set RUN_SANDBOX=none on a development machine: unsafe)."
        )
    prepared = Prepared(argv=[], cwd="/", env={}, user=_sandbox_user())
    workdir = _workdir(context, prepared)
    prepared.argv = [bwrap, *_bwrap_options(context, workdir), "--", *argv]
    return prepared


def _sandbox_user() -> int | None:
    # bwrap's --uid only renames the user inside its namespace; a root worker's command
    # would still be root to the kernel outside it. So root starts bwrap as this uid.
    return settings.RUN_SANDBOX_UID if os.geteuid() == 0 else None


def _workdir(context: RunContext, prepared: Prepared) -> Path:
    if context.checkout_path:
        checkout = Path(context.checkout_path).resolve()
        _refuse_protected(checkout)
        if not checkout.is_dir():
            raise RunnerConfigError(f"The checkout {checkout} is not a directory.")
        _reachable(checkout, prepared.user)
        _give_to_sandbox(checkout, prepared.user, recursive=True)
        return checkout
    root = Path(settings.RUN_SANDBOX_ROOT)
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"run-{context.task_id[:8]}-", dir=root))
    prepared.cleanup.append(workdir)
    _give_to_sandbox(workdir, prepared.user, recursive=False)
    return workdir


def _refuse_protected(path: Path) -> None:
    """A checkout may not be inside the project, var/, media, the sandboxes' root or a
    system directory, nor hold any of them: bound writable, the run would own them."""
    private = [
        Path(settings.BASE_DIR),
        Path(settings.VAR_DIR),
        Path(settings.MEDIA_ROOT),
        Path(settings.RUN_SANDBOX_ROOT),
        *(Path(p) for p in ("/etc", "/usr", "/root", "/proc", "/sys", "/boot", "/dev", "/run")),
    ]
    private = [p.resolve() for p in private]
    holders = [*private, *(Path(p) for p in ("/home", "/var", "/tmp", "/srv", "/opt"))]
    if (
        path == Path("/")
        or any(path.is_relative_to(p) for p in private)
        or any(p.is_relative_to(path) for p in holders)
    ):
        raise RunnerConfigError(f"The checkout path {path} is not allowed for runs.")


def _reachable(path: Path, uid: int | None) -> None:
    """bwrap, started as the sandbox's uid, must be able to walk down to the checkout."""
    if uid is None:
        return
    for parent in path.parents:
        info = parent.stat()
        if not info.st_mode & 0o001 and info.st_uid != uid:
            raise RunnerConfigError(
                f"The checkout {path} is below {parent}, which the sandbox user "
                f"(uid {uid}) cannot enter: move it, or let others enter {parent} (o+x)."
            )


def _give_to_sandbox(path: Path, uid: int | None, *, recursive: bool) -> None:
    if uid is None or path.stat().st_uid == uid:
        return
    os.chown(path, uid, uid)
    if recursive:
        for parent, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                with contextlib.suppress(OSError):
                    os.chown(os.path.join(parent, name), uid, uid, follow_symlinks=False)


def _bwrap_options(context: RunContext, workdir: Path) -> list[str]:
    uid = str(settings.RUN_SANDBOX_UID)
    options = [
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--uid", uid,
        "--gid", uid,
        "--hostname", "sandbox",
        "--ro-bind", "/usr", "/usr",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--bind", str(workdir), WORKDIR,
        "--chdir", WORKDIR,
    ]  # fmt: skip
    for name in ("bin", "lib", "lib32", "lib64", "sbin"):
        target = Path("/") / name
        if target.is_symlink():
            options += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            options += ["--ro-bind", str(target), str(target)]
    etc = ETC_FILES + (NETWORK_ETC_FILES if context.network else ())
    for name in etc:
        if (Path("/etc") / name).exists():
            options += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    if context.network:
        options.append("--share-net")
    for name, value in environment(context, WORKDIR).items():
        options += ["--setenv", name, value]
    return options


def _unsandboxed(context: RunContext, argv: list[str]) -> Prepared:
    prepared = Prepared(argv=list(argv), cwd="", env={}, user=None)
    if context.checkout_path:
        _refuse_protected(Path(context.checkout_path).resolve())
        prepared.cwd = context.checkout_path
    else:
        prepared.cwd = tempfile.mkdtemp(prefix="taskdesk-run-")
        prepared.cleanup.append(Path(prepared.cwd))
    prepared.env = environment(context, prepared.cwd)
    return prepared


def limiter(limits: Limits) -> "LimitSetter":
    return LimitSetter(limits)


@dataclass(frozen=True)
class LimitSetter:
    """The child's preexec_fn: rlimits and death with the worker. Runs after Popen has
    switched to `user` (a uid change clears PR_SET_PDEATHSIG, so it is set here)."""

    limits: Limits

    def __call__(self) -> None:
        cpu = int(self.limits.cpu_seconds)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))  # SIGXCPU, then SIGKILL
        files = int(self.limits.max_open_files)
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
        processes = int(self.limits.max_processes)
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # A backstop for allocations faster than the runner's resident-size watch: per
        # process address space, generous (runtimes such as V8 reserve far more than
        # they use), so the watch's clear "killed: Memory limit" is what normally ends it.
        address_space = max(self.limits.memory_mb * 4, self.limits.memory_mb + 2048) << 20
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if sys.platform.startswith("linux"):
            import ctypes

            with contextlib.suppress(Exception):
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def resident_bytes(root_pid: int) -> int:
    """The resident memory of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    resident: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as file:
                stat = file.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(stat[1]), []).append(pid)  # field 4: ppid
        resident[pid] = int(stat[21]) * _PAGE  # field 24: rss in pages
    total, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        total += resident.get(pid, 0)
        pending.extend(children.get(pid, []))
    return total
