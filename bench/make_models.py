#!/usr/bin/env python3
"""Write the benchmark's seeded ONNX models and their sample inputs.

For each model NAME this writes into the output folder (default .cache/bench):
  NAME.onnx          static shapes (what bench.py measures)
  NAME.dyn.onnx      the same weights with a symbolic batch dim `batch`
  NAME.inputs.tensors  the sample input, an Ingot tensor bundle (bench/PROTOCOL.md)
  NAME.dynamo.onnx   only with --dynamo: the torch.export-based exporter's version
and manifest.json describing all of them (shapes, op counts, export times).

Models (random init, seeded, eval mode):
  mlp          784-1024-1024-10 with ReLU, x: f32[64, 784]
  resnet18     torchvision ResNet-18, x: f32[1, 3, 224, 224]
  mobilenetv2  torchvision MobileNetV2, x: f32[1, 3, 224, 224]
  bert         transformers BertModel, 2 layers, hidden 128, 2 heads, intermediate
               512, vocab 30522; inputs input_ids: i64[1, 128] and attention_mask:
               i64[1, 128] (the last 16 positions padded); outputs last_hidden_state
               [1,128,128] and pooler_output [1,128]. Eager attention (not SDPA) so
               the export is plain MatMul/Softmax.
  vit          transformers ViTModel, image 224, patch 16, hidden 192, 6 layers,
               3 heads, intermediate 768 (a 6-layer ViT-Tiny); x: f32[1, 3, 224, 224];
               outputs last_hidden_state [1,197,192] and pooler_output [1,192].

Batch-norm running statistics are randomized (seeded): with torchvision's
defaults (mean 0, var 1) folding them would be a no-op and mistakes would hide.

Every export is checked: onnx.checker passes, and ONNX Runtime's output on the
sample input matches PyTorch's (max abs diff printed; an error above 1e-3
relative to the output's scale fails the script).

Usage: python3 bench/make_models.py [--out DIR] [--only NAME ...] [--dynamo] [--opset N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tensors  # noqa: E402

SEED = 0
MODELS = ["mlp", "resnet18", "mobilenetv2", "bert", "vit"]


def randomize_bn(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Seeded, non-trivial batch-norm statistics and affine parameters."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


class Wrap(torch.nn.Module):
    """Returns a tuple of plain tensors (HF models return ModelOutput objects)."""

    def __init__(self, inner: torch.nn.Module, keys: list[str]):
        super().__init__()
        self.inner = inner
        self.keys = keys

    def forward(self, *args):
        out = self.inner(*args)
        return tuple(out[k] for k in self.keys)


def build(name: str):
    """(module, [(input name, array)], [output names], doc) for one model."""
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    if name == "mlp":
        m = torch.nn.Sequential(
            torch.nn.Linear(784, 1024), torch.nn.ReLU(),
            torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
            torch.nn.Linear(1024, 10),
        )
        ins = [("x", rng.random((64, 784), dtype=np.float32))]
        return m, ins, ["y"], "MLP 784-1024-1024-10 ReLU, batch 64"
    if name in ("resnet18", "mobilenetv2"):
        import torchvision

        m = torchvision.models.resnet18() if name == "resnet18" else torchvision.models.mobilenet_v2()
        randomize_bn(m, gen)
        ins = [("x", rng.standard_normal((1, 3, 224, 224), dtype=np.float32))]
        return m, ins, ["logits"], f"torchvision {name}, batch 1, 224x224"
    if name == "bert":
        from transformers import BertConfig, BertModel

        cfg = BertConfig(
            vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=512, max_position_embeddings=512, attn_implementation="eager",
        )
        m = Wrap(BertModel(cfg), ["last_hidden_state", "pooler_output"])
        ids = rng.integers(0, cfg.vocab_size, size=(1, 128), dtype=np.int64)
        mask = np.ones((1, 128), dtype=np.int64)
        mask[:, -16:] = 0
        ins = [("input_ids", ids), ("attention_mask", mask)]
        return m, ins, ["last_hidden_state", "pooler_output"], (
            "BERT encoder: 2 layers, hidden 128, 2 heads, intermediate 512, seq 128, batch 1"
        )
    if name == "vit":
        from transformers import ViTConfig, ViTModel

        cfg = ViTConfig(
            image_size=224, patch_size=16, hidden_size=192, num_hidden_layers=6,
            num_attention_heads=3, intermediate_size=768, attn_implementation="eager",
        )
        m = Wrap(ViTModel(cfg), ["last_hidden_state", "pooler_output"])
        ins = [("x", rng.standard_normal((1, 3, 224, 224), dtype=np.float32))]
        return m, ins, ["last_hidden_state", "pooler_output"], (
            "ViT: image 224, patch 16, hidden 192, 6 layers, 3 heads, intermediate 768, batch 1"
        )
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def export(m, ins, outs, path, opset, dynamic: bool, dynamo: bool) -> float:
    args = tuple(torch.from_numpy(a) for _, a in ins)
    names = [n for n, _ in ins]
    kw = {}
    if dynamic:
        kw["dynamic_axes"] = {n: {0: "batch"} for n in names + outs}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            m, args, path, input_names=names, output_names=outs, opset_version=opset,
            dynamo=dynamo, do_constant_folding=True, **kw,
        )
    return (time.perf_counter() - t0) * 1e3


def check(path: str, ins, ref: list[np.ndarray]) -> float:
    """onnx.checker, then ORT vs PyTorch; returns the max abs diff."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    got = s.run(None, dict(ins))
    worst = 0.0
    for g, r in zip(got, ref):
        if g.shape != r.shape:
            raise SystemExit(f"{path}: ORT output shape {g.shape} != PyTorch {r.shape}")
        d = float(np.max(np.abs(g - r))) if r.size else 0.0
        if d > 1e-3 * max(1.0, float(np.max(np.abs(r)))):
            raise SystemExit(f"{path}: ORT and PyTorch differ by {d:.3g}")
        worst = max(worst, d)
    return worst


def op_counts(path: str) -> dict[str, int]:
    import onnx

    g = onnx.load(path, load_external_data=False).graph
    c: dict[str, int] = {}
    for n in g.node:
        c[n.op_type] = c.get(n.op_type, 0) + 1
    return dict(sorted(c.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=".cache/bench", help="output folder (default .cache/bench)")
    ap.add_argument("--only", nargs="+", choices=MODELS, help="models to write (default all)")
    ap.add_argument("--opset", type=int, default=17, choices=[17, 18])
    ap.add_argument("--dynamo", action="store_true", help="also write NAME.dynamo.onnx (dynamo=True)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    man_path = os.path.join(a.out, "manifest.json")
    manifest = {"models": {}}
    if os.path.exists(man_path):
        with open(man_path) as f:
            manifest = json.load(f)
    manifest.update(torch=torch.__version__, opset=a.opset, seed=SEED)
    for name in a.only or MODELS:
        m, ins, outs, doc = build(name)
        m.eval()
        with torch.no_grad():
            ref = m(*(torch.from_numpy(x) for _, x in ins))
        ref = [t.numpy() for t in (ref if isinstance(ref, tuple) else (ref,))]
        base = os.path.join(a.out, name)
        entry = {"doc": doc, "file": f"{name}.onnx", "dyn_file": f"{name}.dyn.onnx",
                 "inputs": f"{name}.inputs.tensors",
                 "input_shapes": {n: list(x.shape) for n, x in ins},
                 "output_names": outs, "export_ms": {}}
        with torch.no_grad():
            entry["export_ms"]["static"] = export(m, ins, outs, base + ".onnx", a.opset, False, False)
            entry["export_ms"]["dyn"] = export(m, ins, outs, base + ".dyn.onnx", a.opset, True, False)
            if a.dynamo:
                entry["dynamo_file"] = f"{name}.dynamo.onnx"
                entry["export_ms"]["dynamo"] = export(
                    m, ins, outs, base + ".dynamo.onnx", a.opset, False, True)
        tensors.write(base + ".inputs.tensors", ins)
        diffs = {k: check(os.path.join(a.out, entry[f]), ins, ref)
                 for k, f in [("static", "file"), ("dyn", "dyn_file"), ("dynamo", "dynamo_file")]
                 if f in entry}
        entry["ort_vs_torch_max_abs"] = diffs
        entry["ops"] = op_counts(base + ".onnx")
        entry["bytes"] = os.path.getsize(base + ".onnx")
        manifest["models"][name] = entry
        ex = ", ".join(f"{k} {v:.0f} ms" for k, v in entry["export_ms"].items())
        print(f"{name:12s} {entry['bytes'] / 1e6:6.1f} MB  export: {ex}  "
              f"ORT-vs-torch max|diff| {max(diffs.values()):.2e}  ({sum(entry['ops'].values())} nodes)",
              flush=True)
        with open(man_path, "w") as f:
            json.dump(manifest, f, indent=1)
    print(f"wrote {man_path}")


if __name__ == "__main__":
    main()
