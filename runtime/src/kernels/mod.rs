//! Native kernels. Data movement, Cast/Where, reductions and
//! normalizations are built through [`movement::movement_kernel`].

pub mod misc;
pub mod movement;
pub mod norm;
pub mod reduce;
