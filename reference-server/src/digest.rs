//! Digests (image-spec descriptor grammar) and the incremental hashers behind them.

// sha2 0.11: its hashers can export and import their running state (see `Hasher::state`).
use sha2_state::digest::common::hazmat::SerializableState;
use sha2_state::{Digest as _, Sha256, Sha512};
use std::fmt;

/// Algorithms this registry can verify. Other grammatical algorithms are rejected with
/// `DIGEST_INVALID` (spec main: "400 SHOULD for invalid or unsupported digests").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Box::new(Sha512::new())),
        }
    }

    pub fn digest_of(self, data: &[u8]) -> Digest {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }
}

/// A parsed, supported digest: `algorithm:lowercase-hex`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    alg: Algorithm,
    hex: String,
}

/// Why a digest string was refused; both map to `DIGEST_INVALID`, the detail says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// Not `algorithm ":" encoded` per the image-spec grammar.
    Malformed,
    /// Grammatical, but an algorithm this registry does not implement.
    UnsupportedAlgorithm(String),
    /// Supported algorithm, but the encoded part is not lowercase hex of the right length.
    BadEncoding,
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::Malformed => f.write_str("digest does not match the digest grammar"),
            DigestError::UnsupportedAlgorithm(a) => write!(f, "unsupported digest algorithm {a:?}"),
            DigestError::BadEncoding => {
                f.write_str("encoded part must be lowercase hex of the algorithm's length")
            }
        }
    }
}

/// `algorithm-component ::= [a-z0-9]+`, separators `[+._-]`, no empty components.
fn algorithm_grammatical(a: &str) -> bool {
    let mut prev_sep = true; // a leading separator is an empty component
    for c in a.bytes() {
        match c {
            b'a'..=b'z' | b'0'..=b'9' => prev_sep = false,
            b'+' | b'.' | b'_' | b'-' => {
                if prev_sep {
                    return false;
                }
                prev_sep = true;
            }
            _ => return false,
        }
    }
    !prev_sep
}

fn encoded_grammatical(e: &str) -> bool {
    !e.is_empty()
        && e.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'=' | b'_' | b'-'))
}

/// True when `s` matches the image-spec digest grammar, whatever the algorithm.
pub fn is_grammatical(s: &str) -> bool {
    match s.split_once(':') {
        Some((a, e)) => algorithm_grammatical(a) && encoded_grammatical(e),
        None => false,
    }
}

impl Digest {
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let (a, e) = s.split_once(':').ok_or(DigestError::Malformed)?;
        if !algorithm_grammatical(a) || !encoded_grammatical(e) {
            return Err(DigestError::Malformed);
        }
        let alg =
            Algorithm::parse(a).ok_or_else(|| DigestError::UnsupportedAlgorithm(a.to_string()))?;
        if e.len() != alg.hex_len() || !e.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::BadEncoding);
        }
        Ok(Digest {
            alg,
            hex: e.to_string(),
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Incremental hasher; sha512 is boxed to keep the enum (and upload sessions) small.
#[derive(Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Box<Sha512>),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Digest of everything fed so far; the hasher stays usable (the state is cloned).
    pub fn peek(&self) -> Digest {
        self.clone().finish()
    }

    /// The running state (a few hundred bytes, whatever was hashed): persisted with an upload
    /// session so any process can continue it without reading the data back.
    pub fn state(&self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.serialize().to_vec(),
            Hasher::Sha512(h) => h.serialize().to_vec(),
        }
    }

    /// A hasher from [`Hasher::state`]; None if `state` is not one of `alg`.
    pub fn from_state(alg: Algorithm, state: &[u8]) -> Option<Hasher> {
        match alg {
            Algorithm::Sha256 => Sha256::deserialize(state.try_into().ok()?)
                .ok()
                .map(Hasher::Sha256),
            Algorithm::Sha512 => Sha512::deserialize(state.try_into().ok()?)
                .ok()
                .map(|h| Hasher::Sha512(Box::new(h))),
        }
    }

    pub fn finish(self) -> Digest {
        let (alg, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { alg, hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any process can finish an upload another began: the exported state hashes on exactly
    /// as the hasher it came from, for both algorithms and at any position within a block.
    #[test]
    fn hasher_state_round_trips_mid_block() {
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
            for cut in [0, 1, 63, 64, 65, 127, 128, 129, 999] {
                let mut h = alg.hasher();
                h.update(&data[..cut]);
                let mut resumed = Hasher::from_state(alg, &h.state()).expect("state");
                resumed.update(&data[cut..]);
                assert_eq!(resumed.finish(), alg.digest_of(&data), "{alg:?} at {cut}");
            }
            assert!(Hasher::from_state(alg, b"short").is_none());
        }
        let sha256_state = Algorithm::Sha256.hasher().state();
        assert!(Hasher::from_state(Algorithm::Sha512, &sha256_state).is_none());
    }

    const EMPTY256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_canonical_sha256_and_sha512() {
        let d = Digest::parse(EMPTY256).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_string(), EMPTY256);
        let s512 = Algorithm::Sha512.digest_of(b"");
        assert_eq!(Digest::parse(&s512.to_string()).unwrap(), s512);
    }

    #[test]
    fn empty_input_hashes_to_known_digest() {
        assert_eq!(Algorithm::Sha256.digest_of(b"").to_string(), EMPTY256);
    }

    #[test]
    fn rejects_uppercase_short_and_non_hex_encodings() {
        assert_eq!(
            Digest::parse(&EMPTY256.to_uppercase().replace("SHA256", "sha256")),
            Err(DigestError::BadEncoding)
        );
        assert_eq!(Digest::parse("sha256:abc"), Err(DigestError::BadEncoding));
        assert_eq!(
            Digest::parse(&format!("sha256:{}", "g".repeat(64))),
            Err(DigestError::BadEncoding)
        );
    }

    #[test]
    fn grammatical_unknown_algorithm_is_unsupported_not_malformed() {
        assert_eq!(
            Digest::parse("blake3:abcd"),
            Err(DigestError::UnsupportedAlgorithm("blake3".into()))
        );
        assert!(is_grammatical("test+algorithm.x_y-z:AbC=_-"));
    }

    #[test]
    fn rejects_ungrammatical_digests() {
        for bad in [
            "",
            "sha256",
            ":abc",
            "sha256:",
            "SHA256:abc",
            "sha256+:abc",
            "+sha256:abc",
            "sha256:ab c",
            "sha256:ab/c",
            "sha256:baddigeststring!",
        ] {
            assert_eq!(Digest::parse(bad), Err(DigestError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn peek_does_not_consume_state() {
        let mut h = Algorithm::Sha256.hasher();
        h.update(b"ab");
        let mid = h.peek();
        h.update(b"c");
        assert_eq!(mid, Algorithm::Sha256.digest_of(b"ab"));
        assert_eq!(h.finish(), Algorithm::Sha256.digest_of(b"abc"));
    }
}
