#!/usr/bin/env python3
"""Side-by-side timings: ref-run against NumPy/OpenBLAS, PyTorch-CPU and JAX-CPU, in one run.

Prints one line per measurement (the median of --rounds interleaved repetitions, with
their range) and the ratios the performance targets are stated in:
  - GEMM 1024^3 float32: ref-run GFLOP/s / NumPy GFLOP/s            (target >= 0.8)
  - SAM step, batch 128: ref-run ms / min(PyTorch ms, JAX ms)         (target <= 1.0)
      MLP [300,100], MLP [1200,400], ResNet18 nf 8, ResNet18 nf 16
  - portable build ms / native build ms on the same step              (target <= 4)
  - peak resident memory of one epoch of configs/mnist_mlp.py          (target < 600 MB)

Usage (from the repository root, after building both binaries):
    swift build -c release
    swift build -c release --scratch-path .build-native -Xswiftc -target-cpu -Xswiftc native -Xswiftc -DREF_FMA
    python3 bench/compare.py [--steps 10] [--mlp-steps 100] [--rounds 3] [--threads 2] [--skip-memory]
Needs numpy, torch (the local CPU wheel), jax and flax. Nothing here is needed to build or test.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PORTABLE = os.path.join(ROOT, ".build", "release", "ref-run")
NATIVE = os.path.join(ROOT, ".build-native", "release", "ref-run")


def ref(binary, *args):
    out = subprocess.run([binary, "bench", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def numpy_gemm(threads):
    code = ("import numpy as np, time, statistics\n"
            "a = np.random.rand(1024, 1024).astype(np.float32); b = np.random.rand(1024, 1024).astype(np.float32)\n"
            "a @ b\n"
            "ts = []\n"
            "for _ in range(10):\n"
            "    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)\n"
            "print(2 * 1024 ** 3 / statistics.median(ts) / 1e9)\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    env.pop("OPENBLAS_CORETYPE", None)          # let OpenBLAS pick this CPU's kernels
    return float(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout)


# ------------------------------------------------------------------ PyTorch
def torch_step_ms(model_name, width, steps, threads):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    # oneDNN's float32 convolution corrupted the heap on this machine (see tools/make_fixtures_torch.py).
    torch.backends.mkldnn.enabled = False

    class Block(nn.Module):
        def __init__(self, cin, f, s):
            super().__init__()
            self.c0 = nn.Conv2d(cin, f, 3, s, 1, bias=False); self.b0 = nn.BatchNorm2d(f, momentum=0.1)
            self.c1 = nn.Conv2d(f, f, 3, 1, 1, bias=False); self.b1 = nn.BatchNorm2d(f, momentum=0.1)
            self.proj = None
            if s != 1 or cin != f:
                self.proj = nn.Sequential(nn.Conv2d(cin, f, 1, s, bias=False), nn.BatchNorm2d(f))

        def forward(self, x):
            y = self.b1(self.c1(F.relu(self.b0(self.c0(x)))))
            return F.relu((self.proj(x) if self.proj is not None else x) + y)

    if model_name == "MLP":
        layers, d = [nn.Flatten()], 784
        for n in width:
            layers += [nn.Linear(d, n), nn.ReLU()]; d = n
        net = nn.Sequential(*layers, nn.Linear(d, 10))
        x = torch.randn(128, 1, 28, 28)
    else:
        f = width
        blocks, cin = [], f
        for i in range(4):
            for j in range(2):
                blocks.append(Block(cin, f * 2 ** i, 2 if i > 0 and j == 0 else 1)); cin = f * 2 ** i
        net = nn.Sequential(nn.Conv2d(3, f, 3, 1, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(), *blocks,
                            nn.AvgPool2d(4), nn.Flatten(), nn.Linear(8 * f, 10))
        x = torch.randn(128, 3, 32, 32)
    y = torch.randint(0, 10, (128,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    params = list(net.parameters())

    def step():
        loss = F.cross_entropy(net(x), y)
        g = torch.autograd.grad(loss, params)
        norm = torch.sqrt(sum((a * a).sum() for a in g))
        eps = [0.05 * a / (norm + 1e-12) for a in g]
        with torch.no_grad():
            for p, e in zip(params, eps): p.add_(e)
        g2 = torch.autograd.grad(F.cross_entropy(net(x), y), params)
        with torch.no_grad():
            for p, e, gg in zip(params, eps, g2): p.sub_(e); p.grad = gg
        opt.step()

    for _ in range(2): step()
    ts = []
    for _ in range(steps):
        t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


# ------------------------------------------------------------------ JAX / Flax
def jax_step_ms(model_name, width, steps):
    import jax
    import jax.numpy as jnp
    import optax
    from flax import linen as nn
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_flax_checkpoints as m   # the Flax models written from docs/PARAM_TREES.md

    if model_name == "MLP":
        model, x = m.MLP(10, tuple(width)), jnp.ones((128, 28, 28, 1))
    else:
        model, x = m.ResNet18(10, width), jnp.ones((128, 32, 32, 3))
    y = jnp.zeros((128,), jnp.int32)
    variables = model.init(jax.random.PRNGKey(0), x[:1])
    params, stats = variables["params"], variables.get("batch_stats", {})
    tx = optax.sgd(0.1, momentum=0.9)
    opt_state = tx.init(params)
    has_bn = model_name != "MLP"

    def loss_fn(p, stats):
        if has_bn:
            logits, new = model.apply({"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new["batch_stats"]
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean(), stats

    @jax.jit
    def step(params, stats, opt_state):
        (_, new_stats), g = jax.value_and_grad(loss_fn, has_aux=True)(params, stats)
        norm = jnp.sqrt(sum(jnp.sum(a * a) for a in jax.tree_util.tree_leaves(g)))
        noised = jax.tree_util.tree_map(lambda p, a: p + 0.05 * a / (norm + 1e-12), params, g)
        _, g2 = jax.value_and_grad(loss_fn, has_aux=True)(noised, stats)
        g2 = jax.tree_util.tree_map(lambda a, p: a + 5e-4 * p, g2, params)
        updates, opt_state = tx.update(g2, opt_state)
        return optax.apply_updates(params, updates), new_stats, opt_state

    for _ in range(2):
        params, stats, opt_state = step(params, stats, opt_state)
    jax.block_until_ready(params)
    ts = []
    for _ in range(steps):
        t = time.perf_counter()
        params, stats, opt_state = step(params, stats, opt_state)
        jax.block_until_ready(params)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def peak_rss_mb(binary):
    # A fresh wrapper process, so RUSAGE_CHILDREN sees only the training run
    # (in this process it would also count every earlier benchmark child).
    code = ("import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n")
    cmd = [binary, "--workdir=/tmp/refrun-bench-mem", "--config=" + os.path.join(ROOT, "configs", "mnist_mlp.py"),
           "--stop_after_epochs", "1", "--overwrite"]
    return float(subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True).stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10, help="ResNet steps x 3 (median of max(3, steps // 3))")
    ap.add_argument("--mlp-steps", type=int, default=100, help="MLP steps (median)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repetitions of every measurement (median)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    a = ap.parse_args()
    t = str(a.threads)
    rows = []

    # Every measurement is taken `rounds` times, interleaved (ref-run, then the
    # others, then again), and the median is compared: a noisy moment on a shared
    # machine then hits one sample of each side, not a whole side.
    R = range(a.rounds)
    def spread(xs):
        return f"{min(xs):.1f}-{max(xs):.1f}" if len(xs) > 1 else ""

    npgs, rgs = [], []
    for _ in R:
        npgs.append(numpy_gemm(a.threads))
        rgs.append(ref(NATIVE, "gemm", "--m", "1024", "--n", "1024", "--k", "1024", "--threads", t)["gflops"])
    npg, rg = statistics.median(npgs), statistics.median(rgs)
    print(f"gemm 1024^3 f32: numpy/OpenBLAS {npg:.1f} GFLOP/s ({spread(npgs)}), ref-run native {rg:.1f} GFLOP/s ({spread(rgs)}), "
          f"ratio {rg / npg:.2f} (target >= 0.8)")
    rows.append(("gemm ratio", rg / npg, rg / npg >= 0.8))

    cases = [("MLP", [300, 100]), ("MLP", [1200, 400]), ("ResNet18", 8), ("ResNet18", 16)]
    for name, width in cases:
        flag = ["--num_neurons", ",".join(map(str, width))] if name == "MLP" else ["--num_filters", str(width)]
        label = f"{name} {width}"
        # MLP steps take milliseconds: many of them, so one noisy moment cannot move the median.
        steps = str(a.mlp_steps if name == "MLP" else max(3, a.steps // 3))
        mines, portables, pts, jxs = [], [], [], []
        for _ in R:
            mines.append(ref(NATIVE, "step", "--model", name, *flag, "--batch", "128", "--steps", steps, "--threads", t)["ms_per_step"])
            portables.append(ref(PORTABLE, "step", "--model", name, *flag, "--batch", "128", "--steps", steps, "--threads", t)["ms_per_step"])
            pts.append(torch_step_ms(name, width, int(steps), a.threads))
            jxs.append(jax_step_ms(name, width, int(steps)))
        mine, portable = statistics.median(mines), statistics.median(portables)
        pt, jx = statistics.median(pts), statistics.median(jxs)
        best = min(pt, jx)
        print(f"SAM step {label:18s}: ref-run {mine:8.1f} ms ({spread(mines)}; portable {portable:.1f}), "
              f"PyTorch {pt:8.1f} ({spread(pts)}), JAX {jx:8.1f} ({spread(jxs)}); "
              f"ratio to best {mine / best:.2f} (target <= 1), portable/native {portable / mine:.2f} (target <= 4)")
        rows.append((f"step {label}", mine / best, mine <= best))
        rows.append((f"portable/native {label}", portable / mine, portable / mine <= 4))

    if not a.skip_memory:
        mb = peak_rss_mb(PORTABLE)
        print(f"peak RSS, one epoch of configs/mnist_mlp.py: {mb:.0f} MB (target < 600)")
        rows.append(("peak RSS MB", mb, mb < 600))

    print("\nsummary")
    for name, value, ok in rows:
        print(f"  {name:32s} {value:10.2f}  {'meets target' if ok else 'MISSES target'}")


if __name__ == "__main__":
    main()
