#!/usr/bin/env python3
"""Regenerates every area file of specs/ from the generator modules beside this script.

    python3 specs/tools/gen_cases.py            # writes specs/<area>.json

The case files are the artefact (the engine reads them); this script only keeps them
consistent. Edit the generator, rerun, review the diff.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import write_area  # noqa: E402
import gen_pull  # noqa: E402

SPECS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

AREAS = [
    ("pull", "Pulling manifests and blobs (end-2, end-3), HEAD existence checks, digest and length headers, Range requests.", gen_pull.pull_cases),
    ("http", "GET /v2/, HEAD/GET parity, RFC 9110 generalities, the `ns` proxy parameter.", gen_pull.http_cases),
]

for mod in ("gen_push", "gen_discovery", "gen_mgmt"):
    try:
        m = __import__(mod)
        AREAS.extend(m.AREAS)
    except ImportError as e:
        if mod not in str(e):
            raise

total = 0
for area, desc, fn in AREAS:
    n = write_area(SPECS, area, desc, fn())
    total += n
    print(f"{area}: {n}")
print(f"total: {total}")
