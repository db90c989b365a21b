"""pyrunc's OCI runtime-spec conformance suite.

Each requirement builds a bundle, drives the runtime under test through its
runc-compatible CLI, and checks from inside the container (with the checker
script) or from the host.  One row per requirement::

    PASS  process.args: process.args is the argv of the container process
    FAIL  linux.domainname: ...
          reason...

and a closing line ``N passed, N failed``.  Exit status 0 iff all passed.

    python3 -m conformance [--runtime CMD] [-k SUBSTR] [-v] [--list]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

from . import bundle as cb

REQUIREMENTS: list[tuple[str, str, callable]] = []


def requirement(rid: str, text: str):
    def deco(fn):
        REQUIREMENTS.append((rid, text, fn))
        return fn
    return deco


class Skip(Exception):
    """The requirement does not apply on this host."""


# --------------------------------------------------------------------------
# per-requirement context
# --------------------------------------------------------------------------

class Ctx:
    def __init__(self, argv: list[str]):
        self.token = uuid.uuid4().hex[:10]
        self.dir = tempfile.mkdtemp(prefix=f"pyrunc-conf-{self.token}-")
        self.extra_dirs: list[str] = []  # temporary directories elsewhere, removed with self.dir
        self.rt = cb.Runtime(argv, os.path.join(self.dir, "state"),
                             workdir=os.path.join(self.dir, "io"))
        self._n = 0

    def cid(self) -> str:
        self._n += 1
        return f"pyrunc-conf-{self.token}-{self._n}"

    def bundle(self, args=None, write=True, **overrides) -> cb.Bundle:
        self._n += 1
        b = cb.Bundle(os.path.join(self.dir, f"bundle{self._n}"),
                      cb.default_config(args, **overrides), tag=self.token)
        if write:
            b.write()
        return b

    def host_dir(self, name: str) -> str:
        p = os.path.join(self.dir, name)
        os.makedirs(p, exist_ok=True)
        return p

    def run(self, b: cb.Bundle, input=None) -> cb.Result:
        return self.rt.run(self.cid(), b, timeout=60, input=input)

    def run_ok(self, b: cb.Bundle, input=None) -> cb.Result:
        r = self.run(b, input=input)
        check(r.rc == 0, f"run failed (exit {r.rc}): {r.err.strip()}")
        return r

    def report(self, *sections, b: cb.Bundle | None = None, **overrides):
        if b is None:
            b = self.bundle(cb.checker_args(*sections), **overrides)
        r = self.run_ok(b)
        rep = cb.parse_report(r.out)
        check(rep.complete, f"checker output incomplete: {r.out[-300:]!r}")
        return rep

    def sh(self, script: str, **overrides) -> str:
        return self.run_ok(self.bundle(cb.shell(script), **overrides)).out

    def cleanup(self) -> None:
        try:
            self.rt.cleanup()
        finally:
            # kill any process of ours still around (tagged / in our cgroup)
            for pid in _tagged(self.token):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            prefix = os.path.realpath(self.dir) + "/"
            for m in sorted(cb.host_mountinfo(),
                            key=lambda m: -len(m["mountpoint"])):
                if m["mountpoint"].startswith(prefix):
                    subprocess.run(["umount", "-l", m["mountpoint"]],
                                   capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)
            for d in self.extra_dirs:
                shutil.rmtree(d, ignore_errors=True)
            # cgroups named after our token (runc leaves cgroupsPath parents)
            mine = [d for d, _, _ in os.walk("/sys/fs/cgroup")
                    if self.token in os.path.basename(d)]
            for d in sorted(mine, key=len, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


def _tagged(token: str) -> list[int]:
    found = []
    tag = f"{cb.TAG_VAR}={token}".encode()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                hit = tag in f.read().split(b"\0")
            if not hit:
                with open(f"/proc/{p}/cgroup", "rb") as f:
                    hit = token.encode() in f.read()
        except OSError:
            continue
        if hit:
            found.append(int(p))
    return found


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what=""):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def host_ns(name):
    return os.readlink(f"/proc/self/ns/{name}")


# --------------------------------------------------------------------------
# process
# --------------------------------------------------------------------------

@requirement("process.args", "args is the argv of the container process, "
             "args[0] found through the container's PATH")
def _(c: Ctx):
    b = c.bundle(["sh", "-c", 'for a in "$@"; do echo "[$a]"; done', "zero",
                  "a", "b c", ""])
    eq(c.run_ok(b).out.splitlines(), ["[a]", "[b c]", "[]"], "argv")


@requirement("process.env", "env is the environment of the process")
def _(c: Ctx):
    env = ["PATH=/bin:/usr/bin", "A=1", "B=with space", "C="]
    got = c.report("env", process={"env": env}).env()
    for e in env:
        k, _, v = e.partition("=")
        eq(got.get(k), v, k)


@requirement("process.cwd", "cwd is the working directory of the process")
def _(c: Ctx):
    eq(c.report("id", process={"cwd": "/home/user"})["cwd"], "/home/user",
       "cwd")


@requirement("process.optional", "process is optional: create without it "
             "succeeds and start then MUST generate an error (runtime.md start)")
def _(c: Ctx):
    b = c.bundle(write=False)
    del b.config["process"]
    b.write()
    cid = c.cid()
    r = c.rt.create(cid, b, timeout=60)
    check(r.rc == 0, f"create without process failed: {r.err.strip()}")
    eq(c.rt.state(cid)["status"], "created", "status after create")
    r = c.rt.start(cid, timeout=60)
    check(r.rc != 0, "start of a container without process succeeded")
    r = c.rt.delete(cid, force=True, timeout=60)
    check(r.rc == 0, f"delete failed: {r.err.strip()}")
    check(c.rt.status(cid) is None, "container still there after delete")


@requirement("process.user.uid-gid", "user.uid and user.gid are the "
             "process's uid and gid")
def _(c: Ctx):
    rep = c.report("id", process={"user": {"uid": 1000, "gid": 1000}})
    eq((rep["uid"], rep["euid"], rep["gid"], rep["egid"]),
       ("1000", "1000", "1000", "1000"), "ids")


@requirement("process.user.additionalGids", "additionalGids are the "
             "process's supplementary groups")
def _(c: Ctx):
    rep = c.report("id", process={"user": {"uid": 1000, "gid": 1000,
                                           "additionalGids": [100, 3000]}})
    check({100, 3000} <= rep.groups(), f"groups {rep.groups()}")
    check(0 not in rep.groups(), "root group kept")


@requirement("process.user.umask", "umask is the process's umask")
def _(c: Ctx):
    eq(c.report("id", process={"user": {"uid": 0, "gid": 0,
                                         "umask": 0o77}})["umask"],
       "0077", "umask")


@requirement("process.rlimits", "rlimits are set (soft and hard)")
def _(c: Ctx):
    lim = c.report("limits", process={"rlimits": [
        {"type": "RLIMIT_NOFILE", "soft": 500, "hard": 600},
        {"type": "RLIMIT_NPROC", "soft": 200, "hard": 300}]}).limits()
    eq(lim.get("RLIMIT_NOFILE"), ("500", "600"), "NOFILE")
    eq(lim.get("RLIMIT_NPROC"), ("200", "300"), "NPROC")


@requirement("process.noNewPrivileges", "noNewPrivileges true sets "
             "no_new_privs, false leaves it clear")
def _(c: Ctx):
    eq(c.report("caps", process={"noNewPrivileges": True})["NoNewPrivs"],
       "1", "true")
    eq(c.report("caps", process={"noNewPrivileges": False})["NoNewPrivs"],
       "0", "false")


@requirement("process.capabilities", "bounding/permitted/effective/"
             "inheritable/ambient sets are applied")
def _(c: Ctx):
    caps = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW",
                         "CAP_SETUID"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
            "ambient": ["CAP_KILL"]}
    rep = c.report("caps", process={"capabilities": caps})
    for field, key in (("CapBnd", "bounding"), ("CapPrm", "permitted"),
                       ("CapEff", "effective"), ("CapInh", "inheritable"),
                       ("CapAmb", "ambient")):
        eq(rep.cap(field), cb.cap_bits(caps[key]), field)


@requirement("process.capabilities.non-root", "a non-root user keeps "
             "ambient capabilities")
def _(c: Ctx):
    caps = ["CAP_NET_BIND_SERVICE"]
    rep = c.report("caps", process={
        "user": {"uid": 1000, "gid": 1000},
        "capabilities": {k: caps for k in ("bounding", "permitted",
                                           "effective", "inheritable",
                                           "ambient")}})
    eq(rep.cap("CapEff"), cb.cap_bits(caps), "CapEff")


@requirement("process.oomScoreAdj", "oomScoreAdj is written to "
             "/proc/PID/oom_score_adj")
def _(c: Ctx):
    eq(c.report("oom", process={"oomScoreAdj": 321})["oom_score_adj"], "321",
       "oom_score_adj")


@requirement("process.stdio", "terminal false: stdio of the runtime reaches "
             "the process")
def _(c: Ctx):
    r = c.run_ok(c.bundle(cb.shell("cat")), input="ping\n")
    eq(r.out, "ping\n", "stdout")


# --------------------------------------------------------------------------
# hostname, domainname, namespaces
# --------------------------------------------------------------------------

@requirement("hostname", "hostname is the container's hostname (UTS ns)")
def _(c: Ctx):
    eq(c.report("uts", hostname="conf-host")["hostname"], "conf-host",
       "hostname")


@requirement("domainname", "domainname is the container's NIS domain name")
def _(c: Ctx):
    eq(c.report("uts", domainname="conf.example")["domainname"],
       "conf.example", "domainname")


NSFILE = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts",
          "mount": "mnt", "cgroup": "cgroup"}
BASE_NS = ["pid", "network", "ipc", "uts", "mount"]


def _ns_new(typ):
    def fn(c: Ctx):
        b = c.bundle(cb.checker_args("ns"), write=False)
        cb.set_namespaces(b.config, sorted(set(BASE_NS) | {typ}))
        b.write()
        rep = c.report(b=b)
        name = NSFILE[typ]
        check(rep[f"ns.{name}"] != host_ns(name),
              f"{name} namespace is the host's")
    return fn


def _ns_host(typ):
    def fn(c: Ctx):
        b = c.bundle(cb.checker_args("ns"), write=False)
        cb.set_namespaces(b.config, [t for t in BASE_NS if t != typ])
        if typ == "uts":
            b.config.pop("hostname", None)
        b.write()
        rep = c.report(b=b)
        name = NSFILE[typ]
        eq(rep[f"ns.{name}"], host_ns(name), f"{name} namespace")
    return fn


for _t in ("pid", "network", "ipc", "uts", "mount", "cgroup"):
    requirement(f"linux.namespaces.{_t}.new",
                f"a {_t} namespace entry without path creates a new "
                f"namespace")(_ns_new(_t))
for _t in ("pid", "network", "ipc", "uts", "cgroup"):
    requirement(f"linux.namespaces.{_t}.host",
                f"without a {_t} entry the container is in the runtime's "
                f"{_t} namespace")(_ns_host(_t))


@requirement("linux.namespaces.path", "a namespace with path joins that "
             "namespace")
def _(c: Ctx):
    a = c.cid()
    r = c.rt.create(a, c.bundle(["sleep", "30"]))
    check(r.rc == 0, f"create: {r.err.strip()}")
    pid = c.rt.state(a)["pid"]
    b = c.bundle(cb.checker_args("ns"), write=False)
    for n in b.config["linux"]["namespaces"]:
        if n["type"] == "network":
            n["path"] = f"/proc/{pid}/ns/net"
    b.write()
    eq(c.report(b=b)["ns.net"], os.readlink(f"/proc/{pid}/ns/net"), "net ns")


@requirement("linux.namespaces.user", "a user namespace with uidMappings/"
             "gidMappings maps ids")
def _(c: Ctx):
    os.chmod(c.dir, 0o755)
    b = c.bundle(cb.shell("cat /proc/self/uid_map /proc/self/gid_map"),
                 write=False)
    b.config["linux"]["namespaces"].append({"type": "user"})
    m = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b.config["linux"]["uidMappings"] = m
    b.config["linux"]["gidMappings"] = m
    b.config["mounts"] = [x for x in b.config["mounts"]
                          if x["destination"] not in ("/sys", "/sys/fs/cgroup")]
    b.write()
    lines = [l.split() for l in c.run_ok(b).out.splitlines()]
    eq(lines, [["0", "200000", "65536"]] * 2, "maps")


@requirement("linux.sysctl", "sysctl values are set in the container's "
             "namespaces")
def _(c: Ctx):
    rep = c.report("sysctl=net.ipv4.ip_forward", "sysctl=kernel.msgmax",
                   linux={"sysctl": {"net.ipv4.ip_forward": "1",
                                     "kernel.msgmax": "4242"}})
    eq(rep["sysctl.net.ipv4.ip_forward"], "1", "ip_forward")
    eq(rep["sysctl.kernel.msgmax"], "4242", "msgmax")


def _name_conflict(c: Ctx, field: str):
    """A kernel.<field> sysctl that contradicts the <field> field: the runtime cannot
    apply both as specified (runtime.md create: it MUST generate an error and a new
    container MUST NOT be created)."""
    cid = c.cid()
    b = c.bundle(["true"], **{field: "from-field"},
                 linux={"sysctl": {f"kernel.{field}": "from-sysctl"}})
    r = c.rt.create(cid, b, timeout=60)
    check(r.rc != 0, f"create succeeded with {field} and a contradicting kernel.{field} sysctl")
    check(c.rt.state_raw(cid).rc != 0, "a container was created")
    check(f"kernel.{field}" in r.err, f"the error does not name kernel.{field}: {r.err.strip()!r}")


@requirement("linux.sysctl.hostname-conflict", "a kernel.hostname sysctl contradicting "
             "hostname is an error and no container is created (runtime.md create)")
def _(c: Ctx):
    _name_conflict(c, "hostname")


@requirement("linux.sysctl.domainname-conflict", "a kernel.domainname sysctl contradicting "
             "domainname is an error and no container is created (runtime.md create)")
def _(c: Ctx):
    _name_conflict(c, "domainname")


# --------------------------------------------------------------------------
# filesystem
# --------------------------------------------------------------------------

@requirement("root.readonly", "root.readonly true makes the root "
             "filesystem read-only; false writable")
def _(c: Ctx):
    eq(c.report("write=/x", root={"readonly": True})["write./x"], "fail",
       "readonly true")
    eq(c.report("write=/x", root={"readonly": False})["write./x"], "ok",
       "readonly false")


@requirement("mounts.bind.ro", "a bind mount with ro is read-only and shows "
             "the source")
def _(c: Ctx):
    src = c.host_dir("src")
    with open(os.path.join(src, "f"), "w") as f:
        f.write("x")
    b = c.bundle(cb.checker_args("read=/m/f", "write=/m/g"), write=False)
    b.add_mount("/m", "bind", src, ["rbind", "ro"])
    b.write()
    rep = c.report(b=b)
    eq(rep["read./m/f"], "ok", "read")
    eq(rep["write./m/g"], "fail", "write")


@requirement("mounts.bind.rw", "a rw bind mount writes through to the source")
def _(c: Ctx):
    src = c.host_dir("src")
    b = c.bundle(cb.shell("echo hi > /m/out"), write=False)
    b.add_mount("/m", "bind", src, ["rbind", "rw"])
    b.write()
    c.run_ok(b)
    eq(open(os.path.join(src, "out")).read(), "hi\n", "file on host")


@requirement("mounts.tmpfs.options", "tmpfs mount options (size, mode, "
             "nosuid, nodev, noexec) are applied")
def _(c: Ctx):
    b = c.bundle(cb.checker_args("mounts"), write=False)
    b.add_mount("/t", "tmpfs", "tmpfs",
                ["nosuid", "nodev", "noexec", "size=2m", "mode=700"])
    b.write()
    m = c.report(b=b).mount_at("/t")
    check(m is not None, "no mount at /t")
    eq(m["fstype"], "tmpfs", "fstype")
    check({"nosuid", "nodev", "noexec"} <= m["options"], m["line"])
    check("size=2048k" in m["super"] and "mode=700" in m["super"], m["line"])


@requirement("mounts.order", "mounts are mounted in order")
def _(c: Ctx):
    outer, inner = c.host_dir("outer"), c.host_dir("inner")
    os.makedirs(os.path.join(outer, "sub"))
    open(os.path.join(inner, "in"), "w").close()
    b = c.bundle(cb.shell("ls /o/sub"), write=False)
    b.add_mount("/o", "bind", outer, ["rbind"])
    b.add_mount("/o/sub", "bind", inner, ["rbind"])
    b.write()
    eq(c.run_ok(b).out.split(), ["in"], "ls")


@requirement("mounts.destination.created", "a missing mount destination is "
             "created inside the rootfs")
def _(c: Ctx):
    src = c.host_dir("src")
    b = c.bundle(cb.checker_args("exists=/a/b/c"), write=False)
    b.add_mount("/a/b/c", "bind", src, ["rbind"])
    b.write()
    eq(c.report(b=b)["exists./a/b/c"], "yes", "destination")


@requirement("mounts.destination.symlink", "a symlinked destination is "
             "resolved inside the rootfs, never on the host")
def _(c: Ctx):
    victim = c.host_dir("victim")
    b = c.bundle(["true"], root={"readonly": False}, write=False)
    os.symlink(victim, b.rootfs_path("/evil"))
    b.add_mount("/evil", "tmpfs", "tmpfs", ["size=64k"])
    b.write()
    c.run(b)
    for m in cb.host_mountinfo():
        check(not m["mountpoint"].startswith(victim),
              f"mounted on the host: {m['line']}")


def _root_propagation(c: Ctx, prop: str):
    """The optional fields of the container's / in its mountinfo, the runtime run in a
    mount namespace whose mounts are all shared (util-linux unshare): on a host whose /
    is private a slave of it shows as private, so only there can slave, private and
    unbindable be told apart."""
    rt = cb.Runtime(["unshare", "--mount", "--propagation", "shared", *c.rt.argv], c.rt.root,
                    workdir=c.rt.workdir)
    rt.created = c.rt.created  # cleaned up with the context's
    b = c.bundle(cb.checker_args("mounts"), write=False)
    b.config["linux"]["rootfsPropagation"] = prop
    b.write()
    r = rt.run(c.cid(), b, timeout=60)
    check(r.rc == 0, f"run failed (exit {r.rc}): {r.err.strip()}")
    rep = cb.parse_report(r.out)
    check(rep.complete, f"checker output incomplete: {r.out[-300:]!r}")
    root = rep.mount_at("/")
    check(root is not None, f"{prop}: no mount at /")
    opt = root["optional"]
    return opt, root["line"]


def _propagation_requirement(prop, text, want, allowed=frozenset()):
    """want: the propagation marks / must have; allowed: those it may have besides."""
    def fn(c: Ctx):
        opt, line = _root_propagation(c, prop)
        has = {"shared": any(o.startswith("shared:") for o in opt),
               "master": any(o.startswith("master:") for o in opt),
               "unbindable": "unbindable" in opt}
        got = {k for k, v in has.items() if v}
        check(want <= got <= want | allowed, f"{prop}: propagation {sorted(got)}, want "
              f"{sorted(want)}{' (and maybe ' + ', '.join(sorted(allowed)) + ')' if allowed else ''}: {line}")
    requirement(f"linux.rootfsPropagation.{prop}", f"rootfsPropagation {prop}: {text} "
                "(config-linux.md)")(fn)


# shared: a peer group of its own; it may still receive from the host (the spec only says
# it is not shared with it)
_propagation_requirement("shared", "the container's / is in a peer group of its own", {"shared"},
                         {"master"})
_propagation_requirement("slave", "the container's / receives from the host's mounts and "
                         "sends nothing back", {"master"})
_propagation_requirement("private", "the container's / neither receives nor sends", set())
_propagation_requirement("unbindable", "the container's / is private and unbindable",
                         {"unbindable"})


@requirement("mounts.options.recursive", "recursive mount options (rro, rnosuid, "
             "rnoexec ...) apply to every submount of a bind (config.md)")
def _(c: Ctx):
    b = c.bundle(cb.checker_args("mounts", "write=/dst/sub/x", "write=/src/sub/y"),
                 root={"readonly": False}, write=False)
    b.add_mount("/src/sub", "tmpfs", "tmpfs", ["mode=1777"])
    b.add_mount("/dst", "bind", b.rootfs_path("/src"), ["rbind", "rro", "rnosuid"])
    b.write()
    rep = c.report(b=b)
    eq(rep["write./dst/sub/x"], "fail", "write in the submount of the rro bind")
    eq(rep["write./src/sub/y"], "ok", "write in the original")
    sub = rep.mount_at("/dst/sub")
    check(sub is not None and {"ro", "nosuid"} <= sub["options"], f"submount: {sub}")


@requirement("mounts.idmap", "a bind mount with uidMappings/gidMappings is idmapped: "
             "an owner containerID on disk appears as its hostID (config.md)")
def _(c: Ctx):
    src = c.host_dir("idsrc")
    if _fs_magic(src) == TMPFS_MAGIC:
        # tmpfs can be idmapped only from Linux 6.3 (Debian 12's 6.1 mounts /tmp as tmpfs
        # under systemd): use a disk-backed temporary directory when there is one
        src = tempfile.mkdtemp(prefix=f"pyrunc-conf-{c.token}-idmap-", dir="/var/tmp")
        c.extra_dirs.append(src)
        os.chmod(src, 0o755)  # as host_dir's: its owner (root) is not in the mount's mappings
        if _fs_magic(src) == TMPFS_MAGIC and _kernel() < (6, 3):
            raise Skip(f"no filesystem here this kernel ({os.uname().release}) can idmap")
    path = os.path.join(src, "f")
    open(path, "w").close()
    os.chown(path, 1234, 1234)
    b = c.bundle(cb.shell("stat -c '%u %g' /m/f"), write=False)
    b.add_mount("/m", "bind", src, ["rbind", "idmap"])
    b.config["mounts"][-1]["uidMappings"] = [{"containerID": 1234, "hostID": 4321, "size": 1}]
    b.config["mounts"][-1]["gidMappings"] = [{"containerID": 1234, "hostID": 4321, "size": 1}]
    b.write()
    eq(c.run_ok(b).out.strip(), "4321 4321", "owner seen through the idmapped mount")
    eq((os.stat(path).st_uid, os.stat(path).st_gid), (1234, 1234), "owner on the host")


TMPFS_MAGIC = 0x01021994


def _fs_magic(path):
    """statfs(2) f_type of path (libc through ctypes: this suite does not import pyrunc)."""
    import ctypes

    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type is its first long
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.statfs(os.fsencode(path), buf) != 0:
        return None
    return ctypes.c_long.from_buffer(buf).value


def _kernel():
    return tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])


@requirement("linux.maskedPaths", "maskedPaths are masked (unreadable "
             "content)")
def _(c: Ctx):
    b = c.bundle(cb.shell("cat /proc/kcore /secret 2>/dev/null | wc -c; "
                          "ls -A /sys/firmware | wc -l"), write=False)
    b.add_file("/secret", "secret")
    b.config["linux"]["maskedPaths"].append("/secret")
    b.write()
    eq(c.run_ok(b).out.split(), ["0", "0"], "visible bytes/entries")


@requirement("linux.readonlyPaths", "readonlyPaths are read-only")
def _(c: Ctx):
    b = c.bundle(cb.checker_args("write=/proc/sys/kernel/domainname",
                                 "write=/rodir/f", "read=/rodir/g"),
                 root={"readonly": False}, write=False)
    b.add_file("/rodir/g", "x")
    b.config["linux"]["readonlyPaths"].append("/rodir")
    b.write()
    rep = c.report(b=b)
    eq(rep["write./proc/sys/kernel/domainname"], "fail", "/proc/sys")
    eq(rep["write./rodir/f"], "fail", "/rodir write")
    eq(rep["read./rodir/g"], "ok", "/rodir read")


DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7),
                   "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}


@requirement("linux.default-devices", "/dev/null, zero, full, random, "
             "urandom, tty exist as the right char devices")
def _(c: Ctx):
    devs = c.report("dev").devices()
    for name, (ma, mi) in DEFAULT_DEVICES.items():
        check(name in devs, f"/dev/{name} missing")
        d = devs[name]
        check(d["type"] == "character special file" and
              (d["major"], d["minor"]) == (ma, mi), f"/dev/{name}: {d}")


@requirement("linux.default-symlinks", "/dev/fd, stdin, stdout, stderr, ptmx "
             "symlinks exist")
def _(c: Ctx):
    links = c.report("dev").devlinks()
    want = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
            "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
            "ptmx": "pts/ptmx"}
    for k, v in want.items():
        eq(links.get(k), v, f"/dev/{k}")


@requirement("linux.devices", "linux.devices nodes are created with type, "
             "major/minor, fileMode, uid, gid")
def _(c: Ctx):
    b = c.bundle(cb.checker_args("dev"), write=False)
    b.config["linux"]["devices"] = [
        {"path": "/dev/cdev", "type": "c", "major": 1, "minor": 5,
         "fileMode": 0o640, "uid": 1000, "gid": 100}]
    b.config["linux"]["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5,
         "access": "rwm"}]}
    b.write()
    d = c.report(b=b).devices().get("cdev")
    check(d is not None, "/dev/cdev missing")
    eq((d["type"], d["major"], d["minor"], d["mode"], d["uid"], d["gid"]),
       ("character special file", 1, 5, 0o640, 1000, 100), "/dev/cdev")


@requirement("fds.no-leak", "only stdio (and --preserve-fds) reach the "
             "container")
def _(c: Ctx):
    fds = c.report("fd").fds()
    eq(sorted(fds), [0, 1, 2], "fds")


# --------------------------------------------------------------------------
# lifecycle and operations
# --------------------------------------------------------------------------

@requirement("lifecycle.states", "state reports created, running, stopped "
             "through the lifecycle")
def _(c: Ctx):
    mark = c.host_dir("mark")
    b = c.bundle(cb.shell("while [ ! -e /mark/go ]; do sleep 0.05; done"),
                 write=False)
    b.add_mount("/mark", "bind", mark, ["rbind"])
    b.write()
    cid = c.cid()
    check(c.rt.create(cid, b).rc == 0, "create failed")
    eq(c.rt.status(cid), "created", "after create")
    check(c.rt.start(cid).rc == 0, "start failed")
    eq(c.rt.status(cid), "running", "after start")
    open(os.path.join(mark, "go"), "w").close()
    eq(c.rt.wait_status(cid, "stopped"), "stopped", "after exit")


@requirement("state.fields", "state has ociVersion, id, status, pid, bundle, "
             "annotations")
def _(c: Ctx):
    cid = c.cid()
    b = c.bundle(["sleep", "30"], annotations={"k": "v"})
    check(c.rt.create(cid, b).rc == 0, "create failed")
    st = c.rt.state(cid)
    eq(st.get("id"), cid, "id")
    eq(st.get("status"), "created", "status")
    eq(st.get("bundle"), b.path, "bundle")
    eq(st.get("annotations"), {"k": "v"}, "annotations")
    check(isinstance(st.get("pid"), int) and st["pid"] > 0, f"pid {st}")
    check(str(st.get("ociVersion", "")).startswith("1."), "ociVersion")


@requirement("create.no-user-code", "create does not run the user process")
def _(c: Ctx):
    mark = c.host_dir("mark")
    b = c.bundle(cb.shell("touch /mark/ran"), write=False)
    b.add_mount("/mark", "bind", mark, ["rbind"])
    b.write()
    check(c.rt.create(c.cid(), b).rc == 0, "create failed")
    time.sleep(0.3)
    check(not os.path.exists(os.path.join(mark, "ran")), "user code ran")


@requirement("create.duplicate-id", "create with an existing id fails and "
             "does not touch the existing container")
def _(c: Ctx):
    cid = c.cid()
    check(c.rt.create(cid, c.bundle(["sleep", "30"])).rc == 0, "create")
    pid = c.rt.state(cid)["pid"]
    check(c.rt.create(cid, c.bundle(["sleep", "30"])).rc != 0,
          "second create succeeded")
    eq(c.rt.state(cid)["pid"], pid, "pid")


@requirement("start.twice", "start of a started container fails")
def _(c: Ctx):
    cid = c.cid()
    check(c.rt.create(cid, c.bundle(["sleep", "30"])).rc == 0, "create")
    check(c.rt.start(cid).rc == 0, "start")
    check(c.rt.start(cid).rc != 0, "second start succeeded")
    eq(c.rt.status(cid), "running", "status")


@requirement("kill.signal", "kill sends the signal to the container process")
def _(c: Ctx):
    cid = c.cid()
    check(c.rt.create(cid, c.bundle(["sleep", "30"])).rc == 0, "create")
    check(c.rt.start(cid).rc == 0, "start")
    check(c.rt.kill(cid, "KILL").rc == 0, "kill failed")
    eq(c.rt.wait_status(cid, "stopped"), "stopped", "status")


@requirement("kill.not-running", "kill of a stopped container fails")
def _(c: Ctx):
    cid = c.cid()
    check(c.rt.create(cid, c.bundle(["true"])).rc == 0, "create")
    check(c.rt.start(cid).rc == 0, "start")
    eq(c.rt.wait_status(cid, "stopped"), "stopped", "status")
    check(c.rt.kill(cid, "TERM").rc != 0, "kill succeeded")


@requirement("delete.running", "delete of a running container fails")
def _(c: Ctx):
    cid = c.cid()
    check(c.rt.create(cid, c.bundle(["sleep", "30"])).rc == 0, "create")
    check(c.rt.start(cid).rc == 0, "start")
    check(c.rt.delete(cid).rc != 0, "delete succeeded")
    eq(c.rt.status(cid), "running", "status")


@requirement("delete.resources", "delete removes the container and its "
             "resources")
def _(c: Ctx):
    cid = c.cid()
    check(c.rt.create(cid, c.bundle(["sleep", "30"])).rc == 0, "create")
    pid = c.rt.state(cid)["pid"]
    check(c.rt.delete(cid).rc == 0, "delete of created failed")
    check(c.rt.state_raw(cid).rc != 0, "state after delete succeeded")
    deadline = time.monotonic() + 5
    while cb.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(not cb.pid_alive(pid), "process survived delete")
    check(not _tagged(c.token), "processes left")


@requirement("delete.unknown", "delete of an unknown container fails")
def _(c: Ctx):
    check(c.rt.delete(c.cid()).rc != 0, "delete succeeded")


@requirement("state.unknown", "state of an unknown container fails")
def _(c: Ctx):
    check(c.rt.state_raw(c.cid()).rc != 0, "state succeeded")


@requirement("run.exit-code", "run exits with the container process's exit "
             "status")
def _(c: Ctx):
    eq(c.run(c.bundle(cb.shell("exit 7"))).rc, 7, "exit status")


@requirement("create.invalid-id", "an invalid id (../x, a/b) is rejected")
def _(c: Ctx):
    for bad in ("../x", "a/b"):
        check(c.rt.create(bad, c.bundle(["true"])).rc != 0, f"{bad} accepted")
    eq(os.listdir(c.rt.root), [], "state root")


# --------------------------------------------------------------------------
# cgroups (observed from the host)
# --------------------------------------------------------------------------

def _cgroup_file(pid: int, controller: str, name: str) -> str:
    """Host path of cgroup file ``name`` of ``controller`` for ``pid``
    (cgroup v1 hierarchy of that controller, else the unified one)."""
    v2 = None
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return os.path.join("/sys/fs/cgroup", controller,
                                    path.lstrip("/"), name)
            if ctrls == "":
                v2 = path
    base = "/sys/fs/cgroup/unified" if os.path.isdir(
        "/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    return os.path.join(base, (v2 or "/").lstrip("/"), name)


def _created_with(c: Ctx, **linux):
    cid = c.cid()
    b = c.bundle(["sleep", "30"], write=False)
    b.config["linux"].update(linux)
    b.write()
    r = c.rt.create(cid, b)
    check(r.rc == 0, f"create failed: {r.err.strip()}")
    return cid, c.rt.state(cid)["pid"]


@requirement("linux.cgroupsPath", "cgroupsPath places the container in that "
             "cgroup")
def _(c: Ctx):
    path = f"/pyrunc-conf-{c.token}/ctr"
    cid, pid = _created_with(c, cgroupsPath=path)
    with open(f"/proc/{pid}/cgroup") as f:
        paths = [l.rstrip("\n").split(":", 2)[2] for l in f]
    check(any(p.endswith(path) for p in paths), f"cgroups: {paths}")
    check(c.rt.delete(cid, force=True).rc == 0, "delete failed")
    left = [d for d, _, _ in os.walk("/sys/fs/cgroup")
            if d.endswith(path)]
    check(not left, f"cgroups left after delete: {left}")


@requirement("linux.resources.pids", "resources.pids.limit sets the "
             "container's pids limit")
def _(c: Ctx):
    _, pid = _created_with(c, resources={"pids": {"limit": 42}})
    eq(open(_cgroup_file(pid, "pids", "pids.max")).read().strip(), "42",
       "pids.max")


@requirement("linux.resources.memory", "resources.memory.limit sets the "
             "container's memory limit")
def _(c: Ctx):
    _, pid = _created_with(c, resources={"memory": {"limit": 64 << 20}})
    f = _cgroup_file(pid, "memory", "memory.limit_in_bytes")
    if not os.path.exists(f):
        f = _cgroup_file(pid, "memory", "memory.max")
    eq(open(f).read().strip(), str(64 << 20), os.path.basename(f))


# --------------------------------------------------------------------------
# hooks
# --------------------------------------------------------------------------

HOOK_TYPES = ["prestart", "createRuntime", "createContainer", "poststart",
              "poststop"]


def _hooked(c: Ctx, script="true"):
    hd = c.host_dir("hooks")
    log = os.path.join(hd, "log")
    hook = os.path.join(c.dir, "hook.sh")
    with open(hook, "w") as f:
        f.write(f'#!/bin/sh\necho "$1 $(cat)" >> {log}\n')
    os.chmod(hook, 0o755)
    b = c.bundle(cb.shell(script), write=False)
    b.add_mount("/hooks", "bind", hd, ["rbind"])
    b.add_file("/bin/start-hook",
               '#!/bin/sh\necho "$1 $(cat)" >> /hooks/log\n', 0o755)
    b.config["hooks"] = {t: [{"path": hook, "args": ["hook", t]}]
                         for t in HOOK_TYPES}
    b.config["hooks"]["startContainer"] = [
        {"path": "/bin/start-hook", "args": ["start-hook", "startContainer"]}]
    b.write()
    return b, log


def _log(log):
    out = []
    if os.path.exists(log):
        for line in open(log):
            name, _, rest = line.strip().partition(" ")
            out.append((name, json.loads(rest) if rest.startswith("{")
                        else None))
    return out


@requirement("hooks.order", "hooks run in order: prestart/createRuntime, "
             "createContainer, startContainer, poststart, poststop")
def _(c: Ctx):
    b, log = _hooked(c)
    cid = c.cid()
    check(c.rt.create(cid, b).rc == 0, "create")
    names = [n for n, _ in _log(log)]
    eq(names, ["prestart", "createRuntime", "createContainer"],
       "hooks run by create")
    check(c.rt.start(cid).rc == 0, "start")
    names = [n for n, _ in _log(log)]
    check("poststart" in names, "poststart not run before start returned")
    eq(c.rt.wait_status(cid, "stopped"), "stopped", "status")
    check(c.rt.delete(cid).rc == 0, "delete")
    names = [n for n, _ in _log(log)]
    eq(names, ["prestart", "createRuntime", "createContainer",
               "startContainer", "poststart", "poststop"], "order")


@requirement("hooks.state", "hooks get the container state on stdin")
def _(c: Ctx):
    b, log = _hooked(c)
    cid = c.cid()
    check(c.rt.create(cid, b).rc == 0, "create")
    pid = c.rt.state(cid)["pid"]
    check(c.rt.start(cid).rc == 0, "start")
    c.rt.wait_status(cid, "stopped")
    check(c.rt.delete(cid).rc == 0, "delete")
    entries = dict(_log(log))
    for name in HOOK_TYPES + ["startContainer"]:
        st = entries.get(name)
        check(isinstance(st, dict), f"{name}: no state on stdin")
        eq(st.get("id"), cid, f"{name} id")
        eq(st.get("bundle"), b.path, f"{name} bundle")
    # prestart/createRuntime/createContainer are lifecycle steps 3-5, after
    # step 2 whose end is `created` (runtime.md, State)
    for name in ("prestart", "createRuntime", "createContainer"):
        eq(entries[name].get("status"), "created", f"{name} status")
    eq(entries["startContainer"].get("status"), "created",
       "startContainer status")
    eq(entries["createRuntime"].get("pid"), pid, "createRuntime pid")
    eq(entries["poststop"].get("status"), "stopped", "poststop status")


@requirement("hooks.failure", "a failing createRuntime hook fails create "
             "and leaves no container")
def _(c: Ctx):
    cid = c.cid()
    b = c.bundle(["true"], hooks={"createRuntime": [{"path": "/bin/false"}]})
    check(c.rt.create(cid, b).rc != 0, "create succeeded")
    check(c.rt.state_raw(cid).rc != 0, "container exists")


# --------------------------------------------------------------------------
# capabilities that cannot be granted
# --------------------------------------------------------------------------

@requirement("process.capabilities.ungrantable", "a capability that cannot be "
             "granted is logged as a warning and the container runs with the rest")
def _(c: Ctx):
    good = ["CAP_CHOWN", "CAP_KILL"]
    caps = {s: good + ["CAP_UNKNOWN"] for s in
            ("bounding", "permitted", "effective", "inheritable")}
    b = c.bundle(cb.shell("grep ^CapEff /proc/self/status"),
                 process={"capabilities": caps})
    r = c.run(b)
    check(r.rc == 0, f"run failed (exit {r.rc}): {r.err.strip()}")
    eq(int(r.out.split()[-1], 16), cb.cap_bits(good), "CapEff")
    check("CAP_UNKNOWN" in r.err and "warn" in r.err,
          f"no warning naming CAP_UNKNOWN on stderr: {r.err.strip()!r}")


CAP_SYS_TIME = 25
PR_CAPBSET_DROP = 24


@requirement("process.capabilities.outside-bounding", "a capability outside the runtime's "
             "bounding set cannot be granted: a warning naming it, and the container runs "
             "with the rest (config.md)")
def _(c: Ctx):
    good = ["CAP_CHOWN", "CAP_KILL"]
    caps = {s: good + ["CAP_SYS_TIME"] for s in ("bounding", "permitted", "effective")}
    b = c.bundle(cb.shell("grep -E '^Cap(Eff|Bnd)' /proc/self/status"),
                 process={"capabilities": caps})
    # the runtime started with CAP_SYS_TIME dropped from its bounding set (prctl)
    drop = ("import ctypes, os, sys\n"
            f"if ctypes.CDLL(None, use_errno=True).prctl({PR_CAPBSET_DROP}, {CAP_SYS_TIME}, 0, 0, 0):\n"
            "    sys.exit('prctl(PR_CAPBSET_DROP): ' + os.strerror(ctypes.get_errno()))\n"
            "os.execvp(sys.argv[1], sys.argv[1:])\n")
    rt = cb.Runtime([sys.executable, "-I", "-c", drop, *c.rt.argv], c.rt.root, workdir=c.rt.workdir)
    rt.created = c.rt.created
    r = rt.run(c.cid(), b, timeout=60)
    check(r.rc == 0, f"run failed (exit {r.rc}): {r.err.strip()}")
    got = dict(line.split(":") for line in r.out.split("\n") if ":" in line)
    eq(int(got["CapEff"], 16), cb.cap_bits(good), "CapEff")
    eq(int(got["CapBnd"], 16), cb.cap_bits(good), "CapBnd")
    check("CAP_SYS_TIME" in r.err and "warn" in r.err.lower(),
          f"no warning naming CAP_SYS_TIME on stderr: {r.err.strip()!r}")


# --------------------------------------------------------------------------
# seccomp: SCMP_ACT_NOTIFY and listenerPath
# --------------------------------------------------------------------------

AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_agent.py")


def _agent(c: Ctx):
    if os.uname().machine != "x86_64":
        raise Skip("the agent knows x86_64 syscall numbers")
    sock, out = os.path.join(c.dir, "agent.sock"), os.path.join(c.dir, "agent.json")
    p = subprocess.Popen([sys.executable, AGENT, sock, out])
    deadline = time.monotonic() + 20
    while not os.path.exists(sock) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    check(os.path.exists(sock), "the seccomp agent did not start")
    return p, sock, out


def _notify_profile(sock):
    return {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
            "listenerMetadata": "conformance",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}


@requirement("linux.seccomp.listenerPath", "SCMP_ACT_NOTIFY: the container process "
             "state (ociVersion, fds, pid, metadata, state) and the seccomp fd "
             "(SCM_RIGHTS) reach listenerPath, and the agent answers the syscalls")
def _(c: Ctx):
    agent, sock, out = _agent(c)
    try:
        b = c.bundle(cb.shell("mkdir /new 2>&1; echo mkdir=$?"),
                     root={"readonly": False},
                     linux={"seccomp": _notify_profile(sock)})
        cid = c.cid()
        out_path = os.path.join(c.dir, "container.out")
        r = c.rt.create(cid, b, stdout_path=out_path)
        check(r.rc == 0, f"create failed (exit {r.rc}): {r.err.strip()}")
        pid = c.rt.state(cid)["pid"]
        check(c.rt.start(cid).rc == 0, "start failed")
        eq(c.rt.wait_status(cid, "stopped", timeout=30), "stopped", "status")
        with open(out_path) as f:
            text = f.read()
        check("mkdir=1" in text, f"mkdir was not answered by the agent: {text!r}")
        with open(out) as f:
            got = json.load(f)
        eq(got["nfds"], 1, "fds sent with SCM_RIGHTS")
        m = got["message"]
        check(isinstance(m.get("ociVersion"), str) and m["ociVersion"], "ociVersion")
        eq(m.get("fds"), ["seccompFd"], "fds")
        eq(m.get("pid"), pid, "pid (the container process, as the runtime's state says)")
        check("seccomp" in got["fd_kinds"][0], f"the fd sent is not a seccomp listener: {got['fd_kinds']}")
        eq(m.get("metadata"), "conformance", "metadata")
        st = m.get("state") or {}
        eq(st.get("id"), cid, "state.id")
        eq(st.get("bundle"), b.path, "state.bundle")
        check(st.get("status") in ("creating", "created"), f"state.status: {st.get('status')!r}")
        eq(st.get("pid"), pid, "state.pid")
        check(isinstance(st.get("ociVersion"), str) and st["ociVersion"], "state.ociVersion")
    finally:
        agent.kill()
        agent.wait()


@requirement("linux.seccomp.listenerPath.error", "sending to listenerPath fails: "
             "an error, and no container")
def _(c: Ctx):
    cid = c.cid()
    b = c.bundle(["true"], linux={"seccomp": _notify_profile(os.path.join(c.dir, "nobody.sock"))})
    check(c.rt.create(cid, b).rc != 0, "create succeeded without an agent")
    check(c.rt.state_raw(cid).rc != 0, "container exists")


# --------------------------------------------------------------------------
# runner
# --------------------------------------------------------------------------

def run_requirement(argv, rid, fn, verbose=False):
    ctx = Ctx(argv)
    try:
        fn(ctx)
        return "PASS", ""
    except Skip as e:
        return "SKIP", str(e)
    except AssertionError as e:
        return "FAIL", str(e) or "assertion failed"
    except Exception as e:  # noqa: BLE001 - a crash is a failure
        detail = traceback.format_exc() if verbose else f"{type(e).__name__}: {e}"
        return "FAIL", detail
    finally:
        try:
            ctx.cleanup()
        except Exception:  # noqa: BLE001
            pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m conformance",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtime", default=None,
                    help="runtime command (default: $PYRUNC_TEST_RUNTIME or "
                         "pyrunc)")
    ap.add_argument("-k", dest="keyword", default=None,
                    help="only requirements whose id or text contains this")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print full tracebacks of crashes")
    ap.add_argument("--list", action="store_true",
                    help="list the requirements and exit")
    args = ap.parse_args(argv)

    selected = [(rid, text, fn) for rid, text, fn in REQUIREMENTS
                if not args.keyword or args.keyword in rid or
                args.keyword in text]
    if args.list:
        for rid, text, _ in selected:
            print(f"{rid}: {text}")
        return 0

    rt_argv = cb.resolve_runtime(args.runtime)
    if not cb.runtime_available(rt_argv):
        print(f"runtime {' '.join(rt_argv)!r} not found", file=sys.stderr)
        print(f"0 passed, {len(selected)} failed")
        return 1
    print(f"# runtime: {' '.join(rt_argv)}", flush=True)
    passed = failed = skipped = 0
    try:
        for rid, text, fn in selected:
            outcome, detail = run_requirement(rt_argv, rid, fn, args.verbose)
            print(f"{outcome}  {rid}: {text}", flush=True)
            if detail and outcome != "PASS":
                for line in detail.strip().splitlines()[-20:]:
                    print(f"      {line}")
            if outcome == "PASS":
                passed += 1
            elif outcome == "SKIP":
                skipped += 1
            else:
                failed += 1
    finally:
        cb._remove_template()
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
