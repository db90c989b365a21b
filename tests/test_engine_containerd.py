"""containerd 1.6 (runc v2 shim) started by the test with its own config, root, state
dir and sockets; ctr drives it with `--runc-binary` set to pyrunc.

The shim calls pyrunc exactly as it calls runc (`--root R --log B/log.json --log-format
json create|start|exec|ps|kill|pause|resume|update|delete ...`).  The image is the test's
own busybox OCI archive, imported with `ctr image import`.
"""

import os
import subprocess
import tempfile
import uuid

import pytest

from engine_util import IMAGE, Cmd, Daemon, HostGuard, cgroup_file, finish, need, oci_archive, parent_comm, runtime_binary, wait_for

NS = "pyrunc-test"


class Containerd:
    def __init__(self, tmp, token):
        self.tmp = tmp
        self.token = token
        self.cgroup_parent = f"pyrunc-enginetest-{token}"
        self.runtime = runtime_binary(tmp)
        self.runc_root = os.path.join(tmp, "pyrunc-state")
        self.sock = os.path.join(tmp, "c.sock")
        self.fifo_dir = os.path.join(tmp, "fifo")  # not ctr's /run/containerd/fifo
        conf = os.path.join(tmp, "config.toml")
        with open(conf, "w") as f:
            f.write(f"""version = 2
root = "{tmp}/root"
state = "{tmp}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = "{tmp}/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{tmp}/opt"
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{tmp}/v1-root"
""")
        self.daemon = Daemon(["containerd", "--config", conf], os.path.join(tmp, "containerd.log"))
        self.ctr = Cmd(["ctr", "--address", self.sock, "--namespace", NS], log=os.path.join(tmp, "commands.log"))
        try:
            wait_for(lambda: os.path.exists(self.sock) and self.ctr("version", check=False).returncode == 0,
                     timeout=30, what="containerd to listen")
        except AssertionError:
            self.daemon.stop()
            raise AssertionError(f"containerd did not start:\n{self.daemon.tail()}") from None

    def run_args(self, cid, *extra):
        return ["run", "--runc-binary", self.runtime, "--runc-root", self.runc_root, "--snapshotter", "native",
                "--fifo-dir", self.fifo_dir, "--cgroup", f"/{self.cgroup_parent}/{cid}", *extra]

    def exec_args(self, *extra):
        return ["task", "exec", "--fifo-dir", self.fifo_dir, *extra]

    def status(self, cid):
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid:
                return f[2]
        return None

    def pid(self, cid):
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid:
                return int(f[1])
        raise AssertionError(f"no task {cid}")

    def new_id(self):
        return f"t-{uuid.uuid4().hex[:8]}"

    def remove(self, cid):
        self.ctr("task", "kill", "--all", "-s", "SIGKILL", cid, check=False)
        wait_for(lambda: self.status(cid) in (None, "STOPPED"), timeout=20, what=f"{cid} to stop")
        self.ctr("task", "rm", "-f", cid, check=False)
        self.ctr("container", "rm", cid, check=False)


@pytest.fixture(scope="module")
def cd():
    need("containerd", "ctr", "containerd-shim-runc-v2")
    token = uuid.uuid4().hex[:8]
    tmp = tempfile.mkdtemp(prefix=f"pyrunc-cd-{token}-")
    guard = HostGuard(tmp, f"pyrunc-enginetest-{token}", token=token,
                      paths=["/run/pyrunc", "/var/lib/containerd", "/run/containerd/runc"],
                      scratch=["/run/containerd"])
    c = None

    def teardown():
        try:
            for line in c.ctr("container", "ls", "-q", check=False).stdout.split():
                c.remove(line)
            c.ctr("image", "rm", IMAGE, check=False)
        finally:
            c.daemon.stop()
    try:
        c = Containerd(tmp, token)
        c.ctr("image", "import", "--snapshotter", "native", oci_archive(os.path.join(tmp, "busybox-oci.tar")),
              timeout=120)
        assert IMAGE in c.ctr("image", "ls", "-q").stdout
        yield c
    finally:
        finish(guard, tmp, teardown if c is not None else None, "containerd")


def test_run(cd):
    cid = cd.new_id()
    r = cd.ctr(*cd.run_args(cid, "--rm"), IMAGE, cid, "sh", "-c", "echo hello; cat /data/from-image")
    assert r.stdout.replace("\r", "") == "hello\nimage-content\n", r
    assert cid not in cd.ctr("container", "ls", "-q").stdout.split()
    assert not os.path.exists(os.path.join(cd.runc_root, NS, cid))


def test_run_exit_status(cd):
    cid = cd.new_id()
    r = cd.ctr(*cd.run_args(cid, "--rm"), IMAGE, cid, "sh", "-c", "exit 5", check=False)
    assert r.returncode == 5, r


@pytest.fixture
def task(cd):
    cid = cd.new_id()
    cd.ctr(*cd.run_args(cid, "-d"), IMAGE, cid, "sh", "-c", "trap 'exit 0' TERM; sleep 600 & sleep 600 & wait")
    wait_for(lambda: cd.status(cid) == "RUNNING", timeout=20, what=f"{cid} running")
    yield cid
    cd.remove(cid)


def test_task_is_pyruncs(cd, task):
    # the shim keeps pyrunc's state under the root ctr named, one dir per namespace
    assert task in os.listdir(os.path.join(cd.runc_root, NS))
    pid = cd.pid(task)  # what the shim read from pyrunc's --pid-file when create returned
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sh"
    with open(f"/proc/{pid}/cgroup") as f:
        assert f"/{cd.cgroup_parent}/{task}" in f.read()
    # the shim is the init's parent (its subreaper), which reaps it and reports its exit
    assert parent_comm(pid).startswith("containerd-shim")


def test_exec(cd, task):
    r = cd.ctr(*cd.exec_args("--exec-id", "e1"), task, "sh", "-c", "echo from-exec; exit 3", check=False)
    assert r.returncode == 3 and r.stdout == "from-exec\n", r
    r = cd.ctr(*cd.exec_args("--exec-id", "e2", "--cwd", "/tmp", "--user", "1000"), task,
               "sh", "-c", "echo $(id -u) $(pwd)")
    assert r.stdout == "1000 /tmp\n", r


def test_exec_tty(cd, task):
    argv = cd.ctr.argv + cd.exec_args("-t", "--exec-id", "e3") + [task, "sh", "-c", "tty; stty size"]
    r = Cmd(["script", "-qec", subprocess.list2cmdline(argv), "/dev/null"])(timeout=60)
    lines = [l.strip() for l in r.stdout.replace("\r", "").splitlines() if l.strip()]
    assert lines and lines[0].startswith("/dev/pts/"), r


def test_ps(cd, task):
    r = cd.ctr("task", "ps", task)
    pids = [int(l.split()[0]) for l in r.stdout.splitlines()[1:] if l.strip()]
    assert cd.pid(task) in pids and len(pids) == 3, r  # sh and its two sleeps


def test_kill(cd, task):
    cd.ctr("task", "kill", "-s", "SIGTERM", task)
    wait_for(lambda: cd.status(task) == "STOPPED", timeout=20, what="SIGTERM to stop the task")


def test_kill_all(cd, task):
    pids = [int(l.split()[0]) for l in cd.ctr("task", "ps", task).stdout.splitlines()[1:] if l.strip()]
    cd.ctr("task", "kill", "--all", "-s", "SIGKILL", task)
    wait_for(lambda: cd.status(task) == "STOPPED", timeout=20, what="kill --all")
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}/stat") and open(f"/proc/{p}/stat").read().split()[2] != "Z"
                             for p in pids), timeout=20, what="every process to die")


def test_pause_resume(cd, task):
    pid = cd.pid(task)
    cd.ctr("task", "pause", task)
    assert cd.status(task) == "PAUSED"
    assert cgroup_file(pid, "freezer", "freezer.state") == "FROZEN"
    cd.ctr("task", "resume", task)
    assert cd.status(task) == "RUNNING"
    assert cgroup_file(pid, "freezer", "freezer.state") == "THAWED"


def test_memory_limit(cd):
    cid = cd.new_id()
    cd.ctr(*cd.run_args(cid, "-d", "--memory-limit", str(48 << 20)), IMAGE, cid, "sleep", "600")
    try:
        wait_for(lambda: cd.status(cid) == "RUNNING", timeout=20, what=f"{cid} running")
        assert cgroup_file(cd.pid(cid), "memory", "memory.limit_in_bytes") == str(48 << 20)
    finally:
        cd.remove(cid)


def test_oom_kill(cd):
    """The kernel's OOM killer strikes in the container's memory cgroup: the task exits
    137 and containerd publishes /tasks/oom."""
    events_log = os.path.join(cd.tmp, "events.log")
    with open(events_log, "wb") as out:
        ev = subprocess.Popen(cd.ctr.argv + ["events"], stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        # the subscription is live once it has seen an event: a first task's
        probe = cd.new_id()
        cd.ctr(*cd.run_args(probe, "--rm"), IMAGE, probe, "true")
        wait_for(lambda: probe in open(events_log).read(), timeout=30, what="ctr events to subscribe")
        cid = cd.new_id()
        r = cd.ctr(*cd.run_args(cid, "--rm", "--memory-limit", str(16 << 20)), IMAGE, cid,
                   "sh", "-c", "exec dd if=/dev/zero of=/dev/null bs=64M count=1",
                   check=False, timeout=60)
        assert r.returncode == 137, r
        wait_for(lambda: "/tasks/oom" in open(events_log).read(), timeout=20, what="the /tasks/oom event")
    finally:
        ev.terminate()
        try:
            ev.wait(timeout=10)
        except subprocess.TimeoutExpired:
            ev.kill()
            ev.wait(timeout=10)


def test_errors_reach_the_user(cd, tdir_missing="/nonexistent-pyrunc-source"):
    """containerd shows its user the last "level":"error" line of pyrunc's --log file:
    the user sees pyrunc's one line (naming the mount by its destination), not
    "exit status 1: unknown"."""
    cid = cd.new_id()
    r = cd.ctr(*cd.run_args(cid, "--rm", "--mount",
                            f"type=bind,src={tdir_missing},dst=/from-host,options=rbind:ro"),
               IMAGE, cid, "true", check=False)
    assert r.returncode != 0, r
    assert "(/from-host)" in r.stderr and tdir_missing in r.stderr, r
    assert "exit status 1: unknown" not in r.stderr
    cd.ctr("container", "rm", cid, check=False)


def test_exec_errors_reach_the_user(cd, task):
    r = cd.ctr(*cd.exec_args("--exec-id", "bad"), task, "/no/such/program", check=False)
    assert r.returncode != 0, r
    assert "/no/such/program" in r.stderr and "unknown" not in r.stderr.replace(": unknown", ""), r


def _readme_block(marker):
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
    with open(readme) as f:
        blocks = f.read().split("```")
    return next(b.split("\n", 1)[1] for b in blocks[1::2] if marker in b)


def test_readme_cri_runtime_handler_is_what_containerd_reads(cd):
    """The README's CRI handler lines, as containerd 1.6 parses them (`config dump`):
    a runc v2 runtime named pyrunc whose BinaryName is pyrunc."""
    block = _readme_block('containerd.runtimes.pyrunc]').replace("/opt/pyrunc/.venv/bin/pyrunc", cd.runtime)
    conf = os.path.join(cd.tmp, "cri-config.toml")
    with open(conf, "w") as f:
        f.write(f'version = 2\nroot = "{cd.tmp}/cri-root"\nstate = "{cd.tmp}/cri-state"\n{block}')
    out = Cmd(["containerd", "--config", conf, "config", "dump"])(timeout=60).stdout
    head = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pyrunc]'
    assert head in out, out
    runtime = out.split(head, 1)[1].split("\n  [plugins", 1)[0]
    assert 'runtime_type = "io.containerd.runc.v2"' in runtime, runtime
    options = out.split(head[:-1] + '.options]', 1)[1].split("\n  [", 1)[0]
    assert f'BinaryName = "{cd.runtime}"' in options, options
    assert not os.path.exists(f"{cd.tmp}/cri-root")  # a dump starts nothing
