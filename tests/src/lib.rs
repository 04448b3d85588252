//! # ingot-tests
//!
//! Shared test infrastructure: the filetest runner and random graph
//! generators for property tests.

pub mod filetest;
pub mod gen;
pub mod typed_gen;
