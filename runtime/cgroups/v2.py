"""cgroup v2 (unified hierarchy) manager.

Device access on cgroup v2 is controlled by an eBPF program of type
``BPF_PROG_TYPE_CGROUP_DEVICE`` attached to the container's cgroup; the
program is generated here from the OCI rules and loaded with the ``bpf(2)``
system call through ctypes (imported only when device rules are set).
"""

import errno
import posix
import struct
import time


from runtime import ospath
from . import CgroupError, Manager, read_file, read_int, read_kv, write_file
from . import resources as res_mod

FREEZE_TIMEOUT = 5.0
UINT64_MAX = 2**64 - 1


# --------------------------------------------------------------------------
# Helpers shared with the hybrid manager.
# --------------------------------------------------------------------------


def _events(d):
    return read_kv(ospath.join(d, "cgroup.events"))


def freeze_dir(d):
    p = ospath.join(d, "cgroup.freeze")
    try:
        write_file(p, "1")
        deadline = time.monotonic() + FREEZE_TIMEOUT
        delay = 0.0005
        while _events(d).get("frozen") != 1:
            if time.monotonic() > deadline:
                write_file(p, "0")
                raise CgroupError(f"freezing {p}: timed out after {FREEZE_TIMEOUT:g}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    except OSError as e:
        raise CgroupError(f"freezing {p}: {e.strerror}") from None


def thaw_dir(d):
    p = ospath.join(d, "cgroup.freeze")
    try:
        write_file(p, "0")
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while _events(d).get("frozen", 0) != 0:
            if time.monotonic() > deadline:
                raise CgroupError(f"thawing {p}: timed out")
            time.sleep(0.001)
    except OSError as e:
        raise CgroupError(f"thawing {p}: {e.strerror}") from None


def kill_dir(d):
    """Write ``cgroup.kill`` (Linux 5.14+): the kernel SIGKILLs every process of the
    cgroup and its descendants, frozen ones and ones forking meanwhile included.
    False when the file is missing (older kernel, no cgroup, rootless without access)."""
    if not d:
        return False
    try:
        write_file(ospath.join(d, "cgroup.kill"), "1")
    except OSError:
        return False
    return True


def is_frozen_dir(d):
    if not ospath.isdir(d):
        return False
    return _events(d).get("frozen") == 1


def enable_controllers(top, leaf):
    """Enable every available controller in each ``cgroup.subtree_control``
    from ``top`` (the mount point) down to the leaf's parent."""
    rel = ospath.relpath(leaf, top)
    if rel == "." or rel.startswith(".."):
        return
    cur = top
    for comp in rel.split("/"):
        try:
            avail = read_file(ospath.join(cur, "cgroup.controllers")).split()
            have = read_file(ospath.join(cur, "cgroup.subtree_control")).split()
        except OSError:
            return
        missing = [c for c in avail if c not in have]
        if missing:
            sc = ospath.join(cur, "cgroup.subtree_control")
            try:
                write_file(sc, " ".join("+" + c for c in missing))
            except OSError:
                # Some controller cannot be enabled here (e.g. processes in
                # an inner node); enable what we can, one by one.
                for c in missing:
                    try:
                        write_file(sc, "+" + c)
                    except OSError:
                        pass
        cur = ospath.join(cur, comp)


# --------------------------------------------------------------------------
# eBPF device filter.
# --------------------------------------------------------------------------

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
_BPF_SYSCALL = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}

# BPF_DEVCG_* values from <linux/bpf.h>
_DEV_TYPE = {"b": 1, "c": 2}
_DEV_ACC = {"m": 1, "r": 2, "w": 4}


def _insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def device_filter_program(devices):
    """Compile OCI device rules to a cgroup-device eBPF program.

    Semantics: default deny; the *last* matching rule decides.  An allow
    rule matches when the requested access is a subset of its access; a
    deny rule matches when they overlap.
    """
    rules = res_mod.normalize_device_rules(devices)
    LDXW, AND32, RSH32, MOV64K, MOV32X, JNE_K, JEQ_K, EXIT = 0x61, 0x54, 0x74, 0xB7, 0xBC, 0x55, 0x15, 0x95
    prog = [
        _insn(LDXW, 2, 1, 0),       # r2 = ctx->access_type
        _insn(AND32, 2, imm=0xFFFF),  # r2 = device type
        _insn(LDXW, 3, 1, 0),
        _insn(RSH32, 3, imm=16),    # r3 = requested access
        _insn(LDXW, 4, 1, 4),       # r4 = major
        _insn(LDXW, 5, 1, 8),       # r5 = minor
    ]
    terminal = False
    for r in reversed(rules):
        conds = []  # (code, dst, imm) jumps to "next rule" when true
        if r.type != "a":
            conds.append((JNE_K, 2, _DEV_TYPE[r.type], None))
        acc = sum(_DEV_ACC[c] for c in r.access)
        if r.allow and acc != 7:
            conds.append((JNE_K, 1, 0, (7 & ~acc)))
        elif not r.allow and acc != 7:
            conds.append((JEQ_K, 1, 0, acc))
        if r.major > 0x7FFFFFFF or r.minor > 0x7FFFFFFF:
            raise CgroupError(f"linux.resources.devices: device number {r.major}:{r.minor} is out of range")
        if r.major >= 0:
            conds.append((JNE_K, 4, r.major, None))
        if r.minor >= 0:
            conds.append((JNE_K, 5, r.minor, None))
        block = []
        for code, dst, imm, mask in conds:
            if mask is not None:
                block.append(_insn(MOV32X, 1, 3))
                block.append(_insn(AND32, 1, imm=mask))
            block.append((code, dst, imm))  # placeholder, offset fixed below
        block.append(_insn(MOV64K, 0, imm=1 if r.allow else 0))
        block.append(_insn(EXIT))
        n = len(block)
        for i, b in enumerate(block):
            if isinstance(b, tuple):
                code, dst, imm = b
                block[i] = _insn(code, dst, off=n - i - 1, imm=imm)
        prog += block
        if not conds:
            terminal = True  # everything after is unreachable
            break
    if not terminal:
        prog += [_insn(MOV64K, 0, imm=0), _insn(EXIT)]
    return b"".join(prog)


class _Bpf:
    def __init__(self):
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        nr = _BPF_SYSCALL.get(posix.uname().machine)
        if nr is None:
            raise CgroupError("linux.resources.devices: bpf(2) syscall number unknown for this architecture")
        self.nr = nr

    def call(self, cmd, attr):
        c = self.ctypes
        r = self.libc.syscall(c.c_long(self.nr), c.c_int(cmd), attr, c.c_uint(c.sizeof(attr)))
        if r < 0:
            e = c.get_errno()
            raise OSError(e, posix.strerror(e))
        return r

    def load(self, insns):
        c = self.ctypes
        code = c.create_string_buffer(insns, len(insns))
        lic = c.create_string_buffer(b"Apache-2.0")
        attr = c.create_string_buffer(128)
        struct.pack_into("<IIQQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8,
                         c.addressof(code), c.addressof(lic))
        try:
            return self.call(BPF_PROG_LOAD, attr)
        except OSError as e:
            log = c.create_string_buffer(65536)
            struct.pack_into("<IIQ", attr, 24, 1, len(log), c.addressof(log))
            try:
                fd = self.call(BPF_PROG_LOAD, attr)
            except OSError:
                msg = log.value.decode(errors="replace").strip().splitlines()
                raise CgroupError(f"linux.resources.devices: loading the device eBPF program: {e.strerror}"
                                  + (f" ({msg[-1]})" if msg else "")) from None
            return fd

    def query(self, cgfd):
        c = self.ctypes
        ids = (c.c_uint32 * 64)()
        attr = c.create_string_buffer(128)
        struct.pack_into("<IIIIQI", attr, 0, cgfd, BPF_CGROUP_DEVICE, 0, 0, c.addressof(ids), 64)
        self.call(BPF_PROG_QUERY, attr)
        cnt = struct.unpack_from("<I", attr, 24)[0]
        return list(ids[:cnt])

    def fd_by_id(self, prog_id):
        attr = self.ctypes.create_string_buffer(128)
        struct.pack_into("<I", attr, 0, prog_id)
        return self.call(BPF_PROG_GET_FD_BY_ID, attr)

    def attach(self, cgfd, progfd):
        attr = self.ctypes.create_string_buffer(128)
        struct.pack_into("<IIII", attr, 0, cgfd, progfd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
        self.call(BPF_PROG_ATTACH, attr)

    def detach(self, cgfd, progfd):
        attr = self.ctypes.create_string_buffer(128)
        struct.pack_into("<III", attr, 0, cgfd, progfd, BPF_CGROUP_DEVICE)
        self.call(BPF_PROG_DETACH, attr)


def set_device_filter(directory, devices):
    """Replace the device eBPF program(s) attached to a cgroup2 directory."""
    insns = device_filter_program(devices)
    bpf = _Bpf()
    progfd = -1
    cgfd = posix.open(directory, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    try:
        try:
            old = bpf.query(cgfd)
        except OSError as e:
            raise CgroupError(f"linux.resources.devices: querying device programs of {directory}: {e.strerror}") from None
        progfd = bpf.load(insns)
        try:
            bpf.attach(cgfd, progfd)
        except OSError as e:
            raise CgroupError(f"linux.resources.devices: attaching the device eBPF program to {directory}: "
                              f"{e.strerror}") from None
        # The new program is in place; drop the previous ones.
        for pid_ in old:
            try:
                ofd = bpf.fd_by_id(pid_)
            except OSError:
                continue
            try:
                bpf.detach(cgfd, ofd)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise CgroupError(f"linux.resources.devices: detaching an old device program from "
                                      f"{directory}: {e.strerror}") from None
            finally:
                posix.close(ofd)
    finally:
        if progfd >= 0:
            posix.close(progfd)
        posix.close(cgfd)


def attached_device_programs(directory):
    """Ids of device programs attached directly to ``directory``."""
    cgfd = posix.open(directory, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    try:
        return _Bpf().query(cgfd)
    finally:
        posix.close(cgfd)


# --------------------------------------------------------------------------
# Manager.
# --------------------------------------------------------------------------


class V2Manager(Manager):
    mode = "v2"

    def __init__(self, container_id, cgroups_path, paths, **kw):
        if not paths.get(""):
            raise CgroupError("cgroup state: no cgroup v2 path")
        super().__init__(container_id, cgroups_path, {"": paths[""]}, **kw)

    @property
    def dir(self):
        return self.paths[""]

    def _after_create(self):
        if "" in self.skipped:
            return
        top = self.mountpoints.get("") or ospath.dirname(self.dir)
        enable_controllers(top, self.dir)

    def _pids_dir(self):
        return self.path("")

    def set(self, resources):
        if not resources:
            return
        if "" in self.skipped:
            raise CgroupError("linux.resources: no permission to use the cgroup (rootless without delegation)")
        plan = res_mod.v2_plan(resources)
        mem = resources.get("memory") or {}
        if mem.get("checkBeforeUpdate") and mem.get("limit") and mem["limit"] > 0:
            cur = read_int(ospath.join(self.dir, "memory.current"), default=0)
            if cur > mem["limit"]:
                raise CgroupError(f"linux.resources.memory.limit: {mem['limit']} is below the current usage {cur}"
                                  " (checkBeforeUpdate)")
        try:
            available = set(read_file(ospath.join(self.dir, "cgroup.controllers")).split())
        except FileNotFoundError:
            raise CgroupError(f"linux.resources: cgroup {self.dir} does not exist") from None

        def dir_for(w):
            if w.controller and w.controller not in available and not w.optional:
                raise CgroupError(f"linux.resources.{w.field}: the {w.controller} controller is not "
                                  f"available in {self.dir}")
            return self.dir

        self._execute(plan, dir_for)
        if resources.get("devices") is not None:
            set_device_filter(self.dir, resources["devices"])

    def _prepare_update(self, resources):
        res_mod.update_checks(resources)
        resources = dict(resources)
        d = self.dir
        mem = resources.get("memory") or {}
        if (mem.get("swap") or 0) > 0 and not mem.get("limit"):
            # memory.swap.max is swap alone: the memory+swap total needs the limit in force.
            try:
                cur = read_file(ospath.join(d, "memory.max")).strip()
            except OSError:
                cur = "max"
            if cur == "max":
                raise CgroupError("linux.resources.memory.swap: cannot set a memory+swap limit while the memory "
                                  "limit is unlimited: set memory.limit with it")
            resources["memory"] = dict(mem, limit=int(cur))
        cpu = resources.get("cpu") or {}
        if cpu.get("period") and not cpu.get("quota"):
            # cpu.max holds both: keep the quota in force ("max" -> unlimited).
            try:
                q = read_file(ospath.join(d, "cpu.max")).split()[0]
            except (OSError, IndexError):
                q = "max"
            resources["cpu"] = dict(cpu, quota=-1 if q == "max" else int(q))
        res_mod.check_cpuset_within(cpu, lambda k: ospath.join(ospath.dirname(d), f"cpuset.{k}.effective"))
        return resources

    def oom_watch(self):
        """OOM kills through memory.events (poll: POLLPRI on change), or None
        without the memory controller."""
        if not ospath.exists(ospath.join(self.dir, "memory.events")):
            return None
        return OomEvents(self.dir)

    def kill_all(self):
        return kill_dir(self.path(""))

    def freeze(self):
        freeze_dir(self.dir)

    def thaw(self):
        thaw_dir(self.dir)

    def is_frozen(self):
        return is_frozen_dir(self.dir)

    def stats(self):
        """runc ``events --stats`` data for cgroup v2 (runtime/cgroups/stats.py)."""
        from .stats import v2_stats

        return v2_stats(self)


class OomEvents:
    """cgroup v2 OOM notification: memory.events changes wake poll() with
    POLLPRI; ``check()`` returns how many OOM kills (``oom_kill``) happened
    since the last call and sets ``gone`` once the cgroup was removed."""

    events = 0x002  # POLLPRI (kernfs adds POLLERR)

    def __init__(self, directory):
        self.gone = False
        try:
            self.fd = posix.open(ospath.join(directory, "memory.events"), posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError as e:
            raise CgroupError(f"memory.events in {directory}: {e.strerror}") from None
        self.last = self._kills()

    def _kills(self):
        posix.lseek(self.fd, 0, 0)
        text = posix.read(self.fd, 4096).decode(errors="replace")  # the read also re-arms POLLPRI
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            if k == "oom_kill":
                return int(v or 0)
        return 0

    def check(self):
        try:
            n = self._kills()
        except (OSError, ValueError):
            self.gone = True
            return 0
        new, self.last = n - self.last, n
        return max(new, 0)

    def close(self):
        if self.fd >= 0:
            posix.close(self.fd)
            self.fd = -1
