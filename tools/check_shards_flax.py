#!/usr/bin/env python3
"""Checks the multi-device ResNet50 fixtures against JAX/Flax itself.

The fixtures Fixtures/resnet50_*shards* are written by PyTorch
(tools/make_fixtures_torch.py) from this project's reading of the original's step:
under `jax.pmap` with one device per shard, ResNet50's `nn.BatchNorm(axis_name='batch')`
pools the batch statistics of every device, each device perturbs its own copy of
the parameters, and, because the transpose of `pmean` is `pmean`, each device's
gradient collects the loss of every device. This script runs that step the way the
original does -- a Flax ResNet50 (written here from docs/PARAM_TREES.md), `jax.pmap`
over D simulated CPU devices, `jax.value_and_grad` of the loss with mutable batch
statistics, SAM's dual vector, weight decay, `lax.pmean` of the gradients, optax-style
momentum -- on each fixture's inputs, and compares every output with the fixture.

Needs JAX 0.4.x and Flax of that time (the original pins jax 0.4.4, flax 0.6.5;
pip offers jaxlib >= 0.4.13 for Python 3.11):
    python3 -m venv /tmp/jaxenv
    /tmp/jaxenv/bin/pip install "jax==0.4.13" "jaxlib==0.4.13" "flax==0.7.0" "numpy<2" "scipy<1.13"
    /tmp/jaxenv/bin/python tools/check_shards_flax.py [FIXTURE_DIR ...]
Exit status 1 when an output differs by more than rtol 1e-9 / atol 1e-12 relative
to the largest entry of its tensor.
"""
import glob
import json
import os
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import linen as nn  # noqa: E402
from flax.traverse_util import flatten_dict, unflatten_dict  # noqa: E402

jax.config.update("jax_enable_x64", True)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures")


class BottleneckResNetBlock(nn.Module):
    filters: int
    strides: tuple

    @nn.compact
    def __call__(self, x):
        norm = lambda **k: nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5,  # noqa: E731
                                        dtype=jnp.float64, param_dtype=jnp.float64, axis_name="batch", **k)
        conv = lambda f, k, s=(1, 1), **kw: nn.Conv(f, k, s, use_bias=False, dtype=jnp.float64,  # noqa: E731
                                                    param_dtype=jnp.float64, **kw)
        y = nn.relu(norm()(conv(self.filters, (1, 1))(x)))
        y = nn.relu(norm()(conv(self.filters, (3, 3), self.strides)(y)))
        y = norm()(conv(4 * self.filters, (1, 1))(y))
        r = x
        if r.shape != y.shape:
            r = norm(name="norm_proj")(conv(4 * self.filters, (1, 1), self.strides, name="conv_proj")(x))
        return nn.relu(r + y)


class ResNet50(nn.Module):
    num_filters: int
    num_classes: int

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.num_filters, (7, 7), (2, 2), padding=[(3, 3), (3, 3)], use_bias=False, dtype=jnp.float64,
                    param_dtype=jnp.float64, name="conv_init")(x)
        x = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5, dtype=jnp.float64,
                         param_dtype=jnp.float64, axis_name="batch", name="bn_init")(x)
        x = nn.max_pool(nn.relu(x), (3, 3), strides=(2, 2), padding="SAME")
        for i, blocks in enumerate([3, 4, 6, 3]):
            for j in range(blocks):
                x = BottleneckResNetBlock(self.num_filters * 2 ** i, (2, 2) if i > 0 and j == 0 else (1, 1))(x)
        return nn.Dense(self.num_classes, dtype=jnp.float64, param_dtype=jnp.float64)(jnp.mean(x, axis=(1, 2)))


def tree(d, prefix):
    out = {}
    for f in glob.glob(os.path.join(d, prefix, "**", "*.npy"), recursive=True):
        key = os.path.relpath(f, os.path.join(d, prefix))[:-4]
        out[tuple(key.split("/"))] = jnp.asarray(np.load(f))
    return unflatten_dict(out)


def replay(d):
    meta = json.load(open(os.path.join(d, "fixture.json")))
    hp, m = meta["step"], meta["model"]
    shards = hp.get("sam_shards", 1)
    model = ResNet50(m["num_filters"], m["num_classes"])
    x, y = np.load(os.path.join(d, "inputs/image.npy")), np.load(os.path.join(d, "inputs/label.npy"))
    params, stats, trace = tree(d, "inputs/params"), tree(d, "inputs/batch_stats"), tree(d, "inputs/trace")

    def step(params, stats, trace, x, y):
        def loss_fn(p):
            logits, new = model.apply({"params": p, "batch_stats": stats}, x, mutable=["batch_stats"])
            onehot = jax.nn.one_hot(y, m["num_classes"], dtype=logits.dtype)
            return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(logits), axis=-1)), (new, logits)

        (loss, (new, logits)), g1 = jax.value_and_grad(loss_fn, has_aux=True)(params)
        g = g1
        if hp["optimizer"] == "sam":
            norm = jnp.sqrt(sum(jnp.sum(jnp.square(e)) for e in jax.tree_util.tree_leaves(g1)))
            noised = jax.tree_util.tree_map(lambda p, e: p + hp["rho"] * e / (norm + 1e-12), params, g1)
            g = jax.grad(lambda p: loss_fn(p)[0])(noised)
        g = jax.tree_util.tree_map(lambda g, p: g + hp["weight_decay"] * p, g, params)
        g = jax.lax.pmean(g, axis_name="batch")
        new_trace = jax.tree_util.tree_map(lambda g, t: g + hp["momentum"] * t, g, trace)
        new_params = jax.tree_util.tree_map(lambda p, t: p - hp["learning_rate"] * t, params, new_trace)
        return dict(loss=jax.lax.pmean(loss, "batch"), logits=logits, grads_first=jax.lax.pmean(g1, "batch"), grads=g,
                    trace=new_trace, params=new_params, batch_stats=new["batch_stats"])

    rep = lambda t: jax.tree_util.tree_map(lambda a: jnp.stack([a] * shards), t)  # noqa: E731
    split = lambda a: a.reshape((shards, a.shape[0] // shards) + a.shape[1:])  # noqa: E731
    out = jax.pmap(step, axis_name="batch")(rep(params), rep(stats), rep(trace), split(x), split(y))
    ours = {"loss": out["loss"][0], "logits": out["logits"].reshape((-1,) + out["logits"].shape[2:])}
    for group in ["grads_first", "grads", "trace", "params", "batch_stats"]:
        for k, v in flatten_dict(out[group]).items():
            ours[group + "/" + "/".join(k)] = v[0]
    worst, failed = (0.0, ""), 0
    for name in meta["outputs"]:
        want = np.load(os.path.join(d, "outputs", name + ".npy"))
        err = np.max(np.abs(np.asarray(ours[name]) - want)) / max(1e-12 / 1e-9, np.max(np.abs(want))) / 1e-9
        worst = max(worst, (err, name))
        failed += err > 1
    print(f"{os.path.relpath(d, ROOT)}: {len(meta['outputs'])} outputs, {failed} beyond 1e-9 of their tensor's scale; "
          f"worst {worst[0]:.3g} x tolerance ({worst[1]})")
    return failed == 0


def main(dirs):
    dirs = dirs or sorted(glob.glob(os.path.join(ROOT, "resnet50_*shards*", "step_*")))
    dirs = [s for d in dirs for s in (sorted(glob.glob(os.path.join(d, "step_*"))) or [d])]
    return 0 if all([replay(d) for d in dirs]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
