"""push-monolithic, push-chunked, uploads, mount, manifests, names, errors."""
from lib import *

BLOB = {"blob": {"blob": {"size": 2048}}}
GETBLOB = lambda f="blob", repo="${repo}": step(req("GET", f"/v2/{repo}/blobs/${{{f}.digest}}"), 200,
                                                body={"fixture": f}, name="the blob is pullable")


def monolithic():
    C = []
    C.append(case("push/monolithic/post-then-put", "push",
                  "POST opens a session (202 + Location), PUT ?digest= closes it (201 + Location that serves the blob)",
                  ["R-038", "R-040", "R-043", "R-002", "R-003"], "MUST",
                  [post_upload(),
                   put_close("${upload}", "${blob.digest}", body={"fixture": "blob"},
                             headers={"Location": {"present": True}}, capture={"blob_url": {"header": "Location"}}),
                   step(req("GET", url="${blob_url}"), 200, body={"fixture": "blob"},
                        name="the Location of the PUT serves the blob"),
                   GETBLOB()], BLOB))
    C.append(case("push/monolithic/location-has-uuid", "push",
                  "The upload Location contains a UUID identifying the session",
                  ["R-039"], "MUST",
                  [post_upload(headers={"Location": {"matches": UUID_RE}})],
                  note="Accepts a UUID with or without dashes anywhere in the Location."))
    C.append(case("push/monolithic/empty-blob", "push", "A zero-byte blob is pushed with POST + PUT and pulled back",
                  ["R-043", "R-023"], "MUST",
                  [post_upload(), put_close("${upload}", "${blob.digest}", body={"empty": True}),
                   step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 200, body={"empty": True})],
                  {"blob": {"blob": {"size": 0}}}))
    C.append(case("push/monolithic/large-blob", "push", "A 5 MiB blob is pushed in one PUT and pulled back intact",
                  ["R-043", "R-023"], "MUST",
                  [post_upload(), put_close("${upload}", "${blob.digest}", body={"fixture": "blob"}), GETBLOB()],
                  {"blob": {"blob": {"size": 5 * 1024 * 1024}}}))
    C.append(case("push/monolithic/digest-mismatch-400", "push",
                  "A PUT whose digest does not match the body is rejected with 400 and nothing is stored",
                  ["R-028", "R-147"], "MUST",
                  [post_upload(), put_close("${upload}", "${random_digest}", body={"fixture": "blob"}, status=400),
                   step(req("GET", "/v2/${repo}/blobs/${random_digest}"), 404, name="the claimed digest is not stored")],
                  BLOB, note="end-6 lists 400 as the failure; code checked separately in errors/digest-invalid-*."))
    C.append(case("push/monolithic/malformed-digest-400", "push",
                  "A PUT with a malformed digest is answered 400",
                  ["R-037"], "SHOULD",
                  [post_upload(), put_close("${upload}", "sha256:not-a-hex-digest", body={"fixture": "blob"}, status=400)],
                  BLOB, versions=DEV))
    C.append(case("push/monolithic/unsupported-algorithm-400", "push",
                  "A PUT whose digest uses an unknown algorithm is answered 400",
                  ["R-037"], "SHOULD",
                  [post_upload(), put_close("${upload}", "sha999:0123456789abcdef0123456789abcdef", body={"fixture": "blob"}, status=400)],
                  BLOB, versions=DEV))
    C.append(case("push/monolithic/single-post", "push",
                  "Single-request POST ?digest= with the body answers 201 + Location that serves the blob",
                  ["R-044", "R-047"], "MUST",
                  [step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["digest", "${blob.digest}"]],
                            headers={"Content-Type": OCTET}, body={"fixture": "blob"}), 201,
                        headers={"Location": {"present": True}}, capture={"loc": {"header": "Location"}},
                        unsupported=unsup(202, "single-request POST not supported (answered with a session)", feature="single-post")),
                   step(req("GET", url="${loc}"), 200, body={"fixture": "blob"}), GETBLOB()],
                  BLOB, features=["single-post"]))
    C.append(case("push/monolithic/single-post-fallback", "push",
                  "A single-request POST answers 201, or 202 + Location for a session the client then completes",
                  ["R-046", "R-044"], "SHOULD",
                  [step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["digest", "${blob.digest}"]],
                            headers={"Content-Type": OCTET}, body={"fixture": "blob"}), [201, 202],
                        headers={"Location": {"present": True}})],
                  BLOB))
    C.append(case("push/monolithic/single-post-digest-mismatch", "push",
                  "A single-request POST whose digest does not match the body is rejected (400) and nothing is stored",
                  ["R-044", "R-028"], "MUST",
                  [step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["digest", "${random_digest}"]],
                            headers={"Content-Type": OCTET}, body={"fixture": "blob"}), 400,
                        unsupported=unsup(202, "single-request POST not supported", feature="single-post")),
                   step(req("GET", "/v2/${repo}/blobs/${random_digest}"), 404)],
                  BLOB, features=["single-post"]))
    C.append(case("push/monolithic/sha512-digest-algorithm", "push",
                  "POST ?digest-algorithm=sha512 opens a session; PUT ?digest=sha512:… stores the blob under that digest",
                  ["R-049", "R-043"], "MUST",
                  [post_upload(query=[["digest-algorithm", "sha512"]],
                               unsupported=unsup([400, 404], "sha512 / digest-algorithm not supported")),
                   put_close("${upload}", "${blob.digest}", body={"fixture": "blob"},
                             unsupported=unsup(400, "sha512 not supported")),
                   step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 200, body={"fixture": "blob"},
                        headers={"Docker-Content-Digest": {"matches": DIGEST_RE}})],
                  {"blob": {"blob": {"size": 3000, "algorithm": "sha512"}}}, versions=DEV, features=["sha512"],
                  note="The digest header may name the blob in another algorithm (e.g. sha256); only its grammar is checked."))
    C.append(case("push/monolithic/sha512-push-and-pull", "push",
                  "A sha512 blob pushed with POST + PUT ?digest=sha512:… is served by that digest",
                  ["R-023", "R-043"], "MUST",
                  [post_upload(), put_close("${upload}", "${blob.digest}", body={"fixture": "blob"},
                                            unsupported=unsup(400, "sha512 not supported")),
                   step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 200, body={"fixture": "blob"}),
                   step(req("HEAD", "/v2/${repo}/blobs/${blob.digest}"), 200, headers={"Content-Length": {"equals": "${blob.size}"}})],
                  {"blob": {"blob": {"size": 1000, "algorithm": "sha512"}}}, versions=V11, features=["sha512"]))
    C.append(case("push/monolithic/unknown-digest-algorithm-400", "push",
                  "POST ?digest-algorithm=<unknown> is answered 400",
                  ["R-037", "R-049"], "SHOULD",
                  [step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["digest-algorithm", "sha999"]],
                            headers={"Content-Length": "0"}), 400)],
                  versions=DEV))
    return C


def chunked():
    C = []
    B = {"blob": {"blob": {"size": 3072}}}
    # Sized in chunks: the engine takes the chunk size from the registry's OCI-Chunk-Min-Length
    # (at least 1024 bytes), so a registry with a minimum gets chunks it accepts.
    BC = {"blob": {"blob": {"chunks": 3}}}
    F = ["chunked-upload"]
    R = lambda j: {"Range": {"equals": f"${{chunks(0, {j})}}"}, "Location": {"present": True}}
    C.append(case("push/chunked/three-chunks", "push",
                  "Chunks PATCHed in order answer 202 + Location + Range 0-<end>; the closing PUT answers 201 + Location",
                  ["R-054", "R-057", "R-059", "R-038"], "MUST",
                  [post_upload(),
                   patch_chunks("${upload}", "blob", 0, 1, headers=R(1)),
                   patch_chunks("${upload}", "blob", 1, 2, headers=R(2)),
                   patch_chunks("${upload}", "blob", 2, 3, headers=R(3)),
                   put_close("${upload}", "${blob.digest}", headers={"Location": {"present": True}},
                             capture={"loc": {"header": "Location"}}),
                   step(req("GET", url="${loc}"), 200, body={"fixture": "blob"}), GETBLOB()],
                  BC, versions=V11, features=F))
    C.append(case("push/chunked/three-chunks-1-0", "push",
                  "Chunks PATCHed in order answer 202 + Location (1.0: no Range yet); the closing PUT answers 201 + Location",
                  ["R-054", "R-057", "R-059"], "MUST",
                  [post_upload(),
                   patch_chunks("${upload}", "blob", 0, 1, headers={"Location": {"present": True}}),
                   patch_chunks("${upload}", "blob", 1, 2, headers={"Location": {"present": True}}),
                   patch_chunks("${upload}", "blob", 2, 3, headers={"Location": {"present": True}}),
                   put_close("${upload}", "${blob.digest}", headers={"Location": {"present": True}}), GETBLOB()],
                  BC, versions=["1.0"], features=F))
    C.append(case("push/chunked/final-chunk-in-put", "push",
                  "The final chunk may travel in the closing PUT (with Content-Range)",
                  ["R-057", "R-059"], "MUST",
                  [post_upload(), patch_chunks("${upload}", "blob", 0, 1),
                   put_close("${upload}", "${blob.digest}", body={"fixture": "blob", "chunks": [1, 3]},
                             content_range="${chunks(1, 3)}", headers={"Location": {"present": True}}),
                   GETBLOB()], BC, features=F))
    C.append(case("push/chunked/single-chunk", "push", "A single PATCH carrying the whole blob, then an empty PUT",
                  ["R-054", "R-057", "R-059"], "MUST",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 3071, headers={"Range": {"equals": "0-3071"}}),
                   put_close("${upload}", "${blob.digest}"), GETBLOB()], B, versions=V11, features=F))
    C.append(case("push/chunked/out-of-order-416", "push", "A first chunk that does not start at 0 is rejected with 416",
                  ["R-056"], "MUST",
                  [post_upload(), patch_chunk("${upload}", "blob", 1024, 2047, status=416)], B, features=F))
    C.append(case("push/chunked/gap-416", "push", "A chunk that leaves a gap after the previous one is rejected with 416",
                  ["R-056"], "MUST",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 1023),
                   patch_chunk("${upload}", "blob", 1500, 2047, status=416)], B, features=F))
    C.append(case("push/chunked/overlap-416", "push", "A chunk overlapping the bytes already received is rejected with 416",
                  ["R-056"], "MUST",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 1023),
                   patch_chunk("${upload}", "blob", 512, 1535, status=416)], B, features=F))
    C.append(case("push/chunked/resend-first-chunk-416", "push", "Re-sending the first chunk after it was accepted is rejected with 416",
                  ["R-056"], "MUST",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 1023),
                   patch_chunk("${upload}", "blob", 0, 1023, status=416)], B, features=F))
    C.append(case("push/chunked/put-final-chunk-out-of-order-416", "push",
                  "A final chunk on the closing PUT that skips ahead is rejected with 416",
                  ["R-060"], "MUST",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 1023),
                   put_close("${upload}", "${blob.digest}", body={"fixture": "blob", "range": [2048, 3071]},
                             content_range="2048-3071", status=416)], B, versions=DEV, features=F))
    for name, cr in (("bytes-prefix", "bytes 0-1023"), ("bytes-prefix-short", "bytes 0-9"),
                     ("open-end", "0-"), ("total-suffix", "0-1023/3072")):
        a, b = (0, 9) if cr == "bytes 0-9" else (0, 1023)
        C.append(case(f"push/chunked/malformed-content-range-{name}", "push",
                      f"A chunk with a malformed Content-Range `{cr}` is rejected (400 or 416), not accepted",
                      ["R-052", "R-056"], "SHOULD",
                      [post_upload(), patch_chunk("${upload}", "blob", a, b, content_range=cr, status=[400, 416])],
                      B, features=F,
                      note="The request Content-Range must match ^[0-9]+-[0-9]+$; the spec names no status for a malformed one, 400/416 are accepted."))
    C.append(case("push/chunked/content-length-mismatch", "push",
                  "A chunk whose Content-Range length differs from its body is rejected (400 or 416)",
                  ["R-052", "R-056"], "SHOULD",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 511, content_range="0-1023", status=[400, 416])],
                  B, features=F))
    C.append(case("push/chunked/digest-mismatch-on-close", "push",
                  "A closing PUT with a digest that does not match the received bytes answers 400; nothing is stored",
                  ["R-059", "R-028"], "MUST",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 3071),
                   put_close("${upload}", "${random_digest}", status=400),
                   step(req("GET", "/v2/${repo}/blobs/${random_digest}"), 404)], B, features=F))
    C.append(case("push/chunked/status-after-chunk-204", "push",
                  "GET on the upload location answers 204 with Location and Range 0-<last byte received>",
                  ["R-061"], "MUST",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 1023),
                   step(req("GET", url="${upload}"), 204,
                        headers={"Location": {"present": True}, "Range": {"equals": "0-1023"}})],
                  B, versions=V11, features=F))
    C.append(case("push/chunked/status-fresh-session-204", "push",
                  "GET on a just-opened upload location answers 204 with Location",
                  ["R-061"], "MUST",
                  [post_upload(), step(req("GET", url="${upload}"), 204, headers={"Location": {"present": True}})],
                  versions=V11, features=F,
                  note="The Range of an empty session (0-0, 0--1 or none) is not defined by the spec, so it is not checked."))
    C.append(case("push/chunked/resume-from-status-location", "push",
                  "A client can resume with the Location returned by the status GET and finish the upload",
                  ["R-061", "R-054", "R-059"], "MUST",
                  [post_upload(), patch_chunks("${upload}", "blob", 0, 1),
                   step(req("GET", url="${upload}"), 204, capture={"upload": {"header": "Location"}}),
                   patch_chunks("${upload}", "blob", 1, 3, headers={"Range": {"equals": "${chunks(0, 3)}"}}),
                   put_close("${upload}", "${blob.digest}"), GETBLOB()],
                  BC, versions=V11, features=F))
    C.append(case("push/chunked/retry-after-416", "push",
                  "After a rejected out-of-order chunk the session still accepts the right chunk",
                  ["R-056", "R-054"], "SHOULD",
                  [post_upload(), patch_chunks("${upload}", "blob", 0, 1),
                   patch_chunks("${upload}", "blob", 2, 3, status=416, capture=None),
                   step(req("GET", url="${upload}"), 204, headers={"Range": {"equals": "${chunks(0, 1)}"}},
                        capture={"upload": {"header": "Location"}}),
                   patch_chunks("${upload}", "blob", 1, 3),
                   put_close("${upload}", "${blob.digest}"), GETBLOB()],
                  BC, versions=V11, features=F,
                  note="The spec does not say a session survives a 416; resuming is the useful behaviour (SHOULD)."))
    C.append(case("push/chunked/chunk-min-length-honoured", "push",
                  "Chunks of at least the advertised OCI-Chunk-Min-Length (here 5 MiB + final) are accepted",
                  ["R-050", "R-053"], "MUST",
                  [post_upload(), patch_chunk("${upload}", "big", 0, 5 * 1024 * 1024 - 1),
                   patch_chunk("${upload}", "big", 5 * 1024 * 1024, 6 * 1024 * 1024 - 1),
                   put_close("${upload}", "${big.digest}"), GETBLOB("big")],
                  {"big": {"blob": {"size": 6 * 1024 * 1024}}}, features=F,
                  note="Whether OCI-Chunk-Min-Length is sent cannot be checked (only 'if a minimum exists'); a 5 MiB non-final chunk satisfies common minimums."))
    return C


def uploads():
    C = []
    B = {"blob": {"blob": {"size": 1024}}}
    FAKE = "/v2/${repo}/blobs/uploads/3f6a2a1e-7a0f-4a5e-9d3b-000000000000"
    C.append(case("uploads/unknown-session-get-404", "push", "GET of an upload session that never existed answers 404",
                  ["R-061"], "MUST",
                  [push("blob"), step(req("GET", FAKE), 404)], B, versions=V11,
                  note="end-13 failure is 404; the path uses the conventional upload URL shape."))
    C.append(case("uploads/unknown-session-patch-404", "push", "PATCH to an upload session that never existed answers 404",
                  ["R-054"], "MUST",
                  [push("blob"), step(req("PATCH", FAKE, headers={"Content-Type": OCTET, "Content-Range": "0-1023"},
                                          body={"fixture": "blob"}), 404)], B))
    C.append(case("uploads/unknown-session-put-404", "push", "PUT to an upload session that never existed answers 404",
                  ["R-059"], "MUST",
                  [push("blob"), step(req("PUT", FAKE, query=[["digest", "${blob.digest}"]],
                                          headers={"Content-Type": OCTET}, body={"fixture": "blob"}), 404)], B))
    C.append(case("uploads/finished-session-get-404", "push", "After the closing PUT the session is gone: GET answers 404",
                  ["R-061"], "SHOULD",
                  [post_upload(), put_close("${upload}", "${blob.digest}", body={"fixture": "blob"}),
                   step(req("GET", url="${upload}"), 404)], B, versions=V11))
    C.append(case("uploads/finished-session-patch-404", "push", "After the closing PUT, PATCH to the old session answers 404",
                  ["R-054"], "SHOULD",
                  [post_upload(), put_close("${upload}", "${blob.digest}", body={"fixture": "blob"}),
                   step(req("PATCH", url="${upload}", headers={"Content-Type": OCTET, "Content-Range": "0-1023"},
                            body={"fixture": "blob"}), 404)], B))
    C.append(case("uploads/cancel-204", "push", "DELETE of an upload location cancels the session with 204",
                  ["R-063"], "SHOULD",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 511),
                   step(req("DELETE", url="${upload}", headers={"Content-Length": "0"}), 204)],
                  B, versions=DEV, features=["upload-cancel"]))
    C.append(case("uploads/cancelled-session-404", "push", "After a cancel, GET and PATCH on the session answer 404",
                  ["R-063", "R-061"], "SHOULD",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 511),
                   step(req("DELETE", url="${upload}", headers={"Content-Length": "0"}), 204),
                   step(req("GET", url="${upload}"), 404),
                   step(req("PATCH", url="${upload}", headers={"Content-Type": OCTET, "Content-Range": "512-1023"},
                            body={"fixture": "blob", "range": [512, 1023]}), 404),
                   step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 404, name="nothing was stored")],
                  B, versions=DEV, features=["upload-cancel"]))
    C.append(case("uploads/cancel-unknown-session", "push", "DELETE of an unknown upload session answers 404 (or 400)",
                  ["R-063"], "SHOULD",
                  [push("blob"), step(req("DELETE", FAKE, headers={"Content-Length": "0"}), [404, 400])],
                  B, versions=DEV, features=["upload-cancel"]))
    C.append(case("uploads/two-sessions-independent", "push",
                  "Two concurrent sessions in one repository do not disturb each other",
                  ["R-038", "R-059"], "MUST",
                  [post_upload(capture="u1"), post_upload(capture="u2"),
                   put_close("${u2}", "${b2.digest}", body={"fixture": "b2"}),
                   put_close("${u1}", "${b1.digest}", body={"fixture": "b1"}),
                   GETBLOB("b1"), GETBLOB("b2")],
                  {"b1": {"blob": {"size": 500}}, "b2": {"blob": {"size": 600}}}))
    return C


def mount():
    C = []
    F = ["mount"]
    B = {"blob": {"blob": {"size": 2048}}}
    C.append(case("mount/from-other-repo-201", "push",
                  "Mounting a blob from another repository answers 201 + Location that serves it",
                  ["R-066", "R-067"], "MUST",
                  [push("blob", repo="${repo2}"),
                   step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["mount", "${blob.digest}"], ["from", "${repo2}"]],
                            headers={"Content-Length": "0"}), 201, headers={"Location": {"present": True}},
                        capture={"loc": {"header": "Location"}},
                        unsupported=unsup(202, "mount not supported (answered with a session)", feature="mount")),
                   step(req("GET", url="${loc}"), 200, body={"fixture": "blob"}),
                   step(req("HEAD", "/v2/${repo}/blobs/${blob.digest}"), 200)],
                  B, features=F,
                  note="Any Location that serves the blob passes; it need not be /v2/<name>/blobs/<digest> (G's U19 mistake). The mount answer's Docker-Content-Digest MAY differ (R-067), so it is not compared."))
    C.append(case("mount/missing-blob-202", "push",
                  "Mounting a blob the source does not have answers 202 + Location, and the session then accepts the blob",
                  ["R-069", "R-038"], "SHOULD",
                  [push("other", repo="${repo2}"),
                   step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["mount", "${blob.digest}"], ["from", "${repo2}"]],
                            headers={"Content-Length": "0"}), 202, headers={"Location": {"present": True}},
                        capture={"upload": {"header": "Location"}}),
                   put_close("${upload}", "${blob.digest}", body={"fixture": "blob"}), GETBLOB()],
                  {"blob": {"blob": {"size": 2048}}, "other": {"blob": {"size": 10}}}))
    C.append(case("mount/from-unknown-repo-202", "push",
                  "Mounting from a repository that does not exist answers 202 + Location (an upload session)",
                  ["R-069"], "SHOULD",
                  [step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["mount", "${random_digest}"], ["from", "${repo2}"]],
                            headers={"Content-Length": "0"}), 202, headers={"Location": {"present": True}})]))
    C.append(case("mount/automatic-without-from-201", "push",
                  "Mount without `from` of a blob the registry has elsewhere answers 201 (automatic content discovery)",
                  ["R-068", "R-066"], "MAY",
                  [push("blob", repo="${repo2}"),
                   step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["mount", "${blob.digest}"]],
                            headers={"Content-Length": "0"}), 201, headers={"Location": {"present": True}},
                        unsupported=unsup(202, "automatic mount not supported", feature="auto-mount")),
                   GETBLOB()], B, versions=V11, features=["auto-mount"]))
    C.append(case("mount/automatic-unknown-202", "push",
                  "Mount without `from` of a digest the registry does not have answers 202 + Location",
                  ["R-069", "R-068"], "SHOULD",
                  [step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["mount", "${random_digest}"]],
                            headers={"Content-Length": "0"}), 202, headers={"Location": {"present": True}})],
                  versions=V11))
    C.append(case("mount/mounted-blob-survives-source-delete", "push",
                  "A mounted blob stays pullable in the target after it is deleted from the source",
                  ["R-066", "R-122"], "SHOULD",
                  [push("blob", repo="${repo2}"),
                   step(req("POST", "/v2/${repo}/blobs/uploads/", query=[["mount", "${blob.digest}"], ["from", "${repo2}"]],
                            headers={"Content-Length": "0"}), 201, unsupported=unsup(202, "mount not supported", feature="mount")),
                   step(req("DELETE", "/v2/${repo2}/blobs/${blob.digest}"), 202,
                        unsupported=unsup([400, 405], "blob delete disabled", feature="delete-blob")),
                   GETBLOB()], B, features=["mount", "delete-blob"]))
    return C


def manifests():
    C = []
    A_TYPE = "application/vnd.example.conformance.artifact"
    C.append(case("manifests/put-by-tag-201", "push",
                  "PUT of a manifest by tag answers 201 + Location that serves the same bytes",
                  ["R-076", "R-075", "R-003"], "MUST",
                  [push("cfg"), push("layer"),
                   put_manifest("img", "v1", headers={"Location": {"present": True}}, capture={"loc": {"header": "Location"}}),
                   step(req("GET", url="${loc}", headers={"Accept": OCI_MANIFEST}), 200, body={"fixture": "img"}),
                   get_manifest("v1", status=200, body={"fixture": "img"})], img_content()))
    C.append(case("manifests/put-by-digest-201", "push",
                  "PUT of a manifest by digest answers 201 + Location; it is pullable by digest",
                  ["R-076", "R-075"], "MUST",
                  [push("cfg"), push("layer"),
                   put_manifest("img", "${img.digest}", headers={"Location": {"present": True}}),
                   get_manifest("${img.digest}", status=200, body={"fixture": "img"})], img_content()))
    C.append(case("manifests/put-digest-header", "push",
                  "The Docker-Content-Digest of a manifest PUT equals the digest the client provided",
                  ["R-077"], "MUST",
                  [push("cfg"), push("layer"),
                   put_manifest("img", "${img.digest}", headers={"Docker-Content-Digest": {"equals_if_present": "${img.digest}"}})],
                  img_content(),
                  note="The header's equality is MUST when present; its presence is not required (a SHOULD before main)."))
    for name, extra, title in (
            ("indented-json", {"indent": True}, "indented JSON"),
            ("unknown-fields", {"extra": {"org.example.unknown": {"nested": [1, 2, 3]}, "zzz": None}}, "unknown top-level fields"),
            ("data-field", {"data": True}, "a `data` field in the config descriptor"),
            ("annotations", {"annotations": {"org.example.a": "1", "org.example.b": "ü ☃"}}, "annotations with non-ASCII values"),
            ("no-media-type", {"omit_media_type": True}, "no `mediaType` field")):
        img = {"config": "cfg", "layers": ["layer"]}
        img.update(extra)
        ct = OCI_MANIFEST
        C.append(case(f"manifests/byte-for-byte/{name}", "push",
                      f"A manifest with {title} is stored and served byte for byte",
                      ["R-075", "R-017"], "MUST",
                      [push("cfg"), push("layer"), put_manifest("img", "t", content_type=ct),
                       get_manifest("${img.digest}", status=200, body={"fixture": "img"}),
                       get_manifest("t", status=200, body={"fixture": "img"})],
                      {"cfg": {"config": {}}, "layer": {"blob": {"size": 700}}, "img": {"image": img}},
                      versions=V11))
    C.append(case("manifests/no-layers", "push", "An image manifest with an empty `layers` list is accepted and served",
                  ["R-074", "R-075"], "SHOULD",
                  [push("cfg"), put_manifest("img", "t"), get_manifest("t", status=200, body={"fixture": "img"})],
                  {"cfg": {"config": {}}, "img": {"image": {"config": "cfg"}}},
                  note="Some registries reject layer-less images (image-spec: layers SHOULD have one entry); SHOULD only."))
    C.append(case("manifests/artifact-with-layers", "push",
                  "An artifact (artifactType, empty config, one layer) is accepted and served byte for byte",
                  ["R-075", "R-076"], "MUST",
                  [push("cfg"), push("layer"), put_manifest("art", "t"),
                   get_manifest("${art.digest}", status=200, body={"fixture": "art"})],
                  {"cfg": {"config": {"empty": True}}, "layer": {"blob": {"size": 300, "media_type": "application/vnd.example.payload"}},
                   "art": {"image": {"config": "cfg", "layers": ["layer"], "artifact_type": A_TYPE}}}, versions=V11))
    C.append(case("manifests/artifact-without-layers", "push",
                  "An artifact with no layers (config carries the type) is accepted and served",
                  ["R-074", "R-075"], "SHOULD",
                  [push("cfg"), put_manifest("art", "t"), get_manifest("t", status=200, body={"fixture": "art"})],
                  {"cfg": {"config": {"media_type": A_TYPE}}, "art": {"image": {"config": "cfg"}}}, versions=V11))
    C.append(case("manifests/index", "push", "An image index over two images is accepted and served byte for byte",
                  ["R-075", "R-076", "R-012"], "MUST",
                  [push("img"), push("img2"), put_manifest("idx", "multi", content_type=OCI_INDEX),
                   get_manifest("multi", status=200, body={"fixture": "idx"}, headers={"Content-Type": {"equals": OCI_INDEX}})],
                  img_content(img2={"image": {"config": "cfg"}}, idx={"index": {"manifests": ["img", "img2"]}})))
    C.append(case("manifests/nested-index", "push", "An index that contains an index is accepted and served",
                  ["R-075", "R-076"], "MUST",
                  [push("inner"), put_manifest("outer", "nested", content_type=OCI_INDEX),
                   get_manifest("nested", status=200, body={"fixture": "outer"}),
                   get_manifest("${inner.digest}", status=200, body={"fixture": "inner"})],
                  img_content(inner={"index": {"manifests": ["img"]}}, outer={"index": {"manifests": ["inner"]}})))
    C.append(case("manifests/empty-index", "push", "An index with an empty `manifests` list is accepted",
                  ["R-074", "R-075"], "SHOULD",
                  [put_manifest("idx", "empty", content_type=OCI_INDEX), get_manifest("empty", status=200, body={"fixture": "idx"})],
                  {"idx": {"index": {"manifests": []}}}))
    C.append(case("manifests/docker-schema2", "push", "A Docker schema2 manifest is accepted and served byte for byte",
                  ["R-075", "R-076"], "MUST",
                  [push("cfg"), push("layer"), put_manifest("dm", "docker", content_type=DOCKER_MANIFEST),
                   get_manifest("${dm.digest}", accept=DOCKER_MANIFEST, status=200, body={"fixture": "dm"})],
                  {"cfg": {"config": {"media_type": "application/vnd.docker.container.image.v1+json"}},
                   "layer": {"blob": {"size": 512}}, "dm": {"docker_manifest": {"config": "cfg", "layers": ["layer"]}}}))
    C.append(case("manifests/retag", "push", "Pushing the same manifest under a second tag makes both tags serve it",
                  ["R-076", "R-017"], "MUST",
                  [push("img", "a"), put_manifest("img", "b"),
                   get_manifest("a", status=200, body={"fixture": "img"}), get_manifest("b", status=200, body={"fixture": "img"})],
                  img_content()))
    C.append(case("manifests/put-twice-idempotent", "push",
                  "Pushing the same manifest twice by digest answers 201 both times and serves it",
                  ["R-076", "R-075"], "MUST",
                  [push("cfg"), push("layer"), put_manifest("img", "${img.digest}"), put_manifest("img", "${img.digest}"),
                   get_manifest("${img.digest}", status=200, body={"fixture": "img"})], img_content()))
    C.append(case("manifests/sha512-layer", "push",
                  "An image whose layer is a sha512 blob is accepted and served (mixed algorithms)",
                  ["R-075", "R-023"], "MUST",
                  [push("cfg"), push("layer", unsupported=unsup(400, "sha512 blobs not supported")),
                   put_manifest("img", "t", unsupported=unsup(400, "manifests naming sha512 blobs not supported")),
                   get_manifest("t", status=200, body={"fixture": "img"}),
                   step(req("GET", "/v2/${repo}/blobs/${layer.digest}"), 200, body={"fixture": "layer"})],
                  {"cfg": {"config": {}}, "layer": {"blob": {"size": 900, "algorithm": "sha512"}},
                   "img": {"image": {"config": "cfg", "layers": ["layer"]}}}, versions=V11, features=["sha512"]))
    C.append(case("manifests/tag-moves", "push", "Pushing another manifest to an existing tag moves the tag",
                  ["R-076", "R-017"], "MUST",
                  [push("img", "t"), push("img2", "t"), get_manifest("t", status=200, body={"fixture": "img2"}),
                   get_manifest("${img.digest}", status=200, body={"fixture": "img"})],
                  img_content(img2={"image": {"config": "cfg"}})))
    C.append(case("manifests/content-type-parameters-ignored", "push",
                  "A manifest PUT whose Content-Type carries a parameter (charset) is accepted",
                  ["R-071"], "SHOULD",
                  [push("cfg"), push("layer"),
                   put_manifest("img", "t", content_type=OCI_MANIFEST + "; charset=utf-8"),
                   get_manifest("t", status=200, body={"fixture": "img"})], img_content(), versions=V11))
    C.append(case("manifests/large-3-9mb-accepted", "push", "A ~3.9 MB manifest (below 4 MiB) is accepted and served",
                  ["R-085", "R-075"], "SHOULD",
                  [push("cfg"), push("layer"), put_manifest("big", "big"),
                   get_manifest("${big.digest}", status=200, body={"fixture": "big"})],
                  {"cfg": {"config": {}}, "layer": {"blob": {"size": 100}},
                   "big": {"image": {"config": "cfg", "layers": ["layer"], "pad_to": 3900000}}}, versions=V11))
    C.append(case("manifests/over-limit-413", "push", "A manifest above the registry's limit (here ~4.5 MB > 4 MiB) is rejected with 413",
                  ["R-083", "R-084"], "SHOULD",
                  [push("cfg"), put_manifest("big", "big", status=413)],
                  {"cfg": {"config": {}}, "big": {"image": {"config": "cfg", "pad_to": 4500000}}}, versions=V11,
                  note="A registry whose limit is above 4.5 MB fails this SHOULD case; the spec only requires accepting 4 MB."))
    C.append(case("manifests/subject-missing-accepted", "push",
                  "A manifest whose `subject` names a manifest that does not exist is accepted",
                  ["R-034"], "MUST",
                  [push("cfg"), push("layer"), put_manifest("ref", "${ref.digest}"),
                   get_manifest("${ref.digest}", status=200, body={"fixture": "ref"})],
                  img_content(subj={"image": {"config": "cfg", "annotations": {"never": "pushed"}}},
                              ref={"image": {"config": "cfg", "layers": ["layer"], "subject": "subj", "artifact_type": A_TYPE}}),
                  versions=V11))
    PROBE = lambda: step(req("GET", "/v2/${repo}/referrers/${random_digest}"), 200, name="probe the referrers API",
                         unsupported=unsup(404, "no referrers API", feature="referrers"))
    C.append(case("manifests/oci-subject-header", "push",
                  "A registry with the referrers API answers a PUT of a manifest with `subject` with OCI-Subject",
                  ["R-086"], "MUST",
                  [PROBE(), push("subj", "s"),
                   put_manifest("ref", "${ref.digest}", headers={"OCI-Subject": {"equals": "${subj.digest}"}})],
                  img_content(subj={"image": {"config": "cfg", "layers": ["layer"]}},
                              ref={"image": {"config": "cfg", "subject": "subj", "artifact_type": A_TYPE}}),
                  versions=V11, features=["referrers"]))
    C.append(case("manifests/oci-subject-header-missing-subject", "push",
                  "OCI-Subject is returned also when the subject does not exist (yet)",
                  ["R-086", "R-034"], "MUST",
                  [PROBE(), push("cfg"),
                   put_manifest("ref", "by-tag", headers={"OCI-Subject": {"equals": "${subj.digest}"}})],
                  img_content(subj={"image": {"config": "cfg", "annotations": {"never": "pushed"}}},
                              ref={"image": {"config": "cfg", "subject": "subj", "artifact_type": A_TYPE}}),
                  versions=V11, features=["referrers"]))
    MBU = unsup(400, "the registry rejects manifests with missing blobs (allowed by R-035)", ["MANIFEST_BLOB_UNKNOWN"])
    C.append(case("manifests/dangling-layer", "push",
                  "A manifest naming a blob never pushed is accepted, or rejected with MANIFEST_BLOB_UNKNOWN",
                  ["R-035", "R-036"], "MUST",
                  [push("cfg"), put_manifest("img", "t", unsupported=MBU)],
                  {"cfg": {"config": {}}, "layer": {"blob": {"size": 100, "skip_push": True}},
                   "img": {"image": {"config": "cfg", "layers": ["layer"]}}}, versions=V11,
                  note="unsupported = rejected with 400 MANIFEST_BLOB_UNKNOWN (R-035 allows it); any other answer but 201 fails R-036."))
    C.append(case("manifests/dangling-layer-code", "push",
                  "A rejected manifest with a missing blob carries MANIFEST_BLOB_UNKNOWN",
                  ["R-036", "R-143", "R-147"], "MUST",
                  [push("cfg"), put_manifest("img", "t", status=[400, 404],
                                             codes=["MANIFEST_BLOB_UNKNOWN"],
                                             unsupported=unsup(201, "the registry accepts manifests with missing blobs"))],
                  {"cfg": {"config": {}}, "layer": {"blob": {"size": 100, "skip_push": True}},
                   "img": {"image": {"config": "cfg", "layers": ["layer"]}}}, versions=V11))
    C.append(case("manifests/dangling-config", "push",
                  "A manifest whose config blob was never pushed is accepted, or rejected with MANIFEST_BLOB_UNKNOWN",
                  ["R-035", "R-036"], "MUST",
                  [push("layer"), put_manifest("img", "t", unsupported=MBU)],
                  {"cfg": {"config": {}}, "layer": {"blob": {"size": 100}},
                   "img": {"image": {"config": "cfg", "layers": ["layer"]}}}, versions=V11,
                  note="The config fixture is never pushed (only the layer is)."))
    C.append(case("manifests/non-distributable-layer", "push",
                  "A manifest with a non-distributable layer (never uploaded) is accepted, or rejected with MANIFEST_BLOB_UNKNOWN",
                  ["R-035", "R-036", "R-075"], "MUST",
                  [push("cfg"), put_manifest("img", "t", unsupported=MBU),
                   get_manifest("t", status=200, body={"fixture": "img"})],
                  {"cfg": {"config": {}}, "layer": {"blob": {"size": 100, "skip_push": True, "media_type": NONDIST}},
                   "img": {"image": {"config": "cfg", "layers": ["layer"], "layer_media_type": NONDIST}}}, versions=V11))
    C.append(case("manifests/index-dangling-manifest", "push",
                  "An index naming a manifest never pushed is accepted, or rejected with MANIFEST_BLOB_UNKNOWN",
                  ["R-035", "R-036"], "MUST",
                  [step(req("PUT", "/v2/${repo}/manifests/t", headers={"Content-Type": OCI_INDEX},
                            body={"json": {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                                {"mediaType": OCI_MANIFEST, "digest": "${img.digest}", "size": 500}]}}), 201, unsupported=MBU)],
                  img_content(), versions=V11))
    TP = ["tag-param"]
    TAGS = [f"t{i}" for i in range(12)]
    C.append(case("manifests/tag-param/twelve-tags", "push",
                  "PUT by digest with 12 `tag` parameters tags the manifest with each",
                  ["R-078", "R-079"], "SHOULD",
                  [push("cfg"), push("layer"),
                   step(req("PUT", "/v2/${repo}/manifests/${img.digest}", query=[["tag", t] for t in TAGS],
                            headers={"Content-Type": OCI_MANIFEST}, body={"fixture": "img"}), 201,
                        unsupported=unsup([400, 414], "tag parameters not supported or too many")),
                   get_manifest(TAGS[0], status=200, name="probe: the first tag exists",
                                unsupported=unsup(404, "the registry ignores `tag` parameters", feature="tag-param"))]
                  + [get_manifest(t, status=200, body={"fixture": "img"}) for t in TAGS],
                  img_content(), versions=DEV, features=TP))
    C.append(case("manifests/tag-param/oci-tag-header", "push",
                  "PUT by digest with `tag` parameters answers with an OCI-Tag entry per accepted tag",
                  ["R-081", "R-078"], "MUST",
                  [push("cfg"), push("layer"),
                   step(req("PUT", "/v2/${repo}/manifests/${img.digest}", query=[["tag", "probe"]],
                            headers={"Content-Type": OCI_MANIFEST}, body={"fixture": "img"}), 201, name="PUT with one tag",
                        unsupported=unsup([400, 414], "tag parameters not supported", feature="tag-param")),
                   get_manifest("probe", status=200, name="probe: the tag exists",
                                unsupported=unsup(404, "the registry ignores `tag` parameters", feature="tag-param"))] + [
                   step(req("PUT", "/v2/${repo}/manifests/${img.digest}", query=[["tag", "a"], ["tag", "b"], ["tag", "c"]],
                            headers={"Content-Type": OCI_MANIFEST}, body={"fixture": "img"}), 201,
                        headers={"OCI-Tag": {"contains": t}}, name=f"PUT with tags a, b, c: OCI-Tag lists {t}",
                        unsupported=unsup([400, 414], "tag parameters not supported", feature="tag-param"))
                   for t in ("a", "b", "c")],
                  img_content(), versions=DEV, features=TP,
                  note="A registry that ignores `tag` (the probe tag answers 404) is unsupported, not failed."))
    C.append(case("manifests/tag-param/too-many-tags", "push",
                  "PUT by digest with 1000 `tag` parameters is accepted, or refused with 414 (or 431)",
                  ["R-080", "R-078"], "MAY",
                  [push("cfg"), push("layer"),
                   step(req("PUT", "/v2/${repo}/manifests/${img.digest}", query=[["tag", f"tag-number-{i:04d}"] for i in range(1000)],
                            headers={"Content-Type": OCI_MANIFEST}, body={"fixture": "img"}), [201, 414, 431],
                        unsupported=unsup(400, "tag parameters not supported", feature="tag-param"))],
                  img_content(), versions=DEV, features=TP))
    return C


def names():
    C = []
    REJ = [400, 404]
    for name, suffix, vers in (("uppercase", "Upper", ALL), ("triple-underscore", "a___b", V11), ("double-dot", "a..b", ALL),
                               ("leading-dash", "-a", ALL), ("trailing-dot", "a.", ALL), ("leading-dot", ".a", ALL),
                               ("empty-component", "a//b", ALL)):
        C.append(case(f"names/invalid/{name}", "push",
                      f"A repository name with `{suffix}` (outside the name grammar) is refused: no upload session",
                      ["R-008"], "MUST",
                      [step(req("POST", f"/v2/${{repo}}/{suffix}/blobs/uploads/", headers={"Content-Length": "0"}), REJ)],
                      versions=vers,
                      note="Any refusal (400 NAME_INVALID, or 404) passes; a 202 session on an invalid name fails."))
    C.append(case("names/invalid/uppercase-manifest-put", "push",
                  "A manifest PUT to an upper-case repository name is refused",
                  ["R-008"], "MUST",
                  [push("cfg"), push("layer"), put_manifest("img", "v1", repo="${repo}/UPPER", status=REJ)], img_content()))
    C.append(case("names/invalid/name-invalid-code", "push",
                  "An invalid repository name is answered with NAME_INVALID",
                  ["R-008", "R-147"], "SHOULD",
                  [step(req("POST", "/v2/${repo}/Upper/blobs/uploads/", headers={"Content-Length": "0"}), [400, 404],
                        codes=["NAME_INVALID"])]))
    for name, suffix, vers in (("double-underscore", "a__b", V11), ("multiple-dashes", "a---b", V11),
                               ("dots-and-dashes", "a.b-c_d", ALL), ("deep-path", "a/b/c/d", ALL)):
        C.append(case(f"names/valid/{name}", "push",
                      f"A repository name with `{suffix}` (inside the grammar) works for push and pull",
                      ["R-008"], "MUST",
                      [push("img", "v1", repo=f"${{repo}}/{suffix}"),
                       get_manifest("v1", repo=f"${{repo}}/{suffix}", status=200, body={"fixture": "img"})],
                      img_content(), versions=vers))
    C.append(case("names/valid/long-name", "push",
                  "A repository name of about 200 characters works (within the 255-char host/name note)",
                  ["R-009", "R-008"], "MAY",
                  [push("img", "v1", repo="${repo}/" + "/".join(["abcdefghij" * 2] * 6)),
                   get_manifest("v1", repo="${repo}/" + "/".join(["abcdefghij" * 2] * 6), status=200)],
                  img_content(), versions=V111))
    # Tags
    for name, tag, vers in (("max-length-128", "a" * 128, V11), ("leading-underscore", "_tag", V11),
                            ("mixed-case-dots-dashes", "V1.2.3-RC_1", ALL)):
        C.append(case(f"names/tag/valid-{name}", "push", f"The valid tag `{tag[:20]}…` ({len(tag)} chars) is accepted and pullable",
                      ["R-010"], "MUST",
                      [push("cfg"), push("layer"), put_manifest("img", tag), get_manifest(tag, status=200, body={"fixture": "img"})],
                      img_content(), versions=vers))
    for name, tag in (("129-chars", "a" * 129), ("leading-dot", ".tag"), ("leading-dash", "-tag"), ("plus-sign", "a+b")):
        C.append(case(f"names/tag/invalid-{name}-put", "push", f"A manifest PUT to the invalid tag `{tag[:20]}` is refused",
                      ["R-010", "R-007"], "MUST",
                      [push("cfg"), push("layer"), put_manifest("img", tag, status=REJ)], img_content(), versions=V11,
                      note="400 (e.g. MANIFEST_INVALID, NAME_INVALID, legacy TAG_INVALID) or 404 passes; 201 fails."))
    C.append(case("names/reference/invalid-get", "pull",
                  "GET of a manifest by a reference that is neither tag nor digest answers 400 or 404",
                  ["R-007"], "MUST",
                  [push("img", "v1"), get_manifest(".invalid", status=REJ), get_manifest("sha256:zz", status=REJ),
                   get_manifest("sha256:zz", method="HEAD", status=REJ)], img_content(),
                  note="G demanded 404 for `.INVALID_MANIFEST_NAME`; both 400 and 404 are fine."))
    C.append(case("names/reference/malformed-digest-put", "push",
                  "PUT of a manifest to a malformed digest reference is refused (400)",
                  ["R-007", "R-037"], "MUST",
                  [push("cfg"), push("layer"), put_manifest("img", "sha256:baddigeststring", status=REJ)], img_content()))
    C.append(case("names/reference/put-digest-mismatch", "push",
                  "PUT of a manifest to a digest that is not its own is refused and not stored under that digest",
                  ["R-007", "R-077"], "MUST",
                  [push("cfg"), push("layer"), put_manifest("img", "${random_digest}", status=REJ),
                   get_manifest("${random_digest}", status=404)], img_content()))
    return C


def errors():
    C = []
    B = {"blob": {"blob": {"size": 1024}}}
    ER = ["R-143", "R-144", "R-147"]
    C.append(case("errors/manifest-unknown", "pull", "A missing manifest answers 404 with MANIFEST_UNKNOWN",
                  ["R-022"] + ER, "SHOULD",
                  [push("img", "v1"), get_manifest("absent", status=404, codes=["MANIFEST_UNKNOWN"]),
                   get_manifest("${random_digest}", status=404, codes=["MANIFEST_UNKNOWN"])], img_content()))
    C.append(case("errors/blob-unknown", "pull", "A missing blob answers 404 with BLOB_UNKNOWN",
                  ["R-028"] + ER, "SHOULD",
                  [push("blob"), step(req("GET", "/v2/${repo}/blobs/${random_digest}"), 404, codes=["BLOB_UNKNOWN"])], B))
    C.append(case("errors/name-unknown-tags", "discovery", "Listing tags of a repository that does not exist answers 404 NAME_UNKNOWN",
                  ["R-082"] + ER, "SHOULD",
                  [step(req("GET", "/v2/${repo}/tags/list"), 404, codes=["NAME_UNKNOWN"])]))
    C.append(case("errors/unknown-repo-manifest-code", "pull",
                  "A manifest in a repository that does not exist answers 404 with NAME_UNKNOWN or MANIFEST_UNKNOWN",
                  ["R-082"] + ER, "SHOULD",
                  [get_manifest("v1", status=404, codes=["NAME_UNKNOWN", "MANIFEST_UNKNOWN"])]))
    C.append(case("errors/unknown-repo-blob-code", "pull",
                  "A blob in a repository that does not exist answers 404 with NAME_UNKNOWN or BLOB_UNKNOWN",
                  ["R-082", "R-028"] + ER, "SHOULD",
                  [step(req("GET", "/v2/${repo}/blobs/${random_digest}"), 404, codes=["NAME_UNKNOWN", "BLOB_UNKNOWN"])]))
    C.append(case("errors/blob-upload-unknown", "push", "An unknown upload session answers 404 with BLOB_UPLOAD_UNKNOWN",
                  ["R-054"] + ER, "SHOULD",
                  [push("blob"), step(req("PATCH", "/v2/${repo}/blobs/uploads/3f6a2a1e-7a0f-4a5e-9d3b-000000000001",
                                          headers={"Content-Type": OCTET, "Content-Range": "0-1023"}, body={"fixture": "blob"}),
                                      404, codes=["BLOB_UPLOAD_UNKNOWN"])], B))
    C.append(case("errors/blob-upload-unknown-finished", "push", "A finished upload session answers 404 with BLOB_UPLOAD_UNKNOWN",
                  ["R-061"] + ER, "SHOULD",
                  [post_upload(), put_close("${upload}", "${blob.digest}", body={"fixture": "blob"}),
                   step(req("GET", url="${upload}"), 404, codes=["BLOB_UPLOAD_UNKNOWN"])], B, versions=V11))
    C.append(case("errors/digest-invalid-put", "push", "A blob PUT whose digest does not match answers 400 DIGEST_INVALID",
                  ["R-037"] + ER, "SHOULD",
                  [post_upload(), put_close("${upload}", "${random_digest}", body={"fixture": "blob"}, status=400,
                                            codes=["DIGEST_INVALID"])], B))
    C.append(case("errors/digest-invalid-manifest", "push", "A manifest PUT to a digest that is not its own answers 400 DIGEST_INVALID",
                  ["R-007"] + ER, "SHOULD",
                  [push("cfg"), push("layer"), put_manifest("img", "${random_digest}", status=400, codes=["DIGEST_INVALID"])],
                  img_content()))
    C.append(case("errors/manifest-invalid-garbage", "push", "A manifest body that is not JSON is rejected with 400 MANIFEST_INVALID",
                  ["R-075"] + ER, "SHOULD",
                  [put_manifest("bad", "t", status=400, codes=["MANIFEST_INVALID"])],
                  {"bad": {"raw": {"media_type": OCI_MANIFEST, "text": "this is { not json"}}}))
    C.append(case("errors/manifest-invalid-schema", "push",
                  "A JSON manifest without a config descriptor is rejected with 400 MANIFEST_INVALID",
                  ER, "SHOULD",
                  [put_manifest("bad", "t", status=400, codes=["MANIFEST_INVALID"])],
                  {"bad": {"raw": {"media_type": OCI_MANIFEST, "json": {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}}}}))
    C.append(case("errors/manifest-invalid-media-type-mismatch", "push",
                  "A manifest whose `mediaType` differs from the request Content-Type is rejected with 400 MANIFEST_INVALID",
                  ["R-072"] + ER, "SHOULD",
                  [push("cfg"), push("layer"), put_manifest("img", "t", content_type=OCI_INDEX, status=400, codes=["MANIFEST_INVALID"])],
                  img_content(), versions=V11,
                  note="R-072 binds the client; rejecting the mismatch is the registry's natural answer (gap §3.1.5), held at SHOULD."))
    C.append(case("errors/size-invalid-chunk", "push",
                  "A chunk whose length differs from its Content-Range answers with SIZE_INVALID or BLOB_UPLOAD_INVALID",
                  ["R-052"] + ER, "SHOULD",
                  [post_upload(), patch_chunk("${upload}", "blob", 0, 511, content_range="0-1023", status=[400, 416],
                                              codes=["SIZE_INVALID", "BLOB_UPLOAD_INVALID"])], B, features=["chunked-upload"]))
    C.append(case("errors/lying-content-length-put", "push",
                  "A blob PUT whose Content-Length undercounts the body is refused (400, SIZE_INVALID or DIGEST_INVALID) and not stored",
                  ["R-045", "R-028"] + ER, "SHOULD",
                  [post_upload(),
                   step(req("PUT", url="${upload}", query=[["digest", "${blob.digest}"]], raw=True,
                            headers={"Content-Type": OCTET, "Content-Length": "100"}, body={"fixture": "blob"}),
                        400, codes=["SIZE_INVALID", "DIGEST_INVALID"]),
                   step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 404, name="nothing stored under the digest")],
                  {"blob": {"blob": {"size": 200}}},
                  note="Raw request (plain http only): 200 bytes sent with Content-Length: 100. The registry reads 100 bytes whose digest cannot match."))
    C.append(case("errors/blob-upload-invalid-out-of-order", "push",
                  "An out-of-order chunk's 416 carries a spec error body (BLOB_UPLOAD_INVALID)",
                  ["R-056"] + ER, "SHOULD",
                  [post_upload(), patch_chunk("${upload}", "blob", 512, 1023, status=416, codes=["BLOB_UPLOAD_INVALID"])],
                  B, features=["chunked-upload"]))
    C.append(case("errors/error-body-shape", "pull",
                  "Error bodies use the spec shape: errors[] of {code, message?, detail?} with spec codes only",
                  ["R-143", "R-144", "R-145", "R-146", "R-147"], "SHOULD",
                  [push("img", "v1"), get_manifest("absent", status=404, codes=[]),
                   step(req("GET", "/v2/${repo}/blobs/${random_digest}"), 404, codes=[])], img_content(),
                  note="A non-JSON 4xx body is allowed (R-143) but fails here; the engine cannot say 'if JSON'."))
    return C


AREAS = [
    ("push-monolithic", "Monolithic blob push: POST then PUT, single-request POST, digest rules, sha512.", monolithic),
    ("push-chunked", "Chunked blob push: PATCH chunks, Range, 416 for out-of-order/gap/overlap, malformed Content-Range, status GET.", chunked),
    ("uploads", "Upload sessions: unknown, finished and cancelled sessions, cancel (end-14).", uploads),
    ("mount", "Cross-repository mount (end-11), with and without `from`.", mount),
    ("manifests", "Pushing manifests: byte-for-byte storage, content shapes, subject/OCI-Subject, limits, dangling descriptors, tag parameters.", manifests),
    ("names", "Repository-name, tag and reference grammar.", names),
    ("errors", "Error codes per situation and the error body format.", errors),
]
