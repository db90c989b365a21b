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


class JSONError(ValueError):
    """Invalid JSON: ``line``/``column`` (1-based) and ``what`` went wrong; str() is
    ``line L column C: <what>``."""

    def __init__(self, what, line=None, column=None):
        self.what, self.line, self.column = what, line, column
        super().__init__(f"line {line} column {column}: {what}" if line else what)


MAX_DEPTH = 64  # nesting of objects and arrays: a real config needs fewer than 10


def _where(data, pos):
    line = data.count("\n", 0, pos) + 1
    return line, pos - (data.rfind("\n", 0, pos) + 1) + 1


def loads(data):
    """Parse a JSON document (str or bytes); JSONError (a ValueError) on bad input,
    naming line and column.  The fast path is _json's scanner alone; only a document
    that fails is parsed again by the json module, for its precise message."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = data.decode("utf-8-sig" if data[:3] == b"\xef\xbb\xbf" else "utf-8")
        except UnicodeDecodeError as e:
            before = data[:e.start].decode("utf-8", "replace")
            raise JSONError(f"invalid UTF-8 (byte 0x{data[e.start]:02x})", *_where(before, len(before))) from None
    if _json is None:
        return _slow_loads(data)
    scan = _json.make_scanner(_Ctx)
    i = 0
    n = len(data)
    while i < n and data[i] in _WS:
        i += 1
    try:
        obj, end = scan(data, i)
    except RecursionError:
        raise JSONError(f"nested deeper than the limit of {MAX_DEPTH} levels") from None
    except (StopIteration, ValueError, SystemError):
        # _json reports some errors through json.decoder, which is not imported on
        # the fast path (SystemError then): ask the json module what is wrong.
        return _slow_loads(data)
    while end < n and data[end] in _WS:
        end += 1
    if end != n:
        raise JSONError("extra data after the JSON value", *_where(data, end))
    return obj


def _slow_loads(data):
    import json

    try:
        return json.loads(data)
    except RecursionError:
        raise JSONError(f"nested deeper than the limit of {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as e:
        what = e.msg[:1].lower() + e.msg[1:]
        if what.endswith(" at"):  # "Invalid control character at"
            what = what[:-3] + " in a string"
        raise JSONError(what, e.lineno, e.colno) from None


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
