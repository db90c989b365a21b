"""Podman 4.3 + conmon with pyrunc registered in a containers.conf of the test's own.

Everything Podman keeps (storage, run root, libpod tmp dir, CNI configs, events,
pyrunc's --root) lives in one temp dir; every podman command runs in a network and a
mount namespace the test made (make_namespaces), so the bridge of the --internal
network, its iptables rules, the containers' network namespaces and Podman's mounts
never touch the host's network or mount table.  Podman has no
daemon: conmon (one per container) is what is left running, and the module ends only
when none is.
"""

import json
import os
import resource
import shutil
import subprocess
import tempfile
import uuid

import pytest

from engine_util import IMAGE, Cmd, HostGuard, cgroup_file, finish, need, oci_archive, parent_comm, runtime_binary, wait_for

def _limit(res):
    """A value no limit on the way to the container is below (conmon's hard NPROC limit
    is lower than the test's)."""
    hard = resource.getrlimit(res)[1]
    return min(4096, hard) if hard != resource.RLIM_INFINITY else 4096


class Podman:
    def __init__(self, tmp, token):
        self.tmp = tmp
        self.token = token
        self.cgroup_parent = f"pyrunc-enginetest-{token}"
        self.state = os.path.join(tmp, "pyrunc-state")  # pyrunc's --root
        # Podman 4.3 passes --runtime-flag to its own runtime calls but not to the
        # cleanup process conmon starts when a container exits (it deletes the container
        # through the runtime): only a wrapper gives every call the test's --root.
        self.runtime = runtime_binary(tmp, root=self.state)
        self.ns = os.path.join(tmp, "ns")  # the namespaces of make_namespaces()
        conf = os.path.join(tmp, "containers.conf")
        nofile, nproc = _limit(resource.RLIMIT_NOFILE), _limit(resource.RLIMIT_NPROC)
        with open(conf, "w") as f:
            f.write(f"""[containers]
# no higher than the machine's hard limits: pyrunc has no CAP_SYS_RESOURCE to raise them
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
log_driver = "k8s-file"
netns = "none"
init_path = "/usr/bin/catatonit"

[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "{tmp}/cni"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{tmp}/events.log"
tmp_dir = "{tmp}/libpod"
volume_path = "{tmp}/volumes"
static_dir = "{tmp}/static"
conmon_path = ["/usr/bin/conmon"]
runtime = "pyrunc"
runtime_supports_json = ["pyrunc"]
no_pivot_root = false

[engine.runtimes]
pyrunc = ["{self.runtime}"]
""")
        storage = os.path.join(tmp, "storage.conf")
        with open(storage, "w") as f:
            f.write(f'[storage]\ndriver = "vfs"\nrunroot = "{tmp}/runroot"\ngraphroot = "{tmp}/graph"\n')
        registries = os.path.join(tmp, "registries.conf")
        with open(registries, "w") as f:
            f.write("unqualified-search-registries = []\n")
        os.makedirs(os.path.join(tmp, "vartmp"))
        env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage,
                   CONTAINERS_REGISTRIES_CONF=registries, TMPDIR=os.path.join(tmp, "vartmp"))
        env.pop("XDG_RUNTIME_DIR", None)
        self.env = env
        self.cmdlog = os.path.join(tmp, "commands.log")
        self.podman = Cmd(["nsenter", f"--net={self.ns}/net", f"--mount={self.ns}/mnt", "podman", "--root", f"{tmp}/graph",
                           "--runroot", f"{tmp}/runroot", "--storage-driver", "vfs"], env=env, log=self.cmdlog)

    def __call__(self, *args, **kw):
        args = list(args)
        if args and args[0] in ("run", "create"):
            args.insert(1, f"--cgroup-parent=/{self.cgroup_parent}")
        return self.podman(*args, **kw)

    def inspect(self, name, fmt):
        return self("inspect", "--format", fmt, name).stdout.strip()

    def run_d(self, *args):
        name = f"c-{uuid.uuid4().hex[:8]}"
        self("run", "-d", "--name", name, *args)
        return name


def make_namespaces(tmp):
    """The network and mount namespaces every podman command (and so conmon and the
    containers) runs in, kept as files in tmp/ns: the bridge of an --internal network,
    its iptables rules and the containers' network namespaces stay out of the host's
    network, and Podman's /run/netns (a shared self-bind mount it never removes) lands in
    a tmpfs on /run that only this mount namespace sees."""
    ns = os.path.join(tmp, "ns")
    os.mkdir(ns)
    run = lambda *a: subprocess.run(a, check=True, timeout=30, capture_output=True)  # noqa: E731
    run("mount", "--bind", ns, ns)
    run("mount", "--make-private", ns)  # a mount namespace file must not sit on a shared mount
    for name in ("net", "mnt"):
        open(os.path.join(ns, name), "w").close()
    run("unshare", f"--net={ns}/net", "true")
    run("unshare", f"--mount={ns}/mnt", "--propagation", "private",
        "mount", "-t", "tmpfs", "-o", "mode=755,size=16m", "pyrunc-test-run", "/run")


def drop_namespaces(tmp):
    ns = os.path.join(tmp, "ns")
    for path in (f"{ns}/net", f"{ns}/mnt", ns):
        subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pm():
    need("podman", "conmon", "nsenter", "unshare")
    token = uuid.uuid4().hex[:8]
    tmp = tempfile.mkdtemp(prefix=f"pyrunc-pm-{token}-")
    p = None
    guard = HostGuard(tmp, f"pyrunc-enginetest-{token}", token=token,
                      paths=["/run/libpod", "/run/containers", "/run/pyrunc", "/etc/cni", "/etc/containers"],
                      scratch=["/var/lib/cni", "/var/lib/containers"], engine_cgroups=["conmon"])

    def teardown():
        try:
            p("rm", "--all", "--force", "--time", "0", check=False, timeout=120)
            for net in p("network", "ls", "--format", "{{.Name}}", check=False).stdout.split():
                if token in net:
                    p("network", "rm", "-f", net, check=False)
            p("rmi", "--all", "--force", check=False, timeout=120)
        finally:
            drop_namespaces(tmp)
    try:
        make_namespaces(tmp)
        p = Podman(tmp, token)
        archive = oci_archive(os.path.join(tmp, "busybox-oci.tar"))
        p("load", "-i", archive, timeout=120)
        assert IMAGE in p("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
        yield p
    finally:
        if p is None:
            drop_namespaces(tmp)
        finish(guard, tmp, teardown if p is not None else None, "podman")


def test_pyrunc_is_the_runtime(pm):
    info = json.loads(pm("info", "--format", "json").stdout)
    assert info["host"]["ociRuntime"]["name"] == "pyrunc"
    assert info["host"]["ociRuntime"]["path"] == pm.runtime


def test_run_rm(pm):
    r = pm("run", "--rm", IMAGE, "sh", "-c", "echo hello from $(hostname); cat /data/from-image")
    assert r.stdout.splitlines()[1:] == ["image-content"], r
    assert r.stdout.startswith("hello from ")
    assert pm("ps", "-a", "--format", "{{.Names}}").stdout.strip() == ""
    assert os.listdir(pm.state) == []  # pyrunc's state is gone with the container


def test_run_exit_status(pm):
    r = pm("run", "--rm", IMAGE, "sh", "-c", "exit 42", check=False)
    assert r.returncode == 42, r


def test_detached_container_is_pyruncs(pm):
    name = pm.run_d(IMAGE, "sleep", "300")
    cid = pm.inspect(name, "{{.Id}}")
    assert pm.inspect(name, "{{.OCIRuntime}}") == "pyrunc"
    assert pm.inspect(name, "{{.State.Status}}") == "running"
    assert cid in os.listdir(pm.state)
    pid = int(pm.inspect(name, "{{.State.Pid}}"))  # conmon read it from pyrunc's --pid-file
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    assert parent_comm(pid) == "conmon"  # conmon is the init's subreaper and reaps it
    pm("rm", "-f", "-t", "0", name)
    assert cid not in os.listdir(pm.state)


@pytest.fixture(scope="module")
def sleeper(pm):
    name = pm.run_d(IMAGE, "sleep", "600")
    yield name
    pm("rm", "-f", "-t", "0", name, check=False)


def test_exec_plain(pm, sleeper):
    assert pm("exec", sleeper, "echo", "hi").stdout == "hi\n"


def test_exec_user_workdir_env(pm, sleeper):
    r = pm("exec", "--user", "1000:1000", "--workdir", "/tmp", "--env", "FOO=bar", sleeper,
           "sh", "-c", 'echo "$(id -u):$(id -g) $(pwd) $FOO"')
    assert r.stdout == "1000:1000 /tmp bar\n", r


def test_exec_tty(pm, sleeper):
    r = pm("exec", "-t", sleeper, "sh", "-c", "tty; [ -t 1 ] && echo is-a-tty")
    lines = [l.strip() for l in r.stdout.splitlines()]
    assert lines[0].startswith("/dev/pts/") and lines[1] == "is-a-tty", r


def test_exec_exit_code(pm, sleeper):
    r = pm("exec", sleeper, "sh", "-c", "exit 7", check=False)
    assert r.returncode == 7, r


def test_exec_preserve_fds(pm, sleeper):
    path = os.path.join(pm.tmp, "fd3-content")
    with open(path, "w") as f:
        f.write("through-fd-3\n")
    # fd 3 of podman: opened by a shell that then execs the podman command line
    argv = pm.podman.argv + ["exec", "--preserve-fds", "1", sleeper, "sh", "-c", "cat <&3"]
    r = Cmd(["sh", "-c", 'exec 3<"$0"; exec "$@"', path] + argv, env=pm.env)()
    assert r.stdout == "through-fd-3\n", r


def test_exec_joins_the_container(pm, sleeper):
    pid = int(pm.inspect(sleeper, "{{.State.Pid}}"))
    r = pm("exec", sleeper, "sh", "-c", "for n in mnt pid net uts ipc; do readlink /proc/self/ns/$n; done")
    want = [os.readlink(f"/proc/{pid}/ns/{n}") for n in ("mnt", "pid", "net", "uts", "ipc")]
    assert r.stdout.split() == want


def test_logs(pm):
    name = pm.run_d(IMAGE, "sh", "-c", "echo to-stdout; echo to-stderr >&2; sleep 600")
    try:
        out = wait_for(lambda: (lambda r: r if "to-stderr" in r.stdout + r.stderr else None)(
            pm("logs", name)), timeout=20, what="the container's logs")
        assert "to-stdout" in out.stdout and "to-stderr" in out.stdout + out.stderr
    finally:
        pm("rm", "-f", "-t", "0", name)


def test_read_only(pm):
    """--read-only: a read-only rootfs with tmpfs (tmpcopyup) on /run, /tmp, /var/tmp."""
    r = pm("run", "--rm", "--read-only", IMAGE, "sh", "-c",
           "cat /run/from-image; touch /tmp/x /run/y /var/tmp/z && echo tmpfs-writable; "
           "touch /data/x 2>/dev/null || echo root-read-only; grep -E ' /(run|tmp) ' /proc/mounts | cut -d' ' -f2,3")
    lines = r.stdout.splitlines()
    assert lines[:3] == ["run-content", "tmpfs-writable", "root-read-only"], r
    assert sorted(lines[3:]) == ["/run tmpfs", "/tmp tmpfs"], r


def test_tmpfs_option(pm):
    r = pm("run", "--rm", "--tmpfs", "/data:rw,size=4m", IMAGE, "sh", "-c",
           "cat /data/from-image; echo new > /data/new && cat /data/new; grep ' /data ' /proc/mounts")
    lines = r.stdout.splitlines()
    assert lines[:2] == ["image-content", "new"], r
    assert " tmpfs " in lines[2] and "size=4096k" in lines[2], r


def test_resources_in_the_cgroup(pm):
    name = pm.run_d("--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", IMAGE, "sleep", "600")
    try:
        pid = int(pm.inspect(name, "{{.State.Pid}}"))
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
        quota = int(cgroup_file(pid, "cpu", "cpu.cfs_quota_us"))
        period = int(cgroup_file(pid, "cpu", "cpu.cfs_period_us"))
        assert quota * 2 == period
        assert cgroup_file(pid, "pids", "pids.max") == "50"
        with open(f"/proc/{pid}/cgroup") as f:
            assert pm.cgroup_parent in f.read()  # under the test's own parent
    finally:
        pm("rm", "-f", "-t", "0", name)


def test_pause_unpause(pm):
    name = pm.run_d(IMAGE, "sleep", "600")
    try:
        pid = int(pm.inspect(name, "{{.State.Pid}}"))
        pm("pause", name)
        assert pm.inspect(name, "{{.State.Status}}") == "paused"
        assert cgroup_file(pid, "freezer", "freezer.state") == "FROZEN"
        pm("unpause", name)
        assert pm.inspect(name, "{{.State.Status}}") == "running"
        assert cgroup_file(pid, "freezer", "freezer.state") == "THAWED"
    finally:
        pm("rm", "-f", "-t", "0", name)


def test_stop_start(pm):
    name = pm.run_d(IMAGE, "sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.2; done")
    try:
        first = int(pm.inspect(name, "{{.State.Pid}}"))
        pm("stop", "-t", "10", name, timeout=60)
        assert pm.inspect(name, "{{.State.Status}}") == "exited"
        assert pm.inspect(name, "{{.State.ExitCode}}") == "3"
        pm("start", name)
        assert pm.inspect(name, "{{.State.Status}}") == "running"
        assert int(pm.inspect(name, "{{.State.Pid}}")) != first
        pm("kill", name)  # SIGKILL through `pyrunc kill ID 9`
        wait_for(lambda: pm.inspect(name, "{{.State.Status}}") == "exited", timeout=20, what="kill")
    finally:
        pm("rm", "-f", "-t", "0", name)


def test_init(pm):
    r = pm("run", "--rm", "--init", IMAGE, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$")
    first, me = r.stdout.splitlines()
    assert "catatonit" in first or first.startswith("/run/podman-init"), r
    assert me != "1"


def test_internal_bridge_network(pm):
    net = f"pyrunc-int-{pm.token}"
    pm("network", "create", "--internal", "--subnet", "10.231.77.0/24", net)
    try:
        r = pm("run", "--rm", "--network", net, IMAGE, "sh", "-c", "ip -o -4 addr show; ip route")
        assert "10.231.77." in r.stdout, r
        assert "default" not in r.stdout  # internal: no way out
    finally:
        pm("network", "rm", "-f", net)


def test_checkpoint_is_reported_unsupported(pm):
    name = pm.run_d(IMAGE, "sleep", "600")
    try:
        r = pm("container", "checkpoint", name, check=False, timeout=60)
        assert r.returncode != 0, r
        err = r.stderr.lower()
        assert "checkpoint" in err and "panic" not in err, r
        if shutil.which("criu"):  # then Podman asks the runtime: `pyrunc checkpoint --help` exits 1
            assert "configured runtime does not support checkpoint/restore" in err, r
        else:
            assert "criu" in err, r
        assert pm.inspect(name, "{{.State.Status}}") == "running"
    finally:
        pm("rm", "-f", "-t", "0", name)
