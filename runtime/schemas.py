"""The jsonschema path of runtime/validate.py: the schema files merged into one document
per root schema, and every schema error of a document in pyrunc's words.  Imported only
when the compiled validator (runtime/_validator.py) finds a problem, or by spec/compile.py
at build time: importing jsonschema costs ~100 ms.
"""
import os

from runtime.validate import _quote, format_path

SCHEMA_FILES = (
    "defs.json",
    "defs-linux.json",
    "config-linux.json",
    "config-schema.json",
    "state-schema.json",
)
ROOT_FILES = {"config": "config-schema.json", "state": "state-schema.json"}

_HERE = os.path.dirname(os.path.abspath(__file__))


def schema_dir():
    """Directory holding the JSON Schema files: the installed package's
    ``runtime/schema/`` when it is populated, else the source tree's
    ``spec/``."""
    for cand in (os.path.join(_HERE, "schema"), os.path.join(os.path.dirname(_HERE), "spec")):
        if all(os.path.isfile(os.path.join(cand, f)) for f in SCHEMA_FILES):
            return cand
    raise FileNotFoundError("cannot find the pyrunc JSON Schema files (runtime/schema/ or spec/)")


def merged_schema(kind="config", directory=None):
    """Load the schema files and return one self-contained draft-04 document
    for ``kind`` ("config" or "state").

    Every other file is placed under ``definitions`` keyed by its file name and
    each relative reference ``file.json#/pointer`` becomes
    ``#/definitions/file.json/pointer``, so the result needs no resolver.
    Used both by the jsonschema path here and by spec/compile.py."""
    import json

    directory = directory or schema_dir()
    root_name = ROOT_FILES[kind]
    docs = {}
    for name in SCHEMA_FILES:
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            docs[name] = json.load(f)
    root = _rewrite_refs(docs[root_name], root_name, root_name)
    root.pop("id", None)
    defs = dict(root.get("definitions") or {})
    for name in SCHEMA_FILES:
        if name == root_name:
            continue
        sub = _rewrite_refs(docs[name], name, root_name)
        for key in ("$schema", "id"):
            sub.pop(key, None)
        defs[name] = sub
    root["definitions"] = defs
    return root


def _pointer_escape(token):
    return token.replace("~", "~0").replace("/", "~1")


def _rewrite_refs(node, current, root_name):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                target, _, fragment = value.partition("#")
                target = target or current
                if target == root_name:
                    out[key] = "#" + fragment
                else:
                    out[key] = "#/definitions/" + _pointer_escape(target) + fragment
            else:
                out[key] = _rewrite_refs(value, current, root_name)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, current, root_name) for v in node]
    return node


_validators = {}


def schema_errors(obj, kind="config"):
    """Every JSON Schema error in ``obj`` as ``"<path>: <message>"`` lines,
    sorted by path.  Uses jsonschema (imported here, not at module load)."""
    validator = _validators.get(kind)
    if validator is None:
        validator = _validators[kind] = _make_validator(kind)
    found = []
    for err in validator.iter_errors(obj):
        found.append((_sort_key(err.absolute_path), format_path(err.absolute_path), _message(err)))
    found.sort()
    lines = []
    for _, path, msg in found:
        line = "%s: %s" % (path, msg)
        if line not in lines:
            lines.append(line)
    return lines


def _sort_key(path):
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path)


def _make_validator(kind):
    from jsonschema import Draft4Validator, ValidationError, validators

    def required(validator, required, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        for prop in required:
            if prop not in instance:
                yield ValidationError("is required", path=[prop])

    def dependencies(validator, deps, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        for prop, dep in deps.items():
            if prop not in instance:
                continue
            if validator.is_type(dep, "array"):
                for each in dep:
                    if each not in instance:
                        yield ValidationError("is required when %s is set" % prop, path=[each])
            else:
                yield from validator.descend(instance, dep, schema_path=prop)

    cls = validators.extend(Draft4Validator, {"required": required, "dependencies": dependencies})
    return cls(merged_schema(kind))


# ---------------------------------------------------------------------------
# human messages per JSON Schema keyword

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}

_INT_RANGES = {
    (-128, 127): "int8",
    (-32768, 32767): "int16",
    (-2147483648, 2147483647): "int32",
    (-9223372036854775808, 9223372036854775807): "int64",
    (0, 255): "uint8",
    (0, 65535): "uint16",
    (0, 4294967295): "uint32",
    (0, 18446744073709551615): "uint64",
}

_PATTERN_MESSAGES = {
    "^/": "must be an absolute path",
    "^RLIMIT_[A-Z]+$": "must be an rlimit name of the form RLIMIT_<NAME> (e.g. RLIMIT_NOFILE)",
    "^MB:": 'must start with "MB:"',
    "^[rwm]*$": "must be a combination of r, w and m",
    "^[1-9][0-9]*[KMGTPE]?B$": "must be a page size like 64KB, 2MB or 1GB",
}


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _literal(value):
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return repr(value)


def _message(err):
    kw = err.validator
    val = err.validator_value
    inst = err.instance
    schema = err.schema if isinstance(err.schema, dict) else {}
    if kw in ("required", "dependencies"):
        return err.message
    if kw == "type":
        wanted = val if isinstance(val, list) else [val]
        phrase = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        got = _json_type(inst)
        return "must be %s, not %s" % (phrase, _TYPE_NAMES.get(got, got))
    if kw == "enum":
        if len(val) == 1:
            return "must be %s" % _literal(val[0])
        return "must be one of " + ", ".join(_literal(v) for v in val)
    if kw == "pattern":
        if val in _PATTERN_MESSAGES:
            return _PATTERN_MESSAGES[val]
        if val.startswith("^(0|[1-9][0-9]*)\\.(0|"):
            return "must be a SemVer 2.0.0 version such as 1.3.0"
        return "must match the pattern %s" % val
    if kw == "minItems":
        return "must be a non-empty array" if val == 1 else "must have at least %d items" % val
    if kw == "maxItems":
        return "must have at most %d items" % val
    if kw == "minLength":
        return "must not be empty" if val == 1 else "must be at least %d characters long" % val
    if kw == "maxLength":
        return "must be at most %d characters long" % val
    if kw in ("minimum", "maximum"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and hi is not None:
            width = _INT_RANGES.get((lo, hi))
            if width:
                return "must be a %s (%d to %d)" % (width, lo, hi)
            return "must be between %s and %s" % (_literal(lo), _literal(hi))
        if kw == "minimum":
            if schema.get("exclusiveMinimum"):
                return "must be greater than %s" % _literal(val)
            return "must be at least %s" % _literal(val)
        if schema.get("exclusiveMaximum"):
            return "must be less than %s" % _literal(val)
        return "must be at most %s" % _literal(val)
    if kw in ("anyOf", "oneOf"):
        if schema.get("description"):
            return schema["description"]
        if all(isinstance(b, dict) and set(b) == {"required"} for b in val):
            names = [n for b in val for n in b["required"]]
            which = "at least one" if kw == "anyOf" else "exactly one"
            return "must set %s of %s" % (which, ", ".join(names))
        if kw == "anyOf":
            return "does not match any of the allowed forms"
        return "must match exactly one of the allowed forms"
    if kw == "uniqueItems":
        return "must not contain duplicate items"
    if kw == "additionalProperties":
        extra = sorted(k for k in inst if k not in schema.get("properties", {})) if isinstance(inst, dict) else []
        return "unknown propert%s %s" % ("y" if len(extra) == 1 else "ies", ", ".join(extra))
    if kw == "minProperties":
        return "must not be empty" if val == 1 else "must have at least %d entries" % val
    if kw == "maxProperties":
        return "must have at most %d entries" % val
    if kw == "not":
        return "is not allowed here"
    if kw == "format":
        return "must be a valid %s" % val
    if kw == "multipleOf":
        return "must be a multiple of %s" % _literal(val)
    return err.message
