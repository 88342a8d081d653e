#!/usr/bin/env python3
"""Regenerates specs/requirements.json from the requirement catalog's §1.4 tables.

    python3 specs/tools/catalog.py ../shared/spec/requirements.md > specs/requirements.json

A row is registry-observable when its "Who" column names the registry (R) and neither suite
column marks it n/a (client-side rules cannot be seen from the registry side).
"""
import json
import re
import sys


# Reviewed by hand:
# - R-002 (the registry supports the other categories) and R-050 (an advertised
#   OCI-Chunk-Min-Length) are marked n/a by both suites but their registry half is observable.
# - R-049 (digest-algorithm POST), R-057 (final chunk in PATCH or PUT), R-074 (empty layer list)
#   and R-097 (`last` without `n`) are written as client rules, but each implies a request the
#   registry must accept, which a case can observe. This gives the catalog's 122.
OBSERVABLE_ANYWAY = {"R-002", "R-050", "R-049", "R-057", "R-074", "R-097"}
# R-041 (Location may carry query parameters; clients reuse it) is client-side: nothing to test.
NOT_OBSERVABLE = {"R-041"}


def clean(cell):
    cell = re.sub(r"`([^`]*)`", r"\1", cell)
    cell = cell.replace("**", "").replace("\\|", "|")
    return " ".join(cell.split())


def main(path):
    rows = []
    for line in open(path, encoding="utf-8"):
        if not line.startswith("| R-"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) < 8:
            continue
        rid, level, who, text, ref, since, g, v2 = cells[:8]
        client_only = who.strip() == "C" or (g.startswith("n/a") and v2.startswith("n/a"))
        rows.append({
            "id": rid,
            "level": clean(level),
            "who": clean(who),
            "since": clean(since),
            "ref": clean(ref),
            "statement": clean(text),
            "observable": rid not in NOT_OBSERVABLE and (rid in OBSERVABLE_ANYWAY or (("R" in who) and not client_only)),
        })
    json.dump({"source": "shared/spec/requirements.md §1.4", "requirements": rows},
              sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/spec/requirements.md")
