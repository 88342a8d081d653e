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


# The spec leaves authentication out of scope (end-1: /v2/ "MAY be used for
# authentication/authorization"; only the 401 status and the UNAUTHORIZED and DENIED codes), yet
# every registry that matters sits behind it and both official suites implement the Docker token
# flow. These conventions, from RFC 9110 §11 (challenges), RFC 7617 (Basic), RFC 6750 (Bearer
# errors) and distribution's token authentication spec (realm/service/scope), are what the auth
# cases check. Ids start with AUTH- so coverage reports them apart from the spec's R- rows.
AUTH_CONVENTIONS = [
    ("AUTH-1", "MUST", "With authentication on, a request without credentials for a protected resource is answered 401 with a WWW-Authenticate challenge, and nothing is written."),
    ("AUTH-2", "MUST", "A Bearer challenge names realm (an absolute http(s) URL) and service, and for a repository resource the scope repository:<name>:<actions> the request needs."),
    ("AUTH-3", "MUST", "Wrong credentials are refused with 401, by the registry or by its token service, and nothing is written."),
    ("AUTH-4", "MUST", "A token grants only its scopes: a token for one repository can neither read nor write another (401 or 403)."),
    ("AUTH-5", "MUST", "An action outside the token's scope (a push or delete with a pull-only token) is refused with 401 or 403 and changes nothing."),
    ("AUTH-6", "SHOULD", "A token lacking a scope its holder could obtain is answered 401 with error=\"insufficient_scope\" and the needed scope in the challenge, so clients fetch a wider token."),
    ("AUTH-7", "MUST", "A token the token service issued for a scope is accepted for that scope."),
    ("AUTH-8", "MUST", "A refused request's JSON error body uses UNAUTHORIZED (401: authentication required) or DENIED (403: access denied)."),
]


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
    for rid, level, text in AUTH_CONVENTIONS:
        rows.append({
            "id": rid,
            "level": level,
            "who": "R",
            "since": "outside the spec: RFC 9110 §11, RFC 7617, RFC 6750, distribution's token auth",
            "ref": "Authentication",
            "statement": text,
            "observable": True,
        })
    json.dump({"source": "shared/spec/requirements.md §1.4 and the AUTH- conventions of specs/tools/catalog.py", "requirements": rows},
              sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/spec/requirements.md")
