#!/usr/bin/env python3
"""INT8 vs f32 on the CPU: Ingot's INT8 latency against Ingot's own f32, side by side.

For each model (default: mlp and resnet18 from bench/make_models.py, in .cache/bench):
1. quantize it with onnxruntime's `quantize_static` (QDQ format, per-channel
   symmetric i8 weights, u8 activations, MinMax over 16 seeded samples drawn
   like the benchmark input) -> NAME.qdq.onnx (skipped when present);
2. time Ingot on NAME.onnx and NAME.qdq.onnx with `ingot bench --json`,
   alternating the two for --rounds rounds (the machine is noisy: the ratio
   of medians taken in the same run is what counts), and ONNX Runtime's f32
   and INT8 sessions the same way for reference;
3. compile both to `.ingot` artifacts and compare their sizes;
4. check the INT8 outputs against f32 (relative error of the outputs).

Usage: python3 bench/int8.py [--models mlp resnet18] [--threads 1] [--rounds 5]
Needs: numpy, onnx, onnxruntime (and the `ingot` release binary).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
INGOT = os.path.join(ROOT, "target", "release", "ingot")
SEED = 0


def sample(name: str, rng: np.random.Generator) -> np.ndarray:
    if name == "mlp":
        return rng.random((64, 784), dtype=np.float32)
    return rng.standard_normal((1, 3, 224, 224), dtype=np.float32)


def quantize(name: str, src: str, dst: str) -> None:
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    rng = np.random.default_rng(SEED)
    inp = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{inp: sample(name, rng)} for _ in range(16)])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        quantize_static(pre, dst, Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)


def ingot_bench(model: str, threads: int, iters: int) -> float:
    out = subprocess.run([INGOT, "bench", model, "--threads", str(threads), "--iters", str(iters),
                          "--warmup", "5", "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["median_ms"]


def ort_bench(model: str, x: np.ndarray, threads: int, iters: int) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    feed = {s.get_inputs()[0].name: x}
    for _ in range(5):
        s.run(None, feed)
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        s.run(None, feed)
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)


def artifact_bytes(model: str, out: str) -> int:
    subprocess.run([INGOT, "compile", model, "-o", out], check=True, capture_output=True)
    return os.path.getsize(out)


def ingot_outputs(model: str, x: np.ndarray, tmp: str) -> np.ndarray:
    xin, odir = os.path.join(tmp, "x.npy"), os.path.join(tmp, os.path.basename(model) + ".out")
    np.save(xin, x)
    name = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    subprocess.run([INGOT, "run", model, "--input", f"{name}={xin}", "--output-dir", odir],
                   check=True, capture_output=True)
    outs = sorted(f for f in os.listdir(odir) if f.endswith(".npy"))
    return np.load(os.path.join(odir, outs[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["mlp", "resnet18"])
    ap.add_argument("--dir", default=os.path.join(ROOT, ".cache", "bench"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    rows = []
    for name in a.models:
        f32 = os.path.join(a.dir, f"{name}.onnx")
        q = os.path.join(a.dir, f"{name}.qdq.onnx")
        if not os.path.exists(q):
            quantize(name, f32, q)
        x = sample(name, np.random.default_rng(SEED + 1))
        meds = {"ingot_f32": [], "ingot_int8": [], "ort_f32": [], "ort_int8": []}
        for _ in range(a.rounds):
            meds["ingot_f32"].append(ingot_bench(f32, a.threads, a.iters))
            meds["ingot_int8"].append(ingot_bench(q, a.threads, a.iters))
            meds["ort_f32"].append(ort_bench(f32, x, a.threads, a.iters))
            meds["ort_int8"].append(ort_bench(q, x, a.threads, a.iters))
        m = {k: statistics.median(v) for k, v in meds.items()}
        with tempfile.TemporaryDirectory() as tmp:
            sf = artifact_bytes(f32, os.path.join(tmp, "f32.ingot"))
            sq = artifact_bytes(q, os.path.join(tmp, "int8.ingot"))
            yf = ingot_outputs(f32, x, tmp)
            yq = ingot_outputs(q, x, tmp)
        rel = float(np.linalg.norm(yq - yf) / max(np.linalg.norm(yf), 1e-12))
        row = {"model": name, "threads": a.threads, **{k: round(v, 3) for k, v in m.items()},
               "int8_over_f32": round(m["ingot_int8"] / m["ingot_f32"], 3),
               "ort_int8_over_f32": round(m["ort_int8"] / m["ort_f32"], 3),
               "artifact_f32": sf, "artifact_int8": sq, "size_ratio": round(sq / sf, 3),
               "int8_rel_err": round(rel, 4)}
        rows.append(row)
        print(f"{name:10s} thr {a.threads}: Ingot f32 {m['ingot_f32']:.3f} ms, INT8 {m['ingot_int8']:.3f} ms "
              f"(x{row['int8_over_f32']}); ORT f32 {m['ort_f32']:.3f}, INT8 {m['ort_int8']:.3f} "
              f"(x{row['ort_int8_over_f32']}); artifact {sf} -> {sq} B (x{row['size_ratio']}); "
              f"INT8 vs f32 output rel. err {rel:.4f}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
