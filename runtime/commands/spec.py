"""`spec`: write a default config.json into a bundle (as `runc spec`)."""
import os

from runtime.errors import RuntimeFailure


def main(opts):
    import json

    from runtime.specconf import default_spec

    bundle = opts.bundle or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise RuntimeFailure("File config.json exists. Remove it first.")
    try:
        with open(path, "w") as f:
            json.dump(default_spec(rootless=opts.rootless), f, indent="\t")
            f.write("\n")
    except OSError as e:
        raise RuntimeFailure(f"{path}: {e.strerror}") from None
