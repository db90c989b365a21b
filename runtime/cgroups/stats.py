"""The statistics of `events --stats` (runc's field names and omissions), read from a
manager's cgroup v1 directories or its cgroup2 directory.  Apart from v1.py and v2.py,
which create and the other commands load, since only `events` reads them."""
import os

from . import read_file, read_int, read_kv
from . import resources as res_mod
from .v2 import UINT64_MAX


def omit_empty(d, *keys):
    """Drop ``keys`` whose values are zero/empty (Go's ``omitempty``)."""
    for k in keys:
        if k in d and not d[k]:
            del d[k]
    return d


def v1_stats(mgr):
    """runc ``events --stats`` data for cgroup v1."""
    return {
        "cpu": _v1_cpu(mgr),
        "cpuset": _v1_cpuset(mgr),
        "memory": _v1_memory(mgr),
        "pids": _v1_pids(mgr),
        "blkio": _v1_blkio(mgr),
        "hugetlb": _v1_hugetlb(mgr),
        "intel_rdt": {},
        "network_interfaces": None,
    }


def _v1_cpu(mgr):
    usage = {"total": 0, "percpu": [], "percpu_kernel": [], "percpu_user": [], "kernel": 0, "user": 0}
    d = mgr.path("cpuacct")
    if d:
        usage["total"] = read_int(os.path.join(d, "cpuacct.usage"))
        for key, f in (("percpu", "cpuacct.usage_percpu"), ("percpu_kernel", "cpuacct.usage_percpu_sys"),
                       ("percpu_user", "cpuacct.usage_percpu_user")):
            try:
                usage[key] = [int(x) for x in read_file(os.path.join(d, f)).split()]
            except (OSError, ValueError):
                pass
        st = read_kv(os.path.join(d, "cpuacct.stat"))
        hz = os.sysconf("SC_CLK_TCK") or 100
        usage["kernel"] = st.get("system", 0) * 1_000_000_000 // hz
        usage["user"] = st.get("user", 0) * 1_000_000_000 // hz
    omit_empty(usage, "total", "percpu", "percpu_kernel", "percpu_user")
    thr = {}
    d = mgr.path("cpu")
    if d:
        st = read_kv(os.path.join(d, "cpu.stat"))
        thr = {"periods": st.get("nr_periods", 0), "throttledPeriods": st.get("nr_throttled", 0),
               "throttledTime": st.get("throttled_time", 0)}
        omit_empty(thr, "periods", "throttledPeriods", "throttledTime")
    return {"usage": usage, "throttling": thr}


def _v1_cpuset(mgr):
    out = {}
    d = mgr.path("cpuset")
    if not d:
        return out
    # runc's field order: cpus, cpu_exclusive, mems, mem_hardwall, ...
    for key in ("cpus", "cpu_exclusive", "mems", "mem_hardwall", "mem_exclusive", "memory_migrate",
                "memory_spread_page", "memory_spread_slab", "memory_pressure", "sched_load_balance",
                "sched_relax_domain_level"):
        if key in ("cpus", "mems"):
            try:
                out[key] = res_mod.parse_cpu_list(read_file(os.path.join(d, "cpuset." + key)))
            except (OSError, ValueError):
                pass
        else:
            out[key] = read_int(os.path.join(d, "cpuset." + key))
    return omit_empty(out, "cpus", "mems")


def _v1_memory(mgr):
    d = mgr.path("memory")
    if not d:
        return {"usage": {"limit": 0, "failcnt": 0}}

    def entry(prefix):
        e = {
            "limit": read_int(os.path.join(d, prefix + "limit_in_bytes")),
            "usage": read_int(os.path.join(d, prefix + "usage_in_bytes")),
            "max": read_int(os.path.join(d, prefix + "max_usage_in_bytes")),
            "failcnt": read_int(os.path.join(d, prefix + "failcnt")),
        }
        return omit_empty(e, "usage", "max")

    raw = read_kv(os.path.join(d, "memory.stat"))
    out = {
        "cache": raw.get("cache", 0),
        "usage": entry("memory."),
        "swap": entry("memory.memsw."),
        "kernel": entry("memory.kmem."),
        "kernelTCP": entry("memory.kmem.tcp."),
        "raw": raw,
    }
    return omit_empty(out, "cache", "raw")


def _v1_pids(mgr):
    d = mgr.path("pids")
    if not d:
        return {}
    return omit_empty({"current": read_int(os.path.join(d, "pids.current")),
                       "limit": read_int(os.path.join(d, "pids.max"))}, "current", "limit")


def _v1_blkio(mgr):
    d = mgr.path("blkio")
    if not d:
        return {}
    out = {}
    for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
        if os.path.exists(os.path.join(d, prefix + "io_service_bytes_recursive")):
            break
    else:
        return out
    for key, f in (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
                   ("ioServicedRecursive", "io_serviced_recursive"),
                   ("ioQueueRecursive", "io_queued_recursive"),
                   ("ioServiceTimeRecursive", "io_service_time_recursive"),
                   ("ioWaitTimeRecursive", "io_wait_time_recursive"),
                   ("ioMergedRecursive", "io_merged_recursive"),
                   ("ioTimeRecursive", "time_recursive"),
                   ("sectorsRecursive", "sectors_recursive")):
        try:
            text = read_file(os.path.join(d, prefix + f))
        except OSError:
            continue
        entries = res_mod.parse_blkio_stat(text)
        if entries:
            out[key] = entries
    return out


def _v1_hugetlb(mgr):
    out = {}
    d = mgr.path("hugetlb")
    if d:
        for size in _hugetlb_sizes(d, ".usage_in_bytes"):
            p = os.path.join(d, f"hugetlb.{size}.")
            out[size] = omit_empty({"usage": read_int(p + "usage_in_bytes"),
                                    "max": read_int(p + "max_usage_in_bytes"),
                                    "failcnt": read_int(p + "failcnt")}, "usage", "max")
    elif mgr.hybrid and mgr.path(""):
        out = hugetlb_v2(mgr.path(""))
    return out


def v2_stats(mgr):
    """runc ``events --stats`` data for cgroup v2."""
    d = mgr.dir
    cs = read_kv(os.path.join(d, "cpu.stat"))
    usage = {"total": cs.get("usage_usec", 0) * 1000, "kernel": cs.get("system_usec", 0) * 1000,
             "user": cs.get("user_usec", 0) * 1000}
    if not usage["total"]:
        del usage["total"]
    thr = {"periods": cs.get("nr_periods", 0), "throttledPeriods": cs.get("nr_throttled", 0),
           "throttledTime": cs.get("throttled_usec", 0) * 1000}
    thr = {k: v for k, v in thr.items() if v}

    def lim(f):
        try:
            s = read_file(os.path.join(d, f)).strip()
        except OSError:
            return 0
        return UINT64_MAX if s == "max" else int(s or 0)

    raw = read_kv(os.path.join(d, "memory.stat"))
    cur = read_int(os.path.join(d, "memory.current"))
    mlim = lim("memory.max")
    usage_e = {"limit": mlim, "usage": cur, "max": read_int(os.path.join(d, "memory.peak")),
               "failcnt": read_kv(os.path.join(d, "memory.events")).get("max", 0)}
    swap_cur = read_int(os.path.join(d, "memory.swap.current"))
    slim = lim("memory.swap.max")
    swap_e = {"limit": UINT64_MAX if UINT64_MAX in (mlim, slim) else mlim + slim,
              "usage": cur + swap_cur, "failcnt": 0}
    memory = {"cache": raw.get("file", 0), "usage": usage_e, "swap": swap_e,
              "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0}, "raw": raw}
    for e in (usage_e, swap_e):
        for k in ("usage", "max"):
            if k in e and not e[k]:
                del e[k]
    memory = {k: v for k, v in memory.items() if v or k not in ("cache", "raw")}

    pids = {"current": read_int(os.path.join(d, "pids.current")), "limit": read_int(os.path.join(d, "pids.max"))}
    pids = {k: v for k, v in pids.items() if v}

    blkio = {}
    try:
        iostat = read_file(os.path.join(d, "io.stat"))
    except OSError:
        iostat = ""
    sb, sv = res_mod.parse_io_stat(iostat)
    if sb:
        blkio["ioServiceBytesRecursive"] = sb
    if sv:
        blkio["ioServicedRecursive"] = sv

    cpuset = {}
    for key, f in (("cpus", "cpuset.cpus.effective"), ("mems", "cpuset.mems.effective")):
        try:
            v = res_mod.parse_cpu_list(read_file(os.path.join(d, f)))
        except (OSError, ValueError):
            continue
        if v:
            cpuset[key] = v

    return {
        "cpu": {"usage": usage, "throttling": thr},
        "cpuset": cpuset,
        "memory": memory,
        "pids": pids,
        "blkio": blkio,
        "hugetlb": hugetlb_v2(d),
        "intel_rdt": {},
        "network_interfaces": None,
    }


def hugetlb_v2(d):
    """The hugetlb entries of a cgroup2 directory (hybrid hosts too)."""
    out = {}
    for size in _hugetlb_sizes(d, ".current"):
        p = os.path.join(d, f"hugetlb.{size}.")
        e = {"usage": read_int(p + "current"), "max": read_int(p + "max"),
             "failcnt": read_kv(p + "events").get("max", 0)}
        out[size] = {k: v for k, v in e.items() if v or k == "failcnt"}
    return out


def _hugetlb_sizes(d, suffix):
    """The huge page sizes ("2MB", ...) of the hugetlb.<size><suffix> files in d (not the
    .rsvd. ones); none when d cannot be listed."""
    try:
        names = os.listdir(d)
    except OSError:
        return []
    return [n[len("hugetlb."):-len(suffix)] for n in names
            if n.startswith("hugetlb.") and n.endswith(suffix) and ".rsvd." not in n]
