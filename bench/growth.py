#!/usr/bin/env python3
"""How a SAM step's cost grows with width, the axis the paper sweeps: step time and peak
memory for ref-run (native build), PyTorch eager (oneDNN on) and JAX jit, with the
step's FLOP count and the fraction of the machine's peak it reaches.

    make && python3 bench/growth.py [--threads 2] [--peak-gflops G] [--torch-python P] [--jax-python P]

FLOPs per SAM step: two forward and two backward passes; each dense or convolution layer
costs 2 * batch * (multiply-adds per example) forward and twice that backward (input and
weight gradients), except that no framework computes the first layer's input gradient (the
images'): a step is 2 passes x 2 x batch x (3 x forward multiply-adds - the first layer's)
(elementwise work not counted). Peak: --peak-gflops, or measured here as the best of ref-run's and
OpenBLAS's 1024^3 GEMM at --threads. Peak memory: the maximum resident set of a process
that runs only that measurement (ru_maxrss of a fresh child). Batch 128; one round, the
median of the steps given. Prints a Markdown table.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402

MLPS = [[75, 25], [150, 50], [300, 100], [600, 200], [1200, 400], [3000, 1000]]
RESNETS = [4, 8, 16, 32, 64]


def forward_macs(name, width):
    if name == "MLP":
        dims = [784] + width + [10]
        return sum(a * b for a, b in zip(dims, dims[1:]))
    f, macs, cin, size = width, first_layer_macs(name, width), width, 32
    for stage in range(4):
        for j in range(2):
            s = 2 if stage > 0 and j == 0 else 1
            n, size = width * 2 ** stage, size // s
            macs += size * size * 9 * (cin * n + n * n)
            if s != 1 or cin != n:
                macs += size * size * cin * n
            cin = n
    return macs + 8 * f * 10


def first_layer_macs(name, width):
    """Multiply-adds per example of the first layer, whose input gradient no step computes."""
    return 784 * width[0] if name == "MLP" else 32 * 32 * 27 * width


def step_gflop(name, width, batch=128):
    return 2 * 2 * batch * (3 * forward_macs(name, width) - first_layer_macs(name, width)) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peak-gflops", type=float)
    ap.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    ap.add_argument("--jax-python", default="/tmp/jaxenv/bin/python")
    ap.add_argument("--resnets", default=",".join(map(str, RESNETS)), help="ResNet18 widths (num_filters)")
    a = ap.parse_args()
    t = str(a.threads)
    env = C.peer_env(a.threads)
    peak = a.peak_gflops or max(float(C.peer(a.torch_python, "gemm", threads=a.threads).split()[0]),
                                C.ref(C.NATIVE, "gemm", "--m", "1024", "--n", "1024", "--k", "1024", "--threads", t)["gflops"])
    print(f"peak taken as {peak:.0f} GFLOP/s ({t} threads)\n")
    print("| model | width | GFLOP / step | ref-run ms | MB | % peak | PyTorch ms | MB | JAX ms | MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, widths in [("MLP", MLPS), ("ResNet18", [int(w) for w in a.resnets.split(",") if w])]:
        for width in widths:
            flop = step_gflop(name, width)
            big = name == "ResNet18" and width >= 32
            steps = 20 if name == "MLP" else (2 if big else 3)
            flag = ["--num_neurons", ",".join(map(str, width))] if name == "MLP" else ["--num_filters", str(width)]
            line, ref_mb = C.measured([C.NATIVE, "bench", "step", "--model", name, *flag, "--batch", "128", "--steps", str(steps),
                                     "--threads", t], env)
            ref_ms = json.loads(line)["ms_per_step"]
            w = json.dumps(width)
            pt, pt_mb = C.measured(C.peer_command(a.torch_python, "torch-step", name, w, steps, 128, threads=a.threads), env)
            jx, jx_mb = C.measured(C.peer_command(a.jax_python, "jax-step", name, w, steps, 128, threads=a.threads), env)
            label = ",".join(map(str, width)) if name == "MLP" else f"nf {width}"
            print(f"| {name} | {label} | {flop:.2f} | {ref_ms:.1f} | {ref_mb:.0f} | {100 * flop / (ref_ms / 1e3) / peak:.0f}% | "
                  f"{float(pt):.1f} | {pt_mb:.0f} | {float(jx):.1f} | {jx_mb:.0f} |", flush=True)


if __name__ == "__main__":
    main()
