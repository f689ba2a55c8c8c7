"""The sandbox every renderer runs in: bubblewrap (`bwrap`), one per command of a lease.

What a sandboxed process sees:

* the system read-only: `/usr` (and the `/bin`, `/lib*`, `/sbin` links or folders), a few files of
  `/etc` that programs need to start (the dynamic linker's cache and configuration,
  `alternatives`, `fonts`, `localtime`; with network also the resolver's files and CA
  certificates), and the folders a job type names (Blender's install tree when it is not under
  `/usr`, foxden's Blender script), each at its own path;
* the lease's input tree read-only and its output folder writable, at their paths on the host
  (so that job types need no path translation); the folders above them exist but are empty;
* a private `/tmp` (tmpfs, capped; `HOME` and `TMPDIR` point there), its own `/proc` (it sees
  only its own processes) and a minimal `/dev` (plus GPU device nodes when the machine has any);
* nothing else: no data dir, no worker cache, no other workspace, no `/root`, no `/home`.

It runs in new PID, IPC, UTS, cgroup and (unless the task's project allows network) network
namespaces, as an unprivileged uid without capabilities and with `no_new_privs`. A worker running
as root starts bwrap privileged and drops to `sandbox_uid` (host uid, default 65534) with
`setpriv`; any other worker starts bwrap in a new user namespace (uid 65534 inside, the worker's
own uid outside) where creating further user namespaces is disabled. The environment is cleared:
the command gets PATH, HOME, TMPDIR, LANG and its job type's own variables, never the worker's.
`--die-with-parent` and the PID namespace end every process of the sandbox when bwrap dies; bwrap
stays in the renderer's process group (no `--new-session`: the group has no terminal), so
stopping the group stops the sandbox.

The process count limit (RLIMIT_NPROC) is set inside the sandbox with `prlimit`, so that it counts
the sandbox's own processes; the other limits are set by the launcher before bwrap starts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_HOME = "/tmp"
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "localtime")
_ETC_NETWORK = (
    "resolv.conf", "hosts", "host.conf", "nsswitch.conf", "gai.conf", "services", "protocols",
    "ssl", "ca-certificates",
)  # fmt: skip
_GPU = re.compile(r"^(nvidia[\w-]*|kfd|dri)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VISIBLE = ("/usr", "/proc", "/dev")  # mounted whole: nothing under them needs its own mount
CHECK_TIMEOUT = 30.0


class SandboxUnavailable(Exception):
    """The sandbox cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one renderer process (0: no limit)."""

    memory: int = 0  # bytes a process may allocate (RLIMIT_DATA: heap and private mappings)
    cpu_seconds: int = 0  # CPU time of a process, all its threads together (RLIMIT_CPU)
    file_size: int = 0  # the largest file a process may write (RLIMIT_FSIZE)
    processes: int = 0  # processes and threads of the sandbox's user (RLIMIT_NPROC; sandbox only)
    tmp_size: int = 0  # bytes the private /tmp may hold (sandbox only)

    def rlimits(self) -> dict[str, tuple[int, int]]:
        """The limits the launcher sets before the program starts: name -> (soft, hard)."""
        found: dict[str, tuple[int, int]] = {}
        if self.memory > 0:
            found["DATA"] = (self.memory, self.memory)
        if self.cpu_seconds > 0:
            found["CPU"] = (self.cpu_seconds, self.cpu_seconds + 5)  # SIGXCPU, then SIGKILL
        if self.file_size > 0:
            found["FSIZE"] = (self.file_size, self.file_size)
        return found


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a sandboxed command: the basics and the job type's own variables."""
    env = {"PATH": SANDBOX_PATH, "HOME": SANDBOX_HOME, "TMPDIR": SANDBOX_HOME, "LANG": "C.UTF-8"}
    for name, value in extra.items():
        if not _ENV_NAME.match(name) or "\0" in value:
            raise ValueError(f"environment variable {name[:100]!r} is not a plain name and value")
        env[name] = value
    return env


def trusted_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of an unsandboxed command (--no-sandbox): the worker's own, less foxden's
    settings (the join key), plus the job type's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOXDEN_")}
    env.update(extra)
    return env


class Sandbox:
    """Builds bwrap command lines; `check` proves that one runs on this machine."""

    def __init__(self, bwrap: str = "bwrap", limits: Limits | None = None, uid: int = 65534):
        self.limits = limits or Limits()
        self.uid = uid
        self.privileged = os.geteuid() == 0
        found = shutil.which(bwrap)
        if found is None:
            raise SandboxUnavailable(
                f"bubblewrap ({bwrap!r}) is not installed or not on PATH: install it "
                "(Debian/Ubuntu package `bubblewrap`) or, on a trusted single-user farm only, "
                "start the worker with --no-sandbox"
            )
        self.bwrap = found
        self.helpers = {name: self._helper(name) for name in ("prlimit", "setpriv", "env")}

    @staticmethod
    def _helper(name: str) -> str:
        """A util-linux/coreutils program the sandbox runs; it must live under /usr."""
        for folder in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
            path = Path(folder) / name
            if path.is_file() and os.access(path, os.X_OK):
                real = Path(os.path.realpath(path))
                if real.is_relative_to("/usr"):
                    return str(path)
        raise SandboxUnavailable(
            f"the sandbox needs {name!r} in /usr/bin (Debian packages util-linux, coreutils)"
        )

    def wrap(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        read_only: Iterable[Path],
        writable: Iterable[Path],
        env: Mapping[str, str],
        network: bool = False,
    ) -> list[str]:
        """The bwrap command line that runs `argv` in `cwd` inside a sandbox that sees
        `read_only` and `writable` (absolute host paths, mounted at the same paths) and the
        system, with exactly `env` as environment."""
        ro = [Path(p) for p in read_only]
        rw = [Path(p) for p in writable]
        for path in (*ro, *rw, cwd):
            if not path.is_absolute():
                raise ValueError(f"sandbox paths must be absolute: {path}")
        out = [self.bwrap, "--die-with-parent"]
        out += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        out += ["--hostname", "foxden-sandbox"]
        if not network:
            out.append("--unshare-net")
        if self.privileged:
            out += [
                "--cap-add",
                "CAP_SETUID",
                "--cap-add",
                "CAP_SETGID",
                "--cap-add",
                "CAP_SETPCAP",
            ]
        else:
            out += ["--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"]
        out += self._system(network)
        tmp = ["--perms", "1777"]
        if self.limits.tmp_size > 0:
            tmp += ["--size", str(self.limits.tmp_size)]
        out += [*tmp, "--tmpfs", "/tmp"]
        job_ro = [p for p in ro if not _under(p, _VISIBLE)]
        for folder in _folders_above([*job_ro, *rw]):
            out += ["--dir", folder]
        for path in job_ro:
            out += ["--ro-bind", str(path), str(path)]
        for path in rw:
            out += ["--bind", str(path), str(path)]
        out += ["--chdir", str(cwd), "--clearenv", "--setenv", "PATH", SANDBOX_PATH, "--"]
        if self.limits.processes > 0:
            n = self.limits.processes
            out += [self.helpers["prlimit"], f"--nproc={n}:{n}", "--"]
        if self.privileged:
            out += [
                self.helpers["setpriv"],
                f"--reuid={self.uid}",
                f"--regid={self.uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]
        # The job's variables reach only the job's program, not the helpers above it.
        out += [self.helpers["env"], "-i", "--", *(f"{k}={v}" for k, v in env.items())]
        out += list(argv)
        return out

    def _system(self, network: bool) -> list[str]:
        out = ["--ro-bind", "/usr", "/usr"]
        for name in _SYSTEM_LINKS:
            path = Path(name)
            if path.is_symlink():
                out += ["--symlink", os.readlink(path), name]
            elif path.is_dir():
                out += ["--ro-bind", name, name]
        out += ["--perms", "0755", "--dir", "/etc"]
        for name in (*_ETC, *(_ETC_NETWORK if network else ())):
            out += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        out += ["--symlink", "../proc/self/mounts", "/etc/mtab"]
        out += ["--proc", "/proc", "--dev", "/dev"]
        for dev in sorted(_gpu_devices()):
            out += ["--dev-bind-try", dev, dev]
        return out

    def prepare(self, read_only: Iterable[Path], writable: Iterable[Path]) -> None:
        """Make a lease's folders usable by the sandbox's user: inputs readable, outputs owned.

        Only needed for a root worker, whose sandbox runs as another host uid."""
        if not self.privileged:
            return
        for root in read_only:
            if not root.is_dir():
                continue
            for folder, dirs, files in os.walk(root):
                for name in dirs:
                    _add_mode(Path(folder) / name, 0o555)
                for name in files:
                    _add_mode(Path(folder) / name, 0o444)
            _add_mode(root, 0o555)
        for root in writable:
            for folder, dirs, files in os.walk(root):
                for name in (*dirs, *files):
                    os.lchown(Path(folder) / name, self.uid, self.uid)
            os.chown(root, self.uid, self.uid)

    def check(self, work_dir: Path) -> None:
        """Run `true` in a sandbox like a lease's; raises SandboxUnavailable if it fails."""
        work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sandbox-check-", dir=work_dir) as name:
            tree, out = Path(name) / "tree", Path(name) / "out"
            tree.mkdir()
            out.mkdir()
            (tree / "input").write_text("foxden\n")
            self.prepare([tree], [out])
            script = f'read x < {tree}/input && test "$x" = foxden && touch {out}/ok'
            argv = self.wrap(
                ["sh", "-c", script],
                cwd=tree,
                read_only=[tree],
                writable=[out],
                env=clean_env({}),
            )
            try:
                proc = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=CHECK_TIMEOUT,
                    stdin=subprocess.DEVNULL,
                    check=False,
                    env={"PATH": SANDBOX_PATH},
                )
            except (OSError, subprocess.SubprocessError) as exc:
                raise SandboxUnavailable(f"cannot run bubblewrap ({self.bwrap}): {exc}") from None
            if proc.returncode != 0 or not (out / "ok").exists():
                said = (proc.stderr or proc.stdout).strip()[-300:]
                raise SandboxUnavailable(
                    f"bubblewrap ({self.bwrap}) cannot start a sandbox here "
                    f"(status {proc.returncode}: {said or 'no message'}); it needs user or "
                    "mount namespaces (run the worker as root, or allow unprivileged user "
                    "namespaces)"
                )


def _under(path: Path, roots: Iterable[str]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def _folders_above(paths: Iterable[Path]) -> list[str]:
    """Every folder above `paths` that the sandbox must create (parents first)."""
    found: set[str] = set()
    for path in paths:
        for parent in PurePosixPath(path).parents:
            text = str(parent)
            if text not in ("/", "/tmp", "/etc") and not _under(Path(text), _VISIBLE):
                found.add(text)
    return sorted(found, key=lambda p: (p.count("/"), p))


def _gpu_devices() -> list[str]:
    try:
        names = os.listdir("/dev")
    except OSError:
        return []
    return [f"/dev/{n}" for n in names if _GPU.match(n)]


def _add_mode(path: Path, bits: int) -> None:
    mode = path.lstat().st_mode
    if not path.is_symlink() and mode & bits != bits:
        os.chmod(path, (mode & 0o7777) | bits)
