"""Docker 20.10 (/usr/bin/docker, /usr/sbin/dockerd) with pyrunc added as a runtime.

The test starts dockerd with its own data-root, exec-root, pid file, unix socket and
daemon.json, `--iptables=false --bridge=none` and a cgroup parent of its own; dockerd
starts its own containerd under the exec-root.  Containers run with `--runtime pyrunc
--network none`; dockerd reaches pyrunc through containerd's runc v2 shim.
"""

import json
import os
import tempfile
import uuid

import pytest

from engine_util import IMAGE, Cmd, Daemon, HostGuard, cgroup_file, docker_archive, finish, need, parent_comm, runtime_binary, wait_for

DOCKER = "/usr/bin/docker"  # the 20.10 client matching Debian's dockerd (not /usr/local/bin/docker)


class Docker:
    def __init__(self, tmp, token):
        self.tmp = tmp
        self.token = token
        self.cgroup_parent = f"pyrunc-enginetest-{token}"
        self.runtime = runtime_binary(tmp)
        self.sock = os.path.join(tmp, "docker.sock")
        self.exec_root = os.path.join(tmp, "exec")
        conf = os.path.join(tmp, "daemon.json")
        with open(conf, "w") as f:
            json.dump({}, f)
        dockerd = "/usr/sbin/dockerd" if os.access("/usr/sbin/dockerd", os.X_OK) else "/usr/bin/dockerd"
        self.daemon = Daemon([dockerd, "--config-file", conf, "--data-root", f"{tmp}/data",
                              "--exec-root", self.exec_root, "--pidfile", f"{tmp}/docker.pid",
                              "-H", f"unix://{self.sock}", "--iptables=false", "--ip6tables=false",
                              "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                              "--userland-proxy=false", "--storage-driver", "vfs",
                              "--exec-opt", "native.cgroupdriver=cgroupfs",
                              "--cgroup-parent", f"/{self.cgroup_parent}",
                              "--add-runtime", f"pyrunc={self.runtime}", "--log-level", "warn"],
                             os.path.join(tmp, "dockerd.log"))
        self.docker = Cmd([DOCKER, "-H", f"unix://{self.sock}"], log=os.path.join(tmp, "commands.log"),
                          env=dict(os.environ, DOCKER_CONFIG=os.path.join(tmp, "client")))
        try:
            wait_for(lambda: self.daemon.alive() and os.path.exists(self.sock)
                     and self.docker("version", check=False, timeout=20).returncode == 0,
                     timeout=60, what="dockerd to answer")
        except AssertionError:
            self.daemon.stop(timeout=60)
            raise AssertionError(f"dockerd did not start:\n{self.daemon.tail()}") from None

    def __call__(self, *args, **kw):
        return self.docker(*args, **kw)

    def run_d(self, *args):
        name = f"c-{uuid.uuid4().hex[:8]}"
        self("run", "-d", "--runtime", "pyrunc", "--network", "none", "--name", name, *args)
        return name

    def inspect(self, name, fmt):
        return self("inspect", "--format", fmt, name).stdout.strip()


@pytest.fixture(scope="module")
def dk():
    need(DOCKER, "dockerd", "containerd", "containerd-shim-runc-v2")
    token = uuid.uuid4().hex[:8]
    tmp = tempfile.mkdtemp(prefix=f"pyrunc-dk-{token}-")
    guard = HostGuard(tmp, f"pyrunc-enginetest-{token}", token=token,
                      paths=["/var/lib/docker", "/run/pyrunc", "/run/docker.sock"],
                      scratch=["/etc/docker", "/run/containerd", "/run/docker"])  # dockerd: /run/docker/plugins
    d = None

    def teardown():
        try:
            ids = d("ps", "-aq", check=False).stdout.split()
            if ids:
                d("rm", "-f", *ids, check=False, timeout=120)
            d("rmi", "-f", IMAGE, check=False)
        finally:
            d.daemon.stop(timeout=60)
    try:
        d = Docker(tmp, token)
        d("load", "-i", docker_archive(os.path.join(tmp, "busybox-docker.tar")), timeout=120)
        assert IMAGE in d("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
        yield d
    finally:
        finish(guard, tmp, teardown if d is not None else None, "docker")


def test_run(dk):
    r = dk("run", "--rm", "--runtime", "pyrunc", "--network", "none", IMAGE,
           "sh", "-c", "echo hello; cat /data/from-image; exit 3", check=False)
    assert r.returncode == 3 and r.stdout == "hello\nimage-content\n", r


@pytest.fixture(scope="module")
def box(dk):
    name = dk.run_d(IMAGE, "sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")
    yield name
    dk("rm", "-f", name, check=False)


def test_container_is_pyruncs(dk, box):
    assert dk.inspect(box, "{{.HostConfig.Runtime}}") == "pyrunc"
    cid = dk.inspect(box, "{{.Id}}")
    # Docker 20.10 gives every runtime of the runc shim the same --root (runc's): the
    # state dir is pyrunc's by its mark, the sticky bit (runtime/state.py)
    state = os.path.join(dk.exec_root, "runtime-runc", "moby", cid)
    assert os.stat(state).st_mode & 0o1000, oct(os.stat(state).st_mode)
    pid = int(dk.inspect(box, "{{.State.Pid}}"))
    with open(f"/proc/{pid}/cgroup") as f:
        assert dk.cgroup_parent in f.read()
    assert parent_comm(pid).startswith("containerd-shim")


def test_exec(dk, box):
    assert dk("exec", box, "echo", "from-exec").stdout == "from-exec\n"
    r = dk("exec", "-u", "1000", "-w", "/tmp", "-e", "K=v", box, "sh", "-c", "echo $(id -u) $(pwd) $K")
    assert r.stdout == "1000 /tmp v\n", r
    assert dk("exec", box, "sh", "-c", "exit 9", check=False).returncode == 9


def test_update_memory(dk, box):
    pid = int(dk.inspect(box, "{{.State.Pid}}"))
    dk("update", "--memory", "96m", "--memory-swap", "96m", box)
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(96 << 20)
    assert dk.inspect(box, "{{.HostConfig.Memory}}") == str(96 << 20)
    dk("update", "--pids-limit", "77", box)
    assert cgroup_file(pid, "pids", "pids.max") == "77"


def test_top(dk, box):
    r = dk("top", box)
    assert "sleep 600" in r.stdout, r


def test_stats(dk, box):
    r = dk("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", box, timeout=60)
    name, rest = r.stdout.split(" ", 1)
    assert name == box and "/" in rest, r
    assert rest.split()[-1] in ("2", "3"), r  # sh and sleep (plus a racing exec)


def test_stop_restart(dk):
    name = dk.run_d(IMAGE, "sh", "-c", "trap 'exit 4' TERM; while true; do sleep 0.2; done")
    try:
        first = int(dk.inspect(name, "{{.State.Pid}}"))
        dk("stop", "-t", "10", name, timeout=60)
        assert dk.inspect(name, "{{.State.Status}}") == "exited"
        assert dk.inspect(name, "{{.State.ExitCode}}") == "4"
        dk("restart", "-t", "10", name, timeout=60)
        assert dk.inspect(name, "{{.State.Status}}") == "running"
        assert int(dk.inspect(name, "{{.State.Pid}}")) != first
        dk("kill", name)
        wait_for(lambda: dk.inspect(name, "{{.State.Status}}") == "exited", timeout=20, what="docker kill")
    finally:
        dk("rm", "-f", name)
