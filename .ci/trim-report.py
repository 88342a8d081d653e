#!/usr/bin/env python3
"""Shrinks one `oci-conformance run` report directory into a small example for reports/examples/.

    .ci/trim-report.py FULL_REPORT_DIR EXAMPLE_DIR

Writes EXAMPLE_DIR/results.json (every case, its requirements, outcome and message; the request
transcript only of the first failing case and of the first auth case, so both kinds of transcript
can be seen), EXAMPLE_DIR/junit.xml (every testcase; output only for failures and errors, cut to
its first lines, as is the failure text) and EXAMPLE_DIR/summary.md (the counts and every case that did not pass). The trimmed
results.json is still read by `oci-conformance compare` and `matrix`.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

LINES = 6


def first_lines(text, n=LINES):
    lines = (text or "").splitlines()
    return "\n".join(lines[:n] + (["[… cut for the example]"] if len(lines) > n else []))


def main(src, dest):
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(src, "results.json")) as f:
        doc = json.load(f)
    keep = set()
    for pred in (lambda c: c["outcome"] == "fail", lambda c: c["id"].startswith("auth/")):
        hit = next((c for c in doc["cases"] if pred(c) and c.get("transcript")), None)
        if hit:
            keep.add(hit["id"])
    for c in doc["cases"]:
        # The run's own repository names: noise in an example.
        c.pop("repositories", None)
        if c["id"] not in keep:
            c["transcript"] = []
    # One line per case: small, and still diffs case by case when regenerated.
    cases = doc.pop("cases")
    head = json.dumps(doc, indent=1, ensure_ascii=False)[:-2]
    body = ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases)
    with open(os.path.join(dest, "results.json"), "w") as f:
        f.write(f'{head},\n "cases": [\n{body}\n ]\n}}\n')
    doc["cases"] = cases

    tree = ET.parse(os.path.join(src, "junit.xml"))
    for case in tree.iter("testcase"):
        failed = any(child.tag in ("failure", "error") for child in case)
        for child in list(case):
            if child.tag == "system-out" and not failed:
                case.remove(child)
            elif child.text:
                child.text = first_lines(child.text)
    tree.write(os.path.join(dest, "junit.xml"), encoding="utf-8", xml_declaration=True)

    run, s = doc["run"], doc["summary"]
    out = [
        f"# {os.path.basename(os.path.normpath(dest))}",
        "",
        f"Spec version `{run['spec_version']}`, seed {run.get('seed')}, "
        f"{run.get('selected')} of {run.get('total')} cases selected.",
        "",
        "| passed | failed | errors | skipped | unsupported | of them SHOULD/MAY |",
        "|---|---|---|---|---|---|",
        f"| {s['passed']} | {s['failed']} | {s['errors']} | {s['skipped']} | {s['unsupported']} "
        f"| {s.get('soft_failures', 0)} |",
        "",
        "| case | level | outcome | message |",
        "|---|---|---|---|",
    ]
    for c in doc["cases"]:
        if c["outcome"] != "pass":
            msg = (c.get("message") or "").replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{c['id']}` | {c['level']} | {c['outcome']} | {msg} |")
    with open(os.path.join(dest, "summary.md"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
