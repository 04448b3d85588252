//! Tests for the recurrent ops' semantics.
