#!/usr/bin/env python3
"""Export small real models to ONNX with reference outputs from onnxruntime.

Writes, for each model, `<out>/<name>/model.onnx` and
`<out>/<name>/test_data_set_<n>/{input,output}_<k>.pb` (TensorProto files,
the layout of ONNX's node tests; set 1, where present, uses another batch
and/or sequence length than the export traced), which `cargo run -p ingot-tests --bin
model_check` and the `real_models` test compare the interpreter against.

Models (random weights, seeded; small inputs because the interpreter is a
plain-loop reference):
  resnet18_{ts,dynamo}      torchvision resnet18, 1x3x64x64 image
  mobilenet_v2_{ts,dynamo}  torchvision mobilenet_v2, 1x3x64x64 image
  bert_{ts,dynamo}          HuggingFace BertModel (2 layers, hidden 128),
                            dynamic batch/sequence axes, 1x8 tokens
  gpt2_{ts,dynamo}          HuggingFace GPT2Model (2 layers, hidden 128),
                            dynamic batch/sequence axes, 1x8 tokens
`_ts` is `torch.onnx.export(dynamo=False)` (TorchScript tracing), `_dynamo`
is `dynamo=True` (torch.export + onnxscript).

Needs: torch torchvision transformers onnxscript onnxruntime onnx numpy.
Usage: python3 scripts/export_models.py [--out .cache/models] [--only NAME...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

import numpy as np
import onnx
from onnx import numpy_helper

SEED = 0


def seed_all() -> None:
    import random

    import torch

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)


def vision(name: str):
    import torch
    import torchvision

    seed_all()
    model = getattr(torchvision.models, name)(weights=None)
    # Calibrate BatchNorm statistics on random batches, as training would:
    # with the default (0, 1) statistics activations blow up layer by layer
    # and mobilenet's ReLU6 saturates, making the logits independent of the
    # input (and the comparison vacuous). Random affine parameters make the
    # BatchNorm folding matter too.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None  # cumulative average
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        model.train()
        for _ in range(4):
            model(torch.randn(8, 3, 64, 64))
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    # A second data set with another batch size (TorchScript export only:
    # the dynamo export specializes a batch of 1).
    other = (torch.randn(2, 3, 64, 64),)
    return model, (x,), ["image"], ["logits"], {"image": {0: "batch"}}, other


def bert():
    import torch
    from transformers import BertConfig, BertModel

    seed_all()
    cfg = BertConfig(
        vocab_size=1000,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=64,
        attn_implementation="eager",
    )
    inner = BertModel(cfg, add_pooling_layer=False).eval()

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.randint(0, cfg.vocab_size, (1, 8), dtype=torch.int64)
    mask = torch.ones(1, 8, dtype=torch.int64)
    mask[0, 6:] = 0  # padding at the end: the mask must matter
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    # Another batch and sequence length, so the symbolic shape subgraphs are
    # exercised with values other than the traced ones.
    ids2 = torch.randint(0, cfg.vocab_size, (2, 5), dtype=torch.int64)
    mask2 = torch.ones(2, 5, dtype=torch.int64)
    mask2[1, 3:] = 0
    other = (ids2, mask2)
    return Wrap(inner), (ids, mask), ["input_ids", "attention_mask"], ["hidden"], dyn, other


def gpt2():
    import torch
    from transformers import GPT2Config, GPT2Model

    seed_all()
    cfg = GPT2Config(
        vocab_size=1000,
        n_embd=128,
        n_layer=2,
        n_head=4,
        n_positions=64,
        attn_implementation="eager",
        use_cache=False,
    )
    inner = GPT2Model(cfg).eval()

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            # An explicit mask keeps transformers from detecting packed
            # sequences with `aten::diff`, which TorchScript export lacks.
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            ).last_hidden_state

    ids = torch.randint(0, cfg.vocab_size, (1, 8), dtype=torch.int64)
    mask = torch.ones(1, 8, dtype=torch.int64)
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    ids2 = torch.randint(0, cfg.vocab_size, (2, 5), dtype=torch.int64)
    other = (ids2, torch.ones(2, 5, dtype=torch.int64))
    return Wrap(inner), (ids, mask), ["input_ids", "attention_mask"], ["hidden"], dyn, other


BUILDERS = {
    "resnet18": lambda: vision("resnet18"),
    "mobilenet_v2": lambda: vision("mobilenet_v2"),
    "bert": bert,
    "gpt2": gpt2,
}


def export(name: str, dynamo: bool, out_dir: str) -> str:
    import torch

    model, args, in_names, out_names, dyn, other = BUILDERS[name]()
    tag = f"{name}_{'dynamo' if dynamo else 'ts'}"
    d = os.path.join(out_dir, tag)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    with torch.no_grad():
        # Before exporting: tracing may leave the module in another state.
        ref = model(*args).numpy()
        if dynamo:
            # torch.export wants Dim objects; names give symbolic dims.
            shapes = {
                k: {ax: torch.export.Dim(n, min=1, max=64) if n == "seq" else torch.export.Dim(n)
                    for ax, n in v.items()}
                for k, v in dyn.items()
            }
            # `batch` of 1 would be specialized by torch.export; keep the
            # image models static in batch and make only the sequence dynamic.
            if name in ("resnet18", "mobilenet_v2"):
                shapes = None
            else:
                shapes = {k: {1: v[1]} for k, v in shapes.items()}
            prog = torch.onnx.export(
                model,
                args,
                dynamo=True,
                input_names=in_names,
                output_names=out_names,
                dynamic_shapes=shapes,
                external_data=False,
            )
            prog.save(path)
        else:
            torch.onnx.export(
                model,
                args,
                path,
                dynamo=False,
                input_names=in_names,
                output_names=out_names,
                dynamic_axes=dyn,
                opset_version=17,
            )
    onnx.checker.check_model(path)
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    sets = [args]
    if not dynamo:
        sets.append(other)
    elif name in ("bert", "gpt2"):
        # The dynamo export keeps the batch static (1): vary the length only.
        sets.append(tuple(a[:1] for a in other))
    err = 0.0
    for k, inputs in enumerate(sets):
        feeds = {n: a.numpy() for n, a in zip(in_names, inputs)}
        outs = sess.run(None, feeds)
        if k == 0:
            err = float(np.max(np.abs(outs[0] - ref)))
        sd = os.path.join(d, f"test_data_set_{k}")
        os.makedirs(sd, exist_ok=True)
        for j, n in enumerate(in_names):
            with open(os.path.join(sd, f"input_{j}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(feeds[n], n).SerializeToString())
        for j, o in enumerate(outs):
            with open(os.path.join(sd, f"output_{j}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(o, f"output_{j}").SerializeToString())
    m = onnx.load(path)
    ops = sorted({n.op_type for n in m.graph.node})
    return f"{tag}: {len(m.graph.node)} nodes, opset {m.opset_import[0].version}, ort vs torch max abs {err:.2e}; ops {' '.join(ops)}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".cache/models")
    ap.add_argument("--only", nargs="*", help="model names (resnet18 mobilenet_v2 bert gpt2)")
    ap.add_argument("--exporter", choices=["ts", "dynamo", "both"], default="both")
    a = ap.parse_args()
    names = a.only or list(BUILDERS)
    modes = {"ts": [False], "dynamo": [True], "both": [False, True]}[a.exporter]
    failed = 0
    for name in names:
        for dynamo in modes:
            t0 = time.time()
            try:
                print(export(name, dynamo, a.out), f"({time.time() - t0:.1f}s)", flush=True)
            except Exception:  # noqa: BLE001 - report every model, then fail
                failed += 1
                print(f"{name} dynamo={dynamo}: FAILED", flush=True)
                traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
