"""The systemd cgroup driver (``--systemd-cgroup``), for pure cgroup v2 hosts.

The container's cgroup is a transient scope unit ``<prefix>-<name>.scope`` in
the slice ``linux.cgroupsPath`` names (``slice:prefix:name``), created with
``StartTransientUnit`` on the system bus (D-Bus, through jeepney: imported
only here, so the cgroupfs path never loads it).  A scope needs a process
when it is started: a tiny *holder* process is put in it, and the container's
first process is then forked straight into the scope's cgroup; the container
side kills the holder once it is in (``apply``), and the holder also exits by
itself when the creating pyrunc goes away (its pipe reaches end of file), so
nothing is left whatever happens.

systemd gets the resource properties it knows (``MemoryMax``, ``TasksMax``,
``CPUQuotaPerSecUSec``, ...: it re-applies those on every daemon reload), and
every limit is also written into the scope's cgroup files by the v2 manager,
which covers what systemd has no property for.  ``org.systemd.property.*``
annotations add or override unit properties as in runc.
"""

from __future__ import annotations

import posix

from runtime import ospath
from . import CgroupError, _previous, _test_step
from . import resources as res_mod
from .v2 import V2Manager, enable_controllers

DEFAULT_SLICE = "system.slice"
DEFAULT_PREFIX = "pyrunc"
JOB_TIMEOUT = 30.0      # seconds for a start/stop job (an emulated guest is slow)
CALL_TIMEOUT = 20.0     # seconds for one D-Bus call
UINT64_MAX = 2**64 - 1
ANNOTATION_PREFIX = "org.systemd.property."
START_ONLY = frozenset({"OOMPolicy"})  # a running scope's cannot be changed (SetUnitProperties refuses)
JOURNAL_KIND = "systemd-unit"  # the crash journal's entries for scope units (runtime/state.py)

_SYSTEMD = dict(object_path="/org/freedesktop/systemd1", bus_name="org.freedesktop.systemd1",
                interface="org.freedesktop.systemd1.Manager")


def booted() -> bool:
    """systemd runs as init (sd_booted(3)'s test)."""
    return ospath.isdir("/run/systemd/system")


# --------------------------------------------------------------------------
# Names.
# --------------------------------------------------------------------------


def expand_slice(name: str) -> str:
    """``a-b.slice`` -> ``/a.slice/a-b.slice`` (systemd's slice nesting);
    ``-.slice`` is the root."""
    if not name.endswith(".slice") or "/" in name or len(name) <= len(".slice"):
        raise CgroupError(f"cgroupsPath: invalid slice name {name!r} (expected e.g. system.slice or a-b.slice)")
    base = name[:-len(".slice")]
    if base == "-":
        return ""
    path, prefix = "", ""
    for comp in base.split("-"):
        if not comp:
            raise CgroupError(f"cgroupsPath: invalid slice name {name!r} (empty component between '-')")
        path += f"/{prefix}{comp}.slice"
        prefix += comp + "-"
    return path


_UNIT_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@")


def parse_path(cgroups_path: str | None, container_id: str) -> tuple[str, str]:
    """``linux.cgroupsPath`` -> ``(slice, unit)``; absent: runc's default
    ``system.slice:pyrunc:<id>``."""
    if not cgroups_path:
        slice_, prefix, name = DEFAULT_SLICE, DEFAULT_PREFIX, container_id
    else:
        parts = cgroups_path.split(":")
        if len(parts) != 3:
            raise CgroupError(f'cgroupsPath {cgroups_path!r}: expected "slice:prefix:name" for the systemd '
                              "cgroup driver")
        slice_, prefix, name = parts
        slice_ = slice_ or DEFAULT_SLICE
    if not name:
        raise CgroupError(f"cgroupsPath {cgroups_path!r}: the unit name part is empty")
    if name.endswith(".slice"):
        raise CgroupError(f"cgroupsPath {cgroups_path!r}: a container in a slice unit of its own is not "
                          "supported by pyrunc; use slice:prefix:name")
    unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    bad = [c for c in unit if c not in _UNIT_OK]
    if bad or len(unit) > 255:
        raise CgroupError(f"cgroupsPath {cgroups_path!r}: {unit!r} is not a valid systemd unit name")
    expand_slice(slice_)
    return slice_, unit


# --------------------------------------------------------------------------
# Properties.
# --------------------------------------------------------------------------


def cpus_to_bits(text: str) -> bytes:
    """``"0-2,5"`` -> systemd's CPU/NUMA mask bytes (byte 0 bit 0 = CPU 0)."""
    cpus = res_mod.parse_cpu_list(text)
    if not cpus:
        return b""
    out = bytearray(max(cpus) // 8 + 1)
    for c in cpus:
        out[c // 8] |= 1 << (c % 8)
    return bytes(out)


def _limit(v: str) -> int:
    return UINT64_MAX if v == "max" else int(v)


def _file_property(file: str, value: str) -> list[tuple[str, tuple]]:
    """The unit properties a v2 control-file write corresponds to (none for a value
    that does not parse: a ``unified`` one the kernel will refuse, naming it)."""
    try:
        return _file_property_of(file, value)
    except ValueError:
        return []


def _file_property_of(file: str, value: str) -> list[tuple[str, tuple]]:
    if file == "memory.max":
        return [("MemoryMax", ("t", _limit(value)))]
    if file == "memory.low":
        return [("MemoryLow", ("t", _limit(value)))]
    # `unified` memory files systemd would otherwise reset (it writes all of them
    # whenever it changes one memory property of the unit, e.g. at update)
    if file == "memory.high":
        return [("MemoryHigh", ("t", _limit(value)))]
    if file == "memory.min":
        return [("MemoryMin", ("t", _limit(value)))]
    if file == "memory.oom.group" and value in ("0", "1"):
        # systemd writes memory.oom.group from OOMPolicy (kill: 1); "continue" (0)
        # also keeps systemd from stopping the scope on an OOM kill (its "stop")
        return [("OOMPolicy", ("s", "kill" if value == "1" else "continue"))]
    if file == "memory.swap.max":
        return [("MemorySwapMax", ("t", _limit(value)))]
    if file == "pids.max":
        return [("TasksMax", ("t", _limit(value)))]
    if file == "cpu.weight":
        return [("CPUWeight", ("t", int(value)))]
    if file == "io.weight" and value.isdigit():
        return [("IOWeight", ("t", int(value)))]
    if file == "cpuset.cpus" and value:
        return [("AllowedCPUs", ("ay", cpus_to_bits(value)))]
    if file == "cpuset.mems" and value:
        return [("AllowedMemoryNodes", ("ay", cpus_to_bits(value)))]
    if file == "cpu.max":
        q, _, p = value.partition(" ")
        props = []
        period = int(p) if p else 0
        if period:
            props.append(("CPUQuotaPeriodUSec", ("t", period)))
        if q == "max":
            props.append(("CPUQuotaPerSecUSec", ("t", UINT64_MAX)))
        else:
            # systemd keeps the quota per second in whole percents of a CPU
            # (10 ms): round up, as runc does; the exact value goes to cpu.max.
            per_sec = int(q) * 1000000 // (period or 100000)
            per_sec = -(-per_sec // 10000) * 10000
            props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
        return props
    return []


def resource_properties(resources: dict | None) -> list[tuple[str, tuple]]:
    """Unit properties for ``linux.resources`` (without devices)."""
    if not resources:
        return []
    props: list = []
    for w in res_mod.v2_plan(resources):
        file, value = w.choices[-1] if w.controller == "io" else w.choices[0]
        for p in _file_property(file, value):
            props = [x for x in props if x[0] != p[0]] + [p]
    return props


def _proc_devices() -> dict:
    """``{("c"|"b", major): name}`` from /proc/devices."""
    out: dict = {}
    try:
        with open("/proc/devices") as f:
            kind = None
            for line in f:
                if line.startswith("Character"):
                    kind = "c"
                elif line.startswith("Block"):
                    kind = "b"
                else:
                    parts = line.split()
                    if kind and len(parts) == 2 and parts[0].isdigit():
                        out.setdefault((kind, int(parts[0])), parts[1])
    except OSError:
        pass
    return out


def device_properties(devices) -> list[tuple[str, tuple]]:
    """``DevicePolicy``/``DeviceAllow`` for OCI device rules, when systemd can
    express them (an allow list on top of "deny all"); otherwise none: the
    v2 manager's eBPF filter alone enforces the rules."""
    if devices is None:
        return []
    rules = res_mod.normalize_device_rules(devices)
    # Find the last "deny everything"; systemd can express only allows after it.
    start = None
    for i, r in enumerate(rules):
        if not r.allow and r.type == "a" and r.major < 0 and r.minor < 0 and set(r.access) >= set("rwm"):
            start = i
    if start is None or any(not r.allow for r in rules[start + 1:]):
        return []
    names = None
    allow: list = []
    for r in rules[start + 1:]:
        acc = "".join(c for c in "rwm" if c in r.access)
        if r.type == "a" and r.major < 0 and r.minor < 0:
            allow += [("char-*", acc), ("block-*", acc)]
        elif r.type == "a" or r.major < 0:
            kinds = ("c", "b") if r.type == "a" else (r.type,)
            if r.minor >= 0 and r.major >= 0:
                allow += [(f"/dev/{'char' if k == 'c' else 'block'}/{r.major}:{r.minor}", acc) for k in kinds]
            else:
                allow += [(f"{'char' if k == 'c' else 'block'}-*", acc) for k in kinds]
        elif r.minor >= 0:
            allow.append((f"/dev/{'char' if r.type == 'c' else 'block'}/{r.major}:{r.minor}", acc))
        else:
            if names is None:
                names = _proc_devices()
            n = names.get((r.type, r.major))
            if n is None:
                return []  # no name systemd could match: leave it to the eBPF filter
            allow.append((f"{'char' if r.type == 'c' else 'block'}-{n}", acc))
    return [("DevicePolicy", ("s", "strict")), ("DeviceAllow", ("a(ss)", allow))]


def _parse_gvariant(text: str, field: str):
    """The subset of GVariant text runc's annotations use: ``true``/``false``,
    typed and plain numbers, quoted strings, ``[...]`` lists of strings."""
    s = text.strip()
    err = CgroupError(f"annotations.{field}: cannot parse {text!r} as a D-Bus value "
                      "(e.g. uint64 100, true, 'text', ['a', 'b'])")
    if s in ("true", "false"):
        return ("b", s == "true")
    typed = {"byte": "y", "int16": "n", "uint16": "q", "int32": "i", "uint32": "u", "int64": "x", "uint64": "t",
             "double": "d"}
    word, _, rest = s.partition(" ")
    if word in typed:
        try:
            v = float(rest) if word == "double" else int(rest.strip(), 0)
        except ValueError:
            raise err from None
        return (typed[word], v)
    if s.startswith("@as "):
        s = s[4:].strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return ("s", s[1:-1])
    if s.startswith("[") and s.endswith("]"):
        inner = s[1:-1].strip()
        items = []
        for part in ([] if not inner else inner.split(",")):
            p = part.strip()
            if len(p) < 2 or p[0] != p[-1] or p[0] not in "'\"":
                raise err
            items.append(p[1:-1])
        return ("as", items)
    try:
        return ("i", int(s, 0))
    except ValueError:
        pass
    try:
        return ("d", float(s))
    except ValueError:
        raise err from None


def annotation_properties(annotations: dict | None) -> list[tuple[str, tuple]]:
    """``org.systemd.property.NAME=VALUE`` annotations; ``...Sec`` values in
    seconds become ``...USec`` (runc's rule)."""
    props = []
    for k, v in (annotations or {}).items():
        if not isinstance(k, str) or not k.startswith(ANNOTATION_PREFIX):
            continue
        name = k[len(ANNOTATION_PREFIX):]
        if not name or not name.isalnum() or not name[0].isalpha():
            raise CgroupError(f"annotations.{k}: {name!r} is not a systemd property name")
        if not isinstance(v, str):
            raise CgroupError(f"annotations.{k}: must be a string")
        sig, val = _parse_gvariant(v, k)
        if name.endswith("Sec") and not name.endswith("USec"):
            if sig not in ("y", "n", "q", "i", "u", "x", "t", "d") or val < 0:
                raise CgroupError(f"annotations.{k}: a time in seconds must be a non-negative number")
            name, sig, val = name[:-3] + "USec", "t", int(val * 1000000)
        elif sig in ("i", "x") and name.endswith("USec"):
            if val < 0:
                raise CgroupError(f"annotations.{k}: must not be negative")
            sig = "t"
        props.append((name, (sig, val)))
    return props


def _merge(base: list, extra: list) -> list:
    names = {n for n, _ in extra}
    return [p for p in base if p[0] not in names] + list(extra)


# --------------------------------------------------------------------------
# D-Bus.
# --------------------------------------------------------------------------


class _Bus:
    """One system-bus connection to systemd's manager object."""

    def __init__(self):
        try:
            from jeepney import DBusAddress, MatchRule, message_bus, new_method_call
            from jeepney.io.blocking import open_dbus_connection
            from jeepney.wrappers import DBusErrorResponse, unwrap_msg
        except ImportError:
            raise CgroupError("--systemd-cgroup: the jeepney D-Bus library is not installed "
                              "(pip install jeepney)") from None
        self._new_call, self._unwrap, self.Error = new_method_call, unwrap_msg, DBusErrorResponse
        self.addr = DBusAddress(**_SYSTEMD)
        try:
            self.conn = open_dbus_connection(bus="SYSTEM", auth_timeout=CALL_TIMEOUT)
        except (OSError, TimeoutError, ValueError, KeyError) as e:
            raise CgroupError(f"--systemd-cgroup: cannot connect to the system bus: {e}") from None
        sig = dict(type="signal", interface=_SYSTEMD["interface"], member="JobRemoved", path=_SYSTEMD["object_path"])
        # The bus resolves the well-known sender name; messages carry systemd's
        # unique name, so the local filter must not match on the sender.
        self._jobs = self.conn.filter(MatchRule(**sig), bufsize=256)
        self._jobs.__enter__()
        rule = MatchRule(sender=_SYSTEMD["bus_name"], **sig)
        self._unwrap(self.conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=CALL_TIMEOUT))
        self.call("Subscribe", "", ())

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass

    def call(self, method: str, signature: str, args: tuple, what: str = "", addr=None):
        msg = self._new_call(addr or self.addr, method, signature or None, args)
        try:
            return self._unwrap(self.conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT))
        except TimeoutError:
            raise CgroupError(f"--systemd-cgroup: {what or method}: systemd did not answer within "
                              f"{CALL_TIMEOUT:g}s") from None
        except OSError as e:
            raise CgroupError(f"--systemd-cgroup: {what or method}: {e.strerror or e}") from None

    def wait_job(self, job: str, what: str) -> str:
        """Wait (bounded) for JobRemoved of ``job``; its result."""
        import time

        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            while self._jobs.queue:
                m = self._jobs.queue.popleft()
                if len(m.body) >= 4 and m.body[1] == job:
                    return m.body[3]
            left = deadline - time.monotonic()
            if left <= 0:
                raise CgroupError(f"--systemd-cgroup: {what}: the systemd job did not finish within {JOB_TIMEOUT:g}s")
            try:
                self.conn.recv_messages(timeout=left)
            except TimeoutError:
                pass
            except OSError as e:
                raise CgroupError(f"--systemd-cgroup: {what}: lost the system bus: {e.strerror or e}") from None

    def unit_properties(self, unit: str, interface: str = "org.freedesktop.systemd1.Scope") -> dict:
        """``{name: (signature, value)}`` of a loaded unit's ``interface``."""
        from jeepney import DBusAddress

        (path,) = self.call("GetUnit", "s", (unit,), f"looking up {unit}")
        addr = DBusAddress(path, bus_name=_SYSTEMD["bus_name"], interface="org.freedesktop.DBus.Properties")
        (props,) = self.call("GetAll", "s", (interface,), f"reading the properties of {unit}", addr=addr)
        return props

    def error_name(self, e) -> str:
        return getattr(e, "name", "") or ""

    def error_text(self, e) -> str:
        data = getattr(e, "data", ())
        return str(data[0]) if data else self.error_name(e)


# --------------------------------------------------------------------------
# Holder process.
# --------------------------------------------------------------------------


def _spawn_holder() -> tuple[int, int]:
    """A process that only waits: systemd needs one to start a scope with.
    It exits when the returned pipe fd is closed (by us, or by our exit) or
    when killed.  It is a grandchild, so nobody has to reap it but init (or
    the subreaper)."""
    r, w = posix.pipe2(posix.O_CLOEXEC)
    rr, ww = posix.pipe2(posix.O_CLOEXEC)
    pid = posix.fork()
    if pid == 0:
        try:
            posix.close(w)
            posix.close(rr)
            posix.setsid()
            gpid = posix.fork()
            if gpid:
                posix.write(ww, str(gpid).encode())
                posix._exit(0)
            # Hold nothing of the caller's: an engine waiting for the end of
            # file on a pipe it gave the runtime must not wait for the holder.
            null = posix.open("/dev/null", posix.O_RDWR)
            for fd in (0, 1, 2):
                posix.dup2(null, fd)
            keep = sorted({r, 0, 1, 2})
            for lo, hi in zip(keep, keep[1:] + [65536]):
                posix.closerange(lo + 1, hi)
            try:
                posix.chdir("/")
            except OSError:
                pass
            while True:
                try:
                    if not posix.read(r, 1):
                        break
                except InterruptedError:
                    continue
        finally:
            posix._exit(0)
    posix.close(r)
    posix.close(ww)
    try:
        posix.waitpid(pid, 0)
    except ChildProcessError:
        pass
    data = posix.read(rr, 32)
    posix.close(rr)
    if not data:
        posix.close(w)
        raise CgroupError("--systemd-cgroup: could not start the process that holds the scope")
    return int(data), w


# --------------------------------------------------------------------------
# Manager.
# --------------------------------------------------------------------------


class SystemdManager(V2Manager):
    """A cgroup v2 manager whose directory is a transient systemd scope."""

    driver = "systemd"

    def __init__(self, container_id, cgroups_path, paths, *, unit: str, slice_: str,
                 annotations: dict | None = None, **kw):
        super().__init__(container_id, cgroups_path, paths, **kw)
        self.unit = unit
        self.slice = slice_
        self.annotations = annotations or {}
        self._bus: _Bus | None = None
        self._holder = 0
        self._holder_fd = -1
        self._sent: dict = {}
        self.foreign = False  # the unit existed before create: not ours to stop

    def _connect(self) -> _Bus:
        if self._bus is None:
            self._bus = _Bus()
        return self._bus

    def _disconnect(self) -> None:
        if self._bus is not None:
            self._bus.close()
            self._bus = None

    def _release_holder(self, kill: bool = False) -> None:
        """Let the holder go: it exits once its pipe is closed everywhere;
        ``kill`` (the container side, while the creating pyrunc still holds
        the pipe, so the pid cannot have been reused) ends it at once."""
        if self._holder and kill:
            try:
                posix.kill(self._holder, 9)
            except ProcessLookupError:
                pass
        self._holder = 0
        if self._holder_fd >= 0:
            try:
                posix.close(self._holder_fd)
            except OSError:
                pass
            self._holder_fd = -1

    # -- lifecycle ---------------------------------------------------------

    def create(self) -> None:
        if self.rootless:
            raise CgroupError("--systemd-cgroup: rootless containers with the systemd driver are not supported "
                              "by pyrunc")
        bus = self._connect()
        props = resource_properties(self.resources)
        props = _merge(props, annotation_properties(self.annotations))
        self._holder, self._holder_fd = _spawn_holder()
        base = [
            ("Description", ("s", f"libcontainer container {self.id}")),
            ("Slice", ("s", self.slice)),
            ("Delegate", ("b", True)),
            ("PIDs", ("au", [self._holder])),
            ("DefaultDependencies", ("b", False)),
            ("MemoryAccounting", ("b", True)),
            ("CPUAccounting", ("b", True)),
            ("IOAccounting", ("b", True)),
            ("TasksAccounting", ("b", True)),
        ]
        all_props = _merge(base, props)
        if self.journal is not None:
            # before the unit exists: a create killed from here on leaves a name
            # delete --force stops even without a state.json to rebuild us from
            self.journal(self.unit, kind=JOURNAL_KIND)
        for attempt in (1, 2):
            try:
                (job,) = bus.call("StartTransientUnit", "ssa(sv)a(sa(sv))",
                                  (self.unit, "replace", all_props, []), f"starting {self.unit}")
                break
            except bus.Error as e:
                name = bus.error_name(e)
                if name.endswith(".UnitExists") and attempt == 1 and self._reset_if_dead(bus):
                    continue
                self._release_holder()
                if name.endswith(".UnitExists"):
                    # someone else's (another --root, another runtime): its cgroup is not
                    # ours either: teardown must not thaw, kill in or stop any of it
                    self.foreign = True
                    self.skipped = [""]
                    if self.journal is not None:
                        self.journal(self.unit, False, kind=JOURNAL_KIND)
                    raise CgroupError(f"--systemd-cgroup: unit {self.unit} already exists") from None
                raise CgroupError(f"--systemd-cgroup: starting {self.unit}: {bus.error_text(e)}") from None
            except CgroupError:
                self._release_holder()
                raise
        try:
            result = bus.wait_job(job, f"starting {self.unit}")
        except CgroupError:
            self._release_holder()
            raise
        if result != "done":
            self._release_holder()
            raise CgroupError(f"--systemd-cgroup: starting {self.unit}: job {result}")
        self._sent = dict(all_props)
        if self.journal is not None:
            _test_step("create-cgroup-mkdir")  # the scope (and its cgroup) exists now
        # Where systemd put the holder is the scope's cgroup.
        try:
            with open(f"/proc/{self._holder}/cgroup") as f:
                cg = next((ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")), "")
        except OSError:
            cg = ""
        if not cg.endswith("/" + self.unit):
            self._release_holder()
            raise CgroupError(f"--systemd-cgroup: {self.unit} started, but its process is in {cg or 'no cgroup'}")
        mnt = self.mountpoints.get("") or "/sys/fs/cgroup"
        self.paths[""] = mnt.rstrip("/") + cg
        self.created = [self.paths[""]]
        # systemd enables in the slices only the controllers it knows (cpu, cpuset, io,
        # memory, pids): hugetlb, rdma and misc are enabled down to the scope as runc
        # does (fs2.CreateCgroupPath), so their limits can be written in it
        enable_controllers(mnt, self.paths[""])

    def _reset_if_dead(self, bus: _Bus) -> bool:
        """A failed or inactive leftover unit of that name: reset it."""
        try:
            bus.call("ResetFailedUnit", "s", (self.unit,))
        except bus.Error:
            pass
        try:
            bus.call("GetUnit", "s", (self.unit,))
        except bus.Error as e:
            return bus.error_name(e).endswith(".NoSuchUnit")
        return False

    def apply(self, pid: int, *, skip_unified: bool = False) -> None:
        super().apply(pid, skip_unified=skip_unified)
        # The container's process is in the scope now: the holder can go.
        self._release_holder(kill=True)

    def set(self, resources: dict | None) -> None:
        if resources:
            props = resource_properties(resources)
            props += device_properties(resources.get("devices"))
            props = [p for p in props if self._sent.get(p[0]) != p[1] and p[0] not in START_ONLY]
            if props:
                bus = self._connect()
                if self._rollback is not None:
                    self._save_for_rollback(bus, resources, props)
                self._set_properties(bus, props)
        try:
            super().set(resources)
        finally:
            if self._rollback is None:  # update() still needs the bus to roll back
                self._disconnect()

    def _set_properties(self, bus: _Bus, props: list) -> None:
        try:
            bus.call("SetUnitProperties", "sba(sv)", (self.unit, True, props), f"updating {self.unit}")
        except bus.Error as e:
            raise CgroupError(f"--systemd-cgroup: updating {self.unit}: {bus.error_text(e)}") from None
        self._sent.update(props)

    def _save_for_rollback(self, bus: _Bus, resources: dict, props: list) -> None:
        """update(): what a failure must put back, read before systemd changes it: the
        unit's properties, and the files it writes for them (their values now go first
        into the rollback list, so they are the last restored)."""
        try:
            have = bus.unit_properties(self.unit)
        except bus.Error as e:
            raise CgroupError(f"--systemd-cgroup: reading the properties of {self.unit}: {bus.error_text(e)}") \
                from None
        self._old_props = [(n, have[n]) for n, _ in props if n in have]
        for w in res_mod.v2_plan(resources):
            for file, _ in w.choices:
                p = ospath.join(self.dir, file)
                old = _previous(p)
                if old is not None:
                    self._rollback.append((p, old))

    _old_props = None  # during update(): the unit's properties before SetUnitProperties

    def update(self, resources: dict) -> None:
        self._old_props = None
        try:
            super().update(resources)
        finally:
            self._old_props = None
            self._disconnect()

    def _restore_before_files(self) -> list[str]:
        """A failed update: the unit's properties as they were (systemd writes their
        files at once; the exact previous file values are restored after this)."""
        if not self._old_props:
            return []
        try:
            bus = self._connect()
            self._set_properties(bus, self._old_props)
        except CgroupError as e:
            return [f"{self.unit}: {e}"]
        return []

    def is_frozen(self) -> bool:
        return not self.foreign and super().is_frozen()

    def destroy(self) -> None:
        self._release_holder()
        if self.foreign:
            return
        try:
            bus = self._connect()
        except CgroupError:
            bus = None
        try:
            if bus is not None:
                _stop_unit(bus, self.unit)
        finally:
            self._disconnect()
        super().destroy()

    def to_state(self) -> dict:
        d = super().to_state()
        d.update(driver="systemd", unit=self.unit, slice=self.slice)
        return d


def _stop_unit(bus: _Bus, unit: str) -> None:
    try:
        (job,) = bus.call("StopUnit", "ss", (unit, "replace"), f"stopping {unit}")
    except bus.Error as e:
        if bus.error_name(e).endswith(".NoSuchUnit"):
            return
        raise CgroupError(f"--systemd-cgroup: stopping {unit}: {bus.error_text(e)}") from None
    result = bus.wait_job(job, f"stopping {unit}")
    if result not in ("done", "canceled"):
        raise CgroupError(f"--systemd-cgroup: stopping {unit}: job {result}")
    try:
        bus.call("ResetFailedUnit", "s", (unit,))
    except bus.Error:
        pass


def stop_units(units: list, warn) -> None:
    """``delete --force`` of a container without a state to rebuild its manager from
    (a create killed early): SIGKILL what is in each scope unit the journal names
    (a stop alone would send SIGTERM, which a container's init ignores) and stop it."""
    if not units or not booted():
        return
    try:
        bus = _Bus()
    except CgroupError as e:
        warn(f"stopping {', '.join(units)}: {e}")
        return
    try:
        for unit in units:
            try:
                bus.call("KillUnit", "ssi", (unit, "all", 9), f"killing {unit}")
            except bus.Error:
                pass  # not loaded (any more), or nothing to kill
            except CgroupError as e:
                warn(str(e))
            try:
                _stop_unit(bus, unit)
            except CgroupError as e:
                warn(str(e))
    finally:
        bus.close()


def manager(container_id: str, cgroups_path: str | None, resources: dict | None, layout, *,
            rootless: bool = False, annotations: dict | None = None) -> SystemdManager:
    if layout.mode != "v2":
        raise CgroupError(f"--systemd-cgroup: pyrunc's systemd driver needs a pure cgroup v2 host "
                          f"(this host has {layout.mode} cgroups); use the cgroupfs driver")
    slice_, unit = parse_path(cgroups_path, container_id)
    mnt = layout.unified.mountpoint.rstrip("/")
    d = mnt + expand_slice(slice_) + "/" + unit
    annotation_properties(annotations)  # a bad annotation fails before anything is made
    return SystemdManager(container_id, cgroups_path, {"": d}, unit=unit, slice_=slice_, annotations=annotations,
                          rootless=rootless, mountpoints={"": layout.unified.mountpoint}, resources=resources)


def from_state(d: dict, **kw) -> SystemdManager:
    unit, slice_ = d.get("unit"), d.get("slice")
    if not isinstance(unit, str) or not isinstance(slice_, str):
        raise CgroupError("cgroup state: systemd driver without unit")
    return SystemdManager(d.get("id", ""), d.get("cgroups_path"), d["paths"], unit=unit, slice_=slice_, **kw)


__all__ = ["SystemdManager", "booted", "expand_slice", "parse_path", "manager", "from_state", "stop_units",
           "resource_properties", "device_properties", "annotation_properties", "cpus_to_bits"]
