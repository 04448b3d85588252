#!/usr/bin/env python3
"""Write the ONNX backend node tests of onnx==1.23.2 into a cache folder.

The onnx wheel ships the generators of its node tests, not the files. This
script runs them (`onnx.backend.test.case.node.collect_testcases()`) and writes
each case the way `onnx.backend.test.cmd_tools.generate_data` does:

    <out>/<case>/model.onnx
    <out>/<case>/test_data_set_<i>/input_<j>.pb, output_<j>.pb

The output is deterministic (the generators seed their random data). Inputs and
outputs that are sequences, maps or optionals are written with
`numpy_helper.from_list/from_dict/from_optional` exactly as upstream does; the
conformance runner reports those cases as unsupported.

Usage: python3 scripts/gen_onnx_node_tests.py [--out .cache/onnx-node-tests]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

EXPECTED_VERSION = "1.23.2"
EXPECTED_CASES = 1884


def write_value(path: str, value, vi) -> None:
    from onnx import TensorProto, numpy_helper

    t = vi.type
    if t.HasField("map_type"):
        data = numpy_helper.from_dict(value, vi.name)
    elif t.HasField("sequence_type"):
        data = numpy_helper.from_list(value, vi.name)
    elif t.HasField("optional_type"):
        data = numpy_helper.from_optional(value, vi.name)
    else:
        assert t.HasField("tensor_type"), vi
        data = value if isinstance(value, TensorProto) else numpy_helper.from_array(value, vi.name)
    with open(path, "wb") as f:
        f.write(data.SerializeToString())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".cache/onnx-node-tests")
    ap.add_argument("--allow-other-version", action="store_true",
                    help="run with an onnx other than %s (case count will differ)" % EXPECTED_VERSION)
    args = ap.parse_args()

    import onnx
    from onnx.backend.test.case import node

    if onnx.__version__ != EXPECTED_VERSION and not args.allow_other_version:
        print(f"need onnx=={EXPECTED_VERSION}, found {onnx.__version__} "
              f"(pip install onnx=={EXPECTED_VERSION})", file=sys.stderr)
        return 2

    cases = [c for c in node.collect_testcases(None) if c.kind == "node"]
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    for case in cases:
        case_dir = os.path.join(args.out, case.name)
        os.makedirs(case_dir)
        assert case.model is not None and case.data_sets, case.name
        with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        graph = case.model.graph
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ds = os.path.join(case_dir, f"test_data_set_{i}")
            os.makedirs(ds)
            for j, v in enumerate(inputs):
                write_value(os.path.join(ds, f"input_{j}.pb"), v, graph.input[j])
            for j, v in enumerate(outputs):
                write_value(os.path.join(ds, f"output_{j}.pb"), v, graph.output[j])
    print(f"wrote {len(cases)} node test cases to {args.out}")
    if len(cases) != EXPECTED_CASES and not args.allow_other_version:
        print(f"expected {EXPECTED_CASES} cases", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
