//! Any text fed to the IR parser gives a graph or an error, never a panic;
//! a graph that parses prints to text that parses back to the same graph.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(g) = ingot_ir::parse(text) {
        let printed = ingot_ir::text::Printer {
            inline_limit: usize::MAX,
        }
        .print(&g);
        let again = ingot_ir::parse(&printed).expect("printed text parses");
        assert!(again == g, "round trip changed the graph");
    }
});
