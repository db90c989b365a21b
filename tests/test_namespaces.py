"""linux.namespaces (new, host, joined by path), hostname, domainname,
sysctl, user namespace mappings."""

import os

import pytest

from conformance.bundle import host_ns
from util import (checker, checker_args, create_running, report_of, sh_out,
                  shell)

# config type -> /proc/PID/ns name
NS_FILES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts",
            "mount": "mnt", "cgroup": "cgroup"}
BASE = ["pid", "network", "ipc", "uts", "mount"]


def ns_config(types):
    return {"namespaces": [{"type": t} for t in types]}


@pytest.mark.parametrize("typ", sorted(NS_FILES))
def test_namespace_new(rt, cid, make_bundle, typ):
    types = sorted(set(BASE) | {typ})
    b = make_bundle(checker_args("ns"), write=False)
    b.config["linux"]["namespaces"] = [{"type": t} for t in types]
    b.write()
    rep = report_of(rt, cid, b)
    host = host_ns()
    name = NS_FILES[typ]
    assert rep[f"ns.{name}"] != host[name], f"{typ}: not a new namespace"


@pytest.mark.parametrize("typ", ["pid", "network", "ipc", "uts", "cgroup"])
def test_namespace_host(rt, cid, make_bundle, typ):
    types = [t for t in BASE if t != typ]
    b = make_bundle(checker_args("ns"), write=False)
    b.config["linux"]["namespaces"] = [{"type": t} for t in types]
    if typ == "uts":
        b.config.pop("hostname", None)
    b.write()
    rep = report_of(rt, cid, b)
    name = NS_FILES[typ]
    assert rep[f"ns.{name}"] == host_ns()[name], \
        f"{typ}: should be the host's namespace"


def test_pid_namespace_isolation(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle,
                 "echo $$; ls -d /proc/[0-9]* | wc -l")
    pid, count = out.split()
    assert pid == "1"
    # sh, plus ls and wc (and the subshell) at most
    assert int(count) <= 4, out


def test_network_namespace_only_loopback(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle,
                 "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
    assert out.split() == ["lo"]


def test_cgroup_namespace_root(rt, cid, make_bundle):
    b = make_bundle(shell("cat /proc/self/cgroup"), write=False)
    b.config["linux"]["namespaces"].append({"type": "cgroup"})
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    for line in r.out.splitlines():
        assert line.split(":", 2)[2] == "/", r.out


def test_hostname(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "uts", hostname="pyrunc-host.test")
    assert rep["hostname"] == "pyrunc-host.test"
    with open("/proc/sys/kernel/hostname") as f:
        assert f.read().strip() != "pyrunc-host.test"


@pytest.mark.not_runc
def test_domainname(rt, cid, make_bundle):
    # top-level domainname (spec 1.1+): runc 1.1.5 ignores it
    b = make_bundle(checker_args("uts"), hostname="h1", write=False)
    b.config["domainname"] = "pyrunc.example"
    b.write()
    rep = report_of(rt, cid, b)
    assert rep["hostname"] == "h1"
    assert rep["domainname"] == "pyrunc.example"


def test_hostname_without_uts_namespace_fails(rt, cid, make_bundle):
    b = make_bundle(["true"], write=False)
    b.config["linux"]["namespaces"] = [{"type": t} for t in BASE
                                       if t != "uts"]
    b.config["hostname"] = "nope"
    b.write()
    r = rt.run(cid, b)
    assert r.rc != 0, r
    with open("/proc/sys/kernel/hostname") as f:
        assert f.read().strip() != "nope"


def _ns_path_bundle(make_bundle, pid, typ, script):
    b = make_bundle(shell(script), write=False)
    for n in b.config["linux"]["namespaces"]:
        if n["type"] == typ:
            n["path"] = f"/proc/{pid}/ns/{NS_FILES[typ]}"
    return b


@pytest.mark.parametrize("typ", ["network", "uts", "ipc"])
def test_join_namespace_by_path(rt, new_cid, make_bundle, typ):
    a = new_cid()
    pid = create_running(rt, a, make_bundle(["sleep", "30"],
                                            hostname="first"))
    want = os.readlink(f"/proc/{pid}/ns/{NS_FILES[typ]}")
    b = _ns_path_bundle(make_bundle, pid, typ,
                        f"readlink /proc/self/ns/{NS_FILES[typ]}; hostname")
    if typ == "uts":
        b.config.pop("hostname", None)
    b.write()
    r = rt.run(new_cid(), b)
    assert r.rc == 0, r
    got, hostname = r.out.split()
    assert got == want
    if typ == "uts":
        assert hostname == "first"


def test_join_pid_namespace_by_path(rt, new_cid, make_bundle):
    a = new_cid()
    pid = create_running(rt, a, make_bundle(["sleep", "30"]))
    b = _ns_path_bundle(make_bundle, pid, "pid",
                        "readlink /proc/self/ns/pid; cat /proc/1/cmdline")
    b.write()
    r = rt.run(new_cid(), b)
    assert r.rc == 0, r
    lines = r.out.split("\n", 1)
    assert lines[0] == os.readlink(f"/proc/{pid}/ns/pid")
    assert lines[1].startswith("sleep")


def test_sysctl(rt, cid, make_bundle):
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_fwd = f.read().strip()
    want_fwd = "0" if host_fwd == "1" else "1"
    b = make_bundle(checker_args("sysctl=net.ipv4.ip_forward",
                                 "sysctl=kernel.shm_rmid_forced",
                                 "sysctl=kernel.msgmax"), write=False)
    b.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": want_fwd,
                                   "kernel.shm_rmid_forced": "1",
                                   "kernel.msgmax": "12345"}
    b.write()
    rep = report_of(rt, cid, b)
    assert rep["sysctl.net.ipv4.ip_forward"] == want_fwd
    assert rep["sysctl.kernel.shm_rmid_forced"] == "1"
    assert rep["sysctl.kernel.msgmax"] == "12345"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == host_fwd, "sysctl leaked to the host"


def test_sysctl_host_namespace_rejected(rt, cid, make_bundle):
    """A namespaced sysctl for a namespace the container shares with the
    host must not be applied (runc refuses the config)."""
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_fwd = f.read().strip()
    b = make_bundle(["true"], write=False)
    b.config["linux"]["namespaces"] = [{"type": t} for t in BASE
                                       if t != "network"]
    b.config["linux"]["sysctl"] = {
        "net.ipv4.ip_forward": "0" if host_fwd == "1" else "1"}
    b.write()
    r = rt.run(cid, b)
    assert r.rc != 0, r
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == host_fwd


def test_user_namespace_mappings(rt, cid, make_bundle, tdir):
    # the mapped root (host uid 100000) must be able to reach the rootfs
    os.chmod(tdir, 0o755)
    b = make_bundle(shell("cat /proc/self/uid_map /proc/self/gid_map; id -u; "
                          "stat -c %u /bin/busybox"), write=False)
    b.config["linux"]["namespaces"].append({"type": "user"})
    b.config["linux"]["uidMappings"] = [
        {"containerID": 0, "hostID": 100000, "size": 65536}]
    b.config["linux"]["gidMappings"] = [
        {"containerID": 0, "hostID": 100000, "size": 65536}]
    # cgroup v1 and sysfs cannot be mounted in a user namespace here
    b.config["mounts"] = [m for m in b.config["mounts"]
                          if m["destination"] not in ("/sys/fs/cgroup",
                                                      "/sys")]
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    lines = [l.split() for l in r.out.splitlines()]
    assert lines[0] == ["0", "100000", "65536"]
    assert lines[1] == ["0", "100000", "65536"]
    assert lines[2] == ["0"]
    # host root's files are not owned by the container's root
    assert lines[3] == ["65534"]


@pytest.mark.not_runc
def test_time_namespace_offsets(rt, cid, make_bundle):
    b = make_bundle(shell("cat /proc/self/timens_offsets"), write=False)
    b.config["linux"]["namespaces"].append({"type": "time"})
    b.config["linux"]["timeOffsets"] = {
        "monotonic": {"secs": 86400, "nanosecs": 0},
        "boottime": {"secs": 3600, "nanosecs": 0}}
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    offs = {l.split()[0]: l.split()[1] for l in r.out.splitlines()}
    assert offs.get("monotonic") == "86400"
    assert offs.get("boottime") == "3600"


@pytest.mark.parametrize("extra, one_clone", [(None, True), ("cgroup", False)])
def test_usual_container_is_one_clone(rt, cid, make_bundle, tdir, extra, one_clone):
    """create clones the usual container's init straight into its new namespaces (clone3
    with the CLONE_NEW* flags): the process that reaches stage1-start is already pid 1 of
    the new pid namespace and a child of create.  A cgroup namespace (made after the v1
    cgroups are joined) takes the two stages: stage 1 runs in create's pid namespace."""
    import signal

    from util import wait_stopped_at

    if rt.name != "pyrunc":
        pytest.skip("pyrunc's test-only step hooks")
    b = make_bundle(["true"], write=False)
    if extra:
        b.config["linux"]["namespaces"].append({"type": extra})
    b.write()
    stop = os.path.join(tdir, "stop")
    env = dict(rt.env or os.environ, PYRUNC_TEST_STOP_AT="stage1-start", PYRUNC_TEST_STOP_FILE=stop)
    rt.track(cid)
    p = rt.popen("create", "--bundle", b.path, cid, env=env)
    try:
        assert wait_stopped_at(stop, "stage1-start"), f"never reached stage1-start: {rt.read_popen(p)}"
        with open(stop) as f:
            logged = int(f.read().split()[1])  # its pid as it sees it
        # find it among create's children: the host's view
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
        assert len(kids) == 1, kids
        with open(f"/proc/{kids[0]}/status") as f:
            nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")][0]
        if one_clone:
            assert logged == 1 and nspid == [str(kids[0]), "1"], (logged, nspid)
        else:
            assert logged == kids[0] and nspid == [str(kids[0])], (logged, nspid)
    finally:
        p.send_signal(signal.SIGKILL)  # the child dies with it (PDEATHSIG)
        p.wait()
    assert rt.delete(cid, force=True).rc == 0


def test_network_namespace_made_ahead_is_the_containers_own(rt, new_cid, make_bundle):
    """create makes the container's new network namespace in a thread while it goes
    on, and hands it to the container's init: the container's namespace is not the
    host's and has lo up; a foreground run (a long-lived runtime process) keeps no
    fd of it."""
    host = os.readlink("/proc/self/ns/net")
    cid = new_cid()
    rt.track(cid)
    r = rt.run(cid, make_bundle(["sh", "-c", "readlink /proc/self/ns/net; cat /sys/class/net/lo/flags"]))
    assert r.rc == 0, r
    ns, flags = r.out.split()
    assert ns != host and ns.startswith("net:["), r.out
    assert int(flags, 16) & 1, r.out  # IFF_UP
    cid = new_cid()
    rt.track(cid)
    p = rt.popen("run", "--bundle", make_bundle(["sleep", "1000"]).path, cid)
    try:
        assert rt.wait_status(cid, "running") == "running"
        fds = os.listdir(f"/proc/{p.pid}/fd")
        links = [os.readlink(f"/proc/{p.pid}/fd/{n}") for n in fds if os.path.exists(f"/proc/{p.pid}/fd/{n}")]
        assert not [link for link in links if link.startswith("net:")], links
    finally:
        rt.kill(cid, "KILL")
        p.wait(timeout=20)


def test_unit_network_ahead_gives_a_new_namespace_once():
    """NetworkAhead: take() joins the thread and gives a network namespace that is not
    ours (this process stays in its own); a second take(), or discard() after take,
    gives and closes nothing."""
    import fcntl

    from runtime.namespaces import NS_GET_NSTYPE, TYPES, NetworkAhead

    ahead = NetworkAhead()
    fd = ahead.take()
    assert fd is not None
    try:
        assert fcntl.ioctl(fd, NS_GET_NSTYPE) == TYPES["network"][0]
        assert os.fstat(fd).st_ino != os.stat("/proc/self/ns/net").st_ino
        assert os.readlink("/proc/thread-self/ns/net") == os.readlink("/proc/self/ns/net")
        assert ahead.take() is None
        ahead.discard()
        os.fstat(fd)  # still open: discard after take leaves the caller's fd alone
    finally:
        os.close(fd)
    other = NetworkAhead()
    other.discard()  # not taken: joined and closed
    assert other.take() is None
