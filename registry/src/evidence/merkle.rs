//! RFC 9162's Merkle tree (section 2.1): SHA-256, leaves hashed with a `0x00` prefix and
//! interior nodes with `0x01`, the tree split at the largest power of two below its size.
//! The tree hash (`MTH`), inclusion paths (`PATH`) and consistency proofs (`PROOF`) follow the
//! RFC's recursive definitions, over a [`Subtrees`] store that answers for complete, aligned
//! subtrees (level 0: the leaf hashes), so that a store keeping those hashes answers any proof
//! in O(log n) reads. Verifying proofs is the client's: the tests verify every answer with an
//! implementation of their own of the RFC's verification algorithms.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The tree's hash of a leaf's bytes: SHA-256(`0x00` ‖ `bytes`).
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(bytes);
    hasher.finalize().into()
}

/// An interior node: SHA-256(`0x01` ‖ `left` ‖ `right`).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The hash of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Lower-case hex, as the API writes hashes.
pub fn hex(hash: &[u8]) -> String {
    let mut out = Vec::with_capacity(hash.len() * 2);
    hex_into(&mut out, hash);
    // Only ASCII digits were written.
    String::from_utf8(out).unwrap_or_default()
}

/// The bytes of hex `text` (either case), or `None` when it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A hash in hex (64 digits), or `None`.
pub fn unhex_hash(text: &str) -> Option<Hash> {
    unhex(text).and_then(|b| Hash::try_from(b.as_slice()).ok())
}

/// Appends `bytes` in lower-case hex to `out` (an export's proof: millions of hashes).
pub fn hex_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

/// Hashes of complete subtrees aligned to their size: `perfect(level, index)` is the tree hash
/// of leaves `index × 2^level .. (index + 1) × 2^level` (level 0: the leaf hash of leaf
/// `index`). Asked only for subtrees wholly inside the tree being hashed.
pub trait Subtrees {
    /// Why a hash could not be had (the store's error).
    type Error;

    /// The hash of the complete subtree `index` at `level`.
    fn perfect(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof cannot be made.
#[derive(Debug, PartialEq, Eq)]
pub enum ProofError<E> {
    /// The sizes or index asked for do not make a proof (the message says which).
    Range(&'static str),
    /// The store failed.
    Store(E),
}

/// The largest power of two below `n` (for `n` ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])`, for a range the RFC's recursion reaches (its start aligned to every
/// complete subtree inside it).
pub fn range_hash<S: Subtrees>(store: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let n = end - start;
    if n.is_power_of_two() {
        let level = n.trailing_zeros();
        return store.perfect(level, start >> level);
    }
    let k = split(n);
    Ok(node_hash(
        &range_hash(store, start, start + k)?,
        &range_hash(store, start + k, end)?,
    ))
}

/// The root of the tree of the first `size` leaves (`MTH(D[0:size])`).
pub fn root<S: Subtrees>(store: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(store, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves
/// (`PATH(index, D[0:size])`), from the leaf's sibling up.
pub fn inclusion_proof<S: Subtrees>(
    store: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::Range("the leaf is not in a tree of that size"));
    }
    let mut path = Vec::new();
    path_into(store, index, 0, size, &mut path).map_err(ProofError::Store)?;
    Ok(path)
}

fn path_into<S: Subtrees>(
    store: &S,
    m: u64,
    start: u64,
    end: u64,
    path: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path_into(store, m, start, start + k, path)?;
        path.push(range_hash(store, start + k, end)?);
    } else {
        path_into(store, m - k, start + k, end, path)?;
        path.push(range_hash(store, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof between the tree of the first `first` leaves and that of the first
/// `second` (`PROOF(first, D[0:second])`); empty when the two are equal.
pub fn consistency_proof<S: Subtrees>(
    store: &S,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if first == 0 || first > second {
        return Err(ProofError::Range(
            "a consistency proof is from a non-empty tree to one at least as large",
        ));
    }
    let mut proof = Vec::new();
    subproof_into(store, first, 0, second, true, &mut proof).map_err(ProofError::Store)?;
    Ok(proof)
}

fn subproof_into<S: Subtrees>(
    store: &S,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !whole {
            proof.push(range_hash(store, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof_into(store, m, start, start + k, whole, proof)?;
        proof.push(range_hash(store, start + k, end)?);
    } else {
        subproof_into(store, m - k, start + k, end, false, proof)?;
        proof.push(range_hash(store, start, start + k)?);
    }
    Ok(())
}

/// Which leaves a multiproof is for: whether any lies in `start..end`.
pub trait Members {
    /// Whether a member lies in `start..end`.
    fn any(&self, start: u64, end: u64) -> bool;
}

/// A multiproof's walk: the ranges of the tree of `size` leaves whose hashes, with the
/// members' leaf hashes, give its root, in the order a verifier takes them
/// ([`multiproof_root`]); [`MultiproofRanges::next`] gives them one at a time.
///
/// The tree is walked as RFC 9162 splits it, left before right, from the root down: a range
/// holding no member is needed whole (its hash is the next of the proof), a single leaf that
/// is a member is the member's, and any other range is split. A hash shared by several
/// members' paths is therefore written once. The ranges are those the RFC's recursion
/// reaches, so [`range_hash`] gives each one's hash. None are needed when every leaf is a
/// member; one (the whole tree) when none is.
#[derive(Debug, Clone)]
pub struct MultiproofRanges {
    stack: Vec<(u64, u64)>,
}

impl MultiproofRanges {
    /// The walk of the tree of `size` leaves.
    pub fn new(size: u64) -> MultiproofRanges {
        MultiproofRanges {
            stack: if size == 0 { vec![] } else { vec![(0, size)] },
        }
    }

    /// The next range whose hash the proof needs, for `members`.
    pub fn next(&mut self, members: &impl Members) -> Option<(u64, u64)> {
        while let Some((start, end)) = self.stack.pop() {
            if !members.any(start, end) {
                return Some((start, end));
            }
            if end - start == 1 {
                continue;
            }
            let k = split(end - start);
            self.stack.push((start + k, end));
            self.stack.push((start, start + k));
        }
        None
    }
}

/// Why a multiproof does not lead to a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiproofError {
    /// The proof ran out of hashes.
    Short,
    /// Hashes were left over.
    Long,
    /// A member is outside the tree, or repeated, or the members are not in leaf order.
    Members,
}

/// The root of the tree of `size` leaves from `members` (leaf index and leaf hash, in leaf
/// order, without repeats) and the multiproof's hashes in order (RFC 9162's tree hash, walked
/// as [`MultiproofRanges`] describes).
pub fn multiproof_root(
    size: u64,
    members: &[(u64, Hash)],
    proof: &mut impl Iterator<Item = Hash>,
) -> Result<Hash, MultiproofError> {
    if members.windows(2).any(|w| w[0].0 >= w[1].0) || members.last().is_some_and(|m| m.0 >= size) {
        return Err(MultiproofError::Members);
    }
    if size == 0 {
        return Ok(empty_root());
    }
    let root = walk(0, size, members, proof)?;
    match proof.next() {
        Some(_) => Err(MultiproofError::Long),
        None => Ok(root),
    }
}

fn walk(
    start: u64,
    end: u64,
    members: &[(u64, Hash)],
    proof: &mut impl Iterator<Item = Hash>,
) -> Result<Hash, MultiproofError> {
    if members.is_empty() {
        return proof.next().ok_or(MultiproofError::Short);
    }
    if end - start == 1 {
        return Ok(members[0].1);
    }
    let k = start + split(end - start);
    let cut = members.partition_point(|m| m.0 < k);
    let left = walk(start, k, &members[..cut], proof)?;
    let right = walk(k, end, &members[cut..], proof)?;
    Ok(node_hash(&left, &right))
}

/// Leaf hashes held in memory, complete subtrees hashed on demand (for small trees and tests).
#[derive(Debug, Clone, Default)]
pub struct InMemory(pub Vec<Hash>);

impl Subtrees for InMemory {
    type Error = std::convert::Infallible;

    fn perfect(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        if level == 0 {
            return Ok(self.0[index as usize]);
        }
        Ok(node_hash(
            &self.perfect(level - 1, index * 2)?,
            &self.perfect(level - 1, index * 2 + 1)?,
        ))
    }
}
