"""Reads each JSON document and the gateway's XML and YAML of it with Python's readers, and
prints one line per disagreement. YAML: PyYAML (YAML 1.1) and ruamel.yaml (YAML 1.2) must read
the data json reads, of the same types. XML: expat must take the document, and every key
written as a `key` attribute must read back exactly. A lone surrogate, which JSON allows and
Unicode text cannot hold, is expected as U+FFFD."""
import json, math, re, sys, io
import xml.etree.ElementTree as ET
import yaml
from ruamel.yaml import YAML

sys.setrecursionlimit(200000)
LONE = re.compile('[\ud800-\udfff]')
FORBIDDEN = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]')


def expected(v):
    if isinstance(v, str):
        return LONE.sub('\ufffd', v)
    if isinstance(v, list):
        return [expected(x) for x in v]
    if isinstance(v, dict):
        return {expected(k): expected(x) for k, x in v.items()}
    return v


def same(a, b, path="$"):
    if type(a) is not type(b):
        return f"{path}: {a!r} ({type(a).__name__}) for {b!r} ({type(b).__name__})"
    if isinstance(a, float):
        if a != b and not (math.isnan(a) and math.isnan(b)) or math.copysign(1, a) != math.copysign(1, b):
            return f"{path}: {a!r} for {b!r}"
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items for {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = same(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            return f"{path}: keys {list(a.keys())!r} for {list(b.keys())!r}"
        for k in a:
            d = same(a[k], b[k], f"{path}.{k!r}")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} for {b!r}"


def plain(v):
    """ruamel's containers and scalars as plain Python ones."""
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    return v


def keys(v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(k)
            keys(x, out)
    elif isinstance(v, list):
        for x in v:
            keys(x, out)


ruamel = YAML(typ="safe", pure=True)
cases = json.load(open(sys.argv[1], encoding="utf-8"))
for i, case in enumerate(cases):
    want = expected(json.loads(case["json"]))
    want = want["response"] if isinstance(want, dict) and list(want) == ["response"] else want
    for name, read in [("PyYAML", lambda t: yaml.safe_load(t)), ("ruamel.yaml", lambda t: plain(ruamel.load(t)))]:
        try:
            got = read(case["yaml"])
        except Exception as e:  # a reader refusing the document is a disagreement too
            print(f"{i} {name}: {type(e).__name__}: {e}")
            continue
        got = got["response"] if isinstance(got, dict) and list(got) == ["response"] else got
        d = same(got, want)
        if d:
            print(f"{i} {name}: {d}")
    try:
        root = ET.fromstring(case["xml"].encode("utf-8"))
    except ET.ParseError as e:
        print(f"{i} expat: {e}")
        continue
    json_keys = set()
    keys(want, json_keys)
    json_keys = {FORBIDDEN.sub('\ufffd', k) for k in json_keys}
    for el in root.iter():
        if "key" in el.attrib and el.attrib["key"] not in json_keys:
            print(f"{i} expat: key attribute {el.attrib['key']!r} is no key of the JSON")
