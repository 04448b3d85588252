//! `cargo test -p ingot-tests --test filetests [FILTER...]`: runs every
//! `tests/filetests/**/*.ir` (or those whose path contains a filter) and
//! fails if any fails. `INGOT_BLESS=1` rewrites expected output in place.

use ingot_tests::filetest::run_dir_filtered;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("filetests");
    // libtest flags (`--nocapture`, `--quiet`) may be passed; filters are the rest.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let summary = run_dir_filtered(&root, &filters);
    println!("{summary}");
    if summary.failed > 0 {
        std::process::exit(1);
    }
}
