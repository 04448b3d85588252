#!/usr/bin/env python3
"""Make the tiny .onnx fixtures under tests/onnx/ (committed; < 2 KB each).

- tiny_mlp.onnx: x[batch,4] -> MatMul(W[4,3]) -> Add(b[3]) -> Relu, weights as
  raw_data initializers that are also listed as graph inputs (old-IR style).
- unsupported.onnx: a model using several ops the importer does not support,
  from two domains, each by more than one node, for the aggregated error.
- const_if.onnx: Constant nodes and an If whose condition is a Constant (folds
  at import) plus an If on a runtime condition (compiled as an IR `if`).

Deterministic: fixed values, no randomness. Usage: python3 scripts/make_onnx_fixtures.py
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "onnx")


def save(model, name):
    onnx.checker.check_model(model)
    path = os.path.join(OUT, name)
    onnx.save(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def tiny_mlp():
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10 - 0.5, "W")
    b = numpy_helper.from_array(np.array([0.1, -0.2, 0.3], dtype=np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"], name="matmul"),
        helper.make_node("Add", ["xw", "b"], ["xwb"], name="add"),
        helper.make_node("Relu", ["xwb"], ["y"], name="relu"),
    ]
    g = helper.make_graph(
        nodes,
        "tiny_mlp",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[w, b],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    save(m, "tiny_mlp.onnx")


def unsupported():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Frobnicate", ["r"], ["f1"], name="frob_a", domain="com.example"),
        helper.make_node("Frobnicate", ["f1"], ["f2"], name="frob_b", domain="com.example"),
        helper.make_node("StringNormalizer", ["f2"], ["d"], name="strnorm_1"),
        helper.make_node("ImageDecoder", ["d"], ["y"], name="decode"),
    ]
    g = helper.make_graph(
        nodes,
        "unsupported",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
    )
    m = helper.make_model(
        g,
        opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("com.example", 1)],
        ir_version=8,
    )
    onnx.save(m, os.path.join(OUT, "unsupported.onnx"))  # the checker rejects Frobnicate
    print("wrote unsupported.onnx")


def const_if():
    def branch(name, value):
        c = helper.make_node(
            "Constant", [], [name + "_out"], name=name + "_const",
            value=numpy_helper.from_array(np.array(value, dtype=np.float32), name + "_v"),
        )
        return helper.make_graph(
            [c], name, [], [helper.make_tensor_value_info(name + "_out", TensorProto.FLOAT, [2])]
        )

    nodes = [
        helper.make_node("Constant", [], ["cond_true"], name="cond",
                         value=numpy_helper.from_array(np.array(True), "cv")),
        helper.make_node("If", ["cond_true"], ["folded"], name="if_folded",
                         then_branch=branch("then_a", [1.0, 2.0]),
                         else_branch=branch("else_a", [3.0, 4.0])),
        helper.make_node("If", ["c"], ["picked"], name="if_runtime",
                         then_branch=branch("then_b", [5.0, 6.0]),
                         else_branch=branch("else_b", [7.0, 8.0])),
        # Nested If whose inner branch returns the outer input `x`: both `c`
        # and `x` are captured through two levels of subgraphs.
        helper.make_node("If", ["c"], ["captured"], name="if_capture",
                         then_branch=helper.make_graph(
                             [helper.make_node(
                                 "If", ["c"], ["inner_out"], name="if_inner",
                                 then_branch=helper.make_graph(
                                     [helper.make_node("Identity", ["x"], ["x_copy"], name="id")],
                                     "inner_then", [],
                                     [helper.make_tensor_value_info("x_copy", TensorProto.FLOAT, [2])]),
                                 else_branch=branch("inner_else", [0.0, 0.0]))],
                             "outer_then", [],
                             [helper.make_tensor_value_info("inner_out", TensorProto.FLOAT, [2])]),
                         else_branch=branch("else_c", [9.0, 9.0])),
    ]
    g = helper.make_graph(
        nodes,
        "const_if",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
        ],
        [
            helper.make_tensor_value_info("folded", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("picked", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("captured", TensorProto.FLOAT, [2]),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    save(m, "const_if.onnx")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    tiny_mlp()
    unsupported()
    const_if()
