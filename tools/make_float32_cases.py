#!/usr/bin/env python3
"""The float32 cases of Tests/RefSAMTests/Resources/float32/ (ToleranceTests): correct
independent float32 steps and planted bugs, on the inputs of committed float32 fixtures.

    python3 tools/make_float32_cases.py [--torch-python P] [--jax-python P]

  jax/<case>    tools/replay_jax.py of the fixture (JAX/Flax, float32): must pass verify
  bugs/<variant>  tools/replay_torch.py --bug VARIANT (PyTorch, float32): must fail, and
                diagnose must name the variant
"""
import argparse
import os
import shutil
import subprocess

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "Tests", "RefSAMTests", "Resources", "float32")
MLP = "Fixtures/mlp_sam_f32/step_001"
R18 = "Fixtures/resnet18_nf3_sam_masked_f32/step_000"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    ap.add_argument("--jax-python", default="/tmp/jaxenv/bin/python")
    a = ap.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    for name, src in [("mlp_sam", MLP), ("resnet18_nf3_sam_masked", R18)]:
        subprocess.run([a.jax_python, "tools/replay_jax.py", src, "--out", os.path.join(OUT, "jax", name)], cwd=ROOT, check=True)
    for bug, src in [("dampening", MLP), ("per-layer-gradient-norm", MLP), ("weight-decay-omitted", MLP)]:
        subprocess.run([a.torch_python, "tools/replay_torch.py", src, "--out", os.path.join(OUT, "bugs", bug), "--bug", bug],
                       cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
