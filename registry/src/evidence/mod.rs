//! The audit log as evidence (issue #29, in progress): every committed event is a leaf of one
//! append-only Merkle tree with RFC 9162's hashing, so that a signed checkpoint (the tree's size
//! and root) commits to every event before it, and inclusion and consistency proofs let anyone
//! holding the public key check an event and the log's history without trusting the operator.
//!
//! - [`leaf`]: the canonical bytes of an event as written (docs/evidence.md, "The leaf").
//! - [`merkle`]: RFC 9162's tree hash, inclusion paths and consistency proofs, over any store
//!   of leaf hashes that can answer for aligned, complete subtrees.
//!
//! Sealing (the background sealer, checkpoints, signing) is not built yet; see
//! docs/evidence.md.

pub mod export;
pub mod leaf;
pub mod merkle;
pub mod proofs;
pub mod seal;
pub mod signing;
pub mod verify;
