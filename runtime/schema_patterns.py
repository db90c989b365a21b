"""The schema's `pattern`s as plain Python predicates, for the generated validator.

Importing `re` costs several milliseconds (it pulls in `enum`), on every create.  The
handful of patterns spec/*.json uses are simple, so runtime/_validator.py checks them
with these functions; tests/test_schema_patterns.py proves each agrees with `re` on
generated strings.  A pattern not listed here falls back to `re`, compiled on first use.
"""
_DIGITS = frozenset("0123456789")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ALNUM_DASH = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


def _number(s):
    """0|[1-9][0-9]*"""
    return s == "0" or (s != "" and s[0] in "123456789" and all(c in _DIGITS for c in s))


def _prerelease_id(s):
    """0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*"""
    if _number(s):
        return True
    return s != "" and all(c in _ALNUM_DASH for c in s) and any(c not in _DIGITS for c in s)


def semver(s):
    core, plus, build = s.partition("+")
    if plus and not all(p != "" and all(c in _ALNUM_DASH for c in p) for p in build.split(".")):
        return False
    version, dash, pre = core.partition("-")
    if dash and not all(_prerelease_id(p) for p in pre.split(".")):
        return False
    parts = version.split(".")
    return len(parts) == 3 and all(_number(p) for p in parts)


def rlimit_type(s):
    return len(s) > 7 and s.startswith("RLIMIT_") and all(c in _UPPER for c in s[7:])


def page_size(s):
    """^[1-9][0-9]*[KMGTPE]?B$"""
    if not s.endswith("B"):
        return False
    body = s[:-1]
    if body and body[-1] in "KMGTPE":
        body = body[:-1]
    return body != "" and body[0] in "123456789" and all(c in _DIGITS for c in body)


PREDICATES = {
    "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    "(\\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$": semver,
    "^/": lambda s: s.startswith("/"),
    "^MB:": lambda s: s.startswith("MB:"),
    "^RLIMIT_[A-Z]+$": rlimit_type,
    "^[1-9][0-9]*[KMGTPE]?B$": page_size,
    "^[rwm]*$": lambda s: all(c in "rwm" for c in s),
}


class Matcher:
    """Has .search(s) like a compiled pattern (truthy on a match)."""

    def __init__(self, pattern):
        # fastjsonschema hands over patterns with a final `$` turned into `\\Z`
        self.pattern = pattern
        key = pattern[:-2] + "$" if pattern.endswith("\\Z") else pattern
        self._pred = PREDICATES.get(key)
        self._re = None

    def search(self, s):
        if self._pred is not None:
            return self._pred(s)
        if self._re is None:
            import re

            self._re = re.compile(self.pattern)
        return self._re.search(s)


def matcher(pattern):
    return Matcher(pattern)
