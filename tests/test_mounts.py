"""root, mounts, maskedPaths, readonlyPaths, /dev: as seen from inside."""

import os

import pytest

from conformance import bundle as cb
from conformance.bundle import host_mountinfo
from util import CHECKER, assert_error, checker, checker_args, report_of, sh_out, shell, without_syscalls

DEFAULT_DEVICES = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
    "urandom": (1, 9), "tty": (5, 0),
}
DEFAULT_LINKS = {
    "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
}


def test_root_readonly(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "mounts", "write=/probe",
                  "write=/tmp/probe", root={"readonly": True})
    assert rep["write./probe"] == "fail"
    assert rep["write./tmp/probe"] == "fail"
    assert "ro" in rep.mount_at("/")["options"]


def test_root_writable(rt, cid, make_bundle):
    b = make_bundle(checker_args("mounts", "write=/probe"),
                    root={"readonly": False})
    rep = report_of(rt, cid, b)
    assert rep["write./probe"] == "ok"
    assert "rw" in rep.mount_at("/")["options"]
    assert os.path.exists(b.rootfs_path("/probe"))


def test_root_is_the_bundle_rootfs(rt, cid, make_bundle):
    b = make_bundle(shell("cat /marker"), write=False)
    b.add_file("/marker", "this-rootfs\n")
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.strip() == "this-rootfs"


def test_root_path_absolute(rt, cid, make_bundle):
    b = make_bundle(shell("cat /marker"), write=False)
    b.add_file("/marker", "abs-rootfs\n")
    b.config["root"]["path"] = b.rootfs
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.strip() == "abs-rootfs"


def test_cannot_see_host_root(rt, cid, make_bundle, tdir):
    rep = checker(rt, cid, make_bundle, f"exists={tdir}", "exists=/etc/passwd",
                  "exists=/usr/lib", "proc")
    assert rep[f"exists.{tdir}"] == "no"
    assert rep["exists./usr/lib"] == "no"
    assert rep["root"] == "/"


def test_bind_mount_readonly(rt, cid, make_bundle, tdir):
    src = os.path.join(tdir, "ro-src")
    os.makedirs(src)
    with open(os.path.join(src, "file"), "w") as f:
        f.write("host-data\n")
    b = make_bundle(checker_args("mounts", "read=/data/file",
                                 "write=/data/file", "write=/data/new"),
                    write=False)
    b.add_mount("/data", "bind", src, ["rbind", "ro"])
    b.write()
    rep = report_of(rt, cid, b)
    assert rep["read./data/file"] == "ok"
    assert rep["write./data/file"] == "fail"
    assert rep["write./data/new"] == "fail"
    assert "ro" in rep.mount_at("/data")["options"]
    assert open(os.path.join(src, "file")).read() == "host-data\n"


def test_bind_mount_readwrite_visible_on_host(rt, cid, make_bundle, tdir):
    src = os.path.join(tdir, "rw-src")
    os.makedirs(src)
    b = make_bundle(shell("echo from-container > /data/out"), write=False)
    b.add_mount("/data", "bind", src, ["bind", "rw"])
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert open(os.path.join(src, "out")).read() == "from-container\n"


def test_bind_mount_file(rt, cid, make_bundle, tdir):
    src = os.path.join(tdir, "hosts")
    with open(src, "w") as f:
        f.write("127.0.0.1 bound-file\n")
    b = make_bundle(shell("cat /etc/hosts"), write=False)
    b.add_mount("/etc/hosts", "bind", src, ["bind", "ro"])
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out == "127.0.0.1 bound-file\n"


def test_mount_destination_created(rt, cid, make_bundle, tdir):
    src = os.path.join(tdir, "src")
    os.makedirs(src)
    open(os.path.join(src, "inside"), "w").close()
    b = make_bundle(checker_args("exists=/deep/new/dir/inside"), write=False)
    b.add_mount("/deep/new/dir", "bind", src, ["rbind", "ro"])
    b.write()
    rep = report_of(rt, cid, b)
    assert rep["exists./deep/new/dir/inside"] == "yes"


def test_tmpfs_options(rt, cid, make_bundle):
    b = make_bundle(checker_args("mounts", "write=/scratch/x"), write=False)
    b.add_mount("/scratch", "tmpfs", "tmpfs",
                ["nosuid", "nodev", "noexec", "size=1m", "mode=1770"])
    b.write()
    rep = report_of(rt, cid, b)
    m = rep.mount_at("/scratch")
    assert m and m["fstype"] == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= m["options"]
    assert "size=1024k" in m["super"]
    assert "mode=1770" in m["super"]
    assert rep["write./scratch/x"] == "ok"


def test_tmpfs_readonly_option(rt, cid, make_bundle):
    b = make_bundle(checker_args("mounts", "write=/scratch/x"), write=False)
    b.add_mount("/scratch", "tmpfs", "tmpfs", ["ro", "size=64k"])
    b.write()
    rep = report_of(rt, cid, b)
    assert "ro" in rep.mount_at("/scratch")["options"]
    assert rep["write./scratch/x"] == "fail"


def test_tmpfs_noexec_enforced(rt, cid, make_bundle):
    b = make_bundle(shell("cp /bin/busybox /scratch/bb && "
                          "(/scratch/bb true 2>/dev/null && echo ran "
                          "|| echo blocked)"), write=False)
    b.add_mount("/scratch", "tmpfs", "tmpfs", ["noexec", "size=8m"])
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.strip() == "blocked"


def test_mounts_in_order(rt, cid, make_bundle, tdir):
    """Mounts are applied in the listed order: a later mount covers an
    earlier one's subdirectory."""
    outer = os.path.join(tdir, "outer")
    inner = os.path.join(tdir, "inner")
    os.makedirs(os.path.join(outer, "sub"))
    os.makedirs(inner)
    open(os.path.join(inner, "inner-file"), "w").close()
    b = make_bundle(shell("ls /mnt/o/sub"), write=False)
    b.add_mount("/mnt/o", "bind", outer, ["rbind", "ro"])
    b.add_mount("/mnt/o/sub", "bind", inner, ["rbind", "ro"])
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert r.out.split() == ["inner-file"]


def test_proc_and_sys_mounted(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "mounts")
    assert rep.mount_at("/proc")["fstype"] == "proc"
    sysm = rep.mount_at("/sys")
    assert sysm["fstype"] == "sysfs" and "ro" in sysm["options"]
    assert rep.mount_at("/dev")["fstype"] == "tmpfs"
    assert rep.mount_at("/dev/pts")["fstype"] == "devpts"
    assert rep.mount_at("/dev/shm")["fstype"] == "tmpfs"
    assert rep.mount_at("/dev/mqueue")["fstype"] == "mqueue"


def test_container_mounts_not_on_host(rt, cid, make_bundle, tdir):
    before = {m["mountpoint"] for m in host_mountinfo()}
    b = make_bundle(["sleep", "30"], write=False)
    b.add_mount("/scratch", "tmpfs", "tmpfs", ["size=64k"])
    b.write()
    assert rt.create(cid, b).rc == 0
    assert rt.start(cid).rc == 0
    after = {m["mountpoint"] for m in host_mountinfo()}
    new = {m for m in after - before if m.startswith(tdir)}
    assert not new, f"container mounts visible on the host: {new}"


def test_masked_paths(rt, cid, make_bundle, tdir):
    b = make_bundle(shell(
        "cat /proc/kcore 2>/dev/null | wc -c; "
        "ls -A /sys/firmware | wc -l; "
        "cat /masked-file | wc -c; "
        "ls -A /masked-dir | wc -l"), write=False)
    b.add_file("/masked-file", "secret\n")
    b.add_file("/masked-dir/secret", "secret\n")
    b.config["linux"]["maskedPaths"] += ["/masked-file", "/masked-dir",
                                         "/does/not/exist"]
    b.write()
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert [int(x) for x in r.out.split()] == [0, 0, 0, 0], r.out


def test_masked_paths_cannot_be_written(rt, cid, make_bundle):
    # A masked directory is a read-only tmpfs: nothing can be made in it.  A masked
    # file is /dev/null bound over it (as runc and crun do): a write "succeeds" and
    # goes nowhere.  /proc/kcore is masked only where the kernel has it at all.
    out = sh_out(rt, cid, make_bundle,
                 "if [ -e /proc/kcore ]; then stat -c %t:%T /proc/kcore; echo x > /proc/kcore; "
                 "wc -c < /proc/kcore; else echo absent; fi; "
                 "if echo x > /sys/firmware/x; then echo fw-written; else echo fw-refused; fi")
    kcore = ["1:3", "0"] if os.path.exists("/proc/kcore") else ["absent"]
    assert out.split() == kcore + ["fw-refused"], out


def test_readonly_paths(rt, cid, make_bundle, tdir):
    b = make_bundle(checker_args("mounts", "write=/proc/sys/kernel/hostname",
                                 "write=/rw-dir/x", "read=/rw-dir/f",
                                 "write=/proc/sysrq-trigger"),
                    root={"readonly": False}, write=False)
    b.add_file("/rw-dir/f", "data\n")
    b.config["linux"]["readonlyPaths"] += ["/rw-dir", "/not/there"]
    b.write()
    rep = report_of(rt, cid, b)
    assert rep["write./proc/sys/kernel/hostname"] == "fail"
    assert rep["write./rw-dir/x"] == "fail"
    assert rep["read./rw-dir/f"] == "ok"
    assert rep["write./proc/sysrq-trigger"] == "fail"
    assert "ro" in rep.mount_at("/proc/sys")["options"]
    assert "ro" in rep.mount_at("/rw-dir")["options"]


def test_default_devices(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "dev")
    devs = rep.devices()
    for name, (major, minor) in DEFAULT_DEVICES.items():
        assert name in devs, f"/dev/{name} missing: {sorted(devs)}"
        d = devs[name]
        assert d["type"] == "character special file", (name, d)
        assert (d["major"], d["minor"]) == (major, minor), (name, d)
        assert d["mode"] == 0o666, (name, oct(d["mode"]))
    links = rep.devlinks()
    for name, target in DEFAULT_LINKS.items():
        assert links.get(name) == target, (name, links)


def test_default_devices_usable(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle,
                 "echo x > /dev/null && echo null-ok; "
                 "head -c 4 /dev/zero | wc -c; "
                 "head -c 4 /dev/urandom | wc -c; "
                 "(echo x > /dev/full) 2>/dev/null || echo full-ok; "
                 # >>: stdout may be a regular file that > would truncate
                 "echo via-stdout >> /dev/stdout")
    assert out.split() == ["null-ok", "4", "4", "full-ok", "via-stdout"]


def test_dev_has_no_host_devices(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "dev")
    devs = rep.devices()
    allowed = set(DEFAULT_DEVICES) | {"pts", "shm", "mqueue", "console"}
    extra = set(devs) - allowed
    assert not extra, f"unexpected /dev entries: {extra}"


def test_linux_devices(rt, cid, make_bundle):
    devices = [
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
         "fileMode": 0o620, "uid": 1000, "gid": 100},
        {"path": "/dev/sub/myzero", "type": "c", "major": 1, "minor": 5},
    ]
    cfg_res = {"devices": [{"allow": False, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1,
                            "minor": 3, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1,
                            "minor": 5, "access": "rwm"}]}
    b = make_bundle(checker_args("dev"), write=False)
    b.config["linux"]["devices"] = devices
    b.config["linux"]["resources"] = cfg_res
    b.write()
    rep = report_of(rt, cid, b)
    d = rep.devices()["mynull"]
    assert d["type"] == "character special file"
    assert (d["major"], d["minor"]) == (1, 3)
    assert d["mode"] == 0o620
    assert (d["uid"], d["gid"]) == (1000, 100)
    # usable (root has no CAP_DAC_OVERRIDE by default: mode matters)
    devices[0]["fileMode"] = 0o666
    r2 = rt.run(cid + "-2", make_bundle(shell(
        "echo x > /dev/mynull && head -c 3 /dev/sub/myzero | wc -c"),
        linux={"devices": devices, "resources": cfg_res}))
    assert r2.rc == 0, r2
    assert r2.out.strip() == "3"


def test_dev_pts_and_shm_usable(rt, cid, make_bundle):
    out = sh_out(rt, cid, make_bundle,
                 "echo x > /dev/shm/f && echo shm-ok; ls -d /dev/pts")
    assert out.split() == ["shm-ok", "/dev/pts"]


def test_default_devices_without_dev_mount(rt, cid, make_bundle):
    """No mount for /dev: the runtime still supplies the default devices
    in the rootfs's /dev (runc creates them as nodes or bind mounts)."""
    b = make_bundle(checker_args("dev"), write=False)
    b.config["mounts"] = [m for m in b.config["mounts"]
                          if not m["destination"].startswith("/dev")]
    b.config["root"]["readonly"] = False
    b.write()
    rep = report_of(rt, cid, b)
    devs = rep.devices()
    for name in ("null", "zero", "urandom"):
        assert name in devs, sorted(devs)


def test_mount_propagation_private_by_default(rt, cid, make_bundle):
    rep = checker(rt, cid, make_bundle, "mounts")
    root = rep.mount_at("/")
    assert not any(o.startswith("shared:") for o in root["optional"]), root


@pytest.mark.parametrize("opt,flag", [("nosuid", "nosuid"),
                                      ("nodev", "nodev"),
                                      ("noexec", "noexec"),
                                      ("noatime", "noatime")])
def test_bind_mount_flags(rt, cid, make_bundle, tdir, opt, flag):
    src = os.path.join(tdir, "flag-src")
    os.makedirs(src)
    b = make_bundle(checker_args("mounts"), write=False)
    b.add_mount("/data", "bind", src, ["rbind", opt])
    b.write()
    rep = report_of(rt, cid, b)
    assert flag in rep.mount_at("/data")["options"]


# -- linux.rootfsPropagation: the container's / as mountinfo shows it --------------

def _root_optional(rt, cid, make_bundle, propagation, runtime=None):
    b = make_bundle(checker_args("mounts"), write=False)
    b.config["linux"]["rootfsPropagation"] = propagation
    b.write()
    rep = report_of(runtime or rt, cid, b)
    return rep.mount_at("/")["optional"]


def _in_shared_ns(rt):
    """The runtime in a mount namespace whose mounts are all shared: the host's / here is
    private, and a slave of a private mount shows as private, so only there can a test
    tell slave from private (or unbindable)."""
    shared = cb.Runtime(["unshare", "--mount", "--propagation", "shared", *rt.argv], rt.root,
                        workdir=rt.workdir)
    shared.created = rt.created  # rt's teardown deletes what this one made
    return shared


@pytest.mark.parametrize("propagation", ["unbindable", "runbindable"])
def test_rootfs_propagation_unbindable(rt, cid, make_bundle, propagation):
    opt = _root_optional(rt, cid, make_bundle, propagation, runtime=_in_shared_ns(rt))
    assert "unbindable" in opt, opt
    assert not any(o.startswith(("shared:", "master:")) for o in opt), opt


@pytest.mark.parametrize("propagation", ["shared", "rshared"])
def test_rootfs_propagation_shared(rt, cid, make_bundle, propagation):
    opt = _root_optional(rt, cid, make_bundle, propagation)
    assert any(o.startswith("shared:") for o in opt), opt


@pytest.mark.parametrize("propagation", ["private", "rprivate"])
def test_rootfs_propagation_private(rt, cid, make_bundle, propagation):
    """Not a slave either (which a private host would show as private too)."""
    opt = _root_optional(rt, cid, make_bundle, propagation, runtime=_in_shared_ns(rt))
    assert not any(o.startswith(("shared:", "master:")) or o == "unbindable" for o in opt), opt


@pytest.mark.parametrize("propagation", ["slave", "rslave"])
def test_rootfs_propagation_slave(rt, cid, make_bundle, propagation):
    """The runtime runs in a mount namespace whose mounts are shared (the host's / here
    is private, so nothing could be a slave of it): / is then a slave, receiving from it
    and sending nothing back."""
    opt = _root_optional(rt, cid, make_bundle, propagation, runtime=_in_shared_ns(rt))
    assert any(o.startswith("master:") for o in opt), opt
    assert not any(o.startswith("shared:") for o in opt), opt


# -- recursive mount attributes (mount_setattr AT_RECURSIVE) ------------------------

def _rbind_with_submount(make_bundle, options, probes):
    """/src has a tmpfs at /src/sub (both inside the rootfs); /dst is an rbind of /src
    with options, so /dst/sub is a submount of the bind."""
    b = make_bundle(checker_args("mounts", *probes), write=False)
    b.config["root"]["readonly"] = False
    b.add_mount("/src/sub", "tmpfs", "tmpfs", ["mode=1777"])
    b.add_mount("/dst", "bind", b.rootfs_path("/src"), options)
    b.write()
    return b


def test_rro_makes_submounts_readonly(rt, cid, make_bundle):
    b = _rbind_with_submount(make_bundle, ["rbind", "rro"],
                             ["write=/dst/top", "write=/dst/sub/x", "write=/src/sub/y"])
    rep = report_of(rt, cid, b)
    assert rep["write./dst/top"] == "fail"
    assert rep["write./dst/sub/x"] == "fail"  # the submount too
    assert rep["write./src/sub/y"] == "ok"  # the original stays writable
    assert "ro" in rep.mount_at("/dst/sub")["options"], rep.mount_at("/dst/sub")


def test_plain_ro_on_rbind_is_not_recursive(rt, cid, make_bundle):
    """As runc: `ro` remounts only the top of an rbind."""
    b = _rbind_with_submount(make_bundle, ["rbind", "ro"], ["write=/dst/top", "write=/dst/sub/x"])
    rep = report_of(rt, cid, b)
    assert rep["write./dst/top"] == "fail"
    assert rep["write./dst/sub/x"] == "ok"


def test_rrw_clears_readonly_recursively(rt, cid, make_bundle):
    b = make_bundle(checker_args("mounts", "write=/dst/sub/x"), write=False)
    b.config["root"]["readonly"] = False
    os.makedirs(b.rootfs_path("/w"))
    b.add_mount("/src/sub", "bind", b.rootfs_path("/w"), ["bind", "ro"])  # ro on the mount only
    b.add_mount("/dst", "bind", b.rootfs_path("/src"), ["rbind", "rrw"])
    b.write()
    rep = report_of(rt, cid, b)
    assert rep["write./dst/sub/x"] == "ok"
    assert "rw" in rep.mount_at("/dst/sub")["options"]


@pytest.mark.parametrize("opt,sub_opt,shown", [
    ("rnosuid", "suid", "nosuid"), ("rnodev", "dev", "nodev"), ("rnoexec", "exec", "noexec"),
    ("rnoatime", "relatime", "noatime"), ("rnodiratime", "diratime", "nodiratime"),
    ("rnosymfollow", "rw", "nosymfollow"), ("rrelatime", "noatime", "relatime"),
    ("rstrictatime", "noatime", None)])
def test_recursive_attribute_reaches_submount(rt, cid, make_bundle, opt, sub_opt, shown):
    b = make_bundle(checker_args("mounts"), write=False)
    b.config["root"]["readonly"] = False
    b.add_mount("/src/sub", "tmpfs", "tmpfs", [sub_opt])
    b.add_mount("/dst", "bind", b.rootfs_path("/src"), ["rbind", opt])
    b.write()
    rep = report_of(rt, cid, b)
    src = rep.mount_at("/src/sub")["options"]
    for where in ("/dst", "/dst/sub"):
        flags = rep.mount_at(where)["options"]
        if shown:
            assert shown in flags, (where, flags)
        else:  # strictatime: neither relatime nor noatime
            assert "relatime" not in flags and "noatime" not in flags, (where, flags)
    assert (shown or "noatime") not in src or shown is None, src  # the source keeps its own


@pytest.mark.parametrize("opt,cleared", [("rsuid", "nosuid"), ("rdev", "nodev"), ("rexec", "noexec"),
                                         ("ratime", "noatime"), ("rdiratime", "nodiratime"),
                                         ("rsymfollow", "nosymfollow")])
def test_recursive_clear_reaches_submount(rt, cid, make_bundle, opt, cleared):
    b = make_bundle(checker_args("mounts"), write=False)
    b.config["root"]["readonly"] = False
    b.add_mount("/src/sub", "tmpfs", "tmpfs", [cleared])
    b.add_mount("/dst", "bind", b.rootfs_path("/src"), ["rbind", opt])
    b.write()
    rep = report_of(rt, cid, b)
    assert cleared in rep.mount_at("/src/sub")["options"]
    assert cleared not in rep.mount_at("/dst/sub")["options"]


def test_rnoexec_enforced_in_submount(rt, cid, make_bundle):
    b = make_bundle(shell("cp /bin/busybox /src/sub/bb && /dst/sub/bb true && echo ran || echo refused"),
                    write=False)
    b.config["root"]["readonly"] = False
    b.add_mount("/src/sub", "tmpfs", "tmpfs", ["exec"])
    b.add_mount("/dst", "bind", b.rootfs_path("/src"), ["rbind", "rnoexec"])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    assert r.out.strip().splitlines()[-1] == "refused", r


# -- a read-only /dev: held back until /dev/pts, the devices and the console are made --

@pytest.mark.parametrize("terminal", [False, True])
def test_readonly_dev_tmpfs_with_dev_pts(rt, cid, make_bundle, terminal):
    b = make_bundle(checker_args("mounts", "dev", "write=/dev/probe", "write=/dev/shm/probe"),
                    write=False)
    for m in b.config["mounts"]:
        if m["destination"] == "/dev":
            m["options"].append("ro")
    if terminal:  # /dev/console is bound into /dev as well
        b.config["process"]["terminal"] = True
        b.set_args("sh", "-c", f"exec /bin/sh {CHECKER} mounts dev write=/dev/probe write=/dev/shm/probe </dev/null")
    b.write()
    if terminal:
        r = rt.run(cid, b, timeout=30)
        assert r.rc == 0, r
        rep = cb.parse_report(r.out.replace("\r", ""))
    else:
        rep = report_of(rt, cid, b)
    assert "ro" in rep.mount_at("/dev")["options"], rep.mount_at("/dev")
    assert rep.mount_at("/dev/pts")["fstype"] == "devpts"
    assert rep["write./dev/probe"] == "fail"
    assert rep["write./dev/shm/probe"] == "ok"  # a mount of its own under /dev
    assert "null" in rep.devices()


def test_readonly_dev_bind_with_dev_pts(rt, cid, make_bundle, tdir):
    """mounts: [{/dev ro bind}, {/dev/pts}]: the mount point for /dev/pts is made in the
    bind's source before /dev turns read-only (runc's order)."""
    src = os.path.join(tdir, "devdir")
    os.makedirs(src)
    b = make_bundle(shell("grep -E ' /dev(/pts)? ' /proc/self/mountinfo; echo x > /dev/probe || echo ro-ok"),
                    write=False)
    b.config["mounts"] = [m for m in b.config["mounts"] if not m["destination"].startswith("/dev")]
    b.config["linux"]["maskedPaths"] = []  # they need a /dev/null, which this /dev has not
    b.add_mount("/dev", "bind", src, ["rbind", "ro"])
    b.add_mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666"])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    lines = r.out.strip().splitlines()
    dev = [l for l in lines if l.split()[4:5] == ["/dev"]]
    pts = [l for l in lines if l.split()[4:5] == ["/dev/pts"]]
    assert dev and "ro" in dev[-1].split()[5].split(","), r.out
    assert pts and " devpts " in pts[-1], r.out
    assert lines[-1] == "ro-ok", r.out
    assert os.path.isdir(os.path.join(src, "pts"))


# -- a destination that is a dangling symlink: its target is made inside the rootfs ---

def test_dangling_symlink_destination_absolute(rt, cid, make_bundle, tdir):
    outside = os.path.join(tdir, "outside-target")  # what the link names, read on the host
    b = make_bundle(shell("grep -F ' /made' /proc/self/mountinfo | cut -d' ' -f5,9; "
                          f"grep -F ' {outside}' /proc/self/mountinfo | cut -d' ' -f5,9; true"),
                    write=False)
    b.config["root"]["readonly"] = False
    os.symlink("/made/deep", b.rootfs_path("/dangle"))
    os.symlink(outside, b.rootfs_path("/dangle-out"))
    b.add_mount("/dangle", "tmpfs", "tmpfs", [])
    b.add_mount("/dangle-out", "tmpfs", "tmpfs", [])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    assert r.out.split("\n")[:2] == ["/made/deep tmpfs", f"{outside} tmpfs"], r.out
    assert os.path.isdir(b.rootfs_path("/made/deep"))
    assert os.path.isdir(b.rootfs_path(outside))
    assert not os.path.exists(outside)  # never on the host
    assert os.path.islink(b.rootfs_path("/dangle"))  # the link itself stays


def test_dangling_symlink_destination_relative_and_file(rt, cid, make_bundle, tdir):
    src = os.path.join(tdir, "file-src")
    with open(src, "w") as f:
        f.write("bound\n")
    b = make_bundle(shell("cat /etc/real/conf; grep -F ' /up' /proc/self/mountinfo | cut -d' ' -f5"),
                    write=False)
    os.makedirs(b.rootfs_path("/etc"), exist_ok=True)
    os.symlink("real/conf", b.rootfs_path("/etc/conf"))  # relative, in its own directory
    os.symlink("../../../../../up/x", b.rootfs_path("/etc/climb"))  # .. stops at the root
    b.add_mount("/etc/conf", "bind", src, ["bind", "ro"])
    b.add_mount("/etc/climb", "tmpfs", "tmpfs", [])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    assert r.out.split() == ["bound", "/up/x"], r.out
    assert os.path.isfile(b.rootfs_path("/etc/real/conf"))
    assert os.path.isdir(b.rootfs_path("/up/x"))
    assert not os.path.exists(os.path.join(os.path.dirname(tdir), "up"))


def test_symlink_loop_destination_is_an_error(rt, cid, make_bundle):
    b = make_bundle(shell("true"), write=False)
    os.symlink("/loop-b", b.rootfs_path("/loop-a"))
    os.symlink("/loop-a", b.rootfs_path("/loop-b"))
    b.add_mount("/loop-a", "tmpfs", "tmpfs", [])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert_error(r, rt)
    assert "/loop-a" in r.err, r.err


# -- --no-pivot: nothing of the host's mount table left under the chroot ---------------

@pytest.mark.parametrize("pivot", [True, False])
def test_no_pivot_does_not_expose_bare_proc(rt, cid, make_bundle, pivot):
    """runc's "--no-pivot must not expose bare /proc": a nested user namespace may mount
    a procfs only if a fully visible one is in the mount namespace (mount_too_revealing).
    CAP_SETFCAP lets busybox's `unshare -r` map root."""
    b = make_bundle(shell("mkdir -p /tmp/m; unshare -r -m -p -f mount -t proc proc /tmp/m "
                          "&& echo MOUNTED || echo REFUSED"), write=False)
    b.config["root"]["readonly"] = False
    caps = ["CAP_SETFCAP"]
    b.config["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    b.write()
    r = rt.run(cid, b, timeout=30, extra=[] if pivot else ["--no-pivot"])
    assert r.rc == 0, r
    assert r.out.strip() == "REFUSED", r
    assert "permission denied" in r.err.lower(), r  # the mount was refused, not the unshare


def test_no_pivot_sees_only_its_root(rt, cid, make_bundle):
    """The container's own mounts are all there after the host's are detached (the leak
    guard checks that the host's mount table is untouched)."""
    b = make_bundle(checker_args("mounts", "write=/dev/shm/x"), write=False)
    b.write()
    r = rt.run(cid, b, timeout=30, extra=["--no-pivot"])
    assert r.rc == 0, r
    rep = cb.parse_report(r.out)
    for point in ("/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"):
        assert rep.mount_at(point), (point, r.out)
    assert rep["write./dev/shm/x"] == "ok"


# -- bind sources in a new user namespace, idmapped mounts --------------------------

_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _userns_bundle(make_bundle, tdir, script):
    os.chmod(tdir, 0o755)  # the mapped root reaches the rootfs
    b = make_bundle(shell(script), write=False)
    b.config["linux"]["namespaces"].append({"type": "user"})
    b.config["linux"]["uidMappings"] = _MAP
    b.config["linux"]["gidMappings"] = _MAP
    b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] not in ("/sys/fs/cgroup", "/sys")]
    for d in ("/data", "/idm", "/plain"):  # the mapped root cannot make them in the host's rootfs
        os.makedirs(b.rootfs_path(d), exist_ok=True)
    return b


@pytest.mark.parametrize("options", [["rbind", "ro"], ["bind"]])
def test_userns_bind_source_under_private_dir(rt, cid, make_bundle, tdir, options):
    """The source is opened with the runtime's privileges before the user namespace is
    entered: the container's mapped root could not search the 0700 directory."""
    private = os.path.join(tdir, "private")
    os.makedirs(os.path.join(private, "data"))
    with open(os.path.join(private, "data", "f"), "w") as f:
        f.write("behind-0700\n")
    os.chmod(private, 0o700)
    b = _userns_bundle(make_bundle, tdir, "cat /data/f; echo x > /data/w 2>/dev/null && echo wrote || echo ro")
    b.add_mount("/data", "bind", os.path.join(private, "data"), options)
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    assert r.out.split()[0] == "behind-0700", r
    # host root owns /data: the mapped root may not write it either way; with ro it is EROFS
    assert r.out.split()[1] == "ro", r


def test_idmapped_bind_mount(rt, cid, make_bundle, tdir):
    """A file owned by host uid/gid 1234 appears, through mounts[].uidMappings
    (containerID 1234 -> hostID 4321), as 4321 in a container without a user namespace."""
    src = os.path.join(tdir, "idsrc")
    os.makedirs(src)
    path = os.path.join(src, "owned")
    with open(path, "w") as f:
        f.write("x\n")
    os.chown(path, 1234, 1234)
    b = make_bundle(shell("stat -c '%u %g' /idm/owned /plain/owned; touch /idm/new && stat -c '%u %g' /idm/new"),
                    write=False)
    b.config["root"]["readonly"] = False
    m = b.add_mount("/idm", "bind", src, ["rbind", "idmap"])
    b.config["mounts"][-1]["uidMappings"] = [{"containerID": 1234, "hostID": 4321, "size": 1},
                                             {"containerID": 0, "hostID": 0, "size": 1}]
    b.config["mounts"][-1]["gidMappings"] = [{"containerID": 1234, "hostID": 4321, "size": 1},
                                             {"containerID": 0, "hostID": 0, "size": 1}]
    b.add_mount("/plain", "bind", src, ["rbind"])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    assert r.out.split("\n")[:3] == ["4321 4321", "1234 1234", "0 0"], r.out
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (1234, 1234)  # the host's view is unchanged
    assert m is None or m


def test_idmapped_mount_in_user_namespace(rt, cid, make_bundle, tdir):
    """The usual use: host-root-owned files appear as the container's root (mapping the
    disk's 0 to host 100000, which is the container's 0)."""
    src = os.path.join(tdir, "idsrc-u")
    os.makedirs(src)
    with open(os.path.join(src, "owned"), "w") as f:
        f.write("x\n")
    b = _userns_bundle(make_bundle, tdir, "stat -c '%u %g' /idm/owned /plain/owned; "
                                          "echo y > /idm/owned && echo wrote")
    b.add_mount("/idm", "bind", src, ["rbind", "idmap"])
    b.config["mounts"][-1]["uidMappings"] = _MAP
    b.config["mounts"][-1]["gidMappings"] = _MAP
    b.add_mount("/plain", "bind", src, ["rbind"])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    assert r.out.split("\n")[:3] == ["0 0", "65534 65534", "wrote"], r.out
    with open(os.path.join(src, "owned")) as f:
        assert f.read() == "y\n"
    assert os.stat(os.path.join(src, "owned")).st_uid == 0


def test_idmap_on_a_non_bind_mount_is_an_error(rt, cid, make_bundle):
    b = make_bundle(shell("true"), write=False)
    b.add_mount("/t", "tmpfs", "tmpfs", ["idmap"])
    b.config["mounts"][-1]["uidMappings"] = _MAP
    b.config["mounts"][-1]["gidMappings"] = _MAP
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert_error(r, rt)
    assert "mounts[" in r.err and "(/t)" in r.err, r.err


def test_idmap_with_the_containers_mappings(rt, cid, make_bundle, tdir):
    """idmap without mappings on the mount: the container's user namespace mappings
    (runc's and crun's rule): the host's root-owned file is the container root's."""
    src = os.path.join(tdir, "idsrc-c")
    os.makedirs(src)
    with open(os.path.join(src, "owned"), "w") as f:
        f.write("x\n")
    b = _userns_bundle(make_bundle, tdir, "stat -c '%u %g' /idm/owned /plain/owned")
    b.add_mount("/idm", "bind", src, ["rbind", "ridmap"])
    b.add_mount("/plain", "bind", src, ["rbind"])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    assert r.out.split("\n")[:2] == ["0 0", "65534 65534"], r.out


def test_userns_rbind_of_a_rootfs_dir_keeps_earlier_mounts(rt, cid, make_bundle, tdir):
    """A source inside the rootfs is bound in the container's namespace (not pre-opened
    on the host): the tmpfs mounted on /src/sub before it is part of the rbind."""
    b = _userns_bundle(make_bundle, tdir, "grep -F ' /dst/sub ' /proc/self/mountinfo | cut -d' ' -f5,9; "
                                          "touch /dst/sub/x 2>/dev/null && echo wrote || echo ro")
    os.makedirs(b.rootfs_path("/src/sub"), exist_ok=True)
    b.add_mount("/src/sub", "tmpfs", "tmpfs", ["mode=1777"])
    b.add_mount("/dst", "bind", b.rootfs_path("/src"), ["rbind", "rro"])
    os.makedirs(b.rootfs_path("/dst"), exist_ok=True)
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    assert r.out.split("\n")[:2] == ["/dst/sub tmpfs", "ro"], r.out


# -- idmapped mounts with a joined user namespace ------------------------------------

@pytest.fixture
def userns_holder(rt, tdir):
    """A process in a user namespace of its own, mapped 0 -> 100000 (65536 ids) as
    _MAP: its /proc/PID/ns/user is what a config joins.  Its command line names
    tdir (the leak guard finds it if it outlives the test); killed at teardown."""
    import subprocess
    import time

    p = subprocess.Popen(["unshare", "--user", "--", "sh", "-c", "read x", f"holder-{tdir}"],
                         stdin=subprocess.PIPE)
    try:
        mine = os.readlink("/proc/self/ns/user")
        for _ in range(2000):  # until unshare(CLONE_NEWUSER) is done (no timing asserted)
            if p.poll() is not None or os.readlink(f"/proc/{p.pid}/ns/user") != mine:
                break
            time.sleep(0.005)
        assert p.poll() is None and os.readlink(f"/proc/{p.pid}/ns/user") != mine, "no holder"
        for f in ("uid_map", "gid_map"):
            with open(f"/proc/{p.pid}/{f}", "w") as fh:
                fh.write("0 100000 65536\n")
        yield p.pid
    finally:
        p.stdin.close()
        p.kill()
        p.wait()


def _joined_userns_bundle(make_bundle, tdir, script, holder):
    b = _userns_bundle(make_bundle, tdir, script)
    ns = b.config["linux"]["namespaces"]
    ns[:] = [n for n in ns if n["type"] != "user"] + [{"type": "user", "path": f"/proc/{holder}/ns/user"}]
    del b.config["linux"]["uidMappings"], b.config["linux"]["gidMappings"]
    return b


@pytest.mark.parametrize("on_mount", [False, True], ids=["containers-maps", "mount-maps"])
def test_idmap_with_a_joined_user_namespace(rt, cid, make_bundle, tdir, userns_holder, on_mount):
    """linux.namespaces joins the holder's user namespace (0 -> 100000): an idmapped bind
    without mappings of its own takes the joined namespace's, so the host root's file is
    the container root's (and disk 1234 is 1234 inside); with mappings on the mount (only
    disk 1234 -> host 100042) a file of 1234 on disk is 42 inside and root's is nobody's.
    The plain bind beside it shows the host's ids through the container's map."""
    src = os.path.join(tdir, "idsrc-j")
    os.makedirs(src)
    for name, owner in (("root-owned", 0), ("owned-1234", 1234)):
        with open(os.path.join(src, name), "w") as f:
            f.write("x\n")
        os.chown(os.path.join(src, name), owner, owner)
    b = _joined_userns_bundle(make_bundle, tdir,
                              "cat /proc/self/uid_map | tr -s ' ' ' '; "
                              "stat -c '%u %g' /idm/root-owned /idm/owned-1234 /plain/root-owned; "
                              "echo y > /idm/root-owned && echo wrote || echo refused",
                              userns_holder)
    b.add_mount("/idm", "bind", src, ["rbind", "idmap"])
    if on_mount:
        b.config["mounts"][-1]["uidMappings"] = [{"containerID": 1234, "hostID": 100042, "size": 1}]
        b.config["mounts"][-1]["gidMappings"] = [{"containerID": 1234, "hostID": 100042, "size": 1}]
    b.add_mount("/plain", "bind", src, ["rbind"])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    lines = r.out.split("\n")
    assert lines[0].split() == ["0", "100000", "65536"], r.out  # the joined namespace's map
    if on_mount:  # only 1234 is mapped on the mount: root's file is nobody's, not writable
        assert lines[1:5] == ["65534 65534", "42 42", "65534 65534", "refused"], r.out
    else:
        assert lines[1:5] == ["0 0", "1234 1234", "65534 65534", "wrote"], r.out
        with open(os.path.join(src, "root-owned")) as f:
            assert f.read() == "y\n"
    st = os.stat(os.path.join(src, "owned-1234"))
    assert (st.st_uid, st.st_gid) == (1234, 1234)  # the disk is unchanged


# -- symlinks in an idmapped mount's source and destination (compared with crun 1.8.1) ----

_IDMAP_1234 = [{"containerID": 1234, "hostID": 4321, "size": 1}, {"containerID": 0, "hostID": 0, "size": 1}]


@pytest.mark.parametrize("kind", ["idmap", "plain"])
def test_symlinks_in_bind_source_and_destination(rt, cid, make_bundle, tdir, kind):
    """Source paths are host paths: a symlink in them is followed on the host, the last
    component too (as runc, crun's plain and user-namespace binds, and crun after 1.8:
    crun 1.8.1 opened an idmapped source with AT_SYMLINK_NOFOLLOW and mounted the
    symlink itself, so /b/owned was missing and /c a dangling link).  Destinations are
    resolved inside the rootfs: a symlink to /inroot lands there, one naming a host
    directory that exists (absolute, or climbing with ..) lands at that path inside the
    rootfs, made there, never on the host's directory (crun 1.8.1 refuses such dangling
    destinations).  Ownership seen inside tells the mount is idmapped (disk 1234 shows
    as 4321) or plain (1234)."""
    real = os.path.join(tdir, "idreal")
    os.makedirs(real)
    owned = os.path.join(real, "owned")
    with open(owned, "w") as f:
        f.write("real\n")
    os.chown(owned, 1234, 1234)
    os.symlink(tdir, os.path.join(tdir, "idvia"))                   # a directory on the way
    os.symlink("idreal", os.path.join(tdir, "idlink"))              # the last component, relative
    os.symlink(owned, os.path.join(tdir, "idflink"))                # the last component, a file
    host_dir = os.path.join(tdir, "host-dir")                       # exists on the host
    os.makedirs(host_dir)
    with open(os.path.join(host_dir, "host-only"), "w") as f:
        f.write("host\n")
    climbed = os.path.join(tdir, "climbed")                         # .. stops at the rootfs's /
    b = make_bundle(shell(
        "for f in /a/owned /b/owned /c /inroot/d/owned "
        f"{host_dir}/owned {climbed}/e/owned; do stat -c %u $f; done; cat /c; "
        f"test -e {host_dir}/host-only && echo host-visible || echo inside; "
        "test -L /lnk && echo link-kept"), write=False)
    b.config["root"]["readonly"] = False
    os.makedirs(b.rootfs_path("/inroot"))
    os.symlink("/inroot", b.rootfs_path("/lnk"))
    os.symlink(host_dir, b.rootfs_path("/out"))
    os.symlink("../../../../../../../.." + climbed, b.rootfs_path("/climb"))
    for dest, src in (("/a", os.path.join(tdir, "idvia", "idreal")), ("/b", os.path.join(tdir, "idlink")),
                      ("/c", os.path.join(tdir, "idflink")), ("/lnk/d", real), ("/out", real),
                      ("/climb/e", real)):
        b.add_mount(dest, "bind", src, ["rbind"] + (["idmap"] if kind == "idmap" else []))
        if kind == "idmap":
            b.config["mounts"][-1]["uidMappings"] = _IDMAP_1234
            b.config["mounts"][-1]["gidMappings"] = _IDMAP_1234
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    uid = "4321" if kind == "idmap" else "1234"
    assert r.out.split() == [uid] * 6 + ["real", "inside", "link-kept"], r.out
    # on the host: the targets were made inside the rootfs; the host's directory is as it was
    assert os.listdir(host_dir) == ["host-only"]
    assert os.path.isdir(b.rootfs_path(host_dir)) and os.path.isdir(b.rootfs_path(climbed + "/e"))
    assert not os.path.exists(climbed)
    assert os.path.isfile(b.rootfs_path("/c")) and not os.path.islink(b.rootfs_path("/c"))
    assert (os.stat(owned).st_uid, os.stat(owned).st_gid) == (1234, 1234)


@pytest.mark.parametrize("dest", ["/dev/null", "/dev/null/x"])
def test_mount_where_a_default_device_goes_is_named(rt, cid, make_bundle, dest):
    """A mount that makes /dev/null a directory (at it, or under it): the default device
    cannot be made, and the error names that mount (found by tests/test_fuzz.py)."""
    b = make_bundle(shell("true"), write=False)
    b.add_mount(dest, "tmpfs", "tmpfs", [])
    b.write()
    r = rt.run(cid, b, timeout=30)
    assert_error(r, rt)
    if rt.name == "pyrunc":
        i = len(b.config["mounts"]) - 1
        assert r.err.startswith(f"pyrunc: mounts[{i}] ({dest}).destination: /dev/null is a directory"), r.err


def _cgroup_mounts(text, cid):
    """(mount point, mount options, root) of the /sys/fs/cgroup mounts in a mountinfo,
    the container's id in the root as ID."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) > 5 and f[4].startswith("/sys/fs/cgroup"):
            out.append((f[4], f[5], f[3].replace(cid, "ID")))
    return sorted(out)


@pytest.mark.pyrunc_only
def test_cgroup_mount_on_a_kernel_without_the_new_mount_api(rt, new_cid, make_bundle, tdir):
    """Before Linux 5.12 (no mount_setattr; open_tree and move_mount from 5.2): the
    cgroup mount binds and remounts with mount(2), to the same mounts and flags."""
    import subprocess

    b = make_bundle(shell("cat /proc/self/mountinfo"))
    cid, old_cid = new_cid(), new_cid()
    r = rt.run(cid, b, timeout=30)
    assert r.rc == 0, r
    want = _cgroup_mounts(r.out, cid)
    assert len(want) > 1 and all("ro" in o.split(",") for _, o, _ in want), want
    out = os.path.join(tdir, "old-kernel.out")
    with open(out, "wb") as f:
        p = subprocess.run(without_syscalls(["open_tree", "mount_setattr", "move_mount"],
                                            [*rt.base(), "run", "--bundle", b.path, old_cid]),
                           stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.PIPE, env=rt.env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert _cgroup_mounts(open(out).read(), old_cid) == want
