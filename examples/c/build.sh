#!/usr/bin/env bash
# Build and run the C example: compile examples/c/model.ir to an object +
# header, link it with Ingot's static library, run it.
# Usage (from anywhere): bash examples/c/build.sh [--profile release|dev]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
profile="${1:-release}"
dir=release
[ "$profile" = dev ] && dir=debug
out="$root/target/c-example"
mkdir -p "$out"
cargo build -q --profile "$profile" -p ingot-capi
cargo build -q --profile "$profile" -p ingot-compiler --bin ingot
"target/$dir/ingot" compile examples/c/model.ir --emit obj -o "$out/model.o"
cc -O2 -Wall -Werror -I"$out" examples/c/main.c "$out/model.o" \
    "target/$dir/libingot_capi.a" -lpthread -ldl -lm -o "$out/c_example"
"$out/c_example"
