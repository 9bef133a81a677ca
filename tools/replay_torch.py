#!/usr/bin/env python3
"""Replays a fixture's inputs through the independent PyTorch step and writes the result
as a fixture, so `ref-run verify` can judge PyTorch against the fixture's producer.

    python3 tools/replay_torch.py FIXTURE_DIR --out DIR [--bug VARIANT]

The step is tools/make_fixtures_torch.py's (MLP, ResNet18, ResNet50; SAM and SGD; masks;
sam_shards, ResNet50's with shared statistics), run in the fixture's dtype; --bug plants
one of tools/make_bug_fixtures_torch.py's variants instead (with or without sam_shards). Used to measure how far a
correct float32 implementation sits from the reference, and how far each bug
(tools/separation_table.py).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures_torch as M  # noqa: E402
import make_bug_fixtures_torch as B  # noqa: E402
from samfixture import read_fixture, write_fixture  # noqa: E402


def replay(src, out, bug=None):
    meta, ins, _ = read_fixture(src)
    dt = torch.float64 if meta["dtype"] == "float64" else torch.float32

    def tree(prefix):
        return {k[len(prefix) + 1:]: torch.tensor(v, dtype=dt) for k, v in ins.items() if k.startswith(prefix + "/")}
    params, stats, mask = tree("params"), tree("batch_stats"), tree("mask") or None
    trace = tree("trace") or {k: torch.zeros_like(v) for k, v in params.items()}
    x = torch.tensor(ins["image"], dtype=dt)
    y = torch.tensor(ins["label"].astype(np.int64))
    hp = dict(meta["step"])
    hp.setdefault("rho", 0.0)
    step = B.make_step(bug) if bug else M.train_step
    conv, batch_norm = M.conv, M.batch_norm
    if bug == "same-padding":
        M.conv = lambda P, path, x_, f, k, s, pad: conv(P, path, x_, f, k, s, "SAME")
    if bug == "unbiased-running-variance":
        M.batch_norm = B.unbiased_batch_norm
    try:
        r = step(meta["model"], hp, params, stats, trace, mask, x, y, dt)
    finally:
        M.conv, M.batch_norm = conv, batch_norm
    outputs = {"loss": r["loss"], "logits": r["logits"]}
    for group in ["grads_first", "grads", "params", "trace", "batch_stats"]:
        outputs.update({f"{group}/{k}": v for k, v in r[group].items()})
    inputs = dict(ins)
    write_fixture(out, dtype=meta["dtype"], model=meta["model"], step=meta["step"], inputs=inputs,
                  outputs={k: v for k, v in outputs.items() if k in meta["outputs"]},
                  producer=f"tools/replay_torch.py{' --bug ' + bug if bug else ''} (PyTorch {torch.__version__}) of {src}",
                  trace_zero=meta.get("trace") == "zero")


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("--out", required=True)
    ap.add_argument("--bug")
    a = ap.parse_args()
    replay(a.fixture, a.out, a.bug)


if __name__ == "__main__":
    main()
