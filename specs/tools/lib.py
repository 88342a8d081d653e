"""Helpers for the case generators: build case dicts tersely, write area files."""
import json
import os

ALL = ["1.0", "1.1", "1.1.1", "dev"]
V11 = ["1.1", "1.1.1", "dev"]
V111 = ["1.1.1", "dev"]
DEV = ["dev"]
PRE_DEV = ["1.0", "1.1", "1.1.1"]
V11_PRE_DEV = ["1.1", "1.1.1"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCTET = "application/octet-stream"
NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
# Any digest the grammar allows (R-019: the header may use another algorithm).
DIGEST_RE = r"^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"
UUID_RE = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

IMG = {
    "cfg": {"config": {}},
    "layer": {"blob": {"size": 1024}},
    "img": {"image": {"config": "cfg", "layers": ["layer"]}},
}


def img_content(**extra):
    c = json.loads(json.dumps(IMG))
    c.update(extra)
    return c


def case(id, workflow, title, reqs, level, steps, content=None, versions=None, features=None,
         note=None):
    c = {"id": id, "workflow": workflow, "title": title, "requirements": reqs, "level": level}
    if versions and versions != ALL:
        c["versions"] = versions
    if features:
        c["features"] = features
    if note:
        c["note"] = note
    if content:
        c["content"] = content
    c["steps"] = steps
    return c


def req(method, path=None, url=None, query=None, headers=None, body=None, raw=False):
    r = {"method": method}
    if path is not None:
        r["path"] = path
    if url is not None:
        r["url"] = url
    if query:
        r["query"] = query
    if headers:
        r["headers"] = headers
    if body is not None:
        r["body"] = body
    if raw:
        r["raw"] = True
    return r


def step(request, status=None, name=None, headers=None, body=None, json_=None, codes=None,
         link=None, unsupported=None, capture=None, setup=False):
    s = {}
    if name:
        s["name"] = name
    if setup:
        s["setup"] = True
    s["request"] = request
    e = {}
    if status is not None:
        e["status"] = status if isinstance(status, list) else [status]
    if headers:
        e["headers"] = headers
    if body is not None:
        e["body"] = body
    if json_:
        e["json"] = json_
    if codes is not None:
        e["error_codes"] = codes
    if link is not None:
        e["link"] = link
    s["expect"] = e
    if unsupported:
        s["unsupported_if"] = unsupported
    if capture:
        s["capture"] = capture
    return s


def push(name, tag=None, repo=None, unsupported=None):
    s = {"push": name}
    if tag is not None:
        s["tag"] = tag
    if repo is not None:
        s["repo"] = repo
    if unsupported:
        s["unsupported_if"] = unsupported
    return s


def unsup(status, reason, codes=None, feature=None):
    """An answer that means "this optional feature is absent". Only for what the spec makes
    optional (MAY, OPTIONAL, "if supported"): a missed SHOULD is a SHOULD failure, never this.
    `feature`: the case fails instead when the registry showed earlier that it has it."""
    u = {"status": status if isinstance(status, list) else [status], "reason": reason}
    if codes:
        u["error_codes"] = codes
    if feature:
        u["feature"] = feature
    return u


def put_manifest(fixture, ref, repo="${repo}", content_type=None, status=201, **kw):
    ct = content_type or "${%s.media_type}" % fixture
    return step(req("PUT", f"/v2/{repo}/manifests/{ref}", headers={"Content-Type": ct},
                    body={"fixture": fixture}), status, **kw)


def get_manifest(ref, repo="${repo}", accept=None, method="GET", **kw):
    h = {"Accept": accept or ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST])}
    return step(req(method, f"/v2/{repo}/manifests/{ref}", headers=h), **kw)


def post_upload(repo="${repo}", query=None, capture="upload", status=202, **kw):
    cap = {capture: {"header": "Location"}} if capture else None
    hdrs = kw.pop("headers", None)
    if status == 202 and hdrs is None:
        hdrs = {"Location": {"present": True}}
    return step(req("POST", f"/v2/{repo}/blobs/uploads/", query=query,
                    headers={"Content-Length": "0"} if not query or not any(
                        k == "digest" for k, _ in query) else None),
                status, headers=hdrs, capture=cap, **kw)


def patch_chunk(url, fixture, a, b, content_range=None, status=202, capture="upload", **kw):
    cr = content_range if content_range is not None else f"{a}-{b}"
    hdrs = {"Content-Type": OCTET}
    if cr != "":
        hdrs["Content-Range"] = cr
    cap = {capture: {"header": "Location"}} if capture and status == 202 else None
    return step(req("PATCH", url=url, headers=hdrs, body={"fixture": fixture, "range": [a, b]}),
                status, capture=cap, **kw)


def patch_chunks(url, fixture, i, j, status=202, capture="upload", **kw):
    """PATCH chunks [i, j) of a fixture sized in chunks (`{"blob": {"chunks": N}}`): the engine
    sizes chunks from the registry's OCI-Chunk-Min-Length, so every non-final chunk honours it."""
    hdrs = {"Content-Type": OCTET, "Content-Range": f"${{chunks({i}, {j})}}"}
    cap = {capture: {"header": "Location"}} if capture and status == 202 else None
    return step(req("PATCH", url=url, headers=hdrs, body={"fixture": fixture, "chunks": [i, j]}),
                status, capture=cap, **kw)


def put_close(url, digest, body=None, content_range=None, status=201, **kw):
    hdrs = {"Content-Type": OCTET}
    if content_range:
        hdrs["Content-Range"] = content_range
    return step(req("PUT", url=url, query=[["digest", digest]], headers=hdrs,
                    body=body if body is not None else {"empty": True}), status, **kw)


def write_area(dirpath, area, description, cases):
    ids = set()
    for c in cases:
        assert c["id"] not in ids, c["id"]
        ids.add(c["id"])
    path = os.path.join(dirpath, f"{area}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"area": area, "description": description, "cases": cases}, f, indent=1,
                  ensure_ascii=False)
        f.write("\n")
    return len(cases)
