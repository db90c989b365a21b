"""Security: id escapes, symlink-escaping mounts, /proc/self/exe, fd and cwd
leaks, masked/readonly proc and sys, dropped privileges, device cgroup."""

import os
import stat

import pytest

from conformance.bundle import host_mountinfo
from util import (assert_error, checker, create_running, sh_out, shell,
                  state_dir_exists)


def _host_entries(path):
    return sorted(os.listdir(path))


# -- container id cannot escape the state root --------------------------------

@pytest.mark.parametrize("bad", ["../escape", "../../escape", "x/../../escape",
                                 "/tmp/escape"])
def test_id_cannot_escape_state_root(rt, make_bundle, tdir, bad):
    victim = os.path.join(tdir, "escape")
    os.makedirs(victim)
    with open(os.path.join(victim, "state.json"), "w") as f:
        f.write('{"id": "escape"}')
    b = make_bundle(["true"])
    before = _host_entries(tdir)
    for args in (["create", "--bundle", b.path, bad], ["delete", "--force", bad],
                 ["delete", bad], ["kill", bad, "KILL"], ["start", bad]):
        r = rt.cmd(*args)
        assert r.rc != 0 or args[:2] == ["delete", "--force"], (args, r)
        assert "Traceback" not in r.err
    # the look-alike state outside the root is untouched
    assert os.path.exists(os.path.join(victim, "state.json"))
    assert _host_entries(tdir) == before
    assert not os.path.exists("/tmp/escape")


def test_state_of_id_outside_root_fails(rt, tdir):
    victim = os.path.join(tdir, "escape")
    os.makedirs(victim)
    r = rt.state_raw("../escape")
    assert_error(r, rt)


# -- mount destination symlinks stay inside the rootfs (CVE-2021-30465) ------

@pytest.mark.parametrize("link", ["abs", "rel"])
def test_mount_destination_symlink_stays_in_rootfs(rt, cid, make_bundle, tdir,
                                                   link):
    host_dir = os.path.join(tdir, "host-dir")
    os.makedirs(host_dir)
    with open(os.path.join(host_dir, "precious"), "w") as f:
        f.write("host\n")
    b = make_bundle(shell("echo pwned > /evil/written; ls /evil"),
                    root={"readonly": False}, write=False)
    target = host_dir if link == "abs" else "../../../../../../../.." + host_dir
    os.symlink(target, b.rootfs_path("/evil"))
    b.add_mount("/evil", "tmpfs", "tmpfs", ["size=64k"])
    b.write()
    r = rt.run(cid, b)
    # success or refusal are both fine; escaping is not
    assert _host_entries(host_dir) == ["precious"], \
        "the mount or the write landed on the host directory"
    for m in host_mountinfo():
        assert not m["mountpoint"].startswith(host_dir), m["line"]
    if r.rc == 0:
        assert r.out.split() == ["written"], r.out


def test_bind_destination_symlink_stays_in_rootfs(rt, cid, make_bundle, tdir):
    host_dir = os.path.join(tdir, "host-dir2")
    os.makedirs(host_dir)
    src = os.path.join(tdir, "src")
    os.makedirs(src)
    open(os.path.join(src, "from-src"), "w").close()
    b = make_bundle(["true"], root={"readonly": False}, write=False)
    os.symlink(host_dir, b.rootfs_path("/evil"))
    b.add_mount("/evil", "bind", src, ["rbind", "ro"])
    b.write()
    rt.run(cid, b)
    assert _host_entries(host_dir) == []
    for m in host_mountinfo():
        assert not m["mountpoint"].startswith(host_dir), m["line"]


def test_proc_symlink_in_rootfs_does_not_mount_on_host(rt, cid, make_bundle,
                                                       tdir):
    host_dir = os.path.join(tdir, "fake-proc")
    os.makedirs(host_dir)
    b = make_bundle(["true"], write=False)
    os.rmdir(b.rootfs_path("/proc"))
    os.symlink(host_dir, b.rootfs_path("/proc"))
    b.write()
    rt.run(cid, b)
    assert _host_entries(host_dir) == []
    for m in host_mountinfo():
        assert not m["mountpoint"].startswith(host_dir), m["line"]


# -- /proc/self/exe (CVE-2019-5736) -----------------------------------------

def test_proc_1_exe_not_writable_from_inside(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle,
                 "ls -l /proc/1/exe >/dev/null && echo listed; "
                 "(echo x >> /proc/1/exe) 2>/dev/null && echo WRITABLE "
                 "|| echo denied; "
                 "(echo x >> /proc/self/exe) 2>/dev/null && echo WRITABLE "
                 "|| echo denied",
                 process={"capabilities": {k: ["CAP_DAC_OVERRIDE", "CAP_KILL"]
                                           for k in ("bounding", "permitted",
                                                     "effective")}})
    assert out.split() == ["listed", "denied", "denied"]


def test_created_init_exe_is_not_a_writable_host_binary(rt, cid, make_bundle):
    """While created, the container's init runs runtime code: its
    /proc/PID/exe must not be a writable handle to a host binary."""
    assert rt.create(cid, make_bundle(["sleep", "30"])).rc == 0
    pid = rt.state(cid)["pid"]
    try:
        fd = os.open(f"/proc/{pid}/exe", os.O_WRONLY)
    except OSError:
        pass
    else:
        os.close(fd)
        pytest.fail(f"/proc/{pid}/exe of the created init opened for writing "
                    f"({os.readlink(f'/proc/{pid}/exe')})")


def test_created_init_is_the_sealed_freestanding_helper(rt, cid, make_bundle):
    """The waiting container runs pyrunc-init from its sealed memfd and maps nothing
    else: no host file (no libc, no loader) it could reach through /proc/PID/map_files,
    and on x86_64/aarch64 a freestanding helper of a few kB (every create copies it and
    every waiting container keeps it mapped)."""
    import platform

    if rt.name != "pyrunc":
        pytest.skip("pyrunc's helper")
    assert rt.create(cid, make_bundle(["sleep", "30"])).rc == 0
    pid = rt.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/exe").startswith("/memfd:pyrunc-init"), os.readlink(f"/proc/{pid}/exe")
    with open(f"/proc/{pid}/maps") as f:
        mapped = {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}
    assert all(m.startswith(("/memfd:pyrunc-init", "[")) for m in mapped), mapped
    if platform.machine() in ("x86_64", "aarch64"):
        size = os.stat(f"/proc/{pid}/exe").st_size
        assert size < 64 << 10, f"pyrunc-init is {size} bytes: built with libc?"


# -- fd and cwd leaks (CVE-2024-21626) ----------------------------------------

def test_no_host_fds_in_container(rt, cid, make_bundle, tdir):
    rep = checker(rt, cid, make_bundle, "fd", "id")
    fds = rep.fds()
    # 0-2 are the caller's stdio (passed through by design); nothing else
    assert set(fds) == {0, 1, 2}, fds
    assert rep["cwd"] == "/"


def test_no_host_fds_in_created_init(rt, cid, make_bundle, tdir):
    """The created (waiting) init holds no fd to a host directory."""
    assert rt.create(cid, make_bundle(["sleep", "30"])).rc == 0
    pid = rt.state(cid)["pid"]
    for n in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            continue
        if not target.startswith("/"):
            continue  # pipe:, socket:, anon_inode:
        st = os.stat(f"/proc/{pid}/fd/{n}")
        assert not stat.S_ISDIR(st.st_mode), \
            f"created init holds a directory fd {n} -> {target}"


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 8, 9])
def test_cwd_via_proc_self_fd_does_not_reach_host(rt, cid, make_bundle, tdir, n):
    b = make_bundle(shell(f"test -e ../../../../../../../..{tdir} "
                          "&& echo ESCAPED; echo done"),
                    process={"cwd": f"/proc/self/fd/{n}"})
    r = rt.run(cid, b)
    assert "ESCAPED" not in r.out, f"cwd reached the host: {r}"


def test_cwd_is_inside_container(rt, cid, make_bundle, tdir):
    out = sh_out(rt, cid, make_bundle,
                 f"test -e ../../../../../..{tdir} && echo ESCAPED; pwd -P",
                 process={"cwd": "/tmp"})
    assert out.split() == ["/tmp"]


# -- proc and sys ----------------------------------------------------------

def test_proc_masks_and_readonly(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "read=/proc/kcore",
                  "write=/proc/sys/vm/drop_caches",
                  "write=/proc/sysrq-trigger", "write=/sys/kernel/uevent_helper",
                  "write=/proc/sys/kernel/core_pattern")
    assert rep["write./proc/sys/vm/drop_caches"] == "fail"
    assert rep["write./proc/sysrq-trigger"] == "fail"
    assert rep["write./sys/kernel/uevent_helper"] == "fail"
    assert rep["write./proc/sys/kernel/core_pattern"] == "fail"


def test_kcore_reads_empty(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle, "head -c 16 /proc/kcore | wc -c")
    assert out.strip() == "0"


def test_cannot_mount_without_sys_admin(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle,
                 "mount -t tmpfs x /tmp 2>/dev/null && echo MOUNTED "
                 "|| echo denied")
    assert out.strip() == "denied"


def test_cannot_remount_proc_writable(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle,
                 "mount -o remount,rw /proc/sys 2>/dev/null && echo REMOUNTED "
                 "|| echo denied")
    assert out.strip() == "denied"


def test_device_cgroup_denies_host_disk(rt, cid, make_bundle):
    """CAP_MKNOD without a devices rule: a node for a host block device can be
    made (or not), but never opened."""
    st = os.stat("/")
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    caps = ["CAP_MKNOD", "CAP_DAC_OVERRIDE"]
    out = sh_out(rt, cid, make_bundle,
                 f"mknod /tmp/disk b {major} {minor} 2>/dev/null; "
                 "head -c 1 /tmp/disk >/dev/null 2>&1 && echo OPENED "
                 "|| echo denied",
                 root={"readonly": False},
                 process={"capabilities": {k: caps for k in (
                     "bounding", "permitted", "effective")}})
    assert out.strip() == "denied"


def test_state_dir_not_world_writable(rt, cid, make_bundle):
    create_running(rt, cid, make_bundle(["sleep", "30"]))
    for p in (rt.root, os.path.join(rt.root, cid)):
        mode = os.stat(p).st_mode
        assert not mode & stat.S_IWOTH, (p, oct(mode))


def test_host_pid_not_visible(rt, cid, make_bundle):
    me = os.getpid()
    out = sh_out(rt, cid, make_bundle,
                 f"test -e /proc/{me} && echo VISIBLE; echo ok")
    # pid numbers may coincide inside; the cmdline must not be ours
    if "VISIBLE" in out:
        out2 = sh_out(rt, cid + "-2", make_bundle,
                      f"cat /proc/{me}/cmdline | tr '\\0' ' '")
        assert "pytest" not in out2


# -- ids that mean "leave unchanged" and id ranges that overflow ---------------

def _marker_hook(tdir):
    """A prestart hook that leaves a file: proof that create got that far."""
    marker = os.path.join(tdir, "made-something")
    return marker, {"prestart": [{"path": "/bin/touch",
                                  "args": ["touch", marker]}]}


@pytest.mark.parametrize("field,user", [
    ("process.user.uid", {"uid": 4294967295, "gid": 0}),
    ("process.user.gid", {"uid": 0, "gid": 4294967295}),
    ("process.user.additionalGids", {"uid": 0, "gid": 0,
                                     "additionalGids": [5, 4294967295]}),
])
def test_id_minus_one_is_refused_before_anything_is_made(rt, cid, make_bundle,
                                                          tdir, field, user):
    """(uid_t)-1 means "unchanged" to setresuid/setresgid/setgroups: the
    process would stay root with its capabilities."""
    marker, hooks = _marker_hook(tdir)
    b = make_bundle(shell("echo uid=$(id -u) gid=$(id -g) groups=$(id -G)"),
                    hooks=hooks, process={"user": user})
    r = rt.run(cid, b)
    assert r.rc != 0, f"ran with {user}: {r.out}"
    assert_error(r, rt)
    assert not state_dir_exists(rt, cid)
    if rt.name == "pyrunc":  # runc refuses ids above 2^31-1, late, without naming the field
        assert field in r.err, r.err
        assert not os.path.exists(marker), "refused only after things were made"


def _userns_maps(uid, gid):
    return {"uidMappings": uid, "gidMappings": gid}


_OK_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


@pytest.mark.parametrize("field,maps", [
    ("linux.uidMappings[0]", _userns_maps(
        [{"containerID": 4294967000, "hostID": 100000, "size": 1000}], _OK_MAP)),
    ("linux.uidMappings[1]", _userns_maps(
        _OK_MAP + [{"containerID": 70000, "hostID": 4294967000, "size": 1000}],
        _OK_MAP)),
    ("linux.gidMappings[0]", _userns_maps(
        _OK_MAP, [{"containerID": 1, "hostID": 100000, "size": 4294967295}])),
    ("linux.gidMappings[0]", _userns_maps(
        _OK_MAP, [{"containerID": 0, "hostID": 4294967295, "size": 1}])),
])
def test_overflowing_id_mappings_are_refused_up_front(rt, cid, make_bundle,
                                                      tdir, field, maps):
    marker, hooks = _marker_hook(tdir)
    b = make_bundle(["true"], write=False, hooks=hooks)
    b.config["linux"]["namespaces"].append({"type": "user"})
    b.config["linux"].update(maps)
    b.write()
    r = rt.create(cid, b)
    assert_error(r, rt)
    assert not os.path.exists(marker)
    assert not state_dir_exists(rt, cid)
    if rt.name == "pyrunc":
        assert field in r.err, r.err
        # check shares the validation: it must not promise this bundle runs
        c = rt.cmd("check", "--bundle", b.path, root=False)
        assert c.rc != 0 and field in (c.out + c.err), c


# -- mounts inside /proc and writes into procfs (CVE-2025-52881 class) --------

def _evil_proc_dir(path, victim_in_container):
    """A directory shaped like /proc/sys/net/ipv4 whose entries are symlinks:
    ip_forward to a host-global sysctl (the issue's recipe), ip_default_ttl to
    a file of the test's own (so a write that follows it is seen)."""
    os.makedirs(path, exist_ok=True)
    os.symlink("/proc/sys/kernel/printk_ratelimit",
               os.path.join(path, "ip_forward"))
    os.symlink(victim_in_container, os.path.join(path, "ip_default_ttl"))


@pytest.mark.not_runc
@pytest.mark.parametrize("how", ["direct", "via-rootfs-symlink", "fake-proc"])
def test_sysctl_cannot_be_redirected_to_the_host(rt, cid, make_bundle, tdir,
                                                 how):
    printk = "/proc/sys/kernel/printk_ratelimit"
    before = open(printk).read()
    vdir = os.path.join(tdir, "victim")
    os.makedirs(vdir)
    victim = os.path.join(vdir, "file")
    with open(victim, "w") as f:
        f.write("precious\n")
    marker, hooks = _marker_hook(tdir)
    # ip_forward gets the host's current printk_ratelimit: even a write that
    # reached the host setting would not change it
    b = make_bundle(["true"], write=False, hooks=hooks, root={"readonly": False},
                    linux={"sysctl": {"net.ipv4.ip_forward": before.strip(),
                                      "net.ipv4.ip_default_ttl": "77"}})
    b.add_mount("/victim", "bind", vdir, ["rbind", "rw"])
    evil = os.path.join(tdir, "evil")
    if how == "fake-proc":
        _evil_proc_dir(os.path.join(evil, "sys", "net", "ipv4"), "/victim/file")
        b.config["mounts"] = [m for m in b.config["mounts"]
                              if m["destination"] != "/proc"]
        b.config["mounts"].insert(0, {"destination": "/proc", "type": "bind",
                                      "source": evil, "options": ["rbind"]})
    else:
        _evil_proc_dir(evil, "/victim/file")
        dest = "/proc/sys/net/ipv4"
        if how == "via-rootfs-symlink":
            os.symlink(dest, b.rootfs_path("/etc/ipv4"))
            dest = "/etc/ipv4"
        b.add_mount(dest, "bind", evil, ["rbind"])
    b.write()
    r = rt.run(cid, b)
    assert open(victim).read() == "precious\n", "a sysctl write followed a symlink"
    assert open(printk).read() == before
    assert_error(r, rt)
    assert "mounts[" in r.err and "/proc" in r.err, r.err
    assert not os.path.exists(marker), "refused only after things were made"


@pytest.mark.parametrize("dest", ["/proc/cpuinfo", "/proc/meminfo",
                                  "/proc/uptime"])
def test_lxcfs_style_proc_overlays_still_work(rt, cid, make_bundle, tdir, dest):
    src = os.path.join(tdir, "fake")
    with open(src, "w") as f:
        f.write("lxcfs-like\n")
    b = make_bundle(shell(f"cat {dest}"), write=False)
    b.add_mount(dest, "bind", src, ["bind", "ro"])
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out == "lxcfs-like\n"


def test_sysctl_still_set_through_procfs(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle, "cat /proc/sys/net/ipv4/ip_default_ttl",
                 linux={"sysctl": {"net.ipv4.ip_default_ttl": "42"}})
    assert out.strip() == "42"


# -- hooks' working directories --------------------------------------------------

def test_create_container_hook_runs_in_the_rootfs(rt, cid, make_bundle, token):
    """runc's own hooks test: `touch ./lib/x` from a createContainer hook must
    create the file in the container's rootfs, not in the host's /lib."""
    name = f"pyrunc-hooktest-{token}"
    host_file = os.path.join("/lib", name)
    b = make_bundle(["true"], write=False, hooks={"createContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"touch ./lib/{name}"]}]})
    os.makedirs(b.rootfs_path("/lib"), exist_ok=True)
    b.write()
    try:
        r = rt.run(cid, b)
        on_host = os.path.exists(host_file)
    finally:
        if os.path.lexists(host_file):
            os.unlink(host_file)
    assert not on_host, "the createContainer hook wrote into the host's /lib"
    assert r.rc == 0, r
    assert os.path.exists(b.rootfs_path(f"/lib/{name}"))


def test_every_hook_kind_gets_runcs_cwd(rt, cid, make_bundle, tdir):
    """prestart, createRuntime, poststart: the bundle (whatever the caller's
    cwd); createContainer: the rootfs; startContainer: process.cwd."""
    log = os.path.join(tdir, "cwds")
    elsewhere = os.path.join(tdir, "elsewhere")
    os.makedirs(elsewhere)
    kinds = ("prestart", "createRuntime", "createContainer", "poststart",
             "poststop")
    hooks = {k: [{"path": "/bin/sh",
                  "args": ["sh", "-c", f"echo {k} $(pwd -P) >> {log}"]}]
             for k in kinds}
    hooks["startContainer"] = [{"path": "/bin/sh", "args": [
        "sh", "-c", "echo startContainer $(pwd -P) >> /hooklog"]}]
    b = make_bundle(["true"], hooks=hooks, root={"readonly": False},
                    process={"cwd": "/tmp"})
    assert rt.create(cid, b, cwd=elsewhere).rc == 0
    assert rt.start(cid, cwd="/").rc == 0
    rt.wait_status(cid, "stopped")
    assert rt.delete(cid, cwd=elsewhere).rc == 0
    got = dict(line.split(" ", 1) for line in open(log).read().splitlines())
    bundle = os.path.realpath(b.path)
    want = {"prestart": bundle, "createRuntime": bundle, "poststart": bundle,
            "createContainer": os.path.realpath(b.rootfs)}
    if rt.name == "pyrunc":
        want["poststop"] = bundle  # runc: the caller's cwd
    assert {k: got.get(k) for k in want} == want, got
    with open(b.rootfs_path("/hooklog")) as f:
        assert f.read().split() == ["startContainer", "/tmp"]


# -- --pid-file -------------------------------------------------------------------

def test_pid_file_does_not_follow_a_planted_symlink(rt, cid, make_bundle, tdir):
    victim = os.path.join(tdir, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    piddir = os.path.join(tdir, "pids")
    os.makedirs(piddir)
    pid_file = os.path.join(piddir, "c.pid")
    for planted in (".c.pid.tmp", ".c.pid"):
        os.symlink(victim, os.path.join(piddir, planted))
    r = rt.create(cid, make_bundle(["true"]), pid_file=pid_file)
    assert open(victim).read() == "precious\n", "the pid file write followed a symlink"
    if rt.name != "pyrunc" and r.rc != 0:
        return  # runc refuses a planted .c.pid (O_EXCL); pyrunc replaces it
    assert r.rc == 0, r
    st = os.lstat(pid_file)
    assert stat.S_ISREG(st.st_mode)
    assert int(open(pid_file).read()) == rt.state(cid)["pid"]


def test_pid_file_replaces_a_symlink_at_its_own_name(rt, cid, make_bundle, tdir):
    victim = os.path.join(tdir, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    pid_file = os.path.join(tdir, "c.pid")
    os.symlink(victim, pid_file)
    assert rt.create(cid, make_bundle(["true"]), pid_file=pid_file).rc == 0
    assert open(victim).read() == "precious\n"
    assert not os.path.islink(pid_file)
    assert int(open(pid_file).read()) == rt.state(cid)["pid"]


# -- maskedPaths through a symlinked /dev/null (CVE-2025-31133) -----------------

@pytest.mark.not_runc
def test_masked_paths_never_use_a_symlinked_dev_null(rt, cid, make_bundle, tdir):
    boot_id = open("/proc/sys/kernel/random/boot_id").read().strip()
    devvol = os.path.join(tdir, "devvol")
    os.makedirs(devvol)
    os.symlink("/proc/sys/kernel/random/boot_id", os.path.join(devvol, "null"))
    b = make_bundle(shell("cat /proc/keys; cat /proc/timer_list; echo END"),
                    write=False)
    for m in b.config["mounts"]:
        if m["destination"] == "/dev":
            m.update(type="bind", source=devvol, options=["rbind", "nosuid"])
    b.write()
    r = rt.run(cid, b)
    assert boot_id not in r.out, "a masked path showed a host value"
    if rt.name == "pyrunc":  # fail closed
        assert_error(r, rt)
        assert "linux.maskedPaths" in r.err and "/dev/null" in r.err, r.err


def test_masked_paths_with_a_real_dev_null(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle,
                 "wc -c < /proc/keys; stat -c %t:%T /proc/keys; "
                 "ls /proc/acpi 2>/dev/null | wc -l")
    assert out.split() == ["0", "1:3", "0"], out


# -- /dev/console (CVE-2025-52565) ----------------------------------------------

@pytest.mark.not_runc
def test_console_symlink_does_not_redirect_the_pty(rt, cid, make_bundle, tdir):
    b = make_bundle(shell("test -c /etc/hostname && echo PTY-ON-HOSTNAME; "
                          "test -c /dev/console && echo console-is-a-tty; "
                          "echo done"),
                    write=False, process={"terminal": True},
                    root={"readonly": False})
    # /dev is the image's own directory, where /dev/console is a symlink
    b.config["mounts"] = [m for m in b.config["mounts"]
                          if m["destination"] != "/dev"]
    with open(b.rootfs_path("/etc/hostname"), "w") as f:
        f.write("original\n")
    os.makedirs(b.rootfs_path("/dev"), exist_ok=True)
    os.symlink("/etc/hostname", b.rootfs_path("/dev/console"))
    b.write()
    r = rt.run(cid, b)
    assert "PTY-ON-HOSTNAME" not in r.out, r
    assert r.rc == 0, r
    assert "console-is-a-tty" in r.out and "done" in r.out, r
    assert open(b.rootfs_path("/etc/hostname")).read() == "original\n"


# -- root.path ----------------------------------------------------------------------

@pytest.mark.not_runc
@pytest.mark.parametrize("kind", ["slash", "dotdot", "symlink-to-slash",
                                  "proc-root"])
def test_host_root_is_refused_as_rootfs(rt, cid, make_bundle, tdir, kind):
    marker, hooks = _marker_hook(tdir)
    b = make_bundle(["true"], write=False, hooks=hooks)
    if kind == "slash":
        b.config["root"]["path"] = "/"
    elif kind == "dotdot":
        b.config["root"]["path"] = "/tmp/../"
    elif kind == "symlink-to-slash":
        os.symlink("/", os.path.join(b.path, "hostroot"))
        b.config["root"]["path"] = "hostroot"
    else:
        b.config["root"]["path"] = "/proc/self/root"
    b.write()
    r = rt.create(cid, b)
    assert_error(r, rt)
    assert "root.path" in r.err, r.err
    assert not os.path.exists(marker)
    assert not state_dir_exists(rt, cid)


def test_symlinked_root_path_is_refused_like_runc(rt, cid, make_bundle, tdir):
    """runc: "invalid rootfs: not an absolute path, or a symlink"."""
    b = make_bundle(["true"], write=False)
    os.rename(b.rootfs, b.rootfs + ".real")
    os.symlink(b.rootfs + ".real", b.rootfs)
    b.write()
    r = rt.create(cid, b)
    assert_error(r, rt)
    if rt.name == "pyrunc":
        assert "root.path" in r.err and "symlink" in r.err, r.err


# -- CVE-2021-30465: a symlink swapped while the mount is made ------------------

def test_mount_destination_raced_symlink_swap_stays_in_rootfs(rt, new_cid,
                                                             make_bundle, tdir):
    import threading

    host_dir = os.path.join(tdir, "host-dir3")
    os.makedirs(host_dir)
    b = make_bundle(["true"], root={"readonly": False}, write=False)
    b.add_mount("/race/target", "tmpfs", "tmpfs", ["size=64k"])
    b.write()
    race = b.rootfs_path("/race")
    os.makedirs(b.rootfs_path("/race.dir"))
    os.symlink("race.dir", race)
    stop = threading.Event()

    def swap():
        n = 0
        while not stop.is_set():
            tmp = f"{race}.tmp{n % 2}"
            os.symlink(host_dir if n % 2 else "race.dir", tmp)
            os.rename(tmp, race)
            n += 1

    t = threading.Thread(target=swap, daemon=True)
    t.start()
    try:
        for _ in range(10):
            rt.run(new_cid(), b)
    finally:
        stop.set()
        t.join(10)
    assert _host_entries(host_dir) == []
    for m in host_mountinfo():
        assert not m["mountpoint"].startswith(host_dir), m["line"]


# -- CVE-2022-29162: inheritable capabilities -------------------------------------

def test_inheritable_caps_empty_by_default(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "caps")
    assert rep.cap("CapInh") == 0
    assert rep.cap("CapAmb") == 0  # ambient needs inheritable


@pytest.mark.parametrize("user", [{"uid": 0, "gid": 0},
                                  {"uid": 1000, "gid": 1000}])
def test_inheritable_caps_exactly_as_configured(rt, cid, make_bundle, user):
    from util import cap_bits

    caps = {"bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_KILL"]}
    rep = checker(rt, cid, make_bundle, "caps",
                  process={"user": user, "capabilities": caps})
    assert rep.cap("CapInh") == cap_bits(caps["inheritable"])
    assert rep.cap("CapAmb") == cap_bits(["CAP_KILL"])


# -- CVE-2016-9962: the waiting init is not dumpable ----------------------------

@pytest.mark.not_runc
def test_created_init_is_not_ptraceable_from_the_container(rt, new_cid,
                                                           make_bundle):
    """While created, pid 1 holds the runtime's fds (the start fifo, its
    instructions): a process sharing its pid namespace and uid, without
    CAP_SYS_PTRACE, must not reach them through /proc/1."""
    first = new_cid()
    assert rt.create(first, make_bundle(["sleep", "30"])).rc == 0
    pid = rt.state(first)["pid"]
    b = make_bundle(shell("cat /proc/1/environ >/dev/null 2>&1 && echo ENVIRON; "
                          "for f in /proc/1/fd/*; do readlink $f >/dev/null 2>&1 "
                          "&& echo FD-$f; done; "
                          "readlink /proc/1/exe >/dev/null 2>&1 && echo EXE; "
                          "echo checked"), write=False)
    for ns in b.config["linux"]["namespaces"]:
        if ns["type"] == "pid":
            ns["path"] = f"/proc/{pid}/ns/pid"
    b.write()
    r = rt.run(new_cid(), b)
    assert r.rc == 0, r
    assert r.out.split() == ["checked"], r.out


@pytest.mark.not_runc
@pytest.mark.parametrize("kind", ["tmpfs", "cgroup"])
def test_mount_through_a_rootfs_symlink_into_proc_is_refused(rt, cid, make_bundle,
                                                             tdir, kind):
    """The destination is checked where it resolves, not only as written."""
    b = make_bundle(["true"], write=False)
    os.symlink("/proc/sys/kernel", b.rootfs_path("/etc/k"))
    if kind == "cgroup":
        b.add_mount("/etc/k", "cgroup", "cgroup", ["ro"])
    else:
        b.add_mount("/etc/k", "tmpfs", "tmpfs", ["size=64k"])
    b.write()
    r = rt.run(cid, b)
    assert_error(r, rt)
    assert "inside /proc" in r.err, r.err


@pytest.mark.not_runc
def test_sysctl_is_written_only_into_a_real_procfs(rt, cid, make_bundle, tdir):
    """No mount involved: without a proc mount, /proc is the image's directory, and
    an image can ship /proc/sys/... as symlinks; the sysctl write must find out that
    this is no procfs instead of following them."""
    vdir = os.path.join(tdir, "victim")
    os.makedirs(vdir)
    victim = os.path.join(vdir, "file")
    with open(victim, "w") as f:
        f.write("precious\n")
    b = make_bundle(["true"], write=False, root={"readonly": False},
                    linux={"sysctl": {"net.ipv4.ip_default_ttl": "77"},
                           "maskedPaths": [], "readonlyPaths": []})
    b.config["mounts"] = [m for m in b.config["mounts"]
                          if m["destination"] != "/proc"]
    b.add_mount("/victim", "bind", vdir, ["rbind", "rw"])
    _evil_proc_dir(b.rootfs_path("/proc/sys/net/ipv4"), "/victim/file")
    b.write()
    r = rt.run(cid, b)
    assert open(victim).read() == "precious\n", "a sysctl write followed a symlink"
    assert_error(r, rt)
    assert "linux.sysctl" in r.err and "procfs" in r.err, r.err


# -- the id rules as properties of validation (no container needed) ------------

def _hypothesis():
    import hypothesis
    import hypothesis.strategies  # noqa: F401

    return hypothesis


def test_property_only_minus_one_ids_are_refused():
    hyp = _hypothesis()
    st = hyp.strategies
    from conformance.bundle import default_config
    from runtime.validate import validate_config

    @hyp.settings(max_examples=300, deadline=None)
    @hyp.given(st.sampled_from(["uid", "gid", "additionalGids"]),
               st.one_of(st.integers(0, 2**32 - 1), st.just(2**32 - 1)))
    def check(field, value):
        cfg = default_config(["true"])
        user = cfg["process"]["user"]
        user[field] = [value] if field == "additionalGids" else value
        errs = validate_config(cfg)
        refused = [e for e in errs if e.startswith("process.user." + field)]
        assert bool(refused) == (value == 2**32 - 1), (field, value, errs)

    check()


def test_property_id_maps_refused_exactly_when_they_run_past_minus_one():
    hyp = _hypothesis()
    st = hyp.strategies
    from conformance.bundle import default_config
    from runtime.validate import validate_config

    u32 = st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - 70000, 2**32 - 1))

    @hyp.settings(max_examples=300, deadline=None)
    @hyp.given(st.sampled_from(["uidMappings", "gidMappings"]), u32, u32,
               st.integers(1, 2**32 - 1))
    def check(field, cid_, hid, size):
        cfg = default_config(["true"])
        cfg["linux"]["namespaces"].append({"type": "user"})
        ok = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["uidMappings"] = list(ok)
        cfg["linux"]["gidMappings"] = list(ok)
        cfg["linux"][field] = [{"containerID": cid_, "hostID": hid, "size": size}]
        errs = [e for e in validate_config(cfg) if e.startswith(f"linux.{field}[0]")]
        overflow = cid_ + size > 2**32 - 1 or hid + size > 2**32 - 1
        assert bool(errs) == overflow, (cid_, hid, size, errs)

    check()
