"""`check` (not in runc): every schema and host-fit problem of a bundle, at once."""
import os

from runtime.errors import RuntimeFailure


def main(opts):
    from runtime.check import check_bundle

    problems = check_bundle(os.path.abspath(opts.bundle or "."))
    if problems:
        raise RuntimeFailure(problems[0], lines=problems)
    print("ok: the bundle will run on this host")
