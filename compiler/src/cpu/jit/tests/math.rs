//! Accuracy sweeps of the approximations in `math.rs` against f64.
