"""runtime.schema_patterns must agree with `re` on every pattern the schema uses."""
import glob
import json
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import schema_patterns

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "spec")
ALPHABET = "0123456789.-+ABCDEFGHIKMPRTLZabcdefghijklmnopqrstuvwxyz_:/"


def _schema_patterns():
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in glob.glob(os.path.join(SPEC, "*.json")):
        with open(path) as f:
            walk(json.load(f))
    return sorted(found)


def test_every_schema_pattern_has_a_predicate():
    missing = [p for p in _schema_patterns() if p not in schema_patterns.PREDICATES]
    assert not missing, f"add a predicate (and nothing else changes) for: {missing}"


def _strings():
    known = ["1.0.0", "1.3.0", "1.0.2-dev", "01.0.0", "1.0", "1.0.0-", "1.0.0-rc.1+build.5",
             "1.0.0+", "1.0.0-0a.1", "1.0.0-01", "RLIMIT_NOFILE", "RLIMIT_", "RLIMIT_nofile",
             "2MB", "1GB", "0MB", "64KB", "B", "10B", "rwm", "", "rx", "/a", "a/", "MB:0=1"]
    return st.one_of(st.sampled_from(known), st.text(ALPHABET, max_size=20),
                     st.builds(lambda a, b: a + b, st.sampled_from(known), st.text(ALPHABET, max_size=6)))


@settings(max_examples=600, deadline=None)
@given(s=_strings())
def test_predicates_agree_with_re(s):
    for pattern, pred in schema_patterns.PREDICATES.items():
        expected = re.search(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern, s) is not None
        assert bool(pred(s)) == expected, (pattern, s)
        # and through the matcher the generated validator uses (with fastjsonschema's \Z)
        handed = pattern[:-1] + "\\Z" if pattern.endswith("$") else pattern
        assert bool(schema_patterns.matcher(handed).search(s)) == expected, (pattern, s)


def test_unknown_pattern_falls_back_to_re():
    m = schema_patterns.matcher("^a+b\\Z")
    assert m.search("aab") and not m.search("aabc")
