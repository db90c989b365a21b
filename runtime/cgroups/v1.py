"""cgroup v1 manager (also used on hybrid hosts, where the cgroup2 hierarchy
mounted next to the v1 controllers is joined as well)."""

import posix
import time


from runtime import ospath
from . import CgroupError, Manager, read_file, read_int, write_file


class _Resources:
    """runtime.cgroups.resources, imported at its first use: delete, kill --all and
    the other callers that only find, walk and remove cgroups never need it."""

    def __getattr__(self, name):
        from . import resources

        return getattr(resources, name)


res_mod = _Resources()

FREEZE_TIMEOUT = 5.0

# Which hierarchy answers pids(): one every container process is in.
_PIDS_ORDER = ("devices", "freezer", "pids", "memory", "cpu", "name=systemd", "")


class V1Manager(Manager):
    def __init__(self, container_id, cgroups_path, paths, *, hybrid=False, **kw):
        super().__init__(container_id, cgroups_path, paths, **kw)
        self.hybrid = hybrid
        if not hybrid:
            self.paths.pop("", None)

    @property
    def mode(self):  # type: ignore[override]
        return "hybrid" if self.hybrid else "v1"

    # -- create / apply ----------------------------------------------------

    _fixed = frozenset()  # cpuset dirs _on_created filled in this process

    def _on_created(self, sub, directory):
        top = self.mountpoints.get("cpuset")
        if top is not None:  # the cpuset hierarchy (maybe co-mounted with others) is known
            fix = directory.startswith(top.rstrip("/") + "/")
        else:
            fix = sub == "cpuset" or self.paths.get("cpuset") == directory or \
                ospath.exists(ospath.join(directory, "cpuset.cpus"))
        if fix:
            self._fix_cpuset(directory)
            self._fixed = set(self._fixed) | {directory}

    @classmethod
    def _fix_cpuset(cls, directory, depth=0):
        """A new v1 cpuset starts empty; inherit the parent's cpus/mems so
        that tasks can join (the kernel refuses with ENOSPC otherwise).  An
        empty parent (an engine's pre-made one, say) is filled from its own
        ancestors first, as runc and crun do."""
        parent = ospath.dirname(directory)
        for f in ("cpuset.cpus", "cpuset.mems"):
            p = ospath.join(directory, f)
            try:
                if read_file(p).strip():
                    continue
                val = read_file(ospath.join(parent, f)).strip()
                if not val and depth < 32 and ospath.exists(ospath.join(ospath.dirname(parent), f)):
                    cls._fix_cpuset(parent, depth + 1)
                    val = read_file(ospath.join(parent, f)).strip()
                if val:
                    write_file(p, val)
            except OSError as e:
                raise CgroupError(f"initialising {p} from its parent: {e.strerror}") from None

    def _before_apply(self):
        d = self.path("cpuset")
        if d and d not in self._fixed and ospath.isdir(d):
            # Dirs this process created were fixed in create(); this covers a leaf that
            # was made by someone else (or earlier: exec) and left empty.
            self._fix_cpuset(d)

    def _pids_dir(self):
        for sub in _PIDS_ORDER:
            d = self.path(sub)
            if d:
                return d
        dirs = self._dirs()
        return dirs[0] if dirs else None

    # -- resources ---------------------------------------------------------

    def set(self, resources):
        if not resources:
            return
        res_mod.validate(resources)
        mem = resources.get("memory") or {}
        cur = None
        if mem.get("limit") and mem.get("swap") and self.path("memory"):
            cur = read_int(ospath.join(self.path("memory"), "memory.limit_in_bytes"), default=-1)
        plan = res_mod.v1_plan(resources, current_memory_limit=cur)

        unified = [w for w in plan if w.controller == "unified"]
        plan = [w for w in plan if w.controller != "unified"]
        if resources.get("hugepageLimits") and not self.path("hugetlb"):
            plan = [w for w in plan if w.controller != "hugetlb"]
            unified = [w for w in res_mod.v2_plan({"hugepageLimits": resources["hugepageLimits"]})] + unified
        self._execute(plan, self._dir_for)
        if unified:
            self._execute(unified, self._unified_dir_for)

    def _prepare_update(self, resources):
        res_mod.update_checks(resources)
        mem = resources.get("memory") or {}
        md = self.path("memory")
        limit, swap = mem.get("limit"), mem.get("swap")
        if md and (limit or swap):
            big = 1 << 62  # v1 reports "unlimited" as 9223372036854771712

            def eff(v):
                return float("inf") if v is None or v < 0 or v >= big else v

            cur_limit = read_int(ospath.join(md, "memory.limit_in_bytes"), default=-1)
            memsw = ospath.join(md, "memory.memsw.limit_in_bytes")
            if ospath.exists(memsw):
                new_limit = eff(limit or cur_limit)
                if swap:
                    new_swap = eff(swap)
                elif limit == -1:
                    new_swap = float("inf")  # unlimited memory makes memsw unlimited too
                else:
                    new_swap = eff(read_int(memsw, default=-1))
                if new_limit > new_swap:
                    if swap:
                        raise CgroupError(f"linux.resources.memory.swap: the memory+swap limit {swap} is below the "
                                          f"memory limit {limit or cur_limit}")
                    raise CgroupError(f"linux.resources.memory.limit: {limit} is above the memory+swap limit "
                                      f"{int(new_swap)} (memory.memsw.limit_in_bytes): raise memory.swap with it")
        cpu = resources.get("cpu") or {}
        shares = cpu.get("shares")
        if shares and not res_mod.MIN_SHARES <= shares <= res_mod.MAX_SHARES:
            raise CgroupError(f"linux.resources.cpu.shares: {shares} is out of range "
                              f"{res_mod.MIN_SHARES}-{res_mod.MAX_SHARES}")
        rt = cpu.get("realtimeRuntime")
        d = self.path("cpu")
        if rt and rt > 0 and d:
            parent = ospath.join(ospath.dirname(d), "cpu.rt_runtime_us")
            if ospath.exists(parent) and read_int(parent, default=-1) == 0:
                raise CgroupError(f"linux.resources.cpu.realtimeRuntime: {rt} exceeds the realtime budget of the "
                                  f"parent cgroup ({parent} is 0)")
        cd = self.path("cpuset")
        if cd:
            res_mod.check_cpuset_within(cpu, lambda k: ospath.join(ospath.dirname(cd), f"cpuset.{k}"))
        return resources

    def oom_watch(self):
        """An OOM notifier (memory.oom_control through cgroup.event_control),
        or None without a memory hierarchy."""
        d = self.path("memory")
        if not d or not ospath.isdir(d):
            return None
        return OomEventfd(d)

    def _dir_for(self, w):
        d = self.path(w.controller)
        if d:
            return d
        if w.controller in self.skipped:
            raise CgroupError(f"linux.resources.{w.field}: no permission to use the {w.controller} cgroup (rootless)")
        raise CgroupError(f"linux.resources.{w.field}: the {w.controller} cgroup controller is not mounted on this host")

    def _unified_dir_for(self, w):
        d = self.path("")
        if not d:
            if w.controller == "hugetlb":
                raise CgroupError(f"linux.resources.{w.field}: the hugetlb cgroup controller is not mounted on this host")
            if w.controller == "unified":  # runc: "invalid configuration: cannot use unified on cgroup v1"
                raise CgroupError(f"linux.resources.{w.field}: invalid configuration: unified resources "
                                  "need cgroup v2, and this host has cgroup v1 only")
            raise CgroupError(f"linux.resources.{w.field}: no cgroup v2 hierarchy on this host")
        ctrl = w.controller if w.controller != "unified" else res_mod.unified_controller(w.choices[0][0])
        if ctrl:
            try:
                enabled = read_file(ospath.join(d, "cgroup.controllers")).split()
            except OSError:
                enabled = []
            if ctrl not in enabled and w.controller == "unified":
                # A hybrid host: cgroup2 files work, v1 controllers not (runc refuses them all)
                raise CgroupError(
                    f"linux.resources.{w.field}: invalid configuration: unified resources need cgroup v2, "
                    f"and the {ctrl} controller is not enabled in the cgroup v2 hierarchy of this hybrid "
                    f"host{' (it is a cgroup v1 controller here)' if ctrl in self.paths else ''}"
                )
            if ctrl not in enabled:
                raise CgroupError(
                    f"linux.resources.{w.field}: the {ctrl} controller is not "
                    f"{'mounted as cgroup v1 nor ' if ctrl == 'hugetlb' else ''}enabled in the cgroup v2 "
                    f"hierarchy of this hybrid host"
                )
        return d

    # -- freezer -----------------------------------------------------------

    def _freezer(self):
        d = self.path("freezer")
        if d:
            return d
        if self.hybrid and self.path(""):
            return None  # fall back to cgroup.freeze
        raise CgroupError("freezer: the freezer cgroup controller is not mounted on this host")

    def freeze(self):
        d = self._freezer()
        if d is None:
            from .v2 import freeze_dir
            return freeze_dir(self.path(""))
        state = ospath.join(d, "freezer.state")
        deadline = time.monotonic() + FREEZE_TIMEOUT
        delay = 0.0005
        try:
            while True:
                write_file(state, "FROZEN")
                if read_file(state).strip() == "FROZEN":
                    return
                if time.monotonic() > deadline:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        except OSError as e:
            raise CgroupError(f"freezing {state}: {e.strerror}") from None
        try:
            write_file(state, "THAWED")
        except OSError:
            pass
        raise CgroupError(f"freezing {state}: timed out after {FREEZE_TIMEOUT:g}s (still FREEZING)")

    def thaw(self):
        d = self._freezer()
        if d is None:
            from .v2 import thaw_dir
            return thaw_dir(self.path(""))
        state = ospath.join(d, "freezer.state")
        try:
            write_file(state, "THAWED")
            deadline = time.monotonic() + FREEZE_TIMEOUT
            while read_file(state).strip() != "THAWED":
                if time.monotonic() > deadline:
                    raise CgroupError(f"thawing {state}: timed out")
                time.sleep(0.001)
                write_file(state, "THAWED")
        except OSError as e:
            raise CgroupError(f"thawing {state}: {e.strerror}") from None

    def is_frozen(self):
        d = self._freezer()
        if d is None:
            from .v2 import is_frozen_dir
            return is_frozen_dir(self.path(""))
        try:
            return read_file(ospath.join(d, "freezer.state")).strip() == "FROZEN"
        except FileNotFoundError:
            return False
        except OSError as e:
            raise CgroupError(f"reading {d}/freezer.state: {e.strerror}") from None

    # -- stats -------------------------------------------------------------

    def stats(self):
        """runc ``events --stats`` data for cgroup v1 (runtime/cgroups/stats.py: only
        `events` reads them, so create does not unmarshal them)."""
        from .stats import v1_stats

        return v1_stats(self)


class OomEventfd:
    """cgroup v1 OOM notification: an eventfd registered on memory.oom_control.

    ``fd``/``events`` are for poll(); ``check()`` returns how many OOM
    notifications arrived since the last call (0 if none) and sets ``gone``
    once the cgroup was removed (the kernel signals the eventfd then too)."""

    events = 0x001  # POLLIN

    def __init__(self, directory):
        self.control = ospath.join(directory, "cgroup.event_control")
        self.gone = False
        self.fd = posix.eventfd(0, posix.EFD_CLOEXEC | posix.EFD_NONBLOCK)
        try:
            self._ofd = posix.open(ospath.join(directory, "memory.oom_control"), posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError as e:
            posix.close(self.fd)
            raise CgroupError(f"memory.oom_control in {directory}: {e.strerror}") from None
        try:
            write_file(self.control, f"{self.fd} {self._ofd}")
        except OSError as e:
            self.close()
            raise CgroupError(f"registering for OOM notifications in {self.control}: {e.strerror}") from None

    def check(self):
        try:
            n = posix.eventfd_read(self.fd)
        except BlockingIOError:
            return 0
        if not ospath.exists(self.control):
            self.gone = True
            return 0
        return n

    def close(self):
        for fd in (self.fd, self._ofd):
            if fd >= 0:
                posix.close(fd)
        self.fd = self._ofd = -1
