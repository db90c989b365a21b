"""Which cgroup directories a container's removal takes, and in which order.

One rule, used by runtime.cgroups.Manager.destroy (every driver-independent
cgroupfs removal) and by `delete`'s path for a stopped container (which must not
import the cgroups package: it runs once per container an engine deletes).  Like
runtime/state.py, this module imports nothing.

After the container's leaves are gone, the parents we made go, deepest first (they
may be shared with other containers: a parent still in use is left), and, when the
config named no cgroupsPath, the shared default parent "/pyrunc" (it belongs to
pyrunc as a whole: removed when empty even if another container made it).
"""

#: the shared parent of the cgroups of containers without linux.cgroupsPath
DEFAULT_PARENT = "pyrunc"


def parents_after_leaves(leaves, created, cgroups_path):
    """The directories to remove, in order, once the leaves are removed: the ones we
    created that are not leaves and, for a container without a cgroupsPath, the
    default parents above its leaves; each once, deepest first."""
    out = {d for d in created if d not in leaves}
    if not cgroups_path:
        for leaf in leaves:
            parent = leaf[:leaf.rfind("/")]
            if parent[parent.rfind("/") + 1:] == DEFAULT_PARENT and parent not in leaves:
                out.add(parent)
    return sorted(out, key=lambda p: (-p.count("/"), p))
