#!/usr/bin/env python3
"""Side-by-side timings: ref-run against NumPy/OpenBLAS, PyTorch-CPU and JAX-CPU, in one run.

Prints one line per measurement (the median of --rounds interleaved repetitions, with
their range) and the ratios the performance targets are stated in (issue 12), each peer
at its best:
  - GEMM 1024^3 float32: ref-run GFLOP/s / NumPy GFLOP/s, OpenBLAS with its own kernel
    for this CPU (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for it; the kernel it
    picked is printed)                                               (target >= 0.95)
  - SAM step, batch 128: ref-run ms / min(PyTorch eager with oneDNN on, JAX jit) ms
      MLP [300,100], [1200,400], [3000,1000]; ResNet18 nf 8, 16, 32;
      ResNet50 nf 8 at 224x224, batch 64 (configs/imagenet_resnet50_small.py) (target <= 0.8)
  - one epoch of configs/mnist_mlp.py: ref-run's whole process (startup, data, 468 SAM
    steps, evaluation, checkpoint; after a first, untimed run that keeps decoded copies
    of the gzip'd data, as JAX's timed epochs follow its compile) / JAX's epoch as one
    jitted lax.scan over the data on the device plus the jitted evaluation (target <= 0.8)
  - portable build ms / native build ms on the same step              (target <= 4)
  - peak resident memory of one epoch of configs/mnist_mlp.py          (target < 600 MB)

Usage (from the repository root, after building both binaries):
    swift build -c release
    make        # .build-native: -target-cpu native -DREF_FMA (and -DREF_AVX512 with AVX-512)
    python3 bench/compare.py [--steps 10] [--mlp-steps 100] [--rounds 3] [--threads 2] [--skip-memory]
                             [--torch-python P] [--jax-python P] [--only gemm,steps,epoch]
Each peer runs in its own interpreter (--torch-python: numpy and the local CPU torch
wheel; --jax-python: jax, flax, optax). Nothing here is needed to build or test.
"""
import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PORTABLE = os.path.join(ROOT, ".build", "release", "ref-run")
NATIVE = os.path.join(ROOT, ".build-native", "release", "ref-run")


def ref(binary, *args):
    out = subprocess.run([binary, "bench", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def peer_env(threads):
    """The environment a peer runs in: `threads` threads, and OpenBLAS left to pick its own kernel."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):   # old-build workarounds: the peer at its best picks its own
        env.pop(k, None)
    return env


def peer_command(python, *args, threads=2):
    """This file's --peer mode in another interpreter."""
    return [python, os.path.abspath(__file__), "--peer", *map(str, args), "--threads", str(threads)]


def peer(python, *args, threads=2):
    """Runs a peer measurement; returns the last line it prints."""
    out = subprocess.run(peer_command(python, *args, threads=threads), env=peer_env(threads), check=True,
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def measured(cmd, env=None):
    """(the last line cmd prints, cmd's peak resident memory in MB): cmd runs under a fresh
    wrapper process, so RUSAGE_CHILDREN sees only it."""
    code = ("import resource, subprocess, sys\n"
            "out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout\n"
            "print((out.strip().splitlines() or [''])[-1]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n")
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True, env=env).stdout.splitlines()
    return out[-2], float(out[-1])


# ------------------------------------------------------------------ NumPy / OpenBLAS
def numpy_gemm():
    import ctypes
    import glob
    import numpy as np
    a = np.random.rand(1024, 1024).astype(np.float32)
    b = np.random.rand(1024, 1024).astype(np.float32)
    a @ b
    ts = []
    for _ in range(10):
        t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
    core = "?"
    for lib in glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*")):
        for name in ("scipy_openblas_get_corename64_", "openblas_get_corename"):
            f = getattr(ctypes.CDLL(lib), name, None)
            if f:
                f.restype = ctypes.c_char_p
                core = f().decode()
    return f"{2 * 1024 ** 3 / statistics.median(ts) / 1e9} {core}"


# ------------------------------------------------------------------ PyTorch (eager, oneDNN on)
def torch_step_ms(model_name, width, steps, threads, batch):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)

    class Block(nn.Module):
        def __init__(self, cin, f, s):
            super().__init__()
            self.c0 = nn.Conv2d(cin, f, 3, s, 1, bias=False); self.b0 = nn.BatchNorm2d(f)
            self.c1 = nn.Conv2d(f, f, 3, 1, 1, bias=False); self.b1 = nn.BatchNorm2d(f)
            self.proj = nn.Sequential(nn.Conv2d(cin, f, 1, s, bias=False), nn.BatchNorm2d(f)) if s != 1 or cin != f else None

        def forward(self, x):
            y = self.b1(self.c1(F.relu(self.b0(self.c0(x)))))
            return F.relu((self.proj(x) if self.proj is not None else x) + y)

    class Bottleneck(nn.Module):
        def __init__(self, cin, f, s):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(cin, f, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(),
                                      nn.Conv2d(f, f, 3, s, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(),
                                      nn.Conv2d(f, 4 * f, 1, bias=False), nn.BatchNorm2d(4 * f))
            self.proj = nn.Sequential(nn.Conv2d(cin, 4 * f, 1, s, bias=False), nn.BatchNorm2d(4 * f)) if s != 1 or cin != 4 * f else None

        def forward(self, x):
            return F.relu((self.proj(x) if self.proj is not None else x) + self.body(x))

    if model_name == "MLP":
        layers, d = [nn.Flatten()], 784
        for n in width:
            layers += [nn.Linear(d, n), nn.ReLU()]; d = n
        net, x = nn.Sequential(*layers, nn.Linear(d, 10)), torch.randn(batch, 1, 28, 28)
    elif model_name == "ResNet18":
        f, blocks, cin = width, [], width
        for i in range(4):
            for j in range(2):
                blocks.append(Block(cin, f * 2 ** i, 2 if i > 0 and j == 0 else 1)); cin = f * 2 ** i
        net = nn.Sequential(nn.Conv2d(3, f, 3, 1, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(), *blocks,
                            nn.AvgPool2d(4), nn.Flatten(), nn.Linear(8 * f, 10))
        x = torch.randn(batch, 3, 32, 32)
    else:
        f, blocks, cin = width, [], width
        for i, n in enumerate([3, 4, 6, 3]):
            for j in range(n):
                blocks.append(Bottleneck(cin, f * 2 ** i, 2 if i > 0 and j == 0 else 1)); cin = 4 * f * 2 ** i
        net = nn.Sequential(nn.Conv2d(3, f, 7, 2, 3, bias=False), nn.BatchNorm2d(f), nn.ReLU(), nn.MaxPool2d(3, 2, 1), *blocks,
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000))
        x = torch.randn(batch, 3, 224, 224)
    y = torch.randint(0, 10, (batch,))
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


# ------------------------------------------------------------------ JAX / Flax (jit)
def flax_models():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_flax_checkpoints as m   # the Flax models written from docs/PARAM_TREES.md
    return m


def jax_sam_step(model, has_bn, wd=5e-4):
    import jax
    import jax.numpy as jnp
    import optax
    tx = optax.sgd(0.1, momentum=0.9)

    def loss_fn(p, stats, x, y):
        if has_bn:
            logits, new = model.apply({"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new["batch_stats"]
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean(), stats

    def step(params, stats, opt_state, x, y):
        (_, new_stats), g = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, x, y)
        norm = jnp.sqrt(sum(jnp.sum(a * a) for a in jax.tree_util.tree_leaves(g)))
        noised = jax.tree_util.tree_map(lambda p, a: p + 0.05 * a / (norm + 1e-12), params, g)
        _, g2 = jax.value_and_grad(loss_fn, has_aux=True)(noised, stats, x, y)
        g2 = jax.tree_util.tree_map(lambda a, p: a + wd * p, g2, params)
        updates, opt_state = tx.update(g2, opt_state)
        return optax.apply_updates(params, updates), new_stats, opt_state
    return tx, step


def jax_step_ms(model_name, width, steps, batch):
    import jax
    import jax.numpy as jnp
    m = flax_models()
    if model_name == "MLP":
        model, x = m.MLP(10, tuple(width)), jnp.ones((batch, 28, 28, 1))
    elif model_name == "ResNet18":
        model, x = m.ResNet18(10, width), jnp.ones((batch, 32, 32, 3))
    else:
        model, x = m.ResNet50(1000, width), jnp.ones((batch, 224, 224, 3))
    y = jnp.zeros((batch,), jnp.int32)
    variables = model.init(jax.random.PRNGKey(0), x[:1])
    params, stats = variables["params"], variables.get("batch_stats", {})
    tx, step = jax_sam_step(model, model_name != "MLP")
    step = jax.jit(step)
    opt_state = tx.init(params)
    for _ in range(2):
        params, stats, opt_state = step(params, stats, opt_state, x, y)
    jax.block_until_ready(params)
    ts = []
    for _ in range(steps):
        t = time.perf_counter()
        params, stats, opt_state = step(params, stats, opt_state, x, y)
        jax.block_until_ready(params)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def mnist(split):
    base, pre = os.path.join(ROOT, "data", "mnist"), "train" if split == "train" else "t10k"
    x = gzip.open(f"{base}/{pre}-images-idx3-ubyte.gz").read()
    y = gzip.open(f"{base}/{pre}-labels-idx1-ubyte.gz").read()
    import numpy as np
    return (np.frombuffer(x, np.uint8, offset=16).reshape(-1, 28, 28, 1).astype(np.float32) / 255.0,
            np.frombuffer(y, np.uint8, offset=8).astype(np.int32))


def jax_epoch_s():
    """configs/mnist_mlp.py's epoch at JAX's best: the data on the device, the whole
    epoch (shuffle, 468 SAM steps at batch 128, wd 1e-4) one jitted lax.scan, then the
    jitted evaluation of the 10,000 test images; the median of 3 epochs after a compile."""
    import jax
    import jax.numpy as jnp
    m = flax_models()
    xtr, ytr = (jnp.asarray(a) for a in mnist("train"))
    xte, yte = (jnp.asarray(a) for a in mnist("test"))
    model = m.MLP(10, (300, 100))
    params = model.init(jax.random.PRNGKey(0), xtr[:1])["params"]
    tx, step = jax_sam_step(model, False, wd=1e-4)
    opt_state = tx.init(params)
    steps = xtr.shape[0] // 128

    @jax.jit
    def epoch(params, opt_state, key):
        order = jax.random.permutation(key, xtr.shape[0])[:steps * 128].reshape(steps, 128)

        def body(carry, idx):
            p, o = carry
            p, _, o = step(p, {}, o, xtr[idx], ytr[idx])
            return (p, o), None
        (params, opt_state), _ = jax.lax.scan(body, (params, opt_state), order)
        logits = model.apply({"params": params}, xte)
        return params, opt_state, jnp.mean(jnp.argmax(logits, -1) == yte)

    params, opt_state, acc = epoch(params, opt_state, jax.random.PRNGKey(1))
    acc.block_until_ready()
    ts = []
    for e in range(3):
        t = time.perf_counter()
        params, opt_state, acc = epoch(params, opt_state, jax.random.PRNGKey(2 + e))
        acc.block_until_ready()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def ref_epoch_s(binary, threads):
    """ref-run's whole process for one epoch of configs/mnist_mlp.py, data and evaluation included."""
    with tempfile.TemporaryDirectory() as work:
        t = time.perf_counter()
        subprocess.run([binary, f"--workdir={work}", "--config=" + os.path.join(ROOT, "configs", "mnist_mlp.py"),
                        "--stop_after_epochs", "1", "--threads", str(threads)], check=True, capture_output=True)
        return time.perf_counter() - t


def peak_rss_mb(binary):
    with tempfile.TemporaryDirectory() as work:
        cmd = [binary, f"--workdir={work}", "--config=" + os.path.join(ROOT, "configs", "mnist_mlp.py"), "--stop_after_epochs", "1"]
        return measured(cmd)[1]


def run_peer(args, threads):
    kind = args[0]
    if kind == "gemm":
        print(numpy_gemm())
    elif kind == "torch-step":
        name, width, steps, batch = args[1], json.loads(args[2]), int(args[3]), int(args[4])
        print(torch_step_ms(name, width, steps, threads, batch))
    elif kind == "jax-step":
        name, width, steps, batch = args[1], json.loads(args[2]), int(args[3]), int(args[4])
        print(jax_step_ms(name, width, steps, batch))
    elif kind == "jax-epoch":
        print(jax_epoch_s())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10, help="ResNet steps x 3 (median of max(3, steps // 3))")
    ap.add_argument("--mlp-steps", type=int, default=100, help="MLP steps (median)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repetitions of every measurement (median)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    ap.add_argument("--jax-python", default="/tmp/jaxenv/bin/python")
    ap.add_argument("--only", default="gemm,steps,epoch", help="comma-separated: gemm, steps, epoch")
    ap.add_argument("--peer", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.peer:
        return run_peer(a.peer, a.threads)
    t, only = str(a.threads), a.only.split(",")
    rows = []
    R = range(a.rounds)

    # Every measurement is taken `rounds` times, interleaved (ref-run, then the
    # others, then again), and the median is compared: a noisy moment on a shared
    # machine then hits one sample of each side, not a whole side.
    def spread(xs):
        return f"{min(xs):.1f}-{max(xs):.1f}" if len(xs) > 1 else ""

    if "gemm" in only:
        # A GEMM process lasts a second; on these VMs whole processes land in slower
        # phases (either side read 15-25% below its usual figure in some processes of
        # the same minute), so this short measurement takes at least 7 rounds.
        npgs, rgs, core = [], [], "?"
        for _ in range(max(a.rounds, 7)):
            gflops, core = peer(a.torch_python, "gemm", threads=a.threads).split()
            npgs.append(float(gflops))
            rgs.append(ref(NATIVE, "gemm", "--m", "1024", "--n", "1024", "--k", "1024", "--threads", t)["gflops"])
        npg, rg = statistics.median(npgs), statistics.median(rgs)
        print(f"gemm 1024^3 f32: numpy/OpenBLAS ({core} kernel) {npg:.1f} GFLOP/s ({spread(npgs)}), "
              f"ref-run native {rg:.1f} GFLOP/s ({spread(rgs)}), ratio {rg / npg:.2f} (target >= 0.95)", flush=True)
        rows.append(("gemm ratio", rg / npg, rg / npg >= 0.95))

    cases = [("MLP", [300, 100], 128), ("MLP", [1200, 400], 128), ("MLP", [3000, 1000], 128),
             ("ResNet18", 8, 128), ("ResNet18", 16, 128), ("ResNet18", 32, 128), ("ResNet50_ImageNet", 8, 64)]
    for name, width, batch in cases if "steps" in only else []:
        flag = ["--num_neurons", ",".join(map(str, width))] if name == "MLP" else ["--num_filters", str(width)]
        label = f"{name} {width}"
        # MLP steps take milliseconds: many of them, so one noisy moment cannot move the median.
        steps = a.mlp_steps if name == "MLP" else max(3, a.steps // 3)
        if name == "MLP" and width[0] >= 3000:
            steps = max(3, a.mlp_steps // 5)
        mines, portables, pts, jxs = [], [], [], []
        for _ in R:
            args = ["step", "--model", name, *flag, "--batch", str(batch), "--steps", str(steps), "--threads", t]
            mines.append(ref(NATIVE, *args)["ms_per_step"])
            portables.append(ref(PORTABLE, *args)["ms_per_step"])
            pts.append(float(peer(a.torch_python, "torch-step", name, json.dumps(width), steps, batch, threads=a.threads)))
            jxs.append(float(peer(a.jax_python, "jax-step", name, json.dumps(width), steps, batch, threads=a.threads)))
        mine, portable = statistics.median(mines), statistics.median(portables)
        pt, jx = statistics.median(pts), statistics.median(jxs)
        best = min(pt, jx)
        print(f"SAM step {label:22s} batch {batch}: ref-run {mine:8.1f} ms ({spread(mines)}; portable {portable:.1f}), "
              f"PyTorch {pt:8.1f} ({spread(pts)}), JAX {jx:8.1f} ({spread(jxs)}); "
              f"ratio to best {mine / best:.2f} (target <= 0.8), portable/native {portable / mine:.2f} (target <= 4)", flush=True)
        rows.append((f"step {label}", mine / best, mine / best <= 0.8))
        rows.append((f"portable/native {label}", portable / mine, portable / mine <= 4))

    if "epoch" in only:
        mines, jxs = [], []
        # A first run without the decoded copies of the gzip'd MNIST files inflates them and
        # keeps the copies (data/mnist/.ref-run-decoded); later runs read those, as JAX's
        # rounds follow its compile. Shown, not counted.
        copies = os.path.join(ROOT, "data", "mnist", ".ref-run-decoded")
        shutil.rmtree(copies, ignore_errors=True)
        cold = ref_epoch_s(NATIVE, a.threads)
        for _ in R:
            mines.append(ref_epoch_s(NATIVE, a.threads))
            jxs.append(float(peer(a.jax_python, "jax-epoch", threads=a.threads)))
        mine, jx = statistics.median(mines), statistics.median(jxs)
        print(f"epoch of configs/mnist_mlp.py: ref-run (whole process; {cold:.2f} s the first time, inflating the data) {mine:.2f} s ({spread(mines)}), "
              f"JAX (lax.scan, data on device, + eval) {jx:.2f} s ({spread(jxs)}); ratio {mine / jx:.2f} (target <= 0.8)", flush=True)
        rows.append(("epoch mnist_mlp", mine / jx, mine / jx <= 0.8))

    if not a.skip_memory:
        mb = peak_rss_mb(PORTABLE)
        print(f"peak RSS, one epoch of configs/mnist_mlp.py: {mb:.0f} MB (target < 600)")
        rows.append(("peak RSS MB", mb, mb < 600))

    print("\nsummary")
    for name, value, ok in rows:
        print(f"  {name:36s} {value:10.2f}  {'meets target' if ok else 'MISSES target'}")


if __name__ == "__main__":
    main()
