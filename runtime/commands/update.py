"""`update`: change the resource limits of a running (or created, or paused) container.

The change comes from flags (runc's: --memory, --cpu-quota, ...) or, with
`--resources FILE|-`, from a runtime-spec LinuxResources JSON document (then the other
flags are ignored, as runc does).  Zero and absent values mean "unchanged" (Docker sends
zeros for what it does not change).  runc's set of fields is applied (memory, cpu,
cpuset, pids, blkio weight, unified); the rest of a LinuxResources document, such as the
device rules containerd's CRI plugin sends with every update, is accepted and left alone.
The cgroup writes are made in an order the kernel accepts (memory limit vs memory+swap),
after the checks the live values allow; a write that still fails restores the files
already written.  The applied change is recorded in the container's state
("resources").
"""
import os

from runtime import jsonio, log
from runtime.errors import RuntimeFailure
from runtime.state import CREATING, STOPPED, Container, Root

# LinuxResources field -> the flag that sets it (for error messages).
_FLAGS = {
    "memory.limit": "--memory", "memory.swap": "--memory-swap", "memory.reservation": "--memory-reservation",
    "memory.kernel": "--kernel-memory", "memory.kernelTCP": "--kernel-memory-tcp",
    "cpu.shares": "--cpu-share", "cpu.period": "--cpu-period", "cpu.quota": "--cpu-quota",
    "cpu.realtimePeriod": "--cpu-rt-period", "cpu.realtimeRuntime": "--cpu-rt-runtime",
    "cpu.cpus": "--cpuset-cpus", "cpu.mems": "--cpuset-mems", "pids.limit": "--pids-limit",
    "blockIO.weight": "--blkio-weight",
}
_UNITS = "kmgtp"
INT64_MAX = 2**63 - 1


def ram_in_bytes(s):
    """A size as runc (docker/go-units RAMInBytes) reads it: ``1024``, ``1.5m``, ``100MiB``,
    ``2 g``, ``64kb`` (binary units); ValueError naming the input otherwise."""
    i = len(s)
    if i and s[i - 1] in "bB":
        i -= 1
    if i and s[i - 1] in "iI":
        i -= 1
    mul = 1
    if i and s[i - 1].lower() in _UNITS:
        mul = 1024 ** (_UNITS.index(s[i - 1].lower()) + 1)
        i -= 1
    if i and s[i - 1] == " ":
        i -= 1
    num = s[:i]
    parts = num.split(".")
    if not num or len(parts) > 2 or any(not p or not (p.isascii() and p.isdigit()) for p in parts):
        raise ValueError(f"invalid size: {s!r}")
    v = int(float(num) * mul) if len(parts) == 2 else int(num) * mul
    if v > INT64_MAX:
        raise ValueError(f"invalid size: {s!r} (larger than an int64)")
    return v


def _uint(flag, s):
    if not (s.isascii() and s.isdigit()) or int(s) > 2**64 - 1:
        raise RuntimeFailure(f"invalid value for {flag}: {s!r} is not an unsigned 64-bit integer")
    return int(s)


def _int(flag, s):
    t = s[1:] if s[:1] in "+-" else s
    if not (t.isascii() and t.isdigit()) or not -(2**63) <= int(s) <= INT64_MAX:
        raise RuntimeFailure(f"invalid value for {flag}: {s!r} is not a 64-bit integer")
    return int(s)


def from_flags(opts):
    """The LinuxResources document the flags describe (runc's update.go rules)."""
    memory, cpu = {}, {}
    res = {"memory": memory, "cpu": cpu, "blockIO": {}, "pids": {}}
    w = opts.blkio_weight
    if w:
        if not 0 <= w <= 65535:
            raise RuntimeFailure(f"invalid value for --blkio-weight: {w} is not a uint16")
        res["blockIO"]["weight"] = w
    if opts.cpuset_cpus:
        cpu["cpus"] = opts.cpuset_cpus
    if opts.cpuset_mems:
        cpu["mems"] = opts.cpuset_mems
    for flag, v, key, conv in (("--cpu-period", opts.cpu_period, "period", _uint),
                               ("--cpu-rt-period", opts.cpu_rt_period, "realtimePeriod", _uint),
                               ("--cpu-share", opts.cpu_shares, "shares", _uint),
                               ("--cpu-quota", opts.cpu_quota, "quota", _int),
                               ("--cpu-rt-runtime", opts.cpu_rt_runtime, "realtimeRuntime", _int)):
        if v:
            cpu[key] = conv(flag, v)
    for flag, v, key in (("--memory", opts.memory, "limit"), ("--memory-swap", opts.memory_swap, "swap"),
                         ("--kernel-memory", opts.kernel_memory, "kernel"),
                         ("--kernel-memory-tcp", opts.kernel_memory_tcp, "kernelTCP"),
                         ("--memory-reservation", opts.memory_reservation, "reservation")):
        if v:
            try:
                memory[key] = -1 if v == "-1" else ram_in_bytes(v)
            except ValueError as e:
                raise RuntimeFailure(f"invalid value for {flag}: {e}") from None
    if opts.pids_limit:
        res["pids"]["limit"] = opts.pids_limit
    return res


def read_resources(path):
    """--resources FILE or - (stdin): a LinuxResources JSON object."""
    try:
        if path == "-":
            data = b""
            while True:
                chunk = os.read(0, 65536)
                if not chunk:
                    break
                data += chunk
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        raise RuntimeFailure(f"--resources {path}: {e.strerror}") from None
    try:
        return jsonio.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise RuntimeFailure(f"--resources {'(stdin)' if path == '-' else path}: invalid JSON: {e}") from None


def _field_message(msg, flags_used):
    """Cgroup errors name ``linux.resources.<field>``: for update, the field of the
    LinuxResources document (and the flag, when flags were used)."""
    prefix = "linux.resources."
    if msg.startswith(prefix):
        msg = msg[len(prefix):]
        field = msg.split(":", 1)[0]
        if flags_used and field in _FLAGS:
            msg = f"{field} ({_FLAGS[field]}){msg[len(field):]}"
    return msg


def main(opts):
    from runtime import cgroups, container, validate
    from runtime.cgroups import resources as res_mod

    if opts.l3_cache_schema or opts.mem_bw_schema:
        flag = "--l3-cache-schema" if opts.l3_cache_schema else "--mem-bw-schema"
        raise RuntimeFailure(f"{flag}: Intel RDT is not supported by pyrunc (create refuses linux.intelRdt too)")
    flags_used = opts.resources is None
    res = from_flags(opts) if flags_used else read_resources(opts.resources)
    problems = validate.resources_errors(res)
    if problems:
        raise RuntimeFailure(problems[0], lines=problems)
    try:
        sub, ignored = res_mod.update_subset(res)
    except cgroups.CgroupError as e:
        raise RuntimeFailure(_field_message(str(e), flags_used)) from None
    if "memory.kernel" in ignored:
        log.warn("Kernel memory settings are ignored and will be removed")
    others = [f for f in ignored if f != "memory.kernel"]
    if others:
        log.debug(f"update leaves these resources as they are: {', '.join(others)}")
    with Container.load(Root(opts.root), opts.id) as c:
        st = c.status()
        if st in (STOPPED, CREATING):
            raise RuntimeFailure("container not running")
        mgr = container.cgroups_of(c)
        if mgr is None:
            raise RuntimeFailure(f"container {c.id} has no cgroups to update")
        if sub:
            try:
                mgr.update(sub)
            except cgroups.CgroupError as e:
                raise RuntimeFailure(_field_message(str(e), flags_used)) from None
        c.data["resources"] = res_mod.merge_update(c.data.get("resources"), sub)
        c.save()
