#!/usr/bin/env python3
"""Checks the multi-device ResNet50 fixtures against JAX/Flax itself.

The fixtures Fixtures/resnet50_*shards* are written by PyTorch
(tools/make_fixtures_torch.py) from this project's reading of the original's step:
under `jax.pmap` with one device per shard, ResNet50's `nn.BatchNorm(axis_name='batch')`
pools the batch statistics of every device, each device perturbs its own copy of
the parameters, and, because the transpose of `pmean` is `pmean`, each device's
gradient collects the loss of every device. This script runs that step the way the
original does (tools/replay_jax.py: the Flax ResNet50 of tools/make_flax_checkpoints.py,
written from docs/PARAM_TREES.md; `jax.pmap` over D simulated CPU devices, `jax.value_and_grad` of the loss with mutable batch
statistics, SAM's dual vector, weight decay, `lax.pmean` of the gradients, optax-style
momentum) on each fixture's inputs, and compares every output with the fixture.

Needs JAX 0.4.x and Flax of that time (the original pins jax 0.4.4, flax 0.6.5;
pip offers jaxlib >= 0.4.13 for Python 3.11):
    python3 -m venv /tmp/jaxenv
    /tmp/jaxenv/bin/pip install "jax==0.4.13" "jaxlib==0.4.13" "flax==0.7.0" "numpy<2" "scipy<1.13"
    /tmp/jaxenv/bin/python tools/check_shards_flax.py [FIXTURE_DIR ...]
Exit status 1 when an output differs by more than rtol 1e-9 / atol 1e-12 relative
to the largest entry of its tensor.
"""
import glob
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replay_jax  # noqa: E402  (the Flax models and the pmap step)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures")


def replay(d):
    with tempfile.TemporaryDirectory() as out:
        replay_jax.replay(d, os.path.join(out, "jax"))
        _, _, ours = replay_jax.read_fixture(os.path.join(out, "jax"))
    _, _, want = replay_jax.read_fixture(d)
    worst, failed = (0.0, ""), 0
    for name, w in want.items():
        err = np.max(np.abs(np.asarray(ours[name]) - w)) / max(1e-12 / 1e-9, np.max(np.abs(w))) / 1e-9
        worst = max(worst, (err, name))
        failed += err > 1
    print(f"{os.path.relpath(d, ROOT)}: {len(want)} outputs, {failed} beyond 1e-9 of their tensor's scale; "
          f"worst {worst[0]:.3g} x tolerance ({worst[1]})")
    return failed == 0


def main(dirs):
    dirs = dirs or sorted(glob.glob(os.path.join(ROOT, "resnet50_*shards*", "step_*")))
    dirs = [s for d in dirs for s in (sorted(glob.glob(os.path.join(d, "step_*"))) or [d])]
    return 0 if all([replay(d) for d in dirs]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
