//! What the request layer generates: probes drawn from the spec's grammars, valid and almost
//! valid, weighted toward the fixture's content.

use proptest::prelude::*;
use proptest::sample::Index;

use super::{
    Body, ContentType, Probe, PutRef, Repo, Target, UploadDigest, FIXTURE_TAGS, LAYER_SIZE,
};
use crate::fuzz::grammar::{self};
use crate::fuzz::push::{self, OCI_INDEX, OCI_MANIFEST};

fn repo() -> impl Strategy<Value = Repo> {
    prop_oneof![4 => Just(Repo::Fixture), 1 => grammar::name_suffix().prop_map(Repo::Fresh)]
}

fn manifest_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => (0..FIXTURE_TAGS.len()).prop_map(Target::FixtureTag),
        2 => Just(Target::FixtureManifest),
        1 => Just(Target::FixtureReferrer),
        3 => grammar::digest().prop_map(Target::Literal),
        3 => grammar::tag().prop_map(Target::Literal),
    ]
}

fn accept() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        2 => Just(Some(OCI_MANIFEST.to_string())),
        1 => Just(Some(format!("{OCI_MANIFEST}, {OCI_INDEX}"))),
        1 => Just(Some(format!("{OCI_INDEX};q=0.9, {OCI_MANIFEST};q=0.5"))),
        1 => Just(Some("*/*".to_string())),
        1 => Just(Some(push::DOCKER_MANIFEST.to_string())),
        1 => Just(Some("application/json".to_string())),
        1 => Just(Some(OCI_INDEX.to_string())),
    ]
}

fn noise_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    // No `$`: reproducers are case files, where `${` starts a template.
    prop::collection::vec(
        ("X-Fuzz-[a-z]{1,6}", "[!-#%-~]([ -#%-~]{0,18}[!-#%-~])?"),
        0..3,
    )
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        4 => Just(Body::Valid),
        3 => (any::<Index>(), 0u8..4).prop_map(|(i, op)| Body::Mutated { pos: i.index(400), op }),
        1 => Just(Body::MediaType(None)),
        1 => prop_oneof![
            Just(OCI_INDEX.to_string()),
            Just(push::DOCKER_MANIFEST.to_string()),
            "[a-z]{1,8}/[a-z.+]{1,12}",
        ].prop_map(|m| Body::MediaType(Some(m))),
        2 => Just(Body::Dangling),
        1 => Just(Body::NonDistributable),
        1 => prop_oneof![Just(3_900_000u32), Just(4_300_000u32), 1000u32..100_000].prop_map(Body::Huge),
        1 => prop_oneof![1u16..64, Just(2000u16), Just(20000u16)].prop_map(Body::Deep),
        1 => Just(Body::InvalidUtf8),
        1 => "[ -#%-~]{0,40}".prop_map(Body::NotJson),
    ]
}

fn put_ref() -> impl Strategy<Value = PutRef> {
    prop_oneof![
        4 => "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,12}".prop_map(PutRef::Tag),
        3 => Just(PutRef::BodyDigest),
        1 => grammar::tag().prop_map(PutRef::Tag),
        2 => grammar::digest().prop_map(PutRef::Literal),
    ]
}

fn content_type() -> impl Strategy<Value = ContentType> {
    prop_oneof![
        6 => Just(ContentType::Matching),
        1 => Just(ContentType::WithParams),
        1 => Just(ContentType::Missing),
        1 => prop_oneof![
            Just(push::DOCKER_MANIFEST.to_string()),
            Just(OCI_INDEX.to_string()),
            Just("application/json".to_string()),
            Just("text/plain".to_string()),
        ].prop_map(ContentType::Other),
    ]
}

fn chunk(at: u64) -> impl Strategy<Value = (u16, String)> {
    (1u16..512).prop_flat_map(move |l| (Just(l), grammar::content_range(at, l as u64)))
}

pub fn probe() -> impl Strategy<Value = Probe> {
    prop_oneof![
        4 => (repo(), manifest_target(), any::<bool>(), accept(), noise_headers()).prop_map(
            |(repo, reference, head, accept, headers)| Probe::GetManifest { repo, reference, head, accept, headers }),
        3 => (
            repo(),
            prop_oneof![3 => Just(Target::FixtureBlob), 2 => grammar::digest().prop_map(Target::Literal)],
            prop::bool::weighted(0.2),
            prop::option::weighted(0.7, grammar::range_header(LAYER_SIZE as u64)),
        ).prop_map(|(repo, digest, head, range)| Probe::GetBlob { repo, digest, head, range: if head { None } else { range } }),
        3 => (prop_oneof![6 => "[a-z0-9]{1,8}", 1 => grammar::name_suffix()], put_ref(), content_type(), body()).prop_map(
            |(repo, reference, content_type, body)| Probe::PutManifest { repo, reference, content_type, body }),
        3 => (any::<u64>(), chunk(0)).prop_flat_map(|(seed, first)| {
            let at = first.0 as u64;
            (Just(seed), Just(first), prop::option::of(chunk(at)))
        }).prop_map(|(seed, first, second)| Probe::Chunks { seed, first, second }),
        2 => (
            any::<u64>(),
            0u16..2048,
            prop_oneof![4 => Just(UploadDigest::Correct), 1 => Just(UploadDigest::Sha512), 3 => grammar::digest().prop_map(UploadDigest::Literal)],
            any::<bool>(),
        ).prop_map(|(seed, size, digest, single_post)| Probe::CloseUpload { seed, size, digest, single_post }),
        3 => (
            prop_oneof![5 => Just(Repo::Fixture), 1 => grammar::name_suffix().prop_map(Repo::Fresh)],
            prop::option::weighted(0.8, grammar::n_param()),
            prop::option::weighted(0.5, prop_oneof![
                3 => (0..FIXTURE_TAGS.len()).prop_map(Target::FixtureTag),
                1 => grammar::tag().prop_map(Target::Literal),
            ]),
        ).prop_map(|(repo, n, last)| Probe::ListTags { repo, n, last }),
        2 => (
            prop_oneof![5 => Just(Repo::Fixture), 1 => grammar::name_suffix().prop_map(Repo::Fresh)],
            prop_oneof![2 => Just(Target::FixtureManifest), 3 => grammar::digest().prop_map(Target::Literal)],
            prop::option::weighted(0.4, grammar::artifact_type()),
        ).prop_map(|(repo, digest, artifact_type)| Probe::Referrers { repo, digest, artifact_type }),
        1 => (
            "[a-z0-9]{1,8}",
            any::<bool>(),
            prop_oneof![grammar::digest(), grammar::tag()],
        ).prop_map(|(repo, blob, reference)| Probe::Delete { repo, blob, reference }),
    ]
}
