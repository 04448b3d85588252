#!/usr/bin/env python3
"""Ingot vs ONNX Runtime on the same models, inputs and thread counts, in one run.

For each model (written by bench/make_models.py) and each thread count:
  1. create an ORT InferenceSession (intra_op_num_threads=N, inter_op 1, graph
     optimizations ALL, sequential execution), timing its creation;
  2. start `ingot bench-serve MODEL --threads N` (bench/PROTOCOL.md), which reports
     its compile time, and load the same input bundle into both;
  3. warm both up, then ROUNDS alternating rounds of K timed iterations each (the
     side that goes first alternates too), so drift and neighbours' load hit both;
  4. compare Ingot's outputs with ORT's on the sample input (max abs diff).
Prints a table and writes every sample to JSON (default .cache/bench/results.json).

Usage: python3 bench/bench.py [--only mlp bert] [--threads 1 2] [--ingot-cmd CMD]
       python3 bench/bench.py --no-ingot       # ORT only: the bar to beat
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["mlp", "resnet18", "mobilenetv2", "bert", "vit"]
# Flag outputs further apart than this, relative to the output's largest
# magnitude: far above f32 reassociation and polynomial-approximation error.
MISMATCH_REL = 1e-3


class IngotError(Exception):
    pass


class IngotServer:
    """A running `ingot bench-serve`; one JSON line per command (PROTOCOL.md)."""

    def __init__(self, cmd: list[str], model: str, threads: int, timeout: float):
        self.timeout = timeout
        self.err = tempfile.TemporaryFile()
        t0 = time.perf_counter()
        self.p = subprocess.Popen(
            cmd + ["bench-serve", model, "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1,
            start_new_session=True,  # so a kill reaches whatever the command started
        )
        # A reader thread, so a hung or crashed server is a timeout, not a hang.
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self._reply()
        self.start_ms = (time.perf_counter() - t0) * 1e3

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _reply(self) -> dict:
        try:
            line = self.lines.get(timeout=self.timeout)
        except queue.Empty:
            self.close(force=True)
            raise IngotError(f"no answer within {self.timeout:.0f} s{self._stderr()}") from None
        if line is None:
            code = self.p.wait()
            raise IngotError(f"bench-serve exited with status {code}{self._stderr()}")
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            raise IngotError(f"not a protocol line: {line.strip()!r}") from None
        if "error" in r:
            raise IngotError(r["error"])
        return r

    def _stderr(self) -> str:
        self.err.seek(0)
        tail = self.err.read()[-2000:].decode(errors="replace").strip()
        return f"; stderr:\n{tail}" if tail else ""

    def cmd(self, line: str) -> dict:
        try:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass  # _reply reports the exit status and stderr.
        return self._reply()

    def run(self, iters: int) -> list[float]:
        return self.cmd(f"run {iters}")["times_ms"]

    def close(self, force: bool = False) -> None:
        if self.p.poll() is None and not force:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                pass
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait()


def ort_session(path: str, threads: int, spin: bool) -> tuple[ort.InferenceSession, float]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    t0 = time.perf_counter()
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s, (time.perf_counter() - t0) * 1e3


def ort_times(s: ort.InferenceSession, feeds: dict, iters: int) -> list[float]:
    out = []
    run, clock = s.run, time.perf_counter_ns
    for _ in range(iters):
        t0 = clock()
        run(None, feeds)  # the result is freed inside the window, as in bench-serve
        out.append((clock() - t0) / 1e6)
    return out


def ort_overhead_us() -> float:
    """Median time of session.run on a 1-element Identity: the per-call cost
    (Python, pybind, ORT bookkeeping) inside every ORT sample."""
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "id",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feeds = {"x": np.zeros(1, np.float32)}
    ort_times(s, feeds, 100)
    return statistics.median(ort_times(s, feeds, 500)) * 1e3


def compare(ref: list[np.ndarray], got: list[tuple[str, np.ndarray]]) -> dict:
    """Max abs diff over all outputs, and the same relative to each output's scale."""
    if len(ref) != len(got):
        return {"error": f"Ingot gave {len(got)} outputs, ORT {len(ref)}"}
    worst, worst_rel = 0.0, 0.0
    for i, (r, (_, g)) in enumerate(zip(ref, got)):
        if r.shape != g.shape:
            return {"error": f"output {i}: Ingot shape {g.shape}, ORT {r.shape}"}
        if r.size == 0:
            continue
        d = float(np.max(np.abs(g.astype(np.float64) - r.astype(np.float64))))
        if not np.isfinite(d):
            return {"error": f"output {i}: non-finite difference"}
        worst = max(worst, d)
        worst_rel = max(worst_rel, d / max(1.0, float(np.max(np.abs(r)))))
    return {"max_abs": worst, "max_rel": worst_rel}


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def bench_one(a, name: str, entry: dict, threads: int) -> dict:
    path = os.path.join(a.models, entry["dyn_file"] if a.dyn else entry["file"])
    ins_path = os.path.join(a.models, entry["inputs"])
    ins = tensors.read(ins_path)
    res: dict = {"model": name, "threads": threads, "file": os.path.basename(path)}

    sess, res["ort_session_ms"] = ort_session(path, threads, not a.ort_no_spin)
    names = [i.name for i in sess.get_inputs()]
    if names != [n for n, _ in ins]:
        print(f"  note: bundle names {[n for n, _ in ins]} != ORT inputs {names}; binding by position")
    feeds = {n: x for n, (_, x) in zip(names, ins)}
    ref = sess.run(None, feeds)

    srv = None
    if a.ingot_cmd:
        try:
            srv = IngotServer(a.ingot_cmd, path, threads, a.timeout)
            res["ingot_compile_ms"] = srv.hello.get("compile_ms")
            res["ingot_import_ms"] = srv.hello.get("import_ms")
            res["ingot_start_ms"] = srv.start_ms
            res["ingot_report"] = {k: v for k, v in srv.hello.items() if k not in ("compile_ms", "import_ms")}
            srv.cmd(f"load {ins_path}")
        except IngotError as e:
            res["ingot_error"] = str(e)
            if srv:
                srv.close()
            srv = None

    # Warm-up (also sizes K): at least a.warmup iterations and ~0.3 s per side.
    warm_ort = ort_times(sess, feeds, a.warmup)
    est = median(warm_ort)
    while sum(warm_ort) < 300 and len(warm_ort) < 1000:
        warm_ort += ort_times(sess, feeds, a.warmup)
    if srv:
        try:
            w = srv.run(a.warmup)
            while sum(w) < 300 and len(w) < 1000:
                w += srv.run(a.warmup)
            est = max(est, median(w))
        except IngotError as e:
            res["ingot_error"] = str(e)
            srv.close()
            srv = None
    k = a.iters or max(-(-a.min_iters // a.rounds), min(100, int(a.budget_ms / a.rounds / max(est, 1e-3))))
    res["rounds"], res["iters_per_round"] = a.rounds, k

    ort_rounds: list[list[float]] = []
    ingot_rounds: list[list[float]] = []
    for r in range(a.rounds):
        sides = ["ort", "ingot"] if r % 2 == 0 else ["ingot", "ort"]
        for side in sides:
            if side == "ort":
                ort_rounds.append(ort_times(sess, feeds, k))
            elif srv:
                try:
                    ingot_rounds.append(srv.run(k))
                except IngotError as e:
                    res["ingot_error"] = str(e)
                    srv.close()
                    srv = None
                    ingot_rounds = []
    ort_all = [t for rr in ort_rounds for t in rr]
    res["ort_ms"] = ort_rounds
    res["ort_median_ms"] = median(ort_all)
    res["ort_min_ms"] = min(ort_all)
    if srv and ingot_rounds:
        ing_all = [t for rr in ingot_rounds for t in rr]
        res["ingot_ms"] = ingot_rounds
        res["ingot_median_ms"] = median(ing_all)
        res["ingot_min_ms"] = min(ing_all)
        res["ratio"] = res["ingot_median_ms"] / res["ort_median_ms"]
        # Best case vs best case: what remains when neighbours' load is least.
        res["ratio_min"] = res["ingot_min_ms"] / res["ort_min_ms"]
        # Paired by round: robust to load that changes over the run.
        res["ratio_paired"] = median([median(i) / median(o) for i, o in zip(ingot_rounds, ort_rounds)])
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.tensors")
            try:
                srv.cmd(f"out {out}")
                res["check"] = compare(ref, tensors.read(out))
            except (IngotError, ValueError) as e:
                res["check"] = {"error": str(e)}
    if srv:
        srv.close()
    return res


def fmt(x, spec: str) -> str:
    width = spec.split(".")[0]
    return format("-", f">{width}") if x is None else format(x, spec)


COLUMNS = [  # (header, result key, format)
    ("model", "model", "<12"), ("thr", "threads", ">3"),
    ("ORT med", "ort_median_ms", "9.3f"), ("ORT min", "ort_min_ms", "9.3f"),
    ("Ingot med", "ingot_median_ms", "9.3f"), ("Ingot min", "ingot_min_ms", "9.3f"),
    ("ratio", "ratio", "6.2f"), ("paired", "ratio_paired", "6.2f"), ("r(min)", "ratio_min", "6.2f"),
    ("compile", "ingot_compile_ms", "8.1f"), ("ORT sess", "ort_session_ms", "8.1f"),
]
HEADER = " ".join(format(h, ">" + f.lstrip("<>").split(".")[0]) if not f.startswith("<")
                  else format(h, f) for h, _, f in COLUMNS) + "  max|diff|"


def row(r: dict) -> str:
    chk = r.get("check", {})
    diff = chk["error"] if "error" in chk else fmt(chk.get("max_abs"), ".1e")
    if chk.get("max_rel", 0.0) > MISMATCH_REL:
        diff += " MISMATCH"
    return " ".join(fmt(r.get(k), f) for _, k, f in COLUMNS) + "  " + diff


def default_ingot() -> list[str] | None:
    for p in ("target/release/ingot", "target/debug/ingot"):
        if os.path.exists(os.path.join(ROOT, p)):
            if "debug" in p:
                print("note: using a debug build of ingot; build --release for real numbers")
            return [os.path.join(ROOT, p)]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=".cache/bench", help="folder from make_models.py")
    ap.add_argument("--only", nargs="+", choices=MODELS)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=20, help="alternating rounds (default 20)")
    ap.add_argument("--iters", type=int, help="iterations per round per side (default: sized to --budget-ms)")
    ap.add_argument("--min-iters", type=int, default=20, help="least measured iterations per side")
    ap.add_argument("--budget-ms", type=float, default=1500, help="target measured time per side per config")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dyn", action="store_true", help="use the symbolic-batch models (NAME.dyn.onnx)")
    ap.add_argument("--ingot-cmd", help="the ingot command, e.g. 'cargo run --release -p ingot-compiler --' "
                    "(default target/release/ingot, else target/debug/ingot)")
    ap.add_argument("--no-ingot", action="store_true", help="measure ORT only")
    ap.add_argument("--ort-no-spin", action="store_true",
                    help="session.intra_op.allow_spinning=0 (ORT spins by default)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds to wait for any Ingot answer")
    ap.add_argument("--json", help="results file (default MODELS/results.json)")
    a = ap.parse_args()
    if a.no_ingot:
        a.ingot_cmd = None
    elif a.ingot_cmd:
        a.ingot_cmd = shlex.split(a.ingot_cmd)
    else:
        a.ingot_cmd = default_ingot()
        if not a.ingot_cmd:
            print("note: no ingot binary found (cargo build --release); measuring ORT only")
    if min(a.threads) < 1 or a.rounds < 1:
        ap.error("--threads and --rounds must be >= 1")

    man_path = os.path.join(a.models, "manifest.json")
    if not os.path.exists(man_path):
        sys.exit(f"{man_path} not found: run python3 bench/make_models.py first")
    with open(man_path) as f:
        manifest = json.load(f)
    names = [m for m in (a.only or MODELS) if m in manifest["models"]]

    env = {
        "onnxruntime": ort.__version__, "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(), "ingot_cmd": a.ingot_cmd,
        "ort_overhead_us": ort_overhead_us(), "ort_spinning": not a.ort_no_spin,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(f"onnxruntime {env['onnxruntime']}, {env['cpus']} cpus, load avg "
          f"{' '.join(f'{x:.1f}' for x in env['loadavg_start'])}, ORT per-call overhead "
          f"{env['ort_overhead_us']:.1f} us; ingot: {' '.join(a.ingot_cmd) if a.ingot_cmd else '(none)'}")
    print("times in ms; med/min over all measured iterations; ratio = Ingot med / ORT med; paired = median\n"
          "over rounds of (Ingot round median / ORT round median); r(min) = Ingot min / ORT min;\n"
          "compile = Ingot import+compile; ORT sess = InferenceSession creation")
    print(HEADER, flush=True)
    results = []
    t_start = time.perf_counter()
    for name in names:
        for th in a.threads:
            r = bench_one(a, name, manifest["models"][name], th)
            results.append(r)
            print(row(r), flush=True)
            if "ingot_error" in r:
                print(f"  ingot: {r['ingot_error'].splitlines()[0][:300]}", flush=True)
            rep = r.get("ingot_report", {})
            if rep.get("fallback"):
                print(f"  ingot: {rep.get('steps', 0) - rep.get('native_steps', 0)} of {rep.get('steps')} "
                      f"steps on the interpreter: {', '.join(rep['fallback'])}", flush=True)
    env["loadavg_end"] = os.getloadavg()
    env["wall_s"] = time.perf_counter() - t_start
    out = a.json or os.path.join(a.models, "results.json")
    with open(out, "w") as f:
        json.dump({"env": env, "results": results}, f, indent=1)
    print(f"wrote {out} ({env['wall_s']:.0f} s; load avg at end "
          f"{' '.join(f'{x:.1f}' for x in env['loadavg_end'])})")


if __name__ == "__main__":
    main()
