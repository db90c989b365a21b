"""`pyrunc features`: the runtime-spec features document, truthful about what is implemented."""
import os

from runtime import capabilities, hooks, mounts


def document():
    from runtime import cgroups, seccomp

    try:
        mode = cgroups.host_mode()
    except Exception:
        mode = None
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "hooks": list(hooks.KINDS),
        "mountOptions": sorted(set(mounts.FLAGS) | set(mounts.PROPAGATION) | set(mounts.REC_ATTRS)
                               | {"tmpcopyup"}),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": capabilities.NAMES[: capabilities.last_cap() + 1],
            "cgroup": {
                "v1": mode in ("v1", "hybrid") if mode else True,
                "v2": True,
                # the systemd driver: pure cgroup v2 with systemd as PID 1 (sd_booted)
                "systemd": mode == "v2" and os.path.isdir("/run/systemd/system"),
                "systemdUser": False,
                "rdma": False,
            },
            "seccomp": seccomp.features(),
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            # idmap/ridmap on bind mounts with uidMappings/gidMappings (mount_setattr)
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": False},
        },
        "annotations": {
            "io.github.pyrunc.version": "0.1.0",
            "io.github.pyrunc.checkpoint.enabled": "false",
            **seccomp.annotations(),
        },
    }
