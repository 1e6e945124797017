//! Content identifiers exactly as Kubo prints them for `ipfs add --cid-version=1`.
//!
//! Kubo's defaults, reproduced here byte for byte:
//! - fixed 262144-byte chunks ([`CHUNK_SIZE`]);
//! - each chunk a raw block (codec `0x55`, sha2-256), so a file of at most one chunk (including
//!   the empty file) has the raw CID of its bytes, `bafkrei...`;
//! - larger files get dag-pb parents (codec `0x70`) of at most [`MAX_LINKS`] links, built level
//!   by level (Kubo's "balanced" layout gives the same tree), each parent a UnixFS `File` node
//!   with `filesize` and `blocksizes`, its links written with an explicit empty `Name` and
//!   `Tsize` = the child's cumulative encoded size; the root is `bafybei...`.
//!
//! CIDv1 strings are multibase base32 lower case (`b` prefix). [`cid_v0`] gives the CIDv0 of the
//! same file (dag-pb UnixFS leaves, base58btc `Qm...`), what `ipfs add` prints without flags.
//!
//! The contract stores the sha-256 digest of the metadata JSON and builds its token URI from it:
//! [`raw_cid_from_digest`] gives the same string, which equals [`cid_v1`] of the metadata bytes
//! as long as they fit in one chunk.

use sha2::{Digest, Sha256};

/// Kubo's default chunk size (`--chunker=size-262144`).
pub const CHUNK_SIZE: usize = 262_144;
/// Kubo's default maximum number of links per UnixFS file node.
pub const MAX_LINKS: usize = 174;

/// Multicodec of raw blocks.
const CODEC_RAW: u8 = 0x55;
/// Multicodec of dag-pb blocks.
const CODEC_DAG_PB: u8 = 0x70;
/// Multihash code of sha2-256, followed by the digest length.
const MULTIHASH_SHA256: [u8; 2] = [0x12, 0x20];
/// UnixFS `Data.DataType.File`.
const UNIXFS_FILE: u64 = 2;

/// The sha-256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The CIDv1 (base32) that `ipfs add --cid-version=1` prints for a file holding `bytes`.
pub fn cid_v1(bytes: &[u8]) -> String {
    encode_v1(&build(bytes, Version::V1))
}

/// The CIDv0 (base58btc `Qm...`) that `ipfs add` prints for a file holding `bytes`.
pub fn cid_v0(bytes: &[u8]) -> String {
    let root = build(bytes, Version::V0);
    debug_assert_eq!(
        root.codec, CODEC_DAG_PB,
        "CIDv0 trees have only dag-pb nodes"
    );
    bs58::encode(multihash(&root.digest)).into_string()
}

/// The CIDv1 of a raw block whose sha-256 digest is `digest`: what the contract's `tokenURI`
/// returns after `ipfs://`.
pub fn raw_cid_from_digest(digest: &[u8; 32]) -> String {
    encode_v1(&Node {
        codec: CODEC_RAW,
        digest: *digest,
        tsize: 0,
        filesize: 0,
    })
}

/// The parts of a CIDv1 string made by this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedCid {
    /// `0x55` (raw) or `0x70` (dag-pb).
    pub codec: u8,
    /// The sha-256 digest of the block.
    pub digest: [u8; 32],
}

impl ParsedCid {
    /// Whether the CID names a raw block (a file of at most one chunk).
    pub fn is_raw(&self) -> bool {
        self.codec == CODEC_RAW
    }
}

/// Parses a base32 CIDv1 with a sha2-256 multihash and a raw or dag-pb codec; `None` for
/// anything else (including CIDv0 and other bases). Callers use it to validate untrusted CIDs
/// before using them as file names.
pub fn parse_cid_v1(cid: &str) -> Option<ParsedCid> {
    let body = cid.strip_prefix('b')?;
    if !body
        .bytes()
        .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
    {
        return None;
    }
    let bytes = data_encoding::BASE32_NOPAD
        .decode(body.to_ascii_uppercase().as_bytes())
        .ok()?;
    match bytes.as_slice() {
        [
            0x01,
            codec @ (CODEC_RAW | CODEC_DAG_PB),
            0x12,
            0x20,
            digest @ ..,
        ] if digest.len() == 32 => Some(ParsedCid {
            codec: *codec,
            digest: digest.try_into().ok()?,
        }),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V0,
    V1,
}

/// A block of the tree, as its parent sees it.
#[derive(Clone, Copy, Debug)]
struct Node {
    codec: u8,
    digest: [u8; 32],
    /// Encoded size of this block plus all blocks below it (the link's `Tsize`).
    tsize: u64,
    /// Number of file bytes below this block (the parent's `blocksizes` entry).
    filesize: u64,
}

impl Node {
    /// The binary CID as written in a dag-pb link: CIDv1 bytes, or the bare multihash in v0.
    fn link_bytes(&self, version: Version) -> Vec<u8> {
        match version {
            Version::V0 => multihash(&self.digest).to_vec(),
            Version::V1 => cid_v1_bytes(self.codec, &self.digest).to_vec(),
        }
    }
}

fn build(bytes: &[u8], version: Version) -> Node {
    let mut level: Vec<Node> = if bytes.is_empty() {
        vec![leaf(&[], version)]
    } else {
        bytes
            .chunks(CHUNK_SIZE)
            .map(|chunk| leaf(chunk, version))
            .collect()
    };
    while level.len() > 1 {
        level = level
            .chunks(MAX_LINKS)
            .map(|children| parent(children, version))
            .collect();
    }
    level[0]
}

fn leaf(chunk: &[u8], version: Version) -> Node {
    let filesize = chunk.len() as u64;
    match version {
        Version::V1 => Node {
            codec: CODEC_RAW,
            digest: sha256(chunk),
            tsize: filesize,
            filesize,
        },
        Version::V0 => {
            // UnixFS Data { Type = File, Data = chunk (omitted when empty), filesize }.
            let mut unixfs = Vec::with_capacity(chunk.len() + 16);
            put_varint_field(&mut unixfs, 1, UNIXFS_FILE);
            if !chunk.is_empty() {
                put_bytes_field(&mut unixfs, 2, chunk);
            }
            put_varint_field(&mut unixfs, 3, filesize);
            let mut node = Vec::with_capacity(unixfs.len() + 8);
            put_bytes_field(&mut node, 1, &unixfs);
            Node {
                codec: CODEC_DAG_PB,
                digest: sha256(&node),
                tsize: node.len() as u64,
                filesize,
            }
        }
    }
}

fn parent(children: &[Node], version: Version) -> Node {
    // dag-pb writes Links (field 2) before Data (field 1).
    let mut node = Vec::with_capacity(children.len() * 48 + 16);
    for child in children {
        let mut link = Vec::with_capacity(48);
        put_bytes_field(&mut link, 1, &child.link_bytes(version));
        put_bytes_field(&mut link, 2, b"");
        put_varint_field(&mut link, 3, child.tsize);
        put_bytes_field(&mut node, 2, &link);
    }
    let filesize: u64 = children.iter().map(|c| c.filesize).sum();
    let mut unixfs = Vec::with_capacity(children.len() * 5 + 16);
    put_varint_field(&mut unixfs, 1, UNIXFS_FILE);
    put_varint_field(&mut unixfs, 3, filesize);
    for child in children {
        put_varint_field(&mut unixfs, 4, child.filesize);
    }
    put_bytes_field(&mut node, 1, &unixfs);
    let tsize = node.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
    Node {
        codec: CODEC_DAG_PB,
        digest: sha256(&node),
        tsize,
        filesize,
    }
}

fn multihash(digest: &[u8; 32]) -> [u8; 34] {
    let mut out = [0u8; 34];
    out[..2].copy_from_slice(&MULTIHASH_SHA256);
    out[2..].copy_from_slice(digest);
    out
}

fn cid_v1_bytes(codec: u8, digest: &[u8; 32]) -> [u8; 36] {
    let mut out = [0u8; 36];
    out[0] = 0x01;
    out[1] = codec;
    out[2..].copy_from_slice(&multihash(digest));
    out
}

fn encode_v1(node: &Node) -> String {
    let body = data_encoding::BASE32_NOPAD.encode(&cid_v1_bytes(node.codec, &node.digest));
    format!("b{}", body.to_ascii_lowercase())
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Protobuf field with wire type 0 (varint).
fn put_varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    put_varint(out, field << 3);
    put_varint(out, value);
}

/// Protobuf field with wire type 2 (length-delimited).
fn put_bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Python's `random.Random(seed)` (MT19937 seeded with `init_by_array([seed])`), enough to
    /// reproduce `getrandbits(8)` streams for the reference files.
    pub(crate) struct PyRandom {
        state: [u32; 624],
        index: usize,
    }

    impl PyRandom {
        pub(crate) fn new(seed: u32) -> Self {
            let mut state = [0u32; 624];
            state[0] = 19_650_218;
            for i in 1..624 {
                let prev = state[i - 1];
                state[i] = 1_812_433_253u32
                    .wrapping_mul(prev ^ (prev >> 30))
                    .wrapping_add(i as u32);
            }
            // init_by_array with key = [seed].
            let key = [seed];
            let (mut i, mut j) = (1usize, 0usize);
            for _ in 0..624 {
                let prev = state[i - 1];
                state[i] = (state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                    .wrapping_add(key[j])
                    .wrapping_add(j as u32);
                i += 1;
                j += 1;
                if i >= 624 {
                    state[0] = state[623];
                    i = 1;
                }
                if j >= key.len() {
                    j = 0;
                }
            }
            for _ in 0..623 {
                let prev = state[i - 1];
                state[i] = (state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941))
                    .wrapping_sub(i as u32);
                i += 1;
                if i >= 624 {
                    state[0] = state[623];
                    i = 1;
                }
            }
            state[0] = 0x8000_0000;
            Self { state, index: 624 }
        }

        fn next_u32(&mut self) -> u32 {
            if self.index >= 624 {
                for k in 0..624 {
                    let y =
                        (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % 624] & 0x7fff_ffff);
                    let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                    self.state[k] = self.state[(k + 397) % 624] ^ (y >> 1) ^ mag;
                }
                self.index = 0;
            }
            let mut y = self.state[self.index];
            self.index += 1;
            y ^= y >> 11;
            y ^= (y << 7) & 0x9d2c_5680;
            y ^= (y << 15) & 0xefc6_0000;
            y ^ (y >> 18)
        }

        /// `getrandbits(8)` as a byte, repeated `n` times.
        pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| (self.next_u32() >> 24) as u8).collect()
        }
    }

    /// The two reference files: 102400 bytes, then the next 1572864 bytes of the same stream.
    pub(crate) fn reference_files() -> (Vec<u8>, Vec<u8>) {
        let mut rng = PyRandom::new(42);
        let small = rng.bytes(102_400);
        let large = rng.bytes(1_572_864);
        (small, large)
    }

    #[test]
    fn python_stream_matches() {
        // python3 -c 'import random; r = random.Random(42)
        //   print(bytes(r.getrandbits(8) for _ in range(8)).hex())'
        assert_eq!(hex(&PyRandom::new(42).bytes(8)), "a31c06bd463e3923");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn empty_file() {
        assert_eq!(
            cid_v1(b""),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        assert_eq!(
            cid_v0(b""),
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
        );
    }

    #[test]
    fn hello_world_v0() {
        assert_eq!(
            cid_v0(b"hello world\n"),
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
        );
    }

    #[test]
    fn reference_streams() {
        let (small, large) = reference_files();
        assert_eq!(
            cid_v1(&small),
            "bafkreiae7bpbyzngpm2gbt4wjnpyfdlwb66yznev5gwkbht66vymkkhalu"
        );
        assert_eq!(
            cid_v0(&small),
            "QmW3NTjpTxmv5nyzno7RqpsCaSoUdLriJPjPxLhusbGUoi"
        );
        assert_eq!(
            cid_v1(&large),
            "bafybeifep32tggaltdfo4lxsr73j6l5vq3lbpjh6mcs3oi5tiwrnvhx3wu"
        );
        assert_eq!(
            cid_v0(&large),
            "QmYrtSfBgSHSJUW7rfiMrrSAQPxzMLx3NXHjoEWZs674cp"
        );
        // `ipfs add` reports the root's cumulative size.
        assert_eq!(build(&large, Version::V1).tsize, 1_573_172);
    }

    #[test]
    fn chunk_boundaries() {
        let exactly_one = vec![7u8; CHUNK_SIZE];
        assert!(cid_v1(&exactly_one).starts_with("bafkrei"));
        assert_eq!(
            cid_v1(&exactly_one),
            raw_cid_from_digest(&sha256(&exactly_one))
        );
        let one_more = vec![7u8; CHUNK_SIZE + 1];
        assert!(cid_v1(&one_more).starts_with("bafybei"));
    }

    #[test]
    fn more_than_174_chunks_make_a_second_level() {
        // 175 chunks + 1000 bytes: a parent of 174 leaves, a parent of 2 leaves, and a root.
        // 'a' * len with every 4096th byte set to (i / 4096) % 251; reference from js-ipfs
        // 0.66.1 (`add --cid-version=1`, same importer settings as Kubo's defaults).
        let mut data = vec![b'a'; CHUNK_SIZE * 175 + 1000];
        for i in (0..data.len()).step_by(4096) {
            data[i] = ((i / 4096) % 251) as u8;
        }
        let root = build(&data, Version::V1);
        assert_eq!(root.filesize, data.len() as u64);
        assert_eq!(root.tsize, 45_885_127);
        assert_eq!(
            cid_v1(&data),
            "bafybeie7ugecjxyixslhwebgytwlymaca4hkjxmal2lkelgb3fhwxt2q7i"
        );
    }

    #[test]
    fn raw_cid_round_trips_through_parse() {
        let digest = sha256(b"{}");
        let cid = raw_cid_from_digest(&digest);
        let parsed = parse_cid_v1(&cid).unwrap();
        assert!(parsed.is_raw());
        assert_eq!(parsed.digest, digest);
        let (_, large) = reference_files();
        assert!(!parse_cid_v1(&cid_v1(&large)).unwrap().is_raw());
        for bad in [
            "",
            "b",
            "Qm",
            "../etc/passwd",
            "bafkrei/../x",
            "BAFKREI",
            &cid[..cid.len() - 1],
        ] {
            assert_eq!(parse_cid_v1(bad), None, "{bad}");
        }
    }
}
