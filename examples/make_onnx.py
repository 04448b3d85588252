"""Write examples/classifier.onnx: the small ONNX model the README's first
command compiles and runs. Deterministic (seeded); needs only `onnx` and
`numpy`. Ingot itself needs no Python: the .onnx file is committed.

    python3 examples/make_onnx.py

A 1-channel 8x8 image classifier with a dynamic batch: Conv 3x3 (4
channels, pad 1) -> Relu -> MaxPool 2x2 -> Conv 1x1 (8 channels) -> Relu ->
GlobalAveragePool -> Flatten -> Gemm (3 classes) -> Softmax.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


def w(name, *shape, scale=0.5):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


inits = [
    w("conv1.weight", 4, 1, 3, 3),
    w("conv1.bias", 4, scale=0.1),
    w("conv2.weight", 8, 4, 1, 1),
    w("conv2.bias", 8, scale=0.1),
    w("fc.weight", 3, 8),
    w("fc.bias", 3, scale=0.1),
]
nodes = [
    helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
    helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
    helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2"),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
    helper.make_node("Flatten", ["g"], ["f"], axis=1, name="flatten"),
    helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], transB=1, name="fc"),
    helper.make_node("Softmax", ["logits"], ["probs"], axis=-1, name="softmax"),
]
graph = helper.make_graph(
    nodes,
    "classifier",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])],
    initializer=inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ingot-examples")
model.ir_version = 8
onnx.checker.check_model(model)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classifier.onnx")
onnx.save(model, out)
print(f"wrote {out} ({os.path.getsize(out)} bytes)")
