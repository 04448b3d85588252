"""Make the QLinearGlobalAveragePool fixtures in examples/qgap/.

Writes two tiny models, their inputs and onnxruntime's outputs, so that the
Rust test (compiler/tests/qdq_import.rs) needs no Python: everything this
writes is committed.

- qgap_ms.onnx: com.microsoft QLinearGlobalAveragePool three ways: u8 NCHW,
  i8 NCHW and u8 channels_last (onnxruntime 1.32 requires the zero points,
  though the contrib op spec lists them as optional).
- qgap_qdq.onnx: the QDQ form of ResNet's head, x -> QuantizeLinear ->
  DequantizeLinear -> GlobalAveragePool -> Flatten -> QuantizeLinear ->
  DequantizeLinear, which `fuse-qdq` turns into the integer op.

    pip install onnx onnxruntime numpy
    python3 examples/qgap/make_qgap.py

Deterministic: numpy's seeded generator, one onnxruntime thread.
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240917)


def out(name):
    return os.path.join(HERE, name)


def scalar(name, dtype, v):
    return numpy_helper.from_array(np.array(v, dtype=dtype), name)


def save(model, name):
    onnx.checker.check_model(model)
    onnx.save(model, out(name))


def run(name, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(out(name), so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def ms_model():
    u8, i8 = TensorProto.UINT8, TensorProto.INT8
    inits = [
        scalar("sx", np.float32, 0.05),
        scalar("zxu", np.uint8, 131),
        scalar("zxi", np.int8, -5),
        scalar("sy", np.float32, 0.03),
        scalar("sy_i", np.float32, 0.02),
        scalar("zyu", np.uint8, 118),
        scalar("zyi", np.int8, 3),
        scalar("sy_l", np.float32, 0.025),
    ]
    ms = "com.microsoft"
    nodes = [
        helper.make_node("QLinearGlobalAveragePool", ["xu", "sx", "zxu", "sy", "zyu"],
                         ["yu"], domain=ms, name="gap_u8"),
        helper.make_node("QLinearGlobalAveragePool", ["xi", "sx", "zxi", "sy_i", "zyi"],
                         ["yi"], domain=ms, name="gap_i8"),
        helper.make_node("QLinearGlobalAveragePool", ["xl", "sx", "zxu", "sy_l", "zyu"],
                         ["yl"], domain=ms, name="gap_nhwc", channels_last=1),
    ]
    graph = helper.make_graph(
        nodes,
        "qgap_ms",
        [
            helper.make_tensor_value_info("xu", u8, [2, 16, 7, 7]),
            helper.make_tensor_value_info("xi", i8, [2, 5, 6, 3]),
            helper.make_tensor_value_info("xl", u8, [2, 7, 7, 16]),
        ],
        [
            helper.make_tensor_value_info("yu", u8, [2, 16, 1, 1]),
            helper.make_tensor_value_info("yi", i8, [2, 5, 1, 1]),
            helper.make_tensor_value_info("yl", u8, [2, 1, 1, 16]),
        ],
        inits,
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ms, 1)],
        producer_name="make_qgap.py",
    )


def qdq_model():
    f32, u8 = TensorProto.FLOAT, TensorProto.UINT8
    inits = [
        scalar("s1", np.float32, 0.02),
        scalar("z1", np.uint8, 128),
        scalar("s2", np.float32, 0.004),
        scalar("z2", np.uint8, 125),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s1", "z1"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s1", "z1"], ["xd"]),
        helper.make_node("GlobalAveragePool", ["xd"], ["m"], name="gap"),
        helper.make_node("Flatten", ["m"], ["f"], axis=1),
        helper.make_node("QuantizeLinear", ["f", "s2", "z2"], ["fq"]),
        helper.make_node("DequantizeLinear", ["fq", "s2", "z2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "qgap_qdq",
        [helper.make_tensor_value_info("x", f32, [2, 64, 7, 7])],
        [helper.make_tensor_value_info("y", f32, [2, 64])],
        inits,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_qgap.py"
    )


def skewed(shape, dtype, lo, hi):
    """Random bytes whose planes (axis 1, or the last axis when the name
    says channels last) have different means, so the results spread."""
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


def main():
    save(ms_model(), "qgap_ms.onnx")
    xu = skewed([2, 16, 7, 7], np.uint8, 0, 255)
    # Shift each plane so the means spread over y's range.
    xu = np.clip(xu.astype(np.int32) // 2 + np.arange(16).reshape(1, 16, 1, 1) * 8, 0, 255)
    xu = xu.astype(np.uint8)
    xi = skewed([2, 5, 6, 3], np.int8, -128, 127)
    xl = np.ascontiguousarray(
        np.clip(skewed([2, 7, 7, 16], np.int32, 0, 160) + np.arange(16) * 6, 0, 255)
    ).astype(np.uint8)
    feeds = {"xu": xu, "xi": xi, "xl": xl}
    for k, v in feeds.items():
        np.save(out(f"{k}.npy"), v)
    for name, v in zip(["yu", "yi", "yl"], run("qgap_ms.onnx", feeds)):
        np.save(out(f"ort_{name}.npy"), v)
        print(name, v.dtype, v.shape, v.reshape(-1)[:8])

    save(qdq_model(), "qgap_qdq.onnx")
    x = rng.normal(0.0, 0.8, size=[2, 64, 7, 7]).astype(np.float32)
    x += (np.arange(64, dtype=np.float32).reshape(1, 64, 1, 1) - 32) * 0.01
    np.save(out("x.npy"), x)
    (y,) = run("qgap_qdq.onnx", {"x": x})
    np.save(out("ort_y.npy"), y)
    print("y", y.dtype, y.shape, y.reshape(-1)[:8])


if __name__ == "__main__":
    main()
