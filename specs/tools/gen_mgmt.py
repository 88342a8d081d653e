"""management: deletes of tags, manifests and blobs."""
from lib import *

DEL_DISABLED = lambda what: unsup([400, 405], f"{what} deletion disabled (400/405 allowed)",
                                  feature=f"delete-{what}")


def management():
    C = []
    C.append(case("management/tag/delete-202-then-404", "management",
                  "DELETE of a tag answers 202; the tag then answers 404 while the manifest stays by digest",
                  ["R-114", "R-115", "R-116", "R-113"], "MUST",
                  [push("img", "gone"), put_manifest("img", "kept", setup=True),
                   step(req("DELETE", "/v2/${repo}/manifests/gone"), 202, unsupported=DEL_DISABLED("tag")),
                   get_manifest("gone", status=404), get_manifest("gone", method="HEAD", status=404),
                   get_manifest("kept", status=200, body={"fixture": "img"}, name="the other tag is untouched")],
                  img_content(), versions=V111, features=["delete-tag"],
                  note="400/405 = tag deletion disabled (unsupported); any other answer fails R-115. A registry may allow manifest deletion only (R-113)."))
    C.append(case("management/tag/delete-removed-from-list", "management",
                  "A deleted tag disappears from the tag list",
                  ["R-114", "R-116", "R-088"], "MUST",
                  [push("img", "a"), put_manifest("img", "b", setup=True),
                   step(req("DELETE", "/v2/${repo}/manifests/a"), 202, unsupported=DEL_DISABLED("tag")),
                   step(req("GET", "/v2/${repo}/tags/list"), 200, json_=[{"pointer": "/tags", "equals": ["b"]}])],
                  img_content(), versions=V111, features=["delete-tag"]))
    C.append(case("management/tag/delete-unknown-404", "management",
                  "DELETE of a tag that does not exist answers 404",
                  ["R-114"], "SHOULD",
                  [push("img", "v1"),
                   step(req("DELETE", "/v2/${repo}/manifests/absent"), 404, unsupported=DEL_DISABLED("tag"))],
                  img_content(), features=["delete-tag"]))
    C.append(case("management/manifest/delete-202", "management",
                  "DELETE of a manifest by digest answers 202",
                  ["R-117", "R-119"], "MUST",
                  [push("img", "v1"),
                   step(req("DELETE", "/v2/${repo}/manifests/${img.digest}"), 202, unsupported=DEL_DISABLED("manifest"))],
                  img_content(), features=["delete-manifest"]))
    C.append(case("management/manifest/delete-then-404-everywhere", "management",
                  "After a manifest delete, GET/HEAD by digest and by every tag that pointed to it answer 404",
                  ["R-117", "R-120", "R-033"], "MUST",
                  [push("img", "t1"), put_manifest("img", "t2", setup=True), put_manifest("img", "t3", setup=True),
                   step(req("DELETE", "/v2/${repo}/manifests/${img.digest}"), 202, unsupported=DEL_DISABLED("manifest")),
                   get_manifest("${img.digest}", status=404), get_manifest("${img.digest}", method="HEAD", status=404),
                   get_manifest("t1", status=404), get_manifest("t2", status=404), get_manifest("t3", status=404),
                   get_manifest("t2", method="HEAD", status=404)],
                  img_content(), versions=V111, features=["delete-manifest"]))
    C.append(case("management/manifest/delete-tags-leave-list", "management",
                  "After a manifest delete its tags are gone from the tag list; other tags remain",
                  ["R-120", "R-091"], "MUST",
                  [push("img", "t1"), put_manifest("img", "t2", setup=True), push("img2", "other"),
                   step(req("DELETE", "/v2/${repo}/manifests/${img.digest}"), 202, unsupported=DEL_DISABLED("manifest")),
                   step(req("GET", "/v2/${repo}/tags/list"), 200, json_=[{"pointer": "/tags", "equals": ["other"]}])],
                  img_content(img2={"image": {"config": "cfg"}}), versions=V111, features=["delete-manifest"]))
    C.append(case("management/manifest/delete-index", "management",
                  "DELETE of an index by digest answers 202 and the index then answers 404 by digest and tag",
                  ["R-117", "R-120"], "MUST",
                  [push("idx", "i"),
                   step(req("DELETE", "/v2/${repo}/manifests/${idx.digest}"), 202, unsupported=DEL_DISABLED("manifest")),
                   get_manifest("${idx.digest}", status=404), get_manifest("i", status=404)],
                  img_content(idx={"index": {"manifests": ["img"]}}), versions=V111, features=["delete-manifest"]))
    C.append(case("management/manifest/delete-unknown-404", "management",
                  "DELETE of a manifest digest the repository does not have answers 404",
                  ["R-117"], "MUST",
                  [push("img", "v1"),
                   step(req("DELETE", "/v2/${repo}/manifests/${random_digest}"), 404, unsupported=DEL_DISABLED("manifest"))],
                  img_content(), features=["delete-manifest"]))
    C.append(case("management/manifest/delete-unknown-code", "management",
                  "DELETE of an unknown manifest answers 404 MANIFEST_UNKNOWN",
                  ["R-117", "R-147"], "SHOULD",
                  [push("img", "v1"),
                   step(req("DELETE", "/v2/${repo}/manifests/${random_digest}"), 404, codes=["MANIFEST_UNKNOWN"],
                        unsupported=DEL_DISABLED("manifest"))],
                  img_content(), features=["delete-manifest"]))
    C.append(case("management/manifest/delete-unknown-repo-404", "management",
                  "DELETE of a manifest in a repository that does not exist answers 404",
                  ["R-118"], "MUST",
                  [step(req("DELETE", "/v2/${repo}/manifests/${random_digest}"), 404, unsupported=DEL_DISABLED("manifest"))],
                  features=["delete-manifest"]))
    C.append(case("management/manifest/delete-other-repo-untouched", "management",
                  "Deleting a manifest in one repository leaves the same manifest in another repository",
                  ["R-117", "R-017"], "MUST",
                  [push("img", "v1"), push("img", "v1", repo="${repo2}"),
                   step(req("DELETE", "/v2/${repo}/manifests/${img.digest}"), 202, unsupported=DEL_DISABLED("manifest")),
                   get_manifest("v1", repo="${repo2}", status=200, body={"fixture": "img"}),
                   get_manifest("${img.digest}", repo="${repo2}", status=200)],
                  img_content(), features=["delete-manifest"]))
    C.append(case("management/manifest/repush-after-delete", "management",
                  "A deleted manifest can be pushed again and is served again",
                  ["R-117", "R-076"], "MUST",
                  [push("img", "v1"),
                   step(req("DELETE", "/v2/${repo}/manifests/${img.digest}"), 202, unsupported=DEL_DISABLED("manifest")),
                   push("img", "v1"), get_manifest("v1", status=200, body={"fixture": "img"})],
                  img_content(), features=["delete-manifest"]))
    C.append(case("management/blob/delete-202-then-404", "management",
                  "DELETE of a blob answers 202; GET and HEAD then answer 404",
                  ["R-122", "R-124", "R-028", "R-033"], "MUST",
                  [push("blob"),
                   step(req("DELETE", "/v2/${repo}/blobs/${blob.digest}"), 202, unsupported=DEL_DISABLED("blob")),
                   step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 404),
                   step(req("HEAD", "/v2/${repo}/blobs/${blob.digest}"), 404)],
                  {"blob": {"blob": {"size": 1000}}}, features=["delete-blob"],
                  note="400 and 405 both mean blob deletion is disabled (R-124 since 1.1.1); both suites wrongly fail 400."))
    C.append(case("management/blob/delete-unknown-404", "management",
                  "DELETE of a blob the repository does not have answers 404",
                  ["R-123"], "MUST",
                  [push("blob"),
                   step(req("DELETE", "/v2/${repo}/blobs/${random_digest}"), 404, unsupported=DEL_DISABLED("blob"))],
                  {"blob": {"blob": {"size": 10}}}, features=["delete-blob"]))
    C.append(case("management/blob/delete-unknown-code", "management",
                  "DELETE of an unknown blob answers 404 BLOB_UNKNOWN",
                  ["R-123", "R-147"], "SHOULD",
                  [push("blob"),
                   step(req("DELETE", "/v2/${repo}/blobs/${random_digest}"), 404, codes=["BLOB_UNKNOWN"],
                        unsupported=DEL_DISABLED("blob"))],
                  {"blob": {"blob": {"size": 10}}}, features=["delete-blob"]))
    C.append(case("management/blob/delete-twice-404", "management",
                  "A second DELETE of the same blob answers 404",
                  ["R-123", "R-122"], "MUST",
                  [push("blob"),
                   step(req("DELETE", "/v2/${repo}/blobs/${blob.digest}"), 202, unsupported=DEL_DISABLED("blob")),
                   step(req("DELETE", "/v2/${repo}/blobs/${blob.digest}"), 404)],
                  {"blob": {"blob": {"size": 10}}}, features=["delete-blob"]))
    C.append(case("management/blob/repush-after-delete", "management",
                  "A deleted blob can be uploaded again and is served again",
                  ["R-122", "R-043"], "MUST",
                  [push("blob"),
                   step(req("DELETE", "/v2/${repo}/blobs/${blob.digest}"), 202, unsupported=DEL_DISABLED("blob")),
                   push("blob"), step(req("GET", "/v2/${repo}/blobs/${blob.digest}"), 200, body={"fixture": "blob"})],
                  {"blob": {"blob": {"size": 100}}}, features=["delete-blob"]))
    C.append(case("management/blob/delete-other-repo-untouched", "management",
                  "Deleting a blob in one repository leaves the same blob in another repository",
                  ["R-122", "R-023"], "MUST",
                  [push("blob"), push("blob", repo="${repo2}"),
                   step(req("DELETE", "/v2/${repo}/blobs/${blob.digest}"), 202, unsupported=DEL_DISABLED("blob")),
                   step(req("GET", "/v2/${repo2}/blobs/${blob.digest}"), 200, body={"fixture": "blob"})],
                  {"blob": {"blob": {"size": 100}}}, features=["delete-blob"]))
    return C


AREAS = [
    ("management", "Content management (end-9, end-10): tag, manifest and blob deletes, disabled deletes, after-delete 404s.", management),
]
