"""process.capabilities that cannot be granted: a warning naming them, and the container
runs with the rest (config.md: "MUST be logged as a warning ... SHOULD NOT fail").

Observed from inside the container (its /proc/self/status) and from the runtime's
stderr and --log file; `pyrunc check` keeps reporting them."""

import json
import os

import pytest

from util import cap_bits

NAMES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
         "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
         "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
         "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
         "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
         "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
         "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
         "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
         "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
GOOD = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]


def host_bounding():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    raise AssertionError("no CapBnd in /proc/self/status")


def outside_bounding():
    """A capability this kernel knows that is not in our bounding set (on the test
    machine: CAP_SYS_RESOURCE), or None."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    bnd = host_bounding()
    for n, name in enumerate(NAMES[:last + 1]):
        if not bnd >> n & 1:
            return name
    return None


def cap_of(out, field):
    for line in out.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in {out!r}")


def caps_config(extra):
    sets = {s: GOOD + extra for s in ("bounding", "effective", "permitted", "inheritable")}
    sets["ambient"] = ["CAP_KILL"] + extra
    return sets


@pytest.mark.not_runc  # runc 1.1.5: "unable to apply caps" for one outside the bounding set
@pytest.mark.parametrize("log_format", [None, "text", "json"])
def test_unknown_capability_is_a_warning_and_the_rest_is_granted(rt, cid, make_bundle, tdir,
                                                                 log_format):
    extra = ["CAP_UNKNOWN"]
    missing = outside_bounding()
    if missing:
        extra.append(missing)
    b = make_bundle(["grep", "^Cap", "/proc/self/status"],
                    process={"capabilities": caps_config(extra)})
    log = os.path.join(tdir, "runtime.log")
    global_args = ["--log", log, "--log-format", log_format] if log_format else []
    r = rt.cmd("run", "--bundle", b.path, cid, global_args=global_args)
    rt.track(cid)
    assert r.rc == 0, r
    assert "Traceback" not in r.err
    for field, want in (("CapBnd", GOOD), ("CapEff", GOOD), ("CapPrm", GOOD),
                        ("CapInh", GOOD), ("CapAmb", ["CAP_KILL"])):
        assert cap_of(r.out, field) == cap_bits(want), (field, r.out)
    if log_format is None:
        text = r.err  # without --log, warnings go to stderr
    else:
        with open(log) as f:
            text = f.read()
    lines = [line for line in text.splitlines() if "CAP_UNKNOWN" in line]
    assert len(lines) == 1, text
    for name in extra:
        assert name in lines[0], (name, lines[0])
    if log_format == "json":
        entry = json.loads(lines[0])
        assert entry["level"] == "warning", entry
    elif log_format == "text":
        assert "level=warning" in lines[0], lines[0]


def test_only_ungrantable_capabilities_leaves_empty_sets(rt, cid, make_bundle):
    b = make_bundle(["grep", "^Cap", "/proc/self/status"],
                    process={"capabilities": {s: ["CAP_NOT_A_CAP"] for s in
                                              ("bounding", "effective", "permitted")}})
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert cap_of(r.out, "CapEff") == 0 and cap_of(r.out, "CapBnd") == 0, r.out
    assert "CAP_NOT_A_CAP" in r.err, r.err


def test_grantable_capabilities_give_no_warning(rt, cid, make_bundle):
    b = make_bundle(["true"], process={"capabilities": caps_config([])})
    r = rt.run(cid, b)
    assert r.rc == 0, r
    assert "capabilit" not in r.err, r.err


@pytest.mark.pyrunc_only
def test_check_still_reports_them(rt, make_bundle):
    missing = outside_bounding()
    extra = ["CAP_UNKNOWN"] + ([missing] if missing else [])
    b = make_bundle(["true"], process={"capabilities": caps_config(extra)})
    r = rt.cmd("check", "--bundle", b.path)
    assert r.rc != 0, r
    assert "process.capabilities.bounding: CAP_UNKNOWN is not a known capability" in r.err, r.err
    if missing:
        assert f"{missing} is not in the host's bounding set" in r.err, r.err


def test_unit_ungrantable_and_masks():
    from runtime import capabilities

    caps = {"bounding": ["CAP_CHOWN", "CAP_X", "CAP_CHOWN"], "ambient": ["CAP_X", "CAP_KILL"],
            "effective": ["CAP_SYS_ADMIN"]}
    ok = 1 << capabilities.NUMBERS["CAP_CHOWN"]  # as if only CAP_CHOWN were in the bounding set
    assert capabilities.ungrantable(caps, ok) == ["CAP_X", "CAP_SYS_ADMIN", "CAP_KILL"]  # SETS order
    warned = []
    assert capabilities.warn_ungrantable({"bounding": ["CAP_Y"]}, warned.append) == ["CAP_Y"]
    assert warned == ["process.capabilities: ignoring unknown or unavailable capabilities: CAP_Y"]
    assert capabilities.warn_ungrantable({"bounding": ["CAP_CHOWN"]}, warned.append) == []
    assert len(warned) == 1
    m = capabilities.masks({"bounding": ["CAP_CHOWN", "CAP_NOPE"]})
    assert m["bounding"] == 1 << capabilities.NUMBERS["CAP_CHOWN"]
    assert m["effective"] == 0


def test_unit_grantable_is_this_process_bounding_set():
    """grantable() (one native call, no /proc) says what /proc/self/status says."""
    from runtime import capabilities

    assert capabilities.grantable() == capabilities.host_bounding() & ((1 << len(capabilities.NAMES)) - 1)


def test_bounding_set_inside_is_what_the_config_says(rt, cid, make_bundle):
    """The container's CapBnd is exactly process.capabilities.bounding (what the host
    can grant of it): every other capability dropped."""
    keep = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_CHECKPOINT_RESTORE"]
    b = make_bundle(["sh", "-c", "grep CapBnd /proc/self/status"],
                    process={"capabilities": {"bounding": keep, "effective": [], "permitted": []}})
    r = rt.run(cid, b)
    assert r.rc == 0, r
    from runtime import capabilities

    want = sum(1 << capabilities.NUMBERS[c] for c in keep) & capabilities.host_bounding()
    assert int(r.out.split()[-1], 16) == want, r.out
