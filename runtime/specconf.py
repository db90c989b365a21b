"""The example config that ``pyrunc spec`` writes, equivalent to ``runc spec``.

    default_spec(rootless=False) -> dict
    spec_json(rootless=False) -> str     # formatted like runc (tab indented)

Keys are in runc's order so the JSON output reads the same.  The rootless
variant follows ``runc spec --rootless``: no network namespace, a user
namespace mapping the caller's euid/egid to root, no devices cgroup rule, no
``gid=5`` on devpts and a read-only recursive bind of /sys instead of sysfs.
"""

import os

OCI_VERSION = "1.3.0"

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_CAPS = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")

_MASKED = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
)

_READONLY = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


def _mount(destination, fstype, source, options=None):
    m = {"destination": destination, "type": fstype, "source": source}
    if options:
        m["options"] = list(options)
    return m


def default_spec(rootless=False):
    """Return a fresh config dict equivalent to ``runc spec`` (or
    ``runc spec --rootless``) for runtime-spec 1.3.0."""
    devpts_opts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if not rootless:
        devpts_opts.append("gid=5")
    if rootless:
        sys_mount = _mount("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"])
    else:
        sys_mount = _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"])

    spec = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [DEFAULT_PATH, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": list(_CAPS),
                "effective": list(_CAPS),
                "permitted": list(_CAPS),
                "ambient": list(_CAPS),
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyrunc",
        "mounts": [
            _mount("/proc", "proc", "proc"),
            _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            _mount("/dev/pts", "devpts", "devpts", devpts_opts),
            _mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
            sys_mount,
            _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ],
        "linux": {},
    }
    linux = spec["linux"]
    if rootless:
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        names = ("pid", "ipc", "uts", "mount", "cgroup", "user")
    else:
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
        names = ("pid", "network", "ipc", "uts", "mount", "cgroup")
    linux["namespaces"] = [{"type": n} for n in names]
    linux["maskedPaths"] = list(_MASKED)
    linux["readonlyPaths"] = list(_READONLY)
    return spec


def spec_json(rootless=False):
    """``default_spec`` serialised the way runc writes config.json."""
    import json

    return json.dumps(default_spec(rootless), indent="\t")
