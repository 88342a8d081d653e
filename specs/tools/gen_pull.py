"""pull.json and http.json."""
from lib import *


def pull_cases():
    C = []
    MT = {"Content-Type": {"equals": OCI_MANIFEST}}
    C.append(case("pull/manifest/get-by-tag", "pull",
                  "GET of a manifest by tag returns the pushed bytes with 200 and its Content-Type",
                  ["R-017", "R-012", "R-001"], "MUST",
                  [push("img", "v1"), get_manifest("v1", status=200, body={"fixture": "img"}, headers=MT)],
                  img_content()))
    C.append(case("pull/manifest/get-by-digest", "pull",
                  "GET of a manifest by digest returns the pushed bytes with 200",
                  ["R-017", "R-012"], "MUST",
                  [push("img", "v1"), get_manifest("${img.digest}", status=200, body={"fixture": "img"}, headers=MT)],
                  img_content()))
    C.append(case("pull/manifest/content-type-as-pushed", "pull",
                  "The Content-Type of a pulled manifest matches the type it was pushed with",
                  ["R-015"], "SHOULD",
                  [push("img", "v1"), get_manifest("v1", status=200, headers=MT)],
                  img_content(), versions=["1.1", "1.1.1", "dev"],
                  note="R-015 exists since 1.0.1; the harness has no 1.0.1 version, so it starts at 1.1."))
    C.append(case("pull/manifest/content-type-no-parameters", "pull",
                  "The Content-Type of a pulled manifest carries no parameters",
                  ["R-013"], "SHOULD",
                  [push("img", "v1"), get_manifest("v1", status=200,
                                                   headers={"Content-Type": {"matches": "^[^;]+$"}})],
                  img_content(), versions=V11))
    C.append(case("pull/manifest/index-content-type", "pull",
                  "An image index is served with the index media type",
                  ["R-012", "R-015", "R-017"], "MUST",
                  [push("idx", "multi"), get_manifest("multi", status=200, body={"fixture": "idx"},
                                                      headers={"Content-Type": {"equals": OCI_INDEX}})],
                  img_content(idx={"index": {"manifests": ["img"]}})))
    C.append(case("pull/manifest/docker-schema2", "pull",
                  "A Docker schema2 manifest is served byte for byte with its Docker media type",
                  ["R-012", "R-015", "R-017"], "MUST",
                  [push("dm", "docker"), get_manifest("docker", accept=DOCKER_MANIFEST, status=200,
                                                      body={"fixture": "dm"},
                                                      headers={"Content-Type": {"equals": DOCKER_MANIFEST}})],
                  {"cfg": {"config": {"media_type": "application/vnd.docker.container.image.v1+json"}},
                   "layer": {"blob": {"size": 512}},
                   "dm": {"docker_manifest": {"config": "cfg", "layers": ["layer"]}}}))
    for ver, lvl, sfx in ((PRE_DEV, "SHOULD", "should"), (DEV, "MUST", "must")):
        C.append(case(f"pull/manifest/get-digest-header-{sfx}", "pull",
                      f"GET of a manifest carries Docker-Content-Digest ({lvl} in {'dev' if ver == DEV else '1.0-1.1.1'})",
                      ["R-018", "R-019"], lvl,
                      [push("img", "v1"), get_manifest("v1", status=200,
                                                       headers={"Docker-Content-Digest": {"matches": DIGEST_RE}})],
                      img_content(), versions=ver,
                      note="Any grammatical digest is accepted: R-019 lets the header use another algorithm."))
        C.append(case(f"pull/manifest/head-digest-header-{sfx}", "pull",
                      f"HEAD of a manifest carries Docker-Content-Digest ({lvl})",
                      ["R-031", "R-019"], lvl,
                      [push("img", "v1"), get_manifest("v1", method="HEAD", status=200,
                                                       headers={"Docker-Content-Digest": {"matches": DIGEST_RE}})],
                      img_content(), versions=ver))
        C.append(case(f"pull/blob/get-digest-header-{sfx}", "pull",
                      f"GET of a blob carries Docker-Content-Digest equal to the blob's digest ({lvl})",
                      ["R-024", "R-025"], lvl,
                      [push("blob"), step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 200,
                                          headers={"Docker-Content-Digest": {"equals": "${blob.digest}"}})],
                      {"blob": {"blob": {"size": 2048}}}, versions=ver,
                      note="The header is compared with the sha256 digest of the body (R-025)."))
        C.append(case(f"pull/blob/head-digest-header-{sfx}", "pull",
                      f"HEAD of a blob carries Docker-Content-Digest ({lvl})",
                      ["R-031", "R-025"], lvl,
                      [push("blob"), step(req("HEAD", "/v2/${repo}/blobs/${blob.digest}"), 200,
                                          headers={"Docker-Content-Digest": {"equals": "${blob.digest}"}})],
                      {"blob": {"blob": {"size": 2048}}}, versions=ver))
    C.append(case("pull/manifest/head-digest-header-by-tag-value", "pull",
                  "HEAD of a manifest by tag: Docker-Content-Digest names the tagged manifest",
                  ["R-031", "R-025"], "SHOULD",
                  [push("img", "v1"), get_manifest("v1", method="HEAD", status=200,
                                                   headers={"Docker-Content-Digest": {"equals_if_present": "${img.digest}"}})],
                  img_content(), note="sha256 content: a registry using sha256 names exactly this digest. Presence is the *-digest-header-* cases' concern (a SHOULD before main)."))
    for ver, lvl, sfx in ((V11_PRE_DEV, "SHOULD", "should"), (DEV, "MUST", "must")):
        C.append(case(f"pull/manifest/head-content-length-{sfx}", "pull",
                      f"HEAD of a manifest carries Content-Length = manifest size ({lvl})",
                      ["R-032"], lvl,
                      [push("img", "v1"), get_manifest("${img.digest}", method="HEAD", status=200,
                                                       headers={"Content-Length": {"equals": "${img.size}"}})],
                      img_content(), versions=ver))
        C.append(case(f"pull/blob/head-content-length-{sfx}", "pull",
                      f"HEAD of a blob carries Content-Length = blob size ({lvl})",
                      ["R-032"], lvl,
                      [push("blob"), step(req("HEAD", "/v2/${repo}/blobs/${blob.digest}"), 200,
                                          headers={"Content-Length": {"equals": "${blob.size}"}})],
                      {"blob": {"blob": {"size": 3000}}}, versions=ver))
    C.append(case("pull/manifest/head-200", "pull", "HEAD of an existing manifest (tag and digest) answers 200 with no body",
                  ["R-030"], "MUST",
                  [push("img", "v1"),
                   get_manifest("v1", method="HEAD", status=200, body={"empty": True}),
                   get_manifest("${img.digest}", method="HEAD", status=200, body={"empty": True})],
                  img_content()))
    C.append(case("pull/manifest/unknown-tag-404", "pull", "GET and HEAD of a tag never pushed answer 404",
                  ["R-022", "R-033"], "MUST",
                  [push("img", "present"), get_manifest("absent", status=404),
                   get_manifest("absent", method="HEAD", status=404)], img_content()))
    C.append(case("pull/manifest/unknown-digest-404", "pull", "GET and HEAD of a digest never pushed answer 404",
                  ["R-022", "R-033"], "MUST",
                  [push("img", "present"), get_manifest("${random_digest}", status=404),
                   get_manifest("${random_digest}", method="HEAD", status=404)], img_content()))
    C.append(case("pull/manifest/blob-digest-is-not-a-manifest", "pull",
                  "GET of a manifest by the digest of a layer blob answers 404: the blob is not a manifest",
                  ["R-022"], "MUST",
                  [push("img", "v1"), get_manifest("${layer.digest}", status=404)],
                  img_content(), note="The layer is random bytes, so it can be no manifest of any type."))
    C.append(case("pull/manifest/other-repo-404", "pull",
                  "A manifest pushed to one repository is not served from another",
                  ["R-022"], "MUST",
                  [push("img", "v1"), push("img2", "v1", repo="${repo2}"),
                   get_manifest("${img.digest}", repo="${repo2}", status=404)],
                  img_content(img2={"image": {"config": "cfg"}})))
    C.append(case("pull/repo/unknown-repo-manifest-404", "pull",
                  "Pulling a manifest from a repository that does not exist answers 404",
                  ["R-082", "R-022"], "MUST",
                  [get_manifest("latest", status=404), get_manifest("${random_digest}", status=404)]))
    C.append(case("pull/repo/unknown-repo-blob-404", "pull",
                  "Pulling a blob from a repository that does not exist answers 404",
                  ["R-082", "R-028"], "MUST",
                  [step(req("GET", "/v2/${repo}/blobs/${random_digest}"), 404),
                   step(req("HEAD", "/v2/${repo}/blobs/${random_digest}"), 404)]))
    # Blobs
    C.append(case("pull/blob/get-200", "pull", "GET of an existing blob returns its bytes with 200",
                  ["R-023", "R-001", "R-141"], "MUST",
                  [push("blob"), step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 200, body={"fixture": "blob"})],
                  {"blob": {"blob": {"size": 65536}}},
                  note="Statuses are judged after redirects (R-141): the engine follows a redirect to storage, without Authorization across hosts."))
    C.append(case("pull/blob/head-200", "pull", "HEAD of an existing blob answers 200 with no body",
                  ["R-030"], "MUST",
                  [push("blob"), step(req("HEAD", "/v2/${repo}/blobs/${blob.digest}"), 200, body={"empty": True})],
                  {"blob": {"blob": {"size": 4096}}}))
    C.append(case("pull/blob/empty-blob", "pull", "The empty blob can be pushed and pulled (0 bytes)",
                  ["R-023", "R-030"], "MUST",
                  [push("blob"), step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 200, body={"empty": True}),
                   step(req("HEAD", "/v2/${repo}/blobs/${blob.digest}"), 200)],
                  {"blob": {"blob": {"size": 0}}}))
    C.append(case("pull/blob/unknown-404", "pull", "GET and HEAD of a blob never pushed answer 404",
                  ["R-028", "R-033"], "MUST",
                  [push("blob"), step(req("GET", "/v2/${repo}/blobs/${random_digest}"), 404),
                   step(req("HEAD", "/v2/${repo}/blobs/${random_digest}"), 404)],
                  {"blob": {"blob": {"size": 16}}}))
    C.append(case("pull/blob/other-repo-404", "pull",
                  "A blob pushed to one repository is not served from another it was never pushed or mounted to",
                  ["R-028"], "MUST",
                  [push("blob"), push("other", repo="${repo2}"),
                   step(req("GET", "/v2/${repo2}/blobs/${blob.digest}"), 404)],
                  {"blob": {"blob": {"size": 100}}, "other": {"blob": {"size": 100}}}))
    C.append(case("pull/blob/config-blob", "pull", "The config blob of a pushed image is pullable",
                  ["R-023"], "MUST",
                  [push("img", "v1"), step(req("GET", "/v2/${repo}/blobs/${cfg.digest}"), 200, body={"fixture": "cfg"})],
                  img_content()))
    # Range
    R = {"blob": {"blob": {"size": 4096}}}
    rng = [("first-bytes", "bytes=0-99", 0, 99), ("middle", "bytes=1000-1999", 1000, 1999),
           ("suffix", "bytes=-100", 3996, 4095), ("open-ended", "bytes=4000-", 4000, 4095),
           ("end-beyond-size", "bytes=4000-9999", 4000, 4095)]
    for name, hdr, a, b in rng:
        C.append(case(f"pull/blob/range-{name}", "pull",
                      f"A Range request `{hdr}` returns 206 with the bytes and Content-Range",
                      ["R-029", "R-140"], "SHOULD",
                      [push("blob"),
                       step(req("GET", "/v2/${repo}/blobs/${blob.digest}", headers={"Range": hdr}), 206,
                            body={"range": ["blob", a, b]},
                            headers={"Content-Range": {"equals": f"bytes {a}-{b}/4096"}})],
                      R, versions=V111, features=["range"]))
    C.append(case("pull/blob/range-unsatisfiable-416", "pull",
                  "A Range starting past the end answers 416 with Content-Range bytes */size",
                  ["R-029", "R-140"], "SHOULD",
                  [push("blob"),
                   step(req("GET", "/v2/${repo}/blobs/${blob.digest}", headers={"Range": "bytes=5000-6000"}), 416,
                        headers={"Content-Range": {"matches": "^bytes \\*/4096$"}}, unsupported=unsup(200, "the registry ignored the unsatisfiable range and sent the whole blob, which RFC 9110 §14.2 allows (a server MAY ignore Range)"))],
                  R, versions=V111, features=["range"],
                  note="RFC 9110 §14.4: a 416 SHOULD carry Content-Range `bytes */<size>`."))
    return C


def http_cases():
    C = []
    C.append(case("http/ping/get-v2-200", "pull", "GET /v2/ answers 200: the registry implements the spec",
                  ["R-142", "R-001"], "MUST", [step(req("GET", "/v2/"), 200)]))
    C.append(case("http/ping/head-v2", "pull", "HEAD /v2/ answers like GET (RFC 9110: HEAD wherever GET)",
                  ["R-140", "R-142"], "SHOULD", [step(req("HEAD", "/v2/"), 200)], versions=DEV))
    C.append(case("http/parity/manifest-head-get", "pull",
                  "HEAD and GET of a manifest agree on Content-Type, Content-Length and Docker-Content-Digest",
                  ["R-030", "R-031", "R-032", "R-012"], "SHOULD",
                  [push("img", "v1"),
                   get_manifest("v1", status=200, headers={"Content-Type": {"equals": OCI_MANIFEST},
                                                           "Content-Length": {"equals": "${img.size}"},
                                                           "Docker-Content-Digest": {"equals_if_present": "${img.digest}"}}),
                   get_manifest("v1", method="HEAD", status=200,
                                headers={"Content-Type": {"equals": OCI_MANIFEST},
                                         "Content-Length": {"equals": "${img.size}"},
                                         "Docker-Content-Digest": {"equals_if_present": "${img.digest}"}})],
                  img_content(), versions=V11))
    C.append(case("http/parity/index-head-get", "pull",
                  "HEAD and GET of an image index agree on Content-Type and Content-Length",
                  ["R-030", "R-032", "R-012"], "SHOULD",
                  [push("idx", "i"),
                   get_manifest("i", status=200, headers={"Content-Type": {"equals": OCI_INDEX},
                                                          "Content-Length": {"equals": "${idx.size}"}}),
                   get_manifest("i", method="HEAD", status=200, headers={"Content-Type": {"equals": OCI_INDEX},
                                                                         "Content-Length": {"equals": "${idx.size}"}})],
                  img_content(idx={"index": {"manifests": ["img"]}}), versions=V11))
    C.append(case("http/parity/blob-head-get", "pull",
                  "HEAD and GET of a blob agree on Content-Length and Docker-Content-Digest",
                  ["R-030", "R-031", "R-032", "R-024"], "SHOULD",
                  [push("blob"),
                   step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 200,
                        headers={"Content-Length": {"equals": "${blob.size}"},
                                 "Docker-Content-Digest": {"equals_if_present": "${blob.digest}"}}),
                   step(req("HEAD", "/v2/${repo}/blobs/${blob.digest}"), 200,
                        headers={"Content-Length": {"equals": "${blob.size}"},
                                 "Docker-Content-Digest": {"equals_if_present": "${blob.digest}"}})],
                  {"blob": {"blob": {"size": 777}}}, versions=V11))
    C.append(case("http/proxy/ns-parameter-tolerated", "pull",
                  "A pull with the `ns` query parameter still works (any registry may ignore `ns`)",
                  ["R-128", "R-126"], "MAY",
                  [push("img", "v1"),
                   step(req("GET", "/v2/${repo}/manifests/v1", query=[["ns", "registry.example.org"]],
                            headers={"Accept": OCI_MANIFEST}), 200, body={"fixture": "img"}),
                   step(req("GET", "/v2/${repo}/blobs/${layer.digest}", query=[["ns", "registry.example.org"]]),
                        200, body={"fixture": "layer"})],
                  img_content(), versions=DEV,
                  note="R-129 (echo OCI-Namespace when the registry used `ns`) cannot be asserted: a registry may ignore `ns`."))
    return C
