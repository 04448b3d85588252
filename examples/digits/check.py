"""Re-check the committed digits fixtures with onnxruntime (for humans; CI
does not run this). Needs `pip install onnxruntime numpy`.

    python3 examples/digits/check.py

Runs digits_cnn{,.qdq,.qop}.onnx on test_x.npy and checks that the
accuracies equal reference.json and the outputs equal ort_*_logits.npy
(within 1e-5, or one output quantization step for the quantized models,
since another onnxruntime build may pick different integer kernels).
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ref = json.load(open(os.path.join(HERE, "reference.json")))
    x = np.load(os.path.join(HERE, "test_x.npy"))
    y = np.load(os.path.join(HERE, "test_y.npy"))
    calib = sorted(os.listdir(os.path.join(HERE, "calib")))
    ok = len(calib) == ref["n_calib"] and len(y) == ref["n_test"]
    print(f"test samples {len(y)}, calibration files {len(calib)}")
    step = ref["ort_default_vs_unoptimized"]["qdq"]["logits_scale"]
    for tag, name, tol in [("f32", "digits_cnn.onnx", 1e-5),
                           ("qdq", "digits_cnn.qdq.onnx", step * 1.001),
                           ("qop", "digits_cnn.qop.onnx", step * 1.001)]:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(os.path.join(HERE, name), so,
                                    providers=["CPUExecutionProvider"])
        logits = sess.run(["logits"], {"x": x})[0]
        acc = float((logits.argmax(1) == y).mean())
        want = ref["accuracy"][f"ort_{tag}"]
        diff = float(np.abs(logits - np.load(os.path.join(HERE, f"ort_{tag}_logits.npy"))).max())
        good = acc == want and diff <= tol
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {name:22} accuracy {acc:.4f} "
              f"(reference {want:.4f}), max |logits - ort_{tag}_logits| {diff:.3g}")
    print("all match" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
