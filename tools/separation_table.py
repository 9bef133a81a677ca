#!/usr/bin/env python3
"""The float32 separation table of docs/FIXTURES.md: does `ref-run verify`'s float32
tolerance pass correct independent implementations and fail every known bug?

For each case below, `ref-run golden --synthetic --dtype float32 --steps 2` writes a
fixture (step_001: a momentum trace and a learning rate that are not zero), once with the
config's hyperparameters and once with `--probe` (weight decay 0.05, rho 0.5); then
  correct: this reference's own float32 step (the golden fixture itself), the PyTorch
           step (tools/replay_torch.py) and the JAX/Flax step (tools/replay_jax.py),
           each in float32 on the fixture's inputs;
  bugs:    the PyTorch step with one planted bug (replay_torch.py --bug VARIANT), for
           every variant that changes the case's step (with sam_shards too: planted in
           every shard);
and `ref-run verify --json` (the default float32 tolerance) judges each. A cell is the
worst error/tolerance over the outputs: below 1 passes, above 1 fails by that factor.
`ref-run diagnose` is then run on every bug fixture and must name its variant. Every bug
must fail, and be named, on the probe fixtures; on the configs' own hyperparameters a
weight-decay bug may be below float32's resolution (reported, not required).

    python3 tools/separation_table.py [--ref-run PATH] [--work DIR] [--torch-python P] [--jax-python P]

Needs the PyTorch and JAX environments of tools/replay_torch.py and tools/replay_jax.py.
Prints a Markdown table and, last, the error of each correct implementation in units
of the trials' spread (what the tolerance's factor must exceed). Exit 1 when a correct
implementation fails or a bug passes.
"""
import argparse
import json
import math
import os
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MLP, R18, R50 = "configs/mnist_mlp_small.py", "configs/cifar10_resnet18_small.py", "configs/imagenet_resnet50_small.py"
CASES = [  # name, config, overrides, batch
    ("MLP [100,30] SAM", "mlp_sam", MLP, [], 32),
    ("MLP SGD", "mlp_sgd", MLP, ["optimizer=sgd"], 32),
    ("MLP SAM, sparsity 0.5", "mlp_sam_sparse", MLP, ["sparsity=0.5"], 32),
    ("MLP SAM, 2 shards", "mlp_sam_shards2", MLP, ["sam_shards=2"], 32),
    ("ResNet18 nf 4 SAM, batch 8", "r18_sam", R18, ["num_filters=4"], 8),
    ("ResNet18 nf 4 SGD", "r18_sgd", R18, ["num_filters=4", "optimizer=sgd"], 8),
    ("ResNet18 nf 4 SAM, 2 shards", "r18_sam_shards2", R18, ["num_filters=4", "sam_shards=2"], 8),
    ("ResNet18 nf 8 SAM, batch 128 (the config)", "r18_nf8_b128", R18, [], 128),
    ("ResNet50 nf 2 SAM, batch 4, 224x224", "r50_sam", R50, ["num_filters=2"], 4),
    ("ResNet50 nf 2 SGD", "r50_sgd", R50, ["num_filters=2", "optimizer=sgd"], 4),
    ("ResNet50 nf 2 SAM, 2 shards", "r50_sam_shards2", R50, ["num_filters=2", "sam_shards=2"], 4),
]
# The weight-decay bugs change the gradient by wd * e (at the ascent point) or wd * p
# (omitted): at the configs' wd 5e-4 and rho 0.05 that can be below float32 resolution on
# ResNet18 (docs/FIXTURES.md); `golden --probe` (wd 0.05, rho 0.5) makes it 1,000 and 100
# times larger. Only these two may pass a case as is.
FAINT = ["weight-decay-at-ascent-point", "weight-decay-omitted"]
SAM_ONLY = ["per-layer-gradient-norm", "unnormalised-ascent", "weight-decay-at-ascent-point"]
BN_ONLY = ["bn-stats-from-perturbed-pass", "unbiased-running-variance", "same-padding"]
UPDATE = ["weight-decay-omitted", "dampening", "nesterov", "learning-rate-in-trace", "optimizer-swapped"]
BUGS = SAM_ONLY + UPDATE + BN_ONLY
SHORT = {"per-layer-gradient-norm": "per-layer norm", "unnormalised-ascent": "unnormalised", "weight-decay-at-ascent-point":
         "wd at ascent", "weight-decay-omitted": "wd omitted", "dampening": "dampening", "nesterov": "Nesterov",
         "learning-rate-in-trace": "lr in trace", "optimizer-swapped": "optimizer swapped",
         "bn-stats-from-perturbed-pass": "BN stats 2nd pass", "unbiased-running-variance": "unbiased var",
         "same-padding": "SAME padding"}


def applicable(bug, key, optimizer):
    if bug in SAM_ONLY and optimizer == "sgd":
        return False                      # the ascent point is not computed
    if bug in BN_ONLY and key.startswith("mlp"):
        return False                      # no BatchNorm, no padding
    if bug == "bn-stats-from-perturbed-pass" and optimizer == "sgd":
        return False
    return True


def run(cmd, **kw):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)
    if r.returncode not in (0, 1):
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def worst(ref_run, fixture):
    """(worst error/tolerance, its output, worst error in units of the trials' spread)."""
    rows = [json.loads(line) for line in run([ref_run, "verify", "--json", fixture]).stdout.splitlines() if line.startswith("{")]
    ratio, name, spreads = 0.0, "", 0.0
    for r in rows:
        if r.get("summary"):
            continue
        e = r["error_to_tolerance"]
        e = math.inf if isinstance(e, str) else e
        if e > ratio:
            ratio, name = e, r["name"]
        if isinstance(r.get("spread"), float) and isinstance(r.get("max_abs"), float) and r["spread"] > 0:
            spreads = max(spreads, r["max_abs"] / r["spread"])
    return ratio, name, spreads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref-run", default=os.path.join(ROOT, ".build-native/release/ref-run"))
    ap.add_argument("--work", default="/tmp/separation")
    ap.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    ap.add_argument("--jax-python", default="/tmp/jaxenv/bin/python")
    ap.add_argument("--only", help="comma-separated case keys")
    ap.add_argument("--no-bugs", action="store_true", help="only the correct implementations")
    a = ap.parse_args()
    ok, spread_lines = True, []
    # The table's rows are printed as each case is done (a long run cut short keeps them).
    print("| case | ref-run f32 | PyTorch f32 | JAX f32 | " + " | ".join(SHORT[b] for b in BUGS) + " |")
    print("|---|" + "---|" * (3 + len(BUGS)), flush=True)
    cases = [(t + (", probe" if probe else ""), k + ("_probe" if probe else ""), c, o, b, probe)
             for t, k, c, o, b in CASES for probe in (False, True)]
    for title, key, config, overrides, batch, probe in cases:
        if a.only and key not in a.only.split(","):
            continue
        case = os.path.join(a.work, key)
        fixture = os.path.join(case, "golden", "step_001")
        if not os.path.isdir(fixture):
            run([a.ref_run, "golden", f"--config={config}", *[f"--config.{o}" for o in overrides], "--dtype", "float32",
                 "--synthetic", "--steps", "2", "--batch", str(batch), "--out", os.path.join(case, "golden")]
                + (["--probe"] if probe else []))
        optimizer = json.load(open(os.path.join(fixture, "fixture.json")))["step"]["optimizer"]
        authors = [("ref-run", fixture)]
        for who, script, py in [("PyTorch", "tools/replay_torch.py", a.torch_python), ("JAX", "tools/replay_jax.py", a.jax_python)]:
            out = os.path.join(case, who)
            if not os.path.isdir(out):
                run([py, script, fixture, "--out", out])
            authors.append((who, out))
        cells = []
        for who, d in authors:
            ratio, name, spreads = worst(a.ref_run, d)
            ok &= ratio <= 1
            cells.append(f"{ratio:.2f}")
            spread_lines.append(f"{title} / {who}: worst error {spreads:.1f} x spread; worst ratio {ratio:.2f} ({name})")
            print(spread_lines[-1], file=sys.stderr)
        for bug in BUGS:
            if a.no_bugs or not applicable(bug, key, optimizer):
                cells.append("n/a")
                continue
            out = os.path.join(case, "bug_" + bug)
            if not os.path.isdir(out):
                run([a.torch_python, "tools/replay_torch.py", fixture, "--out", out, "--bug", bug])
            ratio, name, _ = worst(a.ref_run, out)
            named = run([a.ref_run, "diagnose", out]).stdout
            matched = named.split("every output passes under:")[1].split() if "every output passes under:" in named else []
            found = bug in matched
            ok &= (ratio > 1 and found) or (bug in FAINT and not probe)
            cells.append(f"{ratio:.3g}" + ("" if found else " (not named)"))
            print(f"{title} / {bug}: {ratio:.3g} ({name}), diagnose {'names it' if found else 'does NOT name it'}", file=sys.stderr)
        print(f"| {title} | " + " | ".join(cells) + " |", flush=True)
    print()
    print("\n".join(spread_lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
