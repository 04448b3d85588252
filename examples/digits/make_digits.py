"""Make the INT8 post-training-quantization fixtures in examples/digits/.

Trains a small CNN on scikit-learn's bundled 8x8 digits, exports it to ONNX,
quantizes it with onnxruntime (QDQ and QOperator formats), and writes the
held-out data, the calibration samples and onnxruntime's outputs, so that the
Rust tests need neither Python nor training at CI time: everything this
writes is committed.

    pip install scikit-learn torch onnx onnxruntime numpy
    python3 examples/digits/make_digits.py

Deterministic: fixed seeds, one thread, torch.use_deterministic_algorithms.
The data files (test_x/test_y/calib/*) depend only on the scikit-learn data
set and numpy's seeded generator; the model depends on torch's CPU kernels
too, so another torch version may give different (equally good) weights.
"""
import json
import os
import shutil
import sys

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import onnx  # noqa: E402
import onnx.numpy_helper  # noqa: E402
import onnxruntime as ort  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from onnxruntime.quantization import (  # noqa: E402
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240611
N_TEST = 360
N_CALIB = 100
EPOCHS = 40
BATCH = 32


def out(name):
    return os.path.join(HERE, name)


# ---------------------------------------------------------------- data ----

def stratified_pick(y, n, rng):
    """Indices of n samples of y, classes in proportion (largest remainder),
    chosen by the seeded rng; returned sorted."""
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n / len(y)
    take = np.floor(exact).astype(int)
    # hand out the remainder to the largest fractional parts (ties: lower class)
    rest = n - take.sum()
    order = np.lexsort((classes, -(exact - take)))
    take[order[:rest]] += 1
    picked = []
    for c, k in zip(classes, take):
        idx = np.flatnonzero(y == c)
        picked.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(picked))


def load_split():
    d = load_digits()
    x = (d.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(SEED)
    test = stratified_pick(y, N_TEST, rng)
    train = np.setdiff1d(np.arange(len(y)), test)
    # calibration: a stratified subset of the training part (unlabelled use)
    calib = train[stratified_pick(y[train], N_CALIB, rng)]
    return x, y, train, calib, test


# --------------------------------------------------------------- model ----

class DigitsCNN(nn.Module):
    """1x8x8 -> 10 logits. Conv+BN+ReLU, depthwise 3x3 + pointwise 1x1,
    MaxPool 2x2, Conv 3x3, Flatten, two Linear layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)  # depthwise
        self.pw = nn.Conv2d(16, 32, 1)  # pointwise
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.dw(x))
        x = torch.relu(self.pw(x))
        x = self.pool(x)
        x = torch.relu(self.conv3(x))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


def train_model(x, y):
    torch.manual_seed(SEED)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(SEED)
    lossf = nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), BATCH):
            b = perm[i:i + BATCH]
            opt.zero_grad()
            loss = lossf(model(xt[b]), yt[b])
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return model


# ---------------------------------------------------------------- onnx ----

def session(path, optimize=True):
    so = ort.SessionOptions()
    if not optimize:
        # literal DequantizeLinear -> f32 op -> QuantizeLinear, no fusion
        # into ORT's integer kernels
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_logits(path, x, optimize=True):
    return session(path, optimize).run(["logits"], {"x": x})[0].astype(np.float32)


def rounding_check(path, x, optimized):
    """How far ORT's default (fused integer-kernel) outputs are from the
    same model run op by op with graph optimizations off, in units of the
    output quantization step."""
    m = onnx.load(path)
    init = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    step = float(init["logits_scale"])
    d = np.abs(ort_logits(path, x, optimize=False) - optimized)
    return {
        "logits_scale": step,
        "logits_zero_point": int(init["logits_zero_point"]),
        "max_abs_diff": float(d.max()),
        "max_diff_in_steps": round(float(d.max()) / step, 4),
        "values_differing": int((d > 0).sum()),
    }


def accuracy(logits, y):
    return float((logits.argmax(1) == y).mean())


class CalibReader(CalibrationDataReader):
    def __init__(self, samples):
        self.samples = samples
        self.i = 0

    def get_next(self):
        if self.i >= len(self.samples):
            return None
        self.i += 1
        return {"x": self.samples[self.i - 1]}

    def rewind(self):
        self.i = 0


def quantize(src, dst, calib_samples, fmt, method=CalibrationMethod.MinMax):
    quantize_static(
        src, dst, CalibReader(calib_samples),
        quant_format=fmt,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=method,
    )


def drop_unused_opsets(path):
    """quant_pre_process saves ORT's optimized model with an opset import
    for every domain ORT knows (ai.onnx.ml, com.microsoft, training, ...).
    Keep only the default domain and domains the graph uses, so the
    quantized models declare only what they need (quantize_static adds
    com.microsoft itself where it emits a contrib op)."""
    m = onnx.load(path)
    used = {n.domain for n in m.graph.node} | {""}
    keep = [o for o in m.opset_import if o.domain in used]
    del m.opset_import[:]
    m.opset_import.extend(keep)
    onnx.save(m, path)


def op_counts(path):
    from collections import Counter
    ops = Counter(f"{n.domain}:{n.op_type}" if n.domain else n.op_type
                  for n in onnx.load(path).graph.node)
    return dict(sorted(ops.items()))


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    versions = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
    }

    x, y, train, calib, test = load_split()
    model = train_model(x[train], y[train])
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x[test])).numpy()
    torch_acc = accuracy(torch_logits, y[test])

    f32 = out("digits_cnn.onnx")
    torch.onnx.export(
        model, (torch.from_numpy(x[:1]),), f32,
        input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17, dynamo=False,
        # PRESERVE (with the model in eval mode) keeps BatchNormalization as
        # an inference-mode node instead of folding it into conv1, so the
        # f32 model also exercises the compiler's own BN folding.
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    onnx.checker.check_model(onnx.load(f32))

    # data files
    test_x, test_y = np.ascontiguousarray(x[test]), y[test]
    np.save(out("test_x.npy"), test_x)
    np.save(out("test_y.npy"), test_y)
    cdir = out("calib")
    shutil.rmtree(cdir, ignore_errors=True)
    os.makedirs(cdir)
    calib_samples = [np.ascontiguousarray(x[i:i + 1]) for i in calib]
    for k, s in enumerate(calib_samples):
        np.save(os.path.join(cdir, f"{k:03d}.npy"), s)

    # quantization: pre-process (shape inference + ORT graph optimization,
    # which folds BatchNorm into the Conv), then quantize_static. The
    # pre-processed f32 model is only an intermediate; not committed.
    pre = out("_pre.onnx")
    quant_pre_process(f32, pre, skip_symbolic_shape=False)
    drop_unused_opsets(pre)
    qdq, qop = out("digits_cnn.qdq.onnx"), out("digits_cnn.qop.onnx")
    quantize(pre, qdq, calib_samples, QuantFormat.QDQ)
    quantize(pre, qop, calib_samples, QuantFormat.QOperator)

    # other calibration methods, for information only (models not kept)
    other = {}
    for name, method in [("entropy", CalibrationMethod.Entropy),
                         ("percentile", CalibrationMethod.Percentile)]:
        tmp = out(f"_{name}.onnx")
        try:
            quantize(pre, tmp, calib_samples, QuantFormat.QDQ, method)
            other[name] = accuracy(ort_logits(tmp, test_x), test_y)
        except Exception as e:  # informational only
            other[name] = f"failed: {type(e).__name__}: {e}"
        for p in (tmp, tmp + ".data"):
            if os.path.exists(p):
                os.remove(p)
    os.remove(pre)
    for junk in ("augmented_model.onnx",):
        if os.path.exists(junk):
            os.remove(junk)

    logits = {}
    for tag, path in [("f32", f32), ("qdq", qdq), ("qop", qop)]:
        logits[tag] = ort_logits(path, test_x)
        np.save(out(f"ort_{tag}_logits.npy"), logits[tag])

    files = sorted(
        [f for f in os.listdir(HERE) if f.endswith((".onnx", ".npy"))])
    sizes = {f: os.path.getsize(out(f)) for f in files}
    sizes["calib/ (total)"] = sum(
        os.path.getsize(os.path.join(cdir, f)) for f in os.listdir(cdir))

    ref = {
        "n_train": int(len(train)),  # the calibration samples are among these
        "n_calib": int(len(calib)),
        "n_test": int(len(test)),
        "seed": SEED,
        "accuracy": {
            "torch_f32": torch_acc,
            "ort_f32": accuracy(logits["f32"], test_y),
            "ort_qdq": accuracy(logits["qdq"], test_y),
            "ort_qop": accuracy(logits["qop"], test_y),
        },
        "ort_qdq_other_calibration_accuracy": other,
        "max_abs_diff_torch_vs_ort_f32": float(np.abs(torch_logits - logits["f32"]).max()),
        "argmax_agreement_qdq_vs_f32": float((logits["qdq"].argmax(1) == logits["f32"].argmax(1)).mean()),
        "argmax_agreement_qop_vs_f32": float((logits["qop"].argmax(1) == logits["f32"].argmax(1)).mean()),
        "ort_default_vs_unoptimized": {
            "qdq": rounding_check(qdq, test_x, logits["qdq"]),
            "qop": rounding_check(qop, test_x, logits["qop"]),
        },
        "ops": {
            "digits_cnn.onnx": op_counts(f32),
            "digits_cnn.qdq.onnx": op_counts(qdq),
            "digits_cnn.qop.onnx": op_counts(qop),
        },
        "opset_imports": {
            p: {o.domain or "ai.onnx": o.version for o in onnx.load(out(p)).opset_import}
            for p in ("digits_cnn.onnx", "digits_cnn.qdq.onnx", "digits_cnn.qop.onnx")
        },
        "sizes_bytes": sizes,
        "versions": versions,
    }
    with open(out("reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    print(json.dumps(ref, indent=2))


if __name__ == "__main__":
    main()
