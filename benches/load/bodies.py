"""Writes LiveAgent bodies in LiveAgent's layout into a directory: `small` (the documented
customer), and customer lists of about 4 KB (`4k`) and 256 KB (`256k`).

    python3 benches/load/bodies.py OUTDIR
"""
import json
import pathlib
import sys

out = sys.argv[1]
seeds = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/seed"
seed = json.load(open(seeds / "customers-list.json"))["response"]["customers"][0]


def la(v, i=0):  # LiveAgent's layout: 2-space indent, "key":value
    pad = " " * i
    if isinstance(v, dict):
        return "{\n" + ",\n".join(f'{pad}  {json.dumps(k)}:{la(x, i + 2)}' for k, x in v.items()) + f"\n{pad}}}"
    if isinstance(v, list):
        return "[\n" + ",\n".join(f"{pad}  {la(x, i + 2)}" for x in v) + f"\n{pad}]"
    return json.dumps(v, ensure_ascii=False)


open(f"{out}/small", "w").write(open(seeds / "customer.json").read())
for name, size in (("4k", 4096), ("256k", 262144)):
    items, body = [], ""
    while len(body) < size:
        c = dict(seed, contactid=f"cid{len(items):05}", email=f"customer{len(items)}@example.com")
        items.append(c)
        body = la({"response": {"customers": items}}) + "\n"
    open(f"{out}/{name}", "w").write(body)
