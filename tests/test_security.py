"""Security: id escapes, symlink-escaping mounts, /proc/self/exe, fd and cwd
leaks, masked/readonly proc and sys, dropped privileges, device cgroup."""

import os
import stat

import pytest

from conformance.bundle import host_mountinfo
from util import assert_error, checker, create_running, sh_out, shell


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
