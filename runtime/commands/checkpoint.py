"""`checkpoint`: runc's command and flags, but pyrunc has no CRIU support: it always fails
with one clear line (and `checkpoint --help`, the engines' probe, exits 1)."""
from runtime.cli import NOT_SUPPORTED
from runtime.errors import RuntimeFailure


def main(opts):
    raise RuntimeFailure(f"checkpoint {opts.id}: {NOT_SUPPORTED['checkpoint']}")
