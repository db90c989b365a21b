"""Shared by the real-engine tests (tests/test_engine_*.py): the runtime binary the
engines get, a busybox image built locally (no registry is reachable), daemons started
and stopped by pid, bounded waits, and a check that the host is left as it was.

Each engine test module makes one temp dir holding every config, root, state dir and
socket of its engine; nothing of it lives outside that dir except what the engine
cannot be told to put elsewhere (CNI's /var/lib/cni, netns files in /run/netns, the
cgroups under a parent of the test's own), which the test removes and checks.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import pytest

from conformance import bundle as cb

IMAGE_REPO = "localhost/pyrunc-busybox"
IMAGE_TAG = "latest"
IMAGE = f"{IMAGE_REPO}:{IMAGE_TAG}"


# -- the runtime the engines run ----------------------------------------------------

def runtime_argv() -> list:
    argv = cb.resolve_runtime()
    if not cb.runtime_available(argv):
        msg = f"runtime {' '.join(argv)!r} not found (set PYRUNC_TEST_RUNTIME)"
        if os.environ.get("PYRUNC_TEST_REQUIRE_RUNTIME"):
            pytest.fail(msg)
        pytest.skip(msg)
    return argv


def runtime_binary(tmp: str, root: str | None = None) -> str:
    """PYRUNC_TEST_RUNTIME when it is one executable path (CI: the installed
    .venv/bin/pyrunc); otherwise a wrapper script in tmp that execs its argv.  With
    root, always a wrapper that adds `--root root` (for an engine that cannot be told
    the runtime's root on every call it makes)."""
    argv = runtime_argv()
    if root is None and len(argv) == 1 and os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK):
        return argv[0]
    if root is not None:
        argv = argv + ["--root", root]
    path = os.path.join(tmp, "pyrunc")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in argv) + ' "$@"\n')
    os.chmod(path, 0o755)
    return path


def need(*binaries: str) -> None:
    """Skip (only) when the engine is not installed: CI installs it with apt-get."""
    missing = [b for b in binaries if not (shutil.which(b) or os.access(b, os.X_OK))]
    if missing:
        pytest.skip(f"engine not installed: {', '.join(missing)} (scripts/test.sh installs it with apt-get)")
    if os.geteuid() != 0:
        pytest.skip("engine tests need root")


# -- a busybox image, built here ------------------------------------------------------

def _tar_add(tar, name, *, kind=tarfile.REGTYPE, data=b"", mode=0o644, link="", uid=0, gid=0):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, 0
    if kind == tarfile.SYMTYPE:
        ti.linkname = link
        tar.addfile(ti)
    elif kind == tarfile.DIRTYPE:
        tar.addfile(ti)
    else:
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))


def rootfs_layer() -> bytes:
    """An uncompressed tar of a busybox root file system (diff_id == digest)."""
    busybox = cb.find_busybox()
    with open(busybox, "rb") as f:
        bb = f.read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "root",
                  "home", "var", "run", "mnt", "data"):
            _tar_add(tar, d, kind=tarfile.DIRTYPE, mode=0o755)
        _tar_add(tar, "tmp", kind=tarfile.DIRTYPE, mode=0o1777)
        _tar_add(tar, "var/tmp", kind=tarfile.DIRTYPE, mode=0o1777)
        _tar_add(tar, "home/user", kind=tarfile.DIRTYPE, mode=0o755, uid=1000, gid=1000)
        _tar_add(tar, "bin/busybox", data=bb, mode=0o755)
        for name in cb._applets(busybox):
            _tar_add(tar, f"bin/{name}", kind=tarfile.SYMTYPE, link="busybox", mode=0o777)
        _tar_add(tar, "etc/passwd", data=cb.PASSWD.encode())
        _tar_add(tar, "etc/group", data=cb.GROUP.encode())
        # what --read-only tmpfs copy-up must carry over (tmpcopyup)
        _tar_add(tar, "data/from-image", data=b"image-content\n")
        _tar_add(tar, "run/from-image", data=b"run-content\n")
    return buf.getvalue()


def _blob(d: str, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(d, "blobs", "sha256", digest.split(":")[1]), "wb") as f:
        f.write(data)
    return digest, len(data)


def image_config(layer_digest: str) -> bytes:
    return json.dumps({
        "created": "2026-01-01T00:00:00Z",
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "pyrunc tests: busybox-static"}],
    }, sort_keys=True).encode()


def oci_archive(dest: str) -> str:
    """An OCI image layout tar (podman load, ctr image import) of the busybox image."""
    d = tempfile.mkdtemp(prefix="oci-", dir=os.path.dirname(dest))
    layer = rootfs_layer()
    ld, ls = _blob(d, layer)
    cd, cs = _blob(d, image_config(ld))
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}],
    }, sort_keys=True).encode()
    md, ms = _blob(d, manifest)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                            "size": ms, "platform": {"architecture": "amd64", "os": "linux"},
                            "annotations": {"io.containerd.image.name": IMAGE,
                                            "org.opencontainers.image.ref.name": IMAGE}}]}
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with tarfile.open(dest, "w") as tar:
        for name in ("oci-layout", "index.json", "blobs"):
            tar.add(os.path.join(d, name), arcname=name)
    shutil.rmtree(d)
    return dest


def docker_archive(dest: str) -> str:
    """The same image as `docker save` writes it (Docker 20.10 loads no OCI layout)."""
    layer = rootfs_layer()
    ld = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = image_config(ld)
    cid = hashlib.sha256(config).hexdigest()
    lid = ld.split(":")[1]
    manifest = [{"Config": f"{cid}.json", "RepoTags": [IMAGE], "Layers": [f"{lid}/layer.tar"]}]
    with tarfile.open(dest, "w") as tar:
        _tar_add(tar, f"{lid}", kind=tarfile.DIRTYPE, mode=0o755)
        _tar_add(tar, f"{lid}/VERSION", data=b"1.0")
        _tar_add(tar, f"{lid}/json", data=json.dumps({"id": lid}).encode())
        _tar_add(tar, f"{lid}/layer.tar", data=layer)
        _tar_add(tar, f"{cid}.json", data=config)
        _tar_add(tar, "manifest.json", data=json.dumps(manifest).encode())
        _tar_add(tar, "repositories", data=json.dumps({IMAGE_REPO: {IMAGE_TAG: lid}}).encode())
    return dest


# -- commands and daemons ---------------------------------------------------------------

class Cmd:
    """A command line with fixed leading arguments and environment; every call bounded."""

    def __init__(self, argv, env=None, log=None):
        self.argv = list(argv)
        self.env = env
        self.log = log

    def __call__(self, *args, timeout=60, input=None, check=True, **kw):
        argv = self.argv + [str(a) for a in args]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env,
                               input=input, stdin=None if input is not None else subprocess.DEVNULL, **kw)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"timeout after {timeout}s: {shlex.join(argv)}\n{e.stdout}\n{e.stderr}")
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"$ {shlex.join(argv)}\n-> {p.returncode}\n{p.stdout}{p.stderr}\n")
        if check and p.returncode != 0:
            raise AssertionError(f"{shlex.join(argv)} exited {p.returncode}\nstdout: {p.stdout}\n"
                                 f"stderr: {p.stderr}")
        return p


def wait_for(pred, timeout=30.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Daemon:
    """A daemon the test starts and stops by pid; its output goes to a file."""

    def __init__(self, argv, logfile, env=None):
        self.logfile = logfile
        self.out = open(logfile, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def tail(self, n=40):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.out.close()


def parent_comm(pid: int) -> str:
    """The command name of pid's parent: the engine's reaper (conmon, the shim), never a
    runtime process left in between."""
    with open(f"/proc/{pid}/status") as f:
        ppid = int(next(l for l in f if l.startswith("PPid:")).split()[1])
    with open(f"/proc/{ppid}/comm") as f:
        return f.read().strip()


# -- what the host must look like afterwards ------------------------------------------------

def procs_mentioning(marker: str) -> dict:
    """Processes whose command line or environment mention marker (the test's temp dir)."""
    found = {}
    mb = marker.encode()
    me = os.getpid()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == me:
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
            hit = mb in cmd
            if not hit:
                with open(f"/proc/{p}/environ", "rb") as f:
                    hit = mb in f.read()
        except OSError:
            continue
        if hit and cb.pid_alive(int(p)):
            found[int(p)] = cmd.replace(b"\0", b" ").decode(errors="replace")
    return found


def mounts_under(path: str) -> list[str]:
    prefix = os.path.realpath(path).rstrip("/") + "/"
    return [m["mountpoint"] for m in cb.host_mountinfo() if m["mountpoint"].startswith(prefix)]


def unmount_under(path: str) -> None:
    for mp in sorted(mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True, timeout=30)


def netns_names() -> set:
    try:
        return set(os.listdir("/run/netns"))
    except OSError:
        return set()


def cgroup_dirs(name: str) -> list[str]:
    """Every directory called name directly under a cgroup hierarchy's root."""
    out = []
    for h in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", h, name)
        if os.path.isdir(d) and not os.path.islink(os.path.join("/sys/fs/cgroup", h)):
            out.append(d)
    return out


def remove_cgroup_tree(top: str) -> None:
    for dirpath, dirnames, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
        for _ in range(20):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


class HostGuard:
    """Snapshot of what an engine may leave on the host; check() cleans up what is new
    and fails the module with the list."""

    def __init__(self, tmp: str, cgroup_parent: str, paths=(), scratch=(), engine_cgroups=(), token=None):
        """paths: host places the engine must not leave anything new in; scratch: places
        it writes to whatever it is told (CNI's /var/lib/cni, containers/image's
        /var/lib/containers/cache, the shims' sockets in /run/containerd/s), from which
        clean() removes, without failing the test, what is new and provably the test's:
        paths naming its token, dead sockets, empty directories, known caches.  Other
        sessions may run engines at the same time: nothing of theirs is touched."""
        self.token = token or os.path.basename(tmp)
        self.tmp = tmp
        self.cgroup_parent = cgroup_parent
        self.paths = list(paths)
        self.netns = netns_names()
        self.files = {p: self._walk(p) for p in self.paths}
        self.scratch = {p: self._walk(p) for p in scratch}
        self.engine_cgroups = set(engine_cgroups)  # the engine's own, under the test's parent

    @staticmethod
    def _walk(top):
        if not os.path.lexists(top):
            return None
        seen = {top}
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                seen.add(os.path.join(dirpath, n))
        return seen

    def leftovers(self) -> dict:
        out = {}
        procs = procs_mentioning(self.tmp)
        if procs:
            out["processes"] = procs
        m = mounts_under(self.tmp)
        if m:
            out["mounts"] = m
        n = netns_names() - self.netns
        if n:
            out["netns"] = sorted(n)
        cg = [dirpath for d in cgroup_dirs(self.cgroup_parent) for dirpath, _, _ in os.walk(d)
              if dirpath != d and os.path.basename(dirpath) not in self.engine_cgroups]
        if cg:
            out["cgroups"] = sorted(cg)  # the parent itself is the test's, removed by clean()
        for p, before in self.files.items():
            now = self._walk(p) or set()
            new = now - (before or set())
            if new:
                out.setdefault("files", []).extend(sorted(new))
        return out

    def clean(self) -> None:
        for pid in procs_mentioning(self.tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.3)
        unmount_under(self.tmp)
        for d in cgroup_dirs(self.cgroup_parent):
            remove_cgroup_tree(d)
        for p, before in list(self.files.items()) + list(self.scratch.items()):
            now = self._walk(p) or set()
            for path in sorted(now - (before or set()), key=len, reverse=True):
                self._remove_if_ours(path)

    # files engines make when absent: containers/image's blob cache, dockerd's /etc/docker/key.json
    KNOWN_CACHES = ("blob-info-cache-v1.boltdb", "key.json")

    def _remove_if_ours(self, path):
        import stat as S

        try:
            st = os.lstat(path)
            if S.S_ISDIR(st.st_mode):
                if self.token in path:
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.rmdir(path)  # only when empty
            elif S.S_ISSOCK(st.st_mode):
                if self.token in path or not _listening(path):
                    os.unlink(path)
            elif self.token in path or os.path.basename(path) in self.KNOWN_CACHES:
                os.unlink(path)
        except OSError:
            pass


def _listening(path):
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def finish(guard: HostGuard, tmp: str, teardown, what: str) -> None:
    """End an engine module whatever happened: the engine's own teardown (teardown(),
    which stops its daemon), then kill, unmount and remove whatever is still the test's,
    remove the temp dir, and fail if anything had been left on the host."""
    errors = []
    if teardown is not None:
        try:
            teardown()
        except Exception as e:  # noqa: BLE001  (reported below, after the cleanup)
            errors.append(f"teardown: {e}")
    try:  # exits are asynchronous (and another session's netns may come and go meanwhile)
        wait_for(lambda: not guard.leftovers(), timeout=15, interval=0.3, what=f"{what}'s leftovers to go")
    except AssertionError:
        pass
    left = guard.leftovers()
    guard.clean()
    subprocess.run(["rm", "-rf", "--one-file-system", tmp], capture_output=True, timeout=120)
    assert not left and not errors, f"{what} tests left on the host: {left} {errors}"


def cgroup_file(pid, controller, name):
    """The value of cgroup file `name` of process pid's cgroup in the v1 hierarchy of
    `controller` (what an engine's resource flags must have changed)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                top = [d for d in os.listdir("/sys/fs/cgroup") if controller in d.split(",")][0]
                with open(os.path.join("/sys/fs/cgroup", top, path.lstrip("/"), name)) as g:
                    return g.read().strip()
    raise AssertionError(f"no {controller} cgroup for {pid}")
