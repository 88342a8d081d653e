"""tags, referrers, extensions."""
from lib import *

TAGS5 = ["t1", "t2", "t3", "t4", "t5"]


def tag_setup(tags, first_push=True):
    """Push img under the first tag (with its blobs), then PUT the manifest under the others."""
    s = [push("img", tags[0])]
    for t in tags[1:]:
        s.append(put_manifest("img", t, setup=True, name=f"tag {t}"))
    return s


def all_tags(check, query=None):
    """Reads the whole tag list through its pages: a registry may page it (by Link, or by a
    full page of n that the client continues with `last`) even when the case did not ask."""
    return {"paginate": req("GET", "/v2/${repo}/tags/list", query=query), "collect": "/tags",
            "max_pages": 130, "expect": {"collected": dict(check, pointer="")}}


def tags():
    C = []
    C.append(case("tags/list/basic", "discovery", "The tag list of a repository answers 200 with {name, tags}",
                  ["R-088", "R-091", "R-095"], "MUST",
                  tag_setup(["b", "a", "c"]) + [
                      step(req("GET", "/v2/${repo}/tags/list"), 200,
                           json_=[{"pointer": "/name", "equals": "${repo}"}, {"pointer": "/tags", "exists": True}]),
                      all_tags({"length": 3}), all_tags({"contains": ["a", "b", "c"]})],
                  img_content()))
    C.append(case("tags/list/sorted", "discovery",
                  "Tags are listed in lexical (case-insensitive) or ASCII order",
                  ["R-090"], "MUST",
                  tag_setup(["b1", "A2", "a3", "B4", "c5", "_x", "0z", "Z9"]) + [
                      all_tags({"sorted": True}), all_tags({"length": 8})],
                  img_content(), versions=V11))
    C.append(case("tags/list/untagged-repo-empty", "discovery",
                  "A repository holding only an untagged manifest lists an empty `tags` array",
                  ["R-088", "R-089", "R-091"], "MUST",
                  [push("img"), step(req("GET", "/v2/${repo}/tags/list"), 200,
                                     json_=[{"pointer": "/name", "equals": "${repo}"}, {"pointer": "/tags", "length": 0}])],
                  img_content(),
                  note="`tags: null` fails: the body is {\"name\", \"tags\": [...]}."))
    C.append(case("tags/list/unknown-repo-404", "discovery", "Listing tags of a repository that does not exist answers 404",
                  ["R-082"], "MUST", [step(req("GET", "/v2/${repo}/tags/list"), 404)]))
    C.append(case("tags/list/n-zero", "discovery", "n=0 answers an empty list and no Link",
                  ["R-094"], "MUST",
                  tag_setup(TAGS5) + [step(req("GET", "/v2/${repo}/tags/list", query=[["n", "0"]]), 200,
                                           json_=[{"pointer": "/tags", "length": 0}], link={"absent": True})],
                  img_content()))
    C.append(case("tags/list/n-larger-than-total", "discovery", "n larger than the number of tags returns all of them (over several pages only with Link)",
                  ["R-092"], "MUST",
                  tag_setup(TAGS5) + [all_tags({"length": 5}, query=[["n", "100"]]),
                                      all_tags({"contains": TAGS5}, query=[["n", "100"]])],
                  img_content()))
    C.append(case("tags/list/n-first-page", "discovery",
                  "n=2 returns exactly the first 2 tags, or fewer with a Link",
                  ["R-092", "R-095"], "MUST",
                  tag_setup(TAGS5) + [
                      {"paginate": req("GET", "/v2/${repo}/tags/list", query=[["n", "2"]]), "collect": "/tags",
                       "expect": {"page_size_at_most": 2, "collected": {"pointer": "", "equals": TAGS5}}}],
                  img_content(),
                  note="Following Link to the end must yield every tag exactly once, in order; a short page without Link loses tags and fails."))
    many = [f"tag{i:02d}" for i in range(23)]
    C.append(case("tags/list/paginate-to-end", "discovery",
                  "Paginating 23 tags with n=5 through Link rel=\"next\" yields every tag once, in order",
                  ["R-092", "R-093", "R-096"], "MUST",
                  tag_setup(many) + [
                      {"paginate": req("GET", "/v2/${repo}/tags/list", query=[["n", "5"]]), "collect": "/tags",
                       "max_pages": 30,
                       "expect": {"page_size_at_most": 5, "collected": {"pointer": "", "equals": many}}}],
                  img_content(), versions=V111))
    mixed = ["Alpha", "beta", "Gamma", "delta", "epsilon", "Zeta", "eta"]
    C.append(case("tags/list/paginate-mixed-case-sorted", "discovery",
                  "Paginated mixed-case tags stay in one consistent order across pages",
                  ["R-090", "R-092", "R-093"], "MUST",
                  tag_setup(mixed) + [
                      {"paginate": req("GET", "/v2/${repo}/tags/list", query=[["n", "3"]]), "collect": "/tags",
                       "expect": {"page_size_at_most": 3, "collected": {"pointer": "", "sorted": True}}},
                      {"paginate": req("GET", "/v2/${repo}/tags/list", query=[["n", "3"]]), "collect": "/tags",
                       "expect": {"collected": {"pointer": "", "length": 7}}}],
                  img_content(), versions=V111))
    big = [f"{'A' if i % 3 == 0 else 'a'}{i:03d}" for i in range(120)]
    C.append(case("tags/list/many-tags", "discovery",
                  "120 mixed-case tags are all listed, in lexical or ASCII order, following any Link",
                  ["R-088", "R-090", "R-093"], "MUST",
                  tag_setup(big) + [
                      {"paginate": req("GET", "/v2/${repo}/tags/list"), "collect": "/tags", "max_pages": 130,
                       "expect": {"collected": {"pointer": "", "length": 120}}},
                      {"paginate": req("GET", "/v2/${repo}/tags/list"), "collect": "/tags", "max_pages": 130,
                       "expect": {"collected": {"pointer": "", "contains": big}}},
                      {"paginate": req("GET", "/v2/${repo}/tags/list"), "collect": "/tags", "max_pages": 130,
                       "expect": {"collected": {"pointer": "", "sorted": True}}}],
                  img_content(), versions=V111,
                  note="A registry may page the list on its own (Link) even without n."))
    C.append(case("tags/list/last", "discovery", "`last` (without `n`) returns the tags strictly after it",
                  ["R-096", "R-097"], "MUST",
                  tag_setup(TAGS5) + [all_tags({"equals": ["t3", "t4", "t5"]}, query=[["last", "t2"]])],
                  img_content()))
    C.append(case("tags/list/last-with-n", "discovery", "`last` with `n` returns up to n tags strictly after it",
                  ["R-096", "R-092"], "MUST",
                  tag_setup(TAGS5) + [
                      step(req("GET", "/v2/${repo}/tags/list", query=[["n", "2"], ["last", "t1"]]), 200,
                           json_=[{"pointer": "/tags", "not_contains": "t1"}, {"pointer": "/tags", "contains": "t2"}]),
                      {"paginate": req("GET", "/v2/${repo}/tags/list", query=[["n", "2"], ["last", "t1"]]),
                       "collect": "/tags", "expect": {"page_size_at_most": 2, "collected": {"pointer": "", "equals": ["t2", "t3", "t4", "t5"]}}}],
                  img_content()))
    C.append(case("tags/list/last-is-final-tag", "discovery", "`last` naming the final tag returns an empty list",
                  ["R-096"], "MUST",
                  tag_setup(TAGS5) + [step(req("GET", "/v2/${repo}/tags/list", query=[["last", "t5"]]), 200,
                                           json_=[{"pointer": "/tags", "length": 0}])],
                  img_content()))
    C.append(case("tags/list/last-missing-tag", "discovery",
                  "`last` naming a tag that does not exist returns the tags after it in order",
                  ["R-096"], "MAY",
                  tag_setup(TAGS5) + [all_tags({"equals": ["t3", "t4", "t5"]}, query=[["last", "t25"]])],
                  img_content(), note="The FAQ leaves this unspecified; held at MAY."))
    C.append(case("tags/list/after-new-tag", "discovery", "A newly pushed tag appears in the list",
                  ["R-088", "R-091"], "MUST",
                  [push("img", "one"), step(req("GET", "/v2/${repo}/tags/list"), 200, json_=[{"pointer": "/tags", "equals": ["one"]}]),
                   put_manifest("img", "two"),
                   step(req("GET", "/v2/${repo}/tags/list"), 200, json_=[{"pointer": "/tags", "equals": ["one", "two"]}])],
                  img_content()))
    return C


A = "application/vnd.example.conformance.type-a"
B = "application/vnd.example.conformance.type-b"
IDX_T = "application/vnd.example.conformance.index"
ANN = {"org.opencontainers.conformance.test": "referrer", "org.example.note": "ü"}
F = ["referrers"]


def ref_content(**more):
    c = {
        "cfg": {"config": {}},
        "layer": {"blob": {"size": 512}},
        "subj": {"image": {"config": "cfg", "layers": ["layer"]}},
        "empty": {"config": {"empty": True}},
        "payload": {"blob": {"text": "referrer payload", "media_type": "application/vnd.example.payload"}},
        # artifactType set, empty config, one layer
        "ra": {"image": {"config": "empty", "layers": ["payload"], "subject": "subj", "artifact_type": A,
                         "annotations": ANN}},
        # no artifactType: the config media type is the artifact type
        "cfgb": {"config": {"media_type": B}},
        "rb": {"image": {"config": "cfgb", "layers": ["payload"], "subject": "subj"}},
    }
    c.update(more)
    return c


def probe():
    return step(req("GET", "/v2/${repo}/referrers/${subj.digest}"), 200, name="probe the referrers API",
                unsupported=unsup(404, "no referrers API", feature="referrers"))


def referrers_get(query=None, **kw):
    return step(req("GET", "/v2/${repo}/referrers/${subj.digest}", query=query), 200, **kw)


def paginate_referrers(check):
    """Reads the whole referrers list through its pages (a registry may page it, with Link)."""
    return {"paginate": req("GET", "/v2/${repo}/referrers/${subj.digest}"), "collect": "/manifests/*/digest",
            "expect": {"collected": check}}


def referrers():
    C = []
    C.append(case("referrers/list/basic", "discovery",
                  "The referrers of a subject are listed as an image index with the exact Content-Type",
                  ["R-098", "R-101", "R-102", "R-103", "R-139"], "MUST",
                  [push("subj", "s"), push("ra"), push("rb"), probe(),
                   referrers_get(headers={"Content-Type": {"equals": OCI_INDEX}},
                                 json_=[{"pointer": "/schemaVersion", "equals": 2},
                                        {"pointer": "/mediaType", "equals": OCI_INDEX}]),
                   paginate_referrers({"contains": ["${ra.digest}", "${rb.digest}"]}),
                   paginate_referrers({"length": 2})],
                  ref_content(), versions=V11, features=F))
    C.append(case("referrers/list/descriptor-fields", "discovery",
                  "Each referrer entry is a full descriptor: mediaType, digest, size",
                  ["R-101", "R-103"], "MUST",
                  [push("subj", "s"), push("ra"), probe(),
                   referrers_get(json_=[{"pointer": "/manifests/0/digest", "equals": "${ra.digest}"},
                                        {"pointer": "/manifests/0/mediaType", "equals": OCI_MANIFEST},
                                        {"pointer": "/manifests/0/size", "exists": True}])],
                  ref_content(), versions=V11, features=F,
                  note="size is only checked for presence: templates expand to strings."))
    C.append(case("referrers/list/artifact-type-from-manifest", "discovery",
                  "A referrer's artifactType is the manifest's artifactType",
                  ["R-104"], "MUST",
                  [push("subj", "s"), push("ra"), probe(),
                   referrers_get(json_=[{"pointer": "/manifests/0/artifactType", "equals": A}])],
                  ref_content(), versions=V11, features=F))
    C.append(case("referrers/list/artifact-type-from-config", "discovery",
                  "A referrer image without artifactType is listed with its config mediaType as artifactType",
                  ["R-105"], "MUST",
                  [push("subj", "s"), push("rb"), probe(),
                   referrers_get(json_=[{"pointer": "/manifests/0/artifactType", "equals": B}])],
                  ref_content(), versions=V11, features=F))
    C.append(case("referrers/list/index-with-artifact-type", "discovery",
                  "An index referrer with artifactType is listed with it",
                  ["R-104", "R-103"], "MUST",
                  [push("subj", "s"), push("ri"), probe(),
                   referrers_get(json_=[{"pointer": "/manifests/0/digest", "equals": "${ri.digest}"},
                                        {"pointer": "/manifests/0/mediaType", "equals": OCI_INDEX},
                                        {"pointer": "/manifests/0/artifactType", "equals": IDX_T}])],
                  ref_content(child={"image": {"config": "cfg"}},
                              ri={"index": {"manifests": ["child"], "subject": "subj", "artifact_type": IDX_T}}),
                  versions=V11, features=F))
    C.append(case("referrers/list/index-without-artifact-type", "discovery",
                  "An index referrer without artifactType is listed with the artifactType field omitted",
                  ["R-106", "R-103"], "MUST",
                  [push("subj", "s"), push("ri"), probe(),
                   referrers_get(json_=[{"pointer": "/manifests/0/digest", "equals": "${ri.digest}"},
                                        {"pointer": "/manifests/0/artifactType", "exists": False}])],
                  ref_content(child={"image": {"config": "cfg"}},
                              ri={"index": {"manifests": ["child"], "subject": "subj"}}),
                  versions=V11, features=F))
    C.append(case("referrers/list/annotations", "discovery", "Referrer entries carry the referrer's annotations",
                  ["R-107"], "MUST",
                  [push("subj", "s"), push("ra"), probe(),
                   referrers_get(json_=[{"pointer": "/manifests/0/annotations", "equals": ANN}])],
                  ref_content(), versions=V11, features=F))
    C.append(case("referrers/list/empty", "discovery", "A subject without referrers lists an empty `manifests` array",
                  ["R-108", "R-098", "R-101"], "MUST",
                  [push("subj", "s"), probe(),
                   referrers_get(headers={"Content-Type": {"equals": OCI_INDEX}},
                                 json_=[{"pointer": "/manifests", "length": 0}])],
                  ref_content(), versions=V11, features=F))
    C.append(case("referrers/list/unknown-subject-200", "discovery",
                  "Referrers of a digest the repository does not have answer 200 with an empty list, never 404",
                  ["R-099", "R-108"], "MUST",
                  [push("subj", "s"), probe(),
                   step(req("GET", "/v2/${repo}/referrers/${random_digest}"), 200, json_=[{"pointer": "/manifests", "length": 0}])],
                  ref_content(), versions=V11, features=F))
    C.append(case("referrers/list/malformed-digest-400", "discovery", "Referrers of a malformed digest answer 400",
                  ["R-100"], "MUST",
                  [push("subj", "s"), probe(),
                   step(req("GET", "/v2/${repo}/referrers/sha256:not-a-digest"), 400)],
                  ref_content(), versions=V11, features=F))
    C.append(case("referrers/list/missing-subject", "discovery",
                  "A referrer pushed before its subject exists is listed for that subject",
                  ["R-034", "R-103", "R-139"], "MUST",
                  [push("other", "o"),
                   push("ra"),
                   step(req("GET", "/v2/${repo}/referrers/${other.digest}"), 200, name="probe the referrers API",
                        unsupported=unsup(404, "no referrers API", feature="referrers")),
                   referrers_get(json_=[{"pointer": "/manifests/*/digest", "equals": ["${ra.digest}"]}])],
                  ref_content(other={"image": {"config": "cfg"}}), versions=V11, features=F))
    C.append(case("referrers/list/index-subject", "discovery", "Referrers of an index subject are listed",
                  ["R-103", "R-139"], "MUST",
                  [push("idx", "i"),
                   push("r"),
                   step(req("GET", "/v2/${repo}/referrers/${idx.digest}"), 200, name="probe the referrers API",
                        unsupported=unsup(404, "no referrers API", feature="referrers")),
                   step(req("GET", "/v2/${repo}/referrers/${idx.digest}"), 200,
                        json_=[{"pointer": "/manifests/*/digest", "equals": ["${r.digest}"]}])],
                  ref_content(idx={"index": {"manifests": ["subj"]}},
                              r={"image": {"config": "empty", "layers": ["payload"], "subject": "idx", "artifact_type": A}}),
                  versions=V11, features=F))
    C.append(case("referrers/list/other-subject-not-listed", "discovery",
                  "Referrers of another subject are not listed",
                  ["R-103"], "MUST",
                  [push("subj", "s"), push("ra"), push("other", "o"), push("r2"), probe(),
                   referrers_get(json_=[{"pointer": "/manifests/*/digest", "not_contains": "${r2.digest}"},
                                        {"pointer": "/manifests/*/digest", "contains": "${ra.digest}"}])],
                  ref_content(other={"image": {"config": "cfg"}},
                              r2={"image": {"config": "empty", "layers": ["payload"], "subject": "other", "artifact_type": A}}),
                  versions=V11, features=F))
    C.append(case("referrers/filter/artifact-type", "discovery",
                  "Filtering by artifactType lists only matching referrers and sets OCI-Filters-Applied: artifactType",
                  ["R-110", "R-111"], "SHOULD",
                  [push("subj", "s"), push("ra"), push("rb"), probe(),
                   referrers_get(query=[["artifactType", A]], headers={"OCI-Filters-Applied": {"contains": "artifactType"}},
                                 json_=[{"pointer": "/manifests/*/digest", "equals": ["${ra.digest}"]}])],
                  ref_content(), versions=V11, features=F,
                  note="Filtering is SHOULD (R-110); when applied the header is MUST (R-111). A registry that does not filter fails this SHOULD case."))
    C.append(case("referrers/filter/config-type", "discovery",
                  "Filtering by a type that comes from the config mediaType matches that referrer",
                  ["R-110", "R-105"], "SHOULD",
                  [push("subj", "s"), push("ra"), push("rb"), probe(),
                   referrers_get(query=[["artifactType", B]],
                                 json_=[{"pointer": "/manifests/*/digest", "equals": ["${rb.digest}"]}])],
                  ref_content(), versions=V11, features=F))
    C.append(case("referrers/filter/index-type", "discovery",
                  "Filtering by an index referrer's artifactType lists only that index",
                  ["R-110", "R-104"], "SHOULD",
                  [push("subj", "s"), push("ra"), push("ri"), probe(),
                   referrers_get(query=[["artifactType", IDX_T]],
                                 json_=[{"pointer": "/manifests/*/digest", "equals": ["${ri.digest}"]}])],
                  ref_content(child={"image": {"config": "cfg"}},
                              ri={"index": {"manifests": ["child"], "subject": "subj", "artifact_type": IDX_T}}),
                  versions=V11, features=F))
    C.append(case("referrers/filter/no-match", "discovery",
                  "A filter that matches nothing answers 200 with an empty list and OCI-Filters-Applied",
                  ["R-110", "R-111", "R-108"], "SHOULD",
                  [push("subj", "s"), push("ra"), probe(),
                   referrers_get(query=[["artifactType", "application/vnd.example.none"]],
                                 headers={"OCI-Filters-Applied": {"contains": "artifactType"}},
                                 json_=[{"pointer": "/manifests", "length": 0}])],
                  ref_content(), versions=V11, features=F))
    many = {f"r{i:02d}": {"image": {"config": "empty", "layers": ["payload"], "subject": "subj", "artifact_type": A,
                                     "annotations": {"n": str(i)}}} for i in range(12)}
    C.append(case("referrers/list/paginate", "discovery",
                  "Twelve referrers are all reachable, following Link rel=\"next\" when the list is split",
                  ["R-109", "R-103"], "MUST",
                  [push("subj", "s")] + [push(n) for n in sorted(many)] + [probe(),
                      {"paginate": req("GET", "/v2/${repo}/referrers/${subj.digest}"), "collect": "/manifests",
                       "expect": {"collected": {"pointer": "", "length": 12}}}],
                  ref_content(**many), versions=V11, features=F))
    C.append(case("referrers/push/oci-subject-index", "discovery",
                  "An index with `subject` pushed to a registry with referrers answers with OCI-Subject",
                  ["R-086"], "SHOULD",
                  [push("subj", "s"), push("child"), probe(),
                   put_manifest("ri", "${ri.digest}", content_type=OCI_INDEX, headers={"OCI-Subject": {"equals": "${subj.digest}"}})],
                  ref_content(child={"image": {"config": "cfg"}}, ri={"index": {"manifests": ["child"], "subject": "subj", "artifact_type": IDX_T}}),
                  versions=V11, features=F, note="R-086 names image manifests; an index is held at SHOULD."))
    C.append(case("referrers/tag-schema/fallback-tag", "discovery",
                  "The referrers fallback tag `<alg>-<encoded>` is a valid tag: an index pushed under it is served back",
                  ["R-135", "R-010"], "MUST",
                  [push("subj", "s"), push("ra"),
                   put_manifest("fallback", "sha256-${subj.encoded}", content_type=OCI_INDEX),
                   get_manifest("sha256-${subj.encoded}", status=200, body={"fixture": "fallback"},
                                headers={"Content-Type": {"equals": OCI_INDEX}})],
                  ref_content(fallback={"index": {"manifests": ["ra"]}}), versions=V11,
                  note="Works with or without the referrers API: clients fall back to this tag (71 chars)."))
    C.append(case("referrers/after-referrer-delete", "management",
                  "A deleted referrer disappears from the referrers list",
                  ["R-103", "R-117"], "MUST",
                  [push("subj", "s"), push("ra"), push("rb"), probe(),
                   step(req("DELETE", "/v2/${repo}/manifests/${ra.digest}"), 202,
                        unsupported=unsup([400, 405], "manifest delete disabled", feature="delete-manifest")),
                   referrers_get(json_=[{"pointer": "/manifests/*/digest", "equals": ["${rb.digest}"]}])],
                  ref_content(), versions=V11, features=["referrers", "delete-manifest"]))
    return C


def extensions():
    C = []
    NO = unsup([404, 405, 400], "extensions not supported", ["UNSUPPORTED", "EXTENSION_UNKNOWN", "NAME_UNKNOWN", "NAME_INVALID", "MANIFEST_UNKNOWN"])
    C.append(case("extensions/discover/registry", "discovery",
                  "GET /v2/_oci/ext/discover answers 200 with an `extensions` array",
                  ["R-158", "R-155", "R-153"], "MUST",
                  [step(req("GET", "/v2/_oci/ext/discover"), 200, json_=[{"pointer": "/extensions", "exists": True}],
                        unsupported=NO)],
                  versions=V11, features=["extensions"],
                  note="404/405 or UNSUPPORTED mean the optional extension API is absent (unsupported)."))
    C.append(case("extensions/discover/registry-entries", "discovery",
                  "Every discovered extension names `name`, `url` and `endpoints`",
                  ["R-158", "R-154"], "MUST",
                  [step(req("GET", "/v2/_oci/ext/discover"), 200,
                        json_=[{"pointer": "/extensions/*/name", "exists": True}],
                        unsupported=NO)],
                  versions=V11, features=["extensions"]))
    C.append(case("extensions/discover/content-type", "discovery",
                  "The discover payload is typed JSON through Content-Type",
                  ["R-156", "R-158"], "SHOULD",
                  [step(req("GET", "/v2/_oci/ext/discover", headers={"Accept": "application/json"}), 200,
                        headers={"Content-Type": {"matches": "^application/([a-z0-9.+-]*\\+)?json"}}, unsupported=NO)],
                  versions=V11, features=["extensions"]))
    C.append(case("extensions/discover/repository", "discovery",
                  "GET /v2/<name>/_oci/ext/discover answers 200 with an `extensions` array",
                  ["R-158", "R-155"], "MUST",
                  [push("img", "v1"),
                   step(req("GET", "/v2/${repo}/_oci/ext/discover"), 200, json_=[{"pointer": "/extensions", "exists": True}],
                        unsupported=NO)],
                  img_content(), versions=V11, features=["extensions"]))
    return C


AREAS = [
    ("tags", "Listing tags (end-8a/8b): body, order, n, last, Link pagination to the end.", tags),
    ("referrers", "Listing referrers (end-12a/12b): index body, artifactType rules, annotations, filters, pagination, OCI-Subject.", referrers),
    ("extensions", "Optional extensions: _oci/ext/discover at registry and repository level.", extensions),
]
