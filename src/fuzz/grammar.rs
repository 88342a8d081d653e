//! The spec's grammars (requirements §1.1) as classifiers and as proptest strategies.
//!
//! Generators produce valid, almost-valid and invalid values on purpose; the oracle never trusts
//! the generator's intent and classifies every generated value again with the grammar itself,
//! so a "mutation" that happens to stay valid is still judged as valid.

use std::sync::LazyLock;

use proptest::prelude::*;
use regex::Regex;
use sha2::{Digest as _, Sha256, Sha512};

static DIGEST_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$").expect("digest regex")
});
static CHUNK_RANGE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]+)-([0-9]+)$").expect("range regex"));

pub use crate::contract::{valid_name, valid_tag};

/// How a digest string stands against the grammar and the registered algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestClass {
    /// `sha256:` + 64 lowercase hex: every registry must understand it.
    Sha256,
    /// `sha512:` + 128 lowercase hex: registered, but support is optional in practice.
    Sha512,
    /// Grammatical but unregistered algorithm, or a registered one with a wrong encoding.
    Unsupported,
    /// Does not match the digest grammar at all.
    Malformed,
}

impl DigestClass {
    pub fn label(self) -> &'static str {
        match self {
            DigestClass::Sha256 => "sha256",
            DigestClass::Sha512 => "sha512",
            DigestClass::Unsupported => "unsupported-digest",
            DigestClass::Malformed => "malformed-digest",
        }
    }
}

pub fn classify_digest(s: &str) -> DigestClass {
    let Some(c) = DIGEST_RE.captures(s) else {
        return DigestClass::Malformed;
    };
    let (alg, enc) = (&c[1], &c[2]);
    let hex =
        |n: usize| enc.len() == n && enc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match alg {
        "sha256" if hex(64) => DigestClass::Sha256,
        "sha512" if hex(128) => DigestClass::Sha512,
        _ => DigestClass::Unsupported,
    }
}

/// What a manifest `<reference>` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefClass {
    Tag,
    Digest(DigestClass),
    Invalid,
}

pub fn classify_reference(s: &str) -> RefClass {
    if valid_tag(s) {
        RefClass::Tag
    } else if s.contains(':') {
        match classify_digest(s) {
            DigestClass::Malformed => RefClass::Invalid,
            c => RefClass::Digest(c),
        }
    } else {
        RefClass::Invalid
    }
}

impl RefClass {
    pub fn label(self) -> &'static str {
        match self {
            RefClass::Tag => "tag",
            RefClass::Digest(c) => c.label(),
            RefClass::Invalid => "invalid-reference",
        }
    }
}

/// Parses a chunk `Content-Range` per the spec grammar (no unit, inclusive bounds).
pub fn parse_chunk_range(s: &str) -> Option<(u64, u64)> {
    let c = CHUNK_RANGE_RE.captures(s)?;
    Some((c[1].parse().ok()?, c[2].parse().ok()?))
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
pub fn sha512_digest(bytes: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(bytes)))
}

/// What a query component keeps as is: RFC 3986's unreserved characters.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a generated path keeps as is: the unreserved characters, `/` (repository names contain
/// it on purpose) and the sub-delimiters digests and references use.
const PATH: &percent_encoding::AsciiSet = &QUERY
    .remove(b'/')
    .remove(b':')
    .remove(b'+')
    .remove(b'=')
    .remove(b'@');

/// Percent-encodes a generated path segment so the URL parser neither rejects nor normalises it.
pub fn encode_path(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PATH).to_string()
}

/// Percent-encodes a query component.
pub fn encode_query(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY).to_string()
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}((\\.|_|__|-{1,2})[a-z0-9]{1,6}){0,2}"
}

/// A repository-name suffix (appended to the run's own prefix): valid, almost valid or invalid.
/// Dot-only segments are never produced: URL parsers would normalise them away.
pub fn name_suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(component(), 1..3).prop_map(|v| v.join("/")),
        1 => (component(), 180usize..260).prop_map(|(c, n)| {
            // very long but grammatical: tests registries' (legitimate) length caps
            let mut s = c;
            while s.len() < n { s.push_str("/abcdefghij"); }
            s
        }),
        4 => (component(), mutation_kind(), any::<prop::sample::Index>())
            .prop_map(|(c, m, i)| mutate_name(&c, m, i)),
        1 => "[A-Z][a-zA-Z0-9]{0,6}",
        1 => "[a-z0-9]{1,4}[^a-z0-9/._\\-%?#]{1,2}[a-z0-9]{0,4}",
    ]
    .prop_filter("no dot segments", |s| {
        s.split('/').all(|p| p != "." && p != "..")
    })
}

#[derive(Debug, Clone, Copy)]
enum NameMutation {
    Upper,
    DoubleSep,
    LeadSep,
    TrailSep,
    EmptyComponent,
    TripleUnderscore,
    DotDash,
}

fn mutation_kind() -> impl Strategy<Value = NameMutation> {
    prop_oneof![
        Just(NameMutation::Upper),
        Just(NameMutation::DoubleSep),
        Just(NameMutation::LeadSep),
        Just(NameMutation::TrailSep),
        Just(NameMutation::EmptyComponent),
        Just(NameMutation::TripleUnderscore),
        Just(NameMutation::DotDash),
    ]
}

fn mutate_name(c: &str, m: NameMutation, i: prop::sample::Index) -> String {
    let pos = i.index(c.len() + 1);
    let (a, b) = c.split_at(pos.min(c.len()));
    match m {
        NameMutation::Upper => format!("{a}X{b}"),
        NameMutation::DoubleSep => format!("{c}..x"),
        NameMutation::LeadSep => format!("_{c}"),
        NameMutation::TrailSep => format!("{c}-"),
        NameMutation::EmptyComponent => format!("{c}//x"),
        NameMutation::TripleUnderscore => format!("{c}___x"),
        NameMutation::DotDash => format!("{c}.-x"),
    }
}

/// Tags: valid, almost valid (129 chars, leading `.`/`-`, forbidden characters) and invalid.
pub fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
        1 => "[a-zA-Z0-9_][a-zA-Z0-9._-]{127}",
        1 => "[a-zA-Z0-9_][a-zA-Z0-9._-]{128,140}",
        2 => "[.-][a-zA-Z0-9._-]{0,10}",
        2 => "[a-zA-Z0-9_]{1,6}[+~!*'(),;&]{1,2}[a-z]{0,4}",
        1 => "[a-z]{1,4}%[0-9A-F]{2}",
    ]
    .prop_filter("no dot segments", |s| s != "." && s != "..")
}

/// Digests: canonical sha256, sha512, and the near misses the issue lists.
pub fn digest() -> impl Strategy<Value = String> {
    let hex = |n: usize| {
        prop::collection::vec(0u8..16, n)
            .prop_map(|v| v.iter().map(|d| format!("{d:x}")).collect::<String>())
    };
    prop_oneof![
        6 => hex(64).prop_map(|h| format!("sha256:{h}")),
        1 => hex(128).prop_map(|h| format!("sha512:{h}")),
        2 => (hex(64), 0usize..64).prop_map(|(h, i)| { let mut h = h; h.replace_range(i..i+1, "A"); format!("sha256:{h}") }),
        2 => (1usize..130).prop_flat_map(hex).prop_filter("wrong length", |h| h.len() != 64 && h.len() != 128).prop_map(|h| format!("sha256:{h}")),
        2 => ("[a-z0-9]{2,8}([+._-][a-z0-9]{1,6})?", hex(64))
            .prop_filter("unregistered", |(a, _)| a != "sha256" && a != "sha512")
            .prop_map(|(a, h)| format!("{a}:{h}")),
        1 => hex(64).prop_map(|h| format!("SHA256:{h}")),
        1 => hex(64).prop_map(|h| format!("sha256{h}")),
        1 => Just("sha256:".to_string()),
        1 => hex(64).prop_map(|h| format!("sha256::{h}")),
        1 => (hex(60), "[g-zG-Z!]{4}").prop_map(|(h, z)| format!("sha256:{h}{z}")),
        1 => "[a-z0-9:]{1,12}",
    ]
}

/// `Range` request header values for blob GETs, given the blob size.
pub fn range_header(size: u64) -> impl Strategy<Value = String> {
    let s = size.max(1);
    prop_oneof![
        4 => (0..s, 0..s).prop_map(|(a, b)| { let (a, b) = (a.min(b), a.max(b)); format!("bytes={a}-{b}") }),
        2 => (0..s).prop_map(|a| format!("bytes={a}-")),
        2 => (1..=s).prop_map(|n| format!("bytes=-{n}")),
        1 => (0..s, 0..s, 0..s).prop_map(|(a, b, c)| format!("bytes=0-{a}, {b}-{}", b.max(c))),
        3 => (s..s + 1000).prop_map(|a| format!("bytes={a}-{}", a + 10)),
        1 => (s..s + 1000).prop_map(|a| format!("bytes={a}-")),
        1 => Just("bytes=-0".to_string()),
        2 => (1..s + 5, 0..s).prop_map(|(a, b)| format!("bytes={}-{}", a.max(b + 1), b)),
        1 => (0..s).prop_map(|a| format!("items={a}-")),
        1 => (0..s).prop_map(|a| format!("bytes {a}-")),
        1 => "bytes=[a-z0-9,=-]{0,8}",
    ]
}

/// Chunk `Content-Range` request values for a chunk of `len` bytes at offset `at`.
pub fn content_range(at: u64, len: u64) -> impl Strategy<Value = String> {
    let end = at + len.max(1) - 1;
    prop_oneof![
        4 => Just(format!("{at}-{end}")),
        2 => (1u64..64).prop_map(move |k| format!("{}-{}", at + k, end + k)),
        1 => Just(format!("bytes {at}-{end}")),
        1 => Just(format!("bytes={at}-{end}")),
        1 => Just(format!("bytes {at}-{end}/{}", end + 1)),
        1 => Just(format!("{end}-{at}")).prop_filter("reversed", move |_| len > 1),
        1 => (1u64..8).prop_map(move |k| format!("{at}-{}", end + k)),
        1 => "[a-z*0-9 -]{0,6}",
    ]
}

/// The `n` parameter of a tag list: integers and garbage.
pub fn n_param() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0u32..10).prop_map(|n| n.to_string()),
        1 => (10u32..100000).prop_map(|n| n.to_string()),
        1 => Just("-1".to_string()),
        1 => Just("99999999999999999999999".to_string()),
        1 => "[a-z.]{1,4}",
        1 => Just(String::new()),
        1 => Just("1.5".to_string()),
    ]
}

/// The artifact type of the fixture's referrer (so filters on it find something).
pub const REFERRER_TYPE: &str = "application/vnd.oci-conformance.fuzz.referrer";

/// `artifactType` filter values: plausible media types and junk.
pub fn artifact_type() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(REFERRER_TYPE.to_string()),
        2 => "application/vnd\\.[a-z]{1,8}\\.[a-z]{1,6}(\\+json)?",
        1 => Just(String::new()),
        1 => "[ -#%-~]{1,12}",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_classes() {
        let h = "a".repeat(64);
        assert_eq!(classify_digest(&format!("sha256:{h}")), DigestClass::Sha256);
        assert_eq!(
            classify_digest(&format!("sha256:{}", "A".repeat(64))),
            DigestClass::Unsupported
        );
        assert_eq!(
            classify_digest(&format!("md5:{h}")),
            DigestClass::Unsupported
        );
        assert_eq!(classify_digest("sha256:"), DigestClass::Malformed);
        assert_eq!(
            classify_digest(&format!("SHA256:{h}")),
            DigestClass::Malformed
        );
        assert_eq!(
            classify_digest(&format!("sha512:{}", "0".repeat(128))),
            DigestClass::Sha512
        );
    }

    #[test]
    fn names_tags_refs() {
        assert!(valid_name("a/b-c__d.e"));
        assert!(!valid_name("a/b___c"));
        assert!(!valid_name("a//b"));
        assert!(!valid_name("A"));
        assert!(valid_tag("_x.Y-1"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag(&"a".repeat(129)));
        assert_eq!(classify_reference("latest"), RefClass::Tag);
        assert_eq!(
            classify_reference("sha256:abc"),
            RefClass::Digest(DigestClass::Unsupported)
        );
        assert_eq!(classify_reference("a:b:c"), RefClass::Invalid);
        assert_eq!(parse_chunk_range("0-9"), Some((0, 9)));
        assert_eq!(parse_chunk_range("bytes 0-9"), None);
    }
}
