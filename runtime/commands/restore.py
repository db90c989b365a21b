"""`restore`: runc's command and flags, but pyrunc has no CRIU support: it always fails
with one clear line and creates nothing."""
from runtime.cli import NOT_SUPPORTED
from runtime.errors import RuntimeFailure


def main(opts):
    raise RuntimeFailure(f"restore {opts.id}: {NOT_SUPPORTED['restore']}")
