"""JSON through the standard library's C accelerator (_json), without importing `json`.

`import json` pulls in `re` and `enum` (several ms); every pyrunc command is a new
process, so the hot paths (create/start/state/kill/delete) parse and write JSON with
_json's scanner and encoder directly.  The results are exactly json.loads/json.dumps's.
"""
try:
    import _json
except ImportError:  # an interpreter without the accelerator: the slow, same-answer path
    _json = None


class _Ctx:
    """What _json's scanner reads from a JSONDecoder, with the json module's defaults."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_WS = " \t\n\r"


def loads(data):
    """Parse a JSON document (str or bytes); ValueError on bad input."""
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8-sig" if data[:3] == b"\xef\xbb\xbf" else "utf-8")
    if _json is None:
        import json

        return json.loads(data)
    scan = _json.make_scanner(_Ctx)
    i = 0
    n = len(data)
    while i < n and data[i] in _WS:
        i += 1
    try:
        obj, end = scan(data, i)
    except StopIteration as e:
        raise ValueError(f"Expecting value: char {e.value}") from None
    while end < n and data[end] in _WS:
        end += 1
    if end != n:
        line = data.count("\n", 0, end) + 1
        raise ValueError(f"Extra data: line {line} char {end}")
    return obj


def _enc(indent):
    if _json is None:
        return None
    return _json.make_encoder(
        {}, None, _json.encode_basestring_ascii, indent, ": " if indent else ": ", ", ", False, False, True)


def dumps(obj, indent=None, compact=False):
    """Serialise obj as JSON; with indent, nested values are indented like json.dumps;
    compact: no spaces after ',' and ':' (what Go's encoding/json writes, so runc's)."""
    if _json is None:
        import json

        return json.dumps(obj, indent=indent, separators=(",", ":") if compact else None)
    if indent is None:
        return "".join(_json.make_encoder({}, None, _json.encode_basestring_ascii, None,
                                          ":" if compact else ": ", "," if compact else ", ",
                                          False, False, True)(obj, 0))
    return _pretty(obj, " " * indent if isinstance(indent, int) else indent, 0)


def _pretty(obj, ind, level):
    if isinstance(obj, dict) and obj:
        pad = "\n" + ind * (level + 1)
        items = [pad + _json.encode_basestring_ascii(str(k)) + ": " + _pretty(v, ind, level + 1)
                 for k, v in obj.items()]
        return "{" + ",".join(items) + "\n" + ind * level + "}"
    if isinstance(obj, (list, tuple)) and obj:
        pad = "\n" + ind * (level + 1)
        return "[" + ",".join(pad + _pretty(v, ind, level + 1) for v in obj) + "\n" + ind * level + "]"
    return dumps(obj)
