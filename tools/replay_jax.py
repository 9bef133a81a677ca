#!/usr/bin/env python3
"""Replays a fixture's inputs through an independent JAX/Flax step and writes the result
as a fixture, so `ref-run verify` can judge JAX against the fixture's producer.

    /tmp/jaxenv/bin/python tools/replay_jax.py FIXTURE_DIR --out DIR

The models are Flax modules written from docs/PARAM_TREES.md (tools/make_flax_checkpoints.py:
MLP, ResNet18, ResNet50_ImageNet); the step is the original's, written with
jax.value_and_grad and jitted, in the fixture's dtype:
    g1 = grad of mean cross-entropy at params (masked: params * mask inside the loss)
    SAM: g = grad at params + rho * g1 / (||g1|| + 1e-12), else g = g1
    g += weight_decay * params; trace' = g + momentum * trace; params' = params - lr * trace'
BatchNorm statistics come from the first pass. With sam_shards = D, MLP and ResNet18
take D independent steps on consecutive slices of the batch and average their
gradients and statistics; ResNet50 runs under jax.pmap over D simulated devices with
BatchNorm(axis_name='batch'), as the original does (see tools/check_shards_flax.py).
Needs JAX 0.4.x and Flax (see tools/check_shards_flax.py for the versions).
"""
import argparse
import os
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax.traverse_util import flatten_dict, unflatten_dict  # noqa: E402

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_flax_checkpoints import MLP, ResNet18, ResNet50  # noqa: E402
from samfixture import read_fixture, write_fixture  # noqa: E402

tmap = jax.tree_util.tree_map


def model_of(m, axis_name=None):
    if m["name"] == "MLP":
        return MLP(m["num_classes"], tuple(m["num_neurons"]))
    cls = ResNet18 if m["name"] == "ResNet18" else ResNet50
    return cls(m["num_classes"], m["num_filters"], axis_name=axis_name)


def make_step(model, hp, mask, has_stats, axis_name=None):
    """The step on one device (or one pmap device when axis_name is set)."""
    def loss_fn(p, stats, x, y):
        used = tmap(lambda a, m: a * m, p, mask) if mask else p
        if has_stats:
            logits, new = model.apply({"params": used, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
            new = new["batch_stats"]
        else:
            logits, new = model.apply({"params": used}, x), {}
        logp = jax.nn.log_softmax(logits)
        loss = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))
        return loss, (new, logits)

    def grads(params, stats, x, y):
        (loss, (new, logits)), g1 = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, x, y)
        g = g1
        if hp["optimizer"] == "sam":
            norm = jnp.sqrt(sum(jnp.sum(jnp.square(e)) for e in jax.tree_util.tree_leaves(g1)))
            noised = tmap(lambda p, e: p + hp["rho"] * (e / (norm + 1e-12)), params, g1)
            g = jax.grad(lambda p: loss_fn(p, stats, x, y)[0])(noised)
        if axis_name:
            loss, g1, g = (jax.lax.pmean(t, axis_name) for t in (loss, g1, g))
        return loss, logits, g1, g, new

    return jax.jit(grads) if axis_name is None else grads


def finish(hp, params, trace, g):
    g = tmap(lambda g, p: g + hp["weight_decay"] * p, g, params)
    new_trace = tmap(lambda g, t: g + hp["momentum"] * t, g, trace)
    new_params = tmap(lambda p, t: p - hp["learning_rate"] * t, params, new_trace)
    return g, new_trace, new_params


def replay(src, out):
    meta, ins, _ = read_fixture(src)
    dt = jnp.float64 if meta["dtype"] == "float64" else jnp.float32

    def tree(prefix):
        flat = {tuple(k[len(prefix) + 1:].split("/")): jnp.asarray(v, dtype=dt) for k, v in ins.items()
                if k.startswith(prefix + "/")}
        return unflatten_dict(flat) if flat else {}
    params, stats, mask = tree("params"), tree("batch_stats"), tree("mask")
    trace = tree("trace") or tmap(jnp.zeros_like, params)
    x, y = jnp.asarray(ins["image"], dtype=dt), jnp.asarray(ins["label"].astype(np.int32))
    hp, m = dict(meta["step"]), meta["model"]
    hp.setdefault("rho", 0.0)
    shards = hp.get("sam_shards", 1)
    n = x.shape[0] // shards
    if shards > 1 and m["name"] == "ResNet50_ImageNet":
        step = make_step(model_of(m, "batch"), hp, mask, True, axis_name="batch")
        rep = lambda t: tmap(lambda a: jnp.stack([a] * shards), t)  # noqa: E731
        split = lambda a: a.reshape((shards, n) + a.shape[1:])  # noqa: E731
        loss, logits, g1, g, new = jax.pmap(step, axis_name="batch")(rep(params), rep(stats), split(x), split(y))
        first = lambda t: tmap(lambda a: a[0], t)  # noqa: E731
        loss, g1, g, new, logits = first(loss), first(g1), first(g), first(new), logits.reshape((-1,) + logits.shape[2:])
    else:
        step = make_step(model_of(m), hp, mask, bool(stats))
        parts = [step(params, stats, x[s * n:(s + 1) * n], y[s * n:(s + 1) * n]) for s in range(shards)]
        mean = lambda i: tmap(lambda *a: sum(a) / shards, *[p[i] for p in parts])  # noqa: E731  (exact for one shard)
        loss, g1, g, new = mean(0), mean(2), mean(3), mean(4)
        logits = jnp.concatenate([p[1] for p in parts])
    g, new_trace, new_params = finish(hp, params, trace, g)
    outputs = {"loss": loss, "logits": logits}
    for group, t in [("grads_first", g1), ("grads", g), ("params", new_params), ("trace", new_trace), ("batch_stats", new)]:
        outputs.update({f"{group}/" + "/".join(k): np.asarray(v) for k, v in flatten_dict(t).items()})
    write_fixture(out, dtype=meta["dtype"], model=m, step=meta["step"], inputs=dict(ins),
                  outputs={k: np.asarray(v) for k, v in outputs.items() if k in meta["outputs"]},
                  producer=f"tools/replay_jax.py (JAX {jax.__version__}) of {src}", trace_zero=meta.get("trace") == "zero")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    replay(a.fixture, a.out)


if __name__ == "__main__":
    main()
