//! # ingot-tests
//!
//! Shared test infrastructure: the filetest runner and random graph
//! generators for property tests.

pub mod filetest;
