"""`features`: the runtime-spec features document of pyrunc."""
import sys

from runtime import features, jsonio


def main(opts):
    sys.stdout.write(jsonio.dumps(features.document(), indent=2) + "\n")
