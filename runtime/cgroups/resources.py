"""Pure mapping of OCI ``linux.resources`` onto cgroup control-file writes.

Nothing in this module touches the file system.  Each ``*_plan`` function
validates an OCI resources object and returns an ordered list of
:class:`Write` records; the v1/v2 managers decide where each record goes and
execute it.  The numeric conversions between cgroup v1 style values and
cgroup v2 files are exposed as small functions so they can be tested alone.

Conventions shared with runc:

* ``0`` (or absence, or JSON ``null``) means "leave unchanged" for limits;
  ``-1`` means "unlimited" (``-1`` on v1, ``max`` on v2).
* OCI ``memory.swap`` is the memory+swap total (v1 ``memory.memsw``); on v2
  it is converted to the swap-only ``memory.swap.max``.
"""


from . import CgroupError

__all__ = [
    "Write",
    "shares_to_weight",
    "blkio_weight_to_io_weight",
    "memory_swap_to_v2",
    "v1_limit",
    "v2_limit",
    "cpu_max",
    "parse_page_size",
    "device_rule_v1",
    "validate",
    "v1_plan",
    "v2_plan",
    "v1_device_writes",
    "normalize_device_rules",
]

INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

# cpu.shares limits enforced by the kernel (MIN_SHARES / MAX_SHARES).
MIN_SHARES = 2
MAX_SHARES = 262144
# cpu.weight limits (CGROUP_WEIGHT_MIN / MAX).
MIN_CPU_WEIGHT = 1
MAX_CPU_WEIGHT = 10000
# blkio.weight (v1) and io.weight (v2) ranges.
MIN_BLKIO_WEIGHT = 10
MAX_BLKIO_WEIGHT = 1000
MIN_IO_WEIGHT = 1
MAX_IO_WEIGHT = 10000


class _Record(tuple):
    """A tiny NamedTuple without `typing` (whose import costs ms on every create)."""
    _fields = ()
    _defaults = {}

    def __new__(cls, *args, **kw):
        vals = list(args) + [kw.pop(f) if f in kw else cls._defaults[f] for f in cls._fields[len(args):]]
        if kw:
            raise TypeError(f"unexpected fields {sorted(kw)}")
        return tuple.__new__(cls, vals)

    def __getattr__(self, name):
        try:
            return self[self._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    def _replace(self, **kw):
        return type(self)(*[kw.pop(f, v) for f, v in zip(self._fields, self)])

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{f}={v!r}' for f, v in zip(self._fields, self))})"


class Write(_Record):
    """One control-file write.

    ``controller`` is the v1 subsystem (or v2 controller) owning the file;
    ``""`` is used for core ``cgroup.*`` files.  ``choices`` is a tuple of
    ``(file, value)`` pairs: the first file that exists in the cgroup is
    written (e.g. ``blkio.weight`` vs ``blkio.bfq.weight``).  If none exists
    the write fails with an error naming ``field``, unless ``optional``.
    ``retry`` marks writes whose EINVAL may be caused by ordering against a
    sibling value (cfs quota/period/burst, memory limit/swap); those are
    retried once after the rest of the plan.
    """

    _fields = ("controller", "choices", "field", "optional", "retry", "readback")
    _defaults = {"optional": False, "retry": False, "readback": False}


def _w(controller, file, value, field, **kw):
    return Write(controller, ((file, str(value)),), field, **kw)


# --------------------------------------------------------------------------
# Numeric conversions (pure, unit tested).
# --------------------------------------------------------------------------


def shares_to_weight(shares):
    """cpu.shares (v1, 2..262144) -> cpu.weight (v2, 1..10000).

    Uses runc's documented linear mapping
    ``1 + ((shares - 2) * 9999) / 262142`` (integer division).  ``0`` means
    "unset" and maps to ``0``.  Out-of-range shares are clamped first, as the
    kernel would do for cpu.shares.
    """
    if shares == 0:
        return 0
    shares = min(max(shares, MIN_SHARES), MAX_SHARES)
    return 1 + ((shares - MIN_SHARES) * (MAX_CPU_WEIGHT - 1)) // (MAX_SHARES - MIN_SHARES)


def blkio_weight_to_io_weight(weight):
    """blkio.weight (v1, 10..1000) -> io.weight (v2, 1..10000).

    ``1 + (weight - 10) * 9999 / 990``; ``0`` means unset.  Values outside
    the v1 range are clamped into the v2 range so the result is always a
    valid io.weight.
    """
    if weight == 0:
        return 0
    v = 1 + ((weight - MIN_BLKIO_WEIGHT) * (MAX_IO_WEIGHT - 1)) // (MAX_BLKIO_WEIGHT - MIN_BLKIO_WEIGHT)
    return min(max(v, MIN_IO_WEIGHT), MAX_IO_WEIGHT)


def memory_swap_to_v2(swap, memory):
    """OCI memory+swap total -> v2 ``memory.swap.max`` (swap only).

    Returns ``-1`` for unlimited, ``0`` for "leave unchanged".  Raises
    ``ValueError`` when the pair cannot be converted.
    """
    if memory == -1 and swap == 0:
        # v1 compatibility: unlimited memory with unset swap = unlimited both.
        return -1
    if swap in (-1, 0):
        return swap
    if swap < -1:
        raise ValueError(f"invalid swap value {swap}")
    if memory in (0, -1):
        raise ValueError("cannot set a swap limit without a memory limit")
    if memory < 0:
        raise ValueError(f"invalid memory limit {memory}")
    if swap < memory:
        raise ValueError(f"swap (memory+swap total) {swap} is smaller than the memory limit {memory}")
    return swap - memory


def v1_limit(value):
    """Render a byte/count limit for a v1 file (``-1`` = unlimited)."""
    return "-1" if value < 0 else str(value)


def v2_limit(value):
    """Render a byte/count limit for a v2 file (``max`` = unlimited)."""
    return "max" if value < 0 else str(value)


def cpu_max(quota, period):
    """Value for v2 ``cpu.max``: ``"$QUOTA $PERIOD"``; quota <= 0 is ``max``.

    A zero period is omitted, which leaves the kernel's current period.
    """
    s = str(quota) if quota > 0 else "max"
    if period:
        s += f" {period}"
    return s


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}


def parse_page_size(page_size):
    """``"2MB"`` -> 2097152 (base 1024, as the spec says)."""
    import re  # only for hugepage limits: `re` is not imported on the common path

    m = re.match(r"^([0-9]+)([KMGTPE]?)B$", page_size) if isinstance(page_size, str) else None
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"invalid hugepage size {page_size!r} (expected e.g. 64KB, 2MB, 1GB)")
    return int(m.group(1)) * _UNITS[m.group(2)]


# --------------------------------------------------------------------------
# Validation helpers.
# --------------------------------------------------------------------------

_INT_RANGES = {
    "int64": (-(2**63), INT64_MAX),
    "uint64": (0, UINT64_MAX),
    "uint32": (0, 2**32 - 1),
    "uint16": (0, 2**16 - 1),
}


def _err(field, msg):
    return CgroupError(f"linux.resources.{field}: {msg}")


def _get(obj, key, field, kind):
    """Fetch ``obj[key]`` checked against an OCI type; ``None`` if absent."""
    v = obj.get(key)
    if v is None:
        return None
    f = f"{field}.{key}" if field else key
    if kind == "bool":
        if not isinstance(v, bool):
            raise _err(f, f"expected a boolean, got {v!r}")
        return v
    if kind == "str":
        if not isinstance(v, str):
            raise _err(f, f"expected a string, got {v!r}")
        if "\n" in v or "\0" in v:
            raise _err(f, "value must not contain newlines or NUL")
        return v
    lo, hi = _INT_RANGES[kind]
    if isinstance(v, bool) or not isinstance(v, int):
        # JSON floats with an integral value (e.g. 1e9) are accepted.
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise _err(f, f"expected an integer, got {v!r}")
    if not lo <= v <= hi:
        raise _err(f, f"{v} is out of range for {kind}")
    return v


def _obj(res, key, field=""):
    v = res.get(key)
    f = f"{field}.{key}" if field else key
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _err(f, f"expected an object, got {type(v).__name__}")
    return v


def _list(res, key, field=""):
    v = res.get(key)
    f = f"{field}.{key}" if field else key
    if v is None:
        return []
    if not isinstance(v, list):
        raise _err(f, f"expected an array, got {type(v).__name__}")
    for i, item in enumerate(v):
        if not isinstance(item, dict):
            raise _err(f"{f}[{i}]", f"expected an object, got {type(item).__name__}")
    return v


def _check_keys(obj, allowed, field):
    for k in obj:
        if k not in allowed:
            if not (k.isascii() and k.isidentifier()):  # shown as a JSON string: one printable line
                from _json import encode_basestring_ascii

                where = f"linux.resources{'.' + field if field else ''}[{encode_basestring_ascii(k[:64])}]"
                raise CgroupError(f"{where}: unknown or unsupported resource field")
            raise _err(f"{field}.{k}" if field else k, "unknown or unsupported resource field")


def _limit(obj, key, field):
    """Memory-like limit: int64, -1 = unlimited, 0/None = unchanged."""
    v = _get(obj, key, field, "int64")
    if v is None or v == 0:
        return None
    if v < -1:
        raise _err(f"{field}.{key}", f"invalid value {v} (use -1 for unlimited)")
    return v


_TOP_KEYS = {"devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma", "unified"}
_MEMORY_KEYS = {
    "limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness",
    "disableOOMKiller", "useHierarchy", "checkBeforeUpdate",
}
_CPU_KEYS = {"shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle"}
_BLKIO_KEYS = {
    "weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
    "throttleReadIOPSDevice", "throttleWriteIOPSDevice",
}
_THROTTLE = (
    ("throttleReadBpsDevice", "read_bps_device", "rbps"),
    ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
    ("throttleReadIOPSDevice", "read_iops_device", "riops"),
    ("throttleWriteIOPSDevice", "write_iops_device", "wiops"),
)
_CPUSET_RE = r"^\s*([0-9]+(-[0-9]+)?)(\s*,\s*[0-9]+(-[0-9]+)?)*\s*$"


def _is_cpuset(v):
    import re  # only when cpus/mems are set

    return re.match(_CPUSET_RE, v) is not None
_UNIFIED_FORBIDDEN = {"cgroup.procs", "cgroup.threads"}


def validate(res):
    """Check the overall shape and every field's type; returns ``res``."""
    if res is None:
        return {}
    if not isinstance(res, dict):
        raise CgroupError("linux.resources: expected an object")
    _check_keys(res, _TOP_KEYS, "")
    mem = _obj(res, "memory")
    _check_keys(mem, _MEMORY_KEYS, "memory")
    for k in ("limit", "reservation", "swap", "kernel", "kernelTCP"):
        _limit(mem, k, "memory")
    sw = _get(mem, "swappiness", "memory", "int64")
    if sw is not None and sw != -1 and not 0 <= sw <= 100:
        raise _err("memory.swappiness", f"{sw} is out of range 0-100")
    for k in ("disableOOMKiller", "useHierarchy", "checkBeforeUpdate"):
        _get(mem, k, "memory", "bool")
    cpu = _obj(res, "cpu")
    _check_keys(cpu, _CPU_KEYS, "cpu")
    _get(cpu, "shares", "cpu", "uint64")
    quota = _get(cpu, "quota", "cpu", "int64")
    if quota is not None and quota < -1:
        raise _err("cpu.quota", f"invalid value {quota} (use -1 for unlimited)")
    burst = _get(cpu, "burst", "cpu", "uint64")
    if burst and quota and quota > 0 and burst > quota:
        raise _err("cpu.burst", f"{burst} is larger than cpu.quota {quota}")
    _get(cpu, "period", "cpu", "uint64")
    rt = _get(cpu, "realtimeRuntime", "cpu", "int64")
    if rt is not None and rt < -1:
        raise _err("cpu.realtimeRuntime", f"invalid value {rt}")
    _get(cpu, "realtimePeriod", "cpu", "uint64")
    idle = _get(cpu, "idle", "cpu", "int64")
    if idle is not None and idle not in (0, 1):
        raise _err("cpu.idle", f"{idle} is not 0 or 1")
    for k in ("cpus", "mems"):
        v = _get(cpu, k, "cpu", "str")
        if v and not _is_cpuset(v):
            raise _err(f"cpu.{k}", f"invalid list {v!r} (expected e.g. 0-3,5)")
    pids = _obj(res, "pids")
    _check_keys(pids, {"limit"}, "pids")
    _get(pids, "limit", "pids", "int64")
    blk = _obj(res, "blockIO")
    _check_keys(blk, _BLKIO_KEYS, "blockIO")
    _get(blk, "weight", "blockIO", "uint16")
    _get(blk, "leafWeight", "blockIO", "uint16")
    for i, d in enumerate(_list(blk, "weightDevice", "blockIO")):
        f = f"blockIO.weightDevice[{i}]"
        _check_keys(d, {"major", "minor", "weight", "leafWeight"}, f)
        _majmin(d, f)
        _get(d, "weight", f, "uint16")
        _get(d, "leafWeight", f, "uint16")
    for key, _, _ in _THROTTLE:
        for i, d in enumerate(_list(blk, key, "blockIO")):
            f = f"blockIO.{key}[{i}]"
            _check_keys(d, {"major", "minor", "rate"}, f)
            _majmin(d, f)
            if _get(d, "rate", f, "uint64") is None:
                raise _err(f"{f}.rate", "is required")
    for i, h in enumerate(_list(res, "hugepageLimits")):
        f = f"hugepageLimits[{i}]"
        _check_keys(h, {"pageSize", "limit"}, f)
        try:
            parse_page_size(h.get("pageSize"))
        except ValueError as e:
            raise _err(f"{f}.pageSize", str(e)) from None
        if _get(h, "limit", f, "uint64") is None:
            raise _err(f"{f}.limit", "is required")
    net = _obj(res, "network")
    _check_keys(net, {"classID", "priorities"}, "network")
    _get(net, "classID", "network", "uint32")
    for i, p in enumerate(_list(net, "priorities", "network")):
        f = f"network.priorities[{i}]"
        _check_keys(p, {"name", "priority"}, f)
        name = _get(p, "name", f, "str")
        if not name or " " in name or "/" in name:
            raise _err(f"{f}.name", f"invalid interface name {name!r}")
        if _get(p, "priority", f, "uint32") is None:
            raise _err(f"{f}.priority", "is required")
    rdma = _obj(res, "rdma")
    for dev, lim in rdma.items():
        f = f"rdma.{dev}"
        if not dev or any(c.isspace() for c in dev) or "/" in dev:
            raise _err(f, "invalid device name")
        if not isinstance(lim, dict):
            raise _err(f, "expected an object")
        _check_keys(lim, {"hcaHandles", "hcaObjects"}, f)
        a = _get(lim, "hcaHandles", f, "uint32")
        b = _get(lim, "hcaObjects", f, "uint32")
        if a is None and b is None:
            raise _err(f, "one of hcaHandles or hcaObjects is required")
    uni = _obj(res, "unified")
    for k, v in uni.items():
        _unified_key(k)
        if not isinstance(v, str):
            raise _err(f"unified.{k}", f"expected a string value, got {v!r}")
    normalize_device_rules(res.get("devices"))
    return res


def _majmin(d, field):
    ma = _get(d, "major", field, "int64")
    mi = _get(d, "minor", field, "int64")
    if ma is None or mi is None:
        raise _err(field, "major and minor are required")
    if ma < 0 or mi < 0:
        raise _err(field, f"invalid device number {ma}:{mi}")
    return ma, mi


def _unified_key(k):
    if not isinstance(k, str) or not k or k in (".", "..") or "/" in k or "\0" in k or "\n" in k:
        raise _err(f"unified.{k}", "invalid cgroup file name (must be a plain file name)")
    if k in _UNIFIED_FORBIDDEN:
        raise _err(f"unified.{k}", "writing this file through resources is not allowed")
    if "." not in k:
        raise _err(f"unified.{k}", "not a cgroup v2 control file name (expected <controller>.<file>)")
    return k


# --------------------------------------------------------------------------
# Devices.
# --------------------------------------------------------------------------


class DeviceRule(_Record):
    """allow; type 'a', 'b' or 'c'; major and minor (-1 = any); access, a subset of "rwm"."""
    _fields = ("allow", "type", "major", "minor", "access")


def normalize_device_rules(devices):
    """Validate OCI ``linux.resources.devices`` and normalize each entry."""
    if devices is None:
        return []
    if not isinstance(devices, list):
        raise _err("devices", "expected an array")
    out = []
    for i, d in enumerate(devices):
        f = f"devices[{i}]"
        if not isinstance(d, dict):
            raise _err(f, "expected an object")
        _check_keys(d, {"allow", "type", "major", "minor", "access"}, f)
        allow = _get(d, "allow", f, "bool")
        if allow is None:
            raise _err(f"{f}.allow", "is required")
        typ = _get(d, "type", f, "str") or "a"
        if typ not in ("a", "b", "c"):
            raise _err(f"{f}.type", f"invalid device type {typ!r} (expected a, b or c)")
        nums = []
        for k in ("major", "minor"):
            v = _get(d, k, f, "int64")
            if v is None:
                v = -1
            if v < -1:
                raise _err(f"{f}.{k}", f"invalid value {v}")
            nums.append(v)
        access = _get(d, "access", f, "str")
        if access is None or access == "":
            access = "rwm"
        if any(c not in "rwm" for c in access) or len(set(access)) != len(access):
            raise _err(f"{f}.access", f"invalid access {access!r} (letters from 'rwm')")
        access = "".join(c for c in "rwm" if c in access)
        out.append(DeviceRule(allow, typ, nums[0], nums[1], access))
    return out


def device_rule_v1(rule):
    """``type major:minor access`` with ``*`` for any major/minor."""
    ma = "*" if rule.major < 0 else str(rule.major)
    mi = "*" if rule.minor < 0 else str(rule.minor)
    return f"{rule.type} {ma}:{mi} {rule.access}"


def v1_device_writes(devices):
    """devices.deny ``a`` first, then every rule in order (like runc).

    The v1 kernel treats *any* line of type ``a`` as "all devices, all
    access", so an ``a`` rule narrowed to a device number or an access subset
    is expanded into equivalent ``b`` and ``c`` lines instead.
    """
    rules = normalize_device_rules(devices)
    out = [_w("devices", "devices.deny", "a", "devices")]
    for i, r in enumerate(rules):
        f = f"devices[{i}]"
        file = "devices.allow" if r.allow else "devices.deny"
        if r.type == "a" and r.major < 0 and r.minor < 0 and r.access == "rwm":
            out.append(_w("devices", file, "a", f))
        elif r.type == "a":
            for t in ("c", "b"):
                out.append(_w("devices", file, device_rule_v1(r._replace(type=t)), f))
        else:
            out.append(_w("devices", file, device_rule_v1(r), f))
    return out


# --------------------------------------------------------------------------
# Plans.
# --------------------------------------------------------------------------


def _cpuset_and_pids_writes(cpu, res):
    """cpuset.cpus/mems and pids.max: the same files in v1 and v2."""
    out = []
    for k in ("cpus", "mems"):
        v = _get(cpu, k, "cpu", "str")
        if v:
            out.append(_w("cpuset", f"cpuset.{k}", v.strip(), f"cpu.{k}"))
    v = _get(_obj(res, "pids"), "limit", "pids", "int64")
    if v:
        out.append(_w("pids", "pids.max", v2_limit(v), "pids.limit"))
    return out


def v1_plan(res, current_memory_limit=None):
    """Ordered writes for a cgroup v1 hierarchy set.

    ``current_memory_limit`` (the current ``memory.limit_in_bytes``) decides
    whether memsw or the memory limit must be written first when both change.
    """
    res = validate(res)
    out = []

    mem = _obj(res, "memory")
    limit = _limit(mem, "limit", "memory")
    swap = _limit(mem, "swap", "memory")
    if limit == -1 and swap is None:
        # Unlimited memory with unset swap: make memsw unlimited too, if the
        # kernel has swap accounting.
        out.append(_w("memory", "memory.memsw.limit_in_bytes", "-1", "memory.swap", optional=True, retry=True))
        out.append(_w("memory", "memory.limit_in_bytes", "-1", "memory.limit"))
    else:
        wl = _w("memory", "memory.limit_in_bytes", v1_limit(limit), "memory.limit", retry=True) if limit else None
        ws = _w("memory", "memory.memsw.limit_in_bytes", v1_limit(swap), "memory.swap", retry=True) if swap else None
        if wl and ws:
            if swap == -1 or (current_memory_limit is not None and 0 <= current_memory_limit < swap):
                out += [ws, wl]
            else:
                out += [wl, ws]
        else:
            out += [w for w in (wl, ws) if w]
    v = _limit(mem, "reservation", "memory")
    if v:
        out.append(_w("memory", "memory.soft_limit_in_bytes", v1_limit(v), "memory.reservation"))
    # memory.kernel is deprecated and ignored (kmem limits are gone from
    # recent kernels); kernelTCP is still honoured where the file exists.
    v = _limit(mem, "kernelTCP", "memory")
    if v:
        out.append(_w("memory", "memory.kmem.tcp.limit_in_bytes", v1_limit(v), "memory.kernelTCP", optional=True))
    v = _get(mem, "swappiness", "memory", "int64")
    if v is not None and v != -1:
        out.append(_w("memory", "memory.swappiness", v, "memory.swappiness"))
    v = _get(mem, "disableOOMKiller", "memory", "bool")
    if v is not None:
        out.append(_w("memory", "memory.oom_control", int(v), "memory.disableOOMKiller"))
    v = _get(mem, "useHierarchy", "memory", "bool")
    if v is not None:
        out.append(_w("memory", "memory.use_hierarchy", int(v), "memory.useHierarchy"))

    cpu = _obj(res, "cpu")
    v = _get(cpu, "shares", "cpu", "uint64")
    if v:
        out.append(_w("cpu", "cpu.shares", v, "cpu.shares", readback=True))
    v = _get(cpu, "burst", "cpu", "uint64")
    if v is not None:
        out.append(_w("cpu", "cpu.cfs_burst_us", v, "cpu.burst", retry=True))
    v = _get(cpu, "period", "cpu", "uint64")
    if v:
        out.append(_w("cpu", "cpu.cfs_period_us", v, "cpu.period", retry=True))
    v = _get(cpu, "quota", "cpu", "int64")
    if v:
        out.append(_w("cpu", "cpu.cfs_quota_us", v1_limit(v), "cpu.quota", retry=True))
    v = _get(cpu, "realtimePeriod", "cpu", "uint64")
    if v:
        out.append(_w("cpu", "cpu.rt_period_us", v, "cpu.realtimePeriod", retry=True))
    v = _get(cpu, "realtimeRuntime", "cpu", "int64")
    if v:
        out.append(_w("cpu", "cpu.rt_runtime_us", v1_limit(v), "cpu.realtimeRuntime", retry=True))
    v = _get(cpu, "idle", "cpu", "int64")
    if v is not None:
        out.append(_w("cpu", "cpu.idle", v, "cpu.idle"))
    out += _cpuset_and_pids_writes(cpu, res)

    blk = _obj(res, "blockIO")
    v = _get(blk, "weight", "blockIO", "uint16")
    if v:
        out.append(Write("blkio", (("blkio.weight", str(v)), ("blkio.bfq.weight", str(v))), "blockIO.weight"))
    v = _get(blk, "leafWeight", "blockIO", "uint16")
    if v:
        out.append(_w("blkio", "blkio.leaf_weight", v, "blockIO.leafWeight"))
    for i, d in enumerate(_list(blk, "weightDevice", "blockIO")):
        f = f"blockIO.weightDevice[{i}]"
        ma, mi = _majmin(d, f)
        w = _get(d, "weight", f, "uint16")
        if w is not None:
            val = f"{ma}:{mi} {w}"
            out.append(Write("blkio", (("blkio.weight_device", val), ("blkio.bfq.weight_device", val)), f + ".weight"))
        lw = _get(d, "leafWeight", f, "uint16")
        if lw is not None:
            out.append(_w("blkio", "blkio.leaf_weight_device", f"{ma}:{mi} {lw}", f + ".leafWeight"))
    for key, suffix, _ in _THROTTLE:
        for i, d in enumerate(_list(blk, key, "blockIO")):
            f = f"blockIO.{key}[{i}]"
            ma, mi = _majmin(d, f)
            out.append(_w("blkio", f"blkio.throttle.{suffix}", f"{ma}:{mi} {d['rate']}", f))

    for i, h in enumerate(_list(res, "hugepageLimits")):
        f = f"hugepageLimits[{i}]"
        ps = h["pageSize"]
        out.append(_w("hugetlb", f"hugetlb.{ps}.limit_in_bytes", h["limit"], f))
        out.append(_w("hugetlb", f"hugetlb.{ps}.rsvd.limit_in_bytes", h["limit"], f, optional=True))

    net = _obj(res, "network")
    v = _get(net, "classID", "network", "uint32")
    if v is not None:
        out.append(_w("net_cls", "net_cls.classid", v, "network.classID"))
    for i, p in enumerate(_list(net, "priorities", "network")):
        out.append(_w("net_prio", "net_prio.ifpriomap", f"{p['name']} {p['priority']}", f"network.priorities[{i}]"))

    for dev, lim in _obj(res, "rdma").items():
        out.append(_w("rdma", "rdma.max", _rdma_line(dev, lim), f"rdma.{dev}"))

    if res.get("devices") is not None:
        out += v1_device_writes(res["devices"])

    if _obj(res, "unified"):
        # Only meaningful with a cgroup2 hierarchy; the hybrid manager handles
        # these separately, a pure v1 host rejects them.
        for k, val in res["unified"].items():
            out.append(_w("unified", k, val, f"unified.{k}"))
    return out


def _rdma_line(dev, lim):
    parts = [dev]
    if lim.get("hcaHandles") is not None:
        parts.append(f"hca_handle={lim['hcaHandles']}")
    if lim.get("hcaObjects") is not None:
        parts.append(f"hca_object={lim['hcaObjects']}")
    return " ".join(parts)


def unified_controller(key):
    """``memory.max`` -> ``memory``; core ``cgroup.*`` files -> ``""``."""
    c = key.split(".", 1)[0]
    return "" if c == "cgroup" else c


def v2_plan(res):
    """Ordered writes for a cgroup v2 directory.

    Device rules are not included (cgroup v2 needs an eBPF program; see
    ``v2.py``).  ``memory.checkBeforeUpdate`` is enforced by the manager.
    """
    res = validate(res)
    out = []

    mem = _obj(res, "memory")
    limit = _limit(mem, "limit", "memory")
    swap = _limit(mem, "swap", "memory")
    try:
        sw2 = memory_swap_to_v2(swap or 0, limit or 0)
    except ValueError as e:
        raise _err("memory.swap", str(e)) from None
    if sw2:
        # Implicit "unlimited swap" (limit -1, swap unset) is skipped quietly
        # when swap accounting is off; an explicit swap limit is not.
        out.append(_w("memory", "memory.swap.max", v2_limit(sw2), "memory.swap", optional=swap is None))
    if limit:
        out.append(_w("memory", "memory.max", v2_limit(limit), "memory.limit"))
    v = _limit(mem, "reservation", "memory")
    if v:
        out.append(_w("memory", "memory.low", v2_limit(v), "memory.reservation"))
    v = _get(mem, "swappiness", "memory", "int64")
    if v is not None and v != -1:
        raise _err("memory.swappiness", "not supported with cgroup v2")
    if _get(mem, "disableOOMKiller", "memory", "bool"):
        raise _err("memory.disableOOMKiller", "not supported with cgroup v2")
    if _get(mem, "useHierarchy", "memory", "bool") is False:
        raise _err("memory.useHierarchy", "cgroup v2 accounting is always hierarchical")

    cpu = _obj(res, "cpu")
    idle = _get(cpu, "idle", "cpu", "int64")
    if idle is not None:
        out.append(_w("cpu", "cpu.idle", idle, "cpu.idle"))
    v = _get(cpu, "shares", "cpu", "uint64")
    if v and not idle:
        out.append(_w("cpu", "cpu.weight", shares_to_weight(v), "cpu.shares"))
    burst = _get(cpu, "burst", "cpu", "uint64")
    if burst is not None:
        out.append(_w("cpu", "cpu.max.burst", burst, "cpu.burst", retry=True))
    quota = _get(cpu, "quota", "cpu", "int64") or 0
    period = _get(cpu, "period", "cpu", "uint64") or 0
    if quota or period:
        out.append(_w("cpu", "cpu.max", cpu_max(quota, period), "cpu.quota", retry=True))
    for k in ("realtimeRuntime", "realtimePeriod"):
        if _get(cpu, k, "cpu", "int64" if k == "realtimeRuntime" else "uint64"):
            raise _err(f"cpu.{k}", "realtime scheduling limits are not supported with cgroup v2")
    out += _cpuset_and_pids_writes(cpu, res)

    blk = _obj(res, "blockIO")
    v = _get(blk, "weight", "blockIO", "uint16")
    if v:
        out.append(Write("io", (("io.bfq.weight", str(v)), ("io.weight", str(blkio_weight_to_io_weight(v)))), "blockIO.weight"))
    if _get(blk, "leafWeight", "blockIO", "uint16"):
        raise _err("blockIO.leafWeight", "not supported with cgroup v2")
    for i, d in enumerate(_list(blk, "weightDevice", "blockIO")):
        f = f"blockIO.weightDevice[{i}]"
        ma, mi = _majmin(d, f)
        if _get(d, "leafWeight", f, "uint16"):
            raise _err(f + ".leafWeight", "not supported with cgroup v2")
        w = _get(d, "weight", f, "uint16")
        if w is not None:
            out.append(Write("io", (("io.bfq.weight", f"{ma}:{mi} {w}"),
                                    ("io.weight", f"{ma}:{mi} {blkio_weight_to_io_weight(w) if w else 'default'}")),
                             f + ".weight"))
    for key, _, name in _THROTTLE:
        for i, d in enumerate(_list(blk, key, "blockIO")):
            f = f"blockIO.{key}[{i}]"
            ma, mi = _majmin(d, f)
            rate = d["rate"] or "max"  # v1 semantics: 0 removes the limit
            out.append(_w("io", "io.max", f"{ma}:{mi} {name}={rate}", f))

    for i, h in enumerate(_list(res, "hugepageLimits")):
        f = f"hugepageLimits[{i}]"
        ps = h["pageSize"]
        out.append(_w("hugetlb", f"hugetlb.{ps}.max", h["limit"], f))
        out.append(_w("hugetlb", f"hugetlb.{ps}.rsvd.max", h["limit"], f, optional=True))

    net = _obj(res, "network")
    if net.get("classID") is not None or net.get("priorities"):
        raise _err("network", "net_cls/net_prio are not available with cgroup v2")

    for dev, lim in _obj(res, "rdma").items():
        out.append(_w("rdma", "rdma.max", _rdma_line(dev, lim), f"rdma.{dev}"))

    for k, val in _obj(res, "unified").items():
        out.append(_w(unified_controller(k), k, val, f"unified.{k}"))
    return out


# --------------------------------------------------------------------------
# Parsers for statistics files (pure).
# --------------------------------------------------------------------------


def parse_cpu_list(text):
    """``"0-2,5"`` -> ``[0, 1, 2, 5]``; empty text -> ``[]``."""
    out = []
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        a = int(lo)
        b = int(hi) if sep else a
        if b < a:
            raise ValueError(f"invalid range {part!r}")
        out.extend(range(a, b + 1))
    return out


def _blkio_entry(major, minor, op, value):
    e = {"major": major, "minor": minor, "op": op, "value": value}
    return {k: v for k, v in e.items() if v}


def parse_blkio_stat(text):
    """v1 ``blkio.*_recursive`` lines (``8:0 Read 42`` or ``8:0 42``)."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if not f or f[0] == "Total" or ":" not in f[0]:
            continue
        ma, _, mi = f[0].partition(":")
        try:
            if len(f) == 3:
                out.append(_blkio_entry(int(ma), int(mi), f[1], int(f[2])))
            elif len(f) == 2:
                out.append(_blkio_entry(int(ma), int(mi), "", int(f[1])))
        except ValueError:
            continue
    return out


def parse_io_stat(text):
    """v2 ``io.stat`` -> (bytes entries, ios entries), runc's v1-like shape."""
    sb = []
    sv = []
    for line in text.splitlines():
        f = line.split()
        if not f or ":" not in f[0]:
            continue
        ma, _, mi = f[0].partition(":")
        try:
            major, minor = int(ma), int(mi)
        except ValueError:
            continue
        kv = {}
        for item in f[1:]:
            k, _, v = item.partition("=")
            try:
                kv[k] = int(v)
            except ValueError:
                pass
        for key, op, dst in (("rbytes", "Read", sb), ("wbytes", "Write", sb), ("dbytes", "Discard", sb),
                             ("rios", "Read", sv), ("wios", "Write", sv), ("dios", "Discard", sv)):
            if key in kv:
                dst.append(_blkio_entry(major, minor, op, kv[key]))
    return sb, sv


# --------------------------------------------------------------------------
# Partial updates (`pyrunc update`, runc's semantics).
# --------------------------------------------------------------------------

# What `update` changes, as runc does: the rest of a LinuxResources document
# (devices, hugepageLimits, network, rdma, blkio throttles, swappiness, ...) is
# accepted and left alone (containerd's CRI plugin sends the container's whole
# resources, device rules included, on every UpdateContainerResources).
UPDATE_FIELDS = {
    "memory": ("limit", "reservation", "swap", "kernel", "kernelTCP", "checkBeforeUpdate"),
    "cpu": ("shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle"),
    "blockIO": ("weight",),
    "pids": ("limit",),
}
# Zero is "unchanged" for these (Docker sends zeros for what it does not change).
_ZERO_KEEPS = {"burst": False, "idle": False, "checkBeforeUpdate": False}

CFS_QUOTA_MIN = 1000  # microseconds (the kernel refuses shorter quotas)
CFS_PERIOD_MIN, CFS_PERIOD_MAX = 1000, 1000000


def _is_set(key, v):
    if v is None:
        return False
    if _ZERO_KEEPS.get(key, True):
        return v != 0 and v != ""
    return True


def update_subset(res):
    """Split a validated LinuxResources object into what ``update`` applies and
    the fields it ignores.  Returns ``(subset, ignored field names)``; values
    meaning "unchanged" (0, "" and absent) are dropped from the subset."""
    res = validate(res)
    sub = {}
    ignored = []
    for top, val in res.items():
        if top == "unified":
            if val:
                sub["unified"] = dict(val)
            continue
        keys = UPDATE_FIELDS.get(top)
        if keys is None:
            if val:
                ignored.append(top)
            continue
        for k, v in (val or {}).items():
            if k not in keys:
                if v not in (None, 0, "", False, [], {}):
                    ignored.append(f"{top}.{k}")
                continue
            if k == "kernel" and top == "memory":
                if v:
                    ignored.append("memory.kernel")
                continue
            if _is_set(k, v):
                sub.setdefault(top, {})[k] = v
    return sub, ignored


def update_checks(sub):
    """Limits the kernel enforces on any host, checked before anything is
    written so that the error names the field."""
    cpu = sub.get("cpu") or {}
    q = cpu.get("quota")
    if q is not None and 0 < q < CFS_QUOTA_MIN:
        raise _err("cpu.quota", f"{q} is below the kernel's minimum of {CFS_QUOTA_MIN} microseconds")
    p = cpu.get("period")
    if p is not None and not CFS_PERIOD_MIN <= p <= CFS_PERIOD_MAX:
        raise _err("cpu.period", f"{p} is out of range {CFS_PERIOD_MIN}-{CFS_PERIOD_MAX} microseconds")
    rp = cpu.get("realtimePeriod")
    if rp is not None and not 1 <= rp <= CFS_PERIOD_MAX:
        raise _err("cpu.realtimePeriod", f"{rp} is out of range 1-{CFS_PERIOD_MAX} microseconds")
    rt = cpu.get("realtimeRuntime")
    if rt is not None and rt > 0 and rp is not None and rt > rp:
        raise _err("cpu.realtimeRuntime", f"{rt} is larger than cpu.realtimePeriod {rp}")


def check_cpuset_within(cpu, parent_file):
    """Raise the error of the first of cpu.cpus / cpu.mems that is not within the
    parent cgroup's list; ``parent_file(k)`` is the path of the parent's file for
    "cpus" or "mems" (v1: cpuset.K, v2: cpuset.K.effective).  An unreadable parent
    file is no verdict (the write itself will say)."""
    from . import read_file

    for k in ("cpus", "mems"):
        if not cpu.get(k):
            continue
        try:
            avail = read_file(parent_file(k))
        except OSError:
            continue
        err = cpuset_subset_error(f"cpu.{k}", cpu[k], avail)
        if err:
            raise err


def cpuset_subset_error(field, want, available):
    """The error for a cpuset list that is not within what the parent cgroup
    has (``available``: the parent's list), or ``None``."""
    try:
        have = set(parse_cpu_list(available))
        asked = parse_cpu_list(want)
    except ValueError:
        return None
    if not have:
        return None
    extra = sorted(set(asked) - have)
    if extra:
        what = "CPUs" if field.endswith("cpus") else "memory nodes"
        return _err(field, f"{want!r} asks for {what} {','.join(map(str, extra))} outside the parent "
                           f"cgroup's {available.strip() or 'none'}")
    return None


def merge_update(old, sub):
    """The resources on record after an update: ``sub`` (from
    :func:`update_subset`) laid over ``old``."""
    out = {}
    if isinstance(old, dict):
        for k, v in old.items():
            out[k] = dict(v) if isinstance(v, dict) else v
    for top, val in sub.items():
        cur = out.get(top)
        cur = dict(cur) if isinstance(cur, dict) else {}
        cur.update(val)
        out[top] = cur
    mem = sub.get("memory") or {}
    if mem.get("limit") == -1 and "swap" not in mem:
        out["memory"]["swap"] = -1  # unlimited memory, swap unset: both plans make swap unlimited too
    return out
