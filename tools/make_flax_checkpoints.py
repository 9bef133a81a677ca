#!/usr/bin/env python3
"""Checkpoints written by Flax itself, in the original's TrainState layout, for the Swift tests.

The original (SAM-overparam, flax 0.6.5) saves flax.training.train_state.TrainState
extended with batch_stats, dynamic_scale (None) and mask (bool arrays) through the
legacy msgpack checkpointer: msgpack_serialize(to_state_dict(state)). This script
builds that state with real Flax modules written from docs/PARAM_TREES.md, trains a
few steps with optax.sgd(schedule, momentum=0.9), serialises it with
flax.serialization.to_bytes, and records what JAX computes from it:

  Tests/RefSAMTests/Resources/flax/mlp/checkpoint_200   MLP [16] trained 200 SGD steps on MNIST
  .../mlp/expected.json                                   JAX's test loss/accuracy on the first 1000 test images
  .../resnet18/checkpoint_3, images.npy, logits.npy      ResNet18 nf 2: eval-mode logits of 4 random images
  .../resnet50/checkpoint_3, images.npy, logits.npy      ResNet50_ImageNet nf 2, 40x40 images

With --check PATH it instead restores a checkpoint written by ref-run with
flax.serialization.msgpack_restore and prints its structure.
Needs: pip install flax (this was run with the versions it prints).
"""
import gzip
import json
import os
import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import flax
from flax import linen as nn
from flax import serialization, struct, core
from flax.training import train_state

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "RefSAMTests", "Resources", "flax")


class TrainState(train_state.TrainState):
    batch_stats: dict
    dynamic_scale: object
    mask: core.FrozenDict = struct.field(pytree_node=True)


class MLP(nn.Module):
    num_classes: int
    num_neurons: tuple

    @nn.compact
    def __call__(self, x, train=True):
        x = x.reshape((x.shape[0], -1))
        for n in self.num_neurons:
            x = nn.relu(nn.Dense(n)(x))
        return nn.Dense(self.num_classes)(x)


class Block(nn.Module):
    filters: int
    strides: tuple
    norm: object

    @nn.compact
    def __call__(self, x):
        conv = partial(nn.Conv, use_bias=False)
        y = conv(self.filters, (3, 3), self.strides, padding=[(1, 1), (1, 1)])(x)
        y = nn.relu(self.norm()(y))
        y = conv(self.filters, (3, 3), padding=[(1, 1), (1, 1)])(y)
        y = self.norm()(y)
        r = x
        if x.shape != y.shape or self.strides != (1, 1):
            r = conv(self.filters, (1, 1), self.strides, padding=[(0, 0), (0, 0)], name="conv_proj")(x)
            r = self.norm(name="norm_proj")(r)
        return nn.relu(r + y)


Block.__name__ = "ResNetBlock"


class Bottleneck(nn.Module):
    filters: int
    strides: tuple
    norm: object

    @nn.compact
    def __call__(self, x):
        conv = partial(nn.Conv, use_bias=False)
        y = nn.relu(self.norm()(conv(self.filters, (1, 1))(x)))
        y = nn.relu(self.norm()(conv(self.filters, (3, 3), self.strides)(y)))
        y = self.norm(scale_init=nn.initializers.zeros_init())(conv(self.filters * 4, (1, 1))(y))
        r = x
        if x.shape != y.shape:
            r = self.norm(name="norm_proj")(conv(self.filters * 4, (1, 1), self.strides, name="conv_proj")(x))
        return nn.relu(r + y)


Bottleneck.__name__ = "BottleneckResNetBlock"


class ResNet18(nn.Module):
    num_classes: int
    num_filters: int
    axis_name: object = None   # 'batch' under pmap: BatchNorm statistics over every device

    @nn.compact
    def __call__(self, x, train=True):
        norm = partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=self.axis_name)
        x = nn.Conv(self.num_filters, (3, 3), padding=[(1, 1), (1, 1)], use_bias=False, name="conv_init")(x)
        x = nn.relu(norm(name="bn_init")(x))
        for i, blocks in enumerate([2, 2, 2, 2]):
            for j in range(blocks):
                x = Block(self.num_filters * 2 ** i, (2, 2) if i > 0 and j == 0 else (1, 1), norm)(x)
        x = nn.avg_pool(x, (4, 4), strides=(4, 4), padding=[(0, 0), (0, 0)])
        return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


class ResNet50(nn.Module):
    num_classes: int
    num_filters: int
    axis_name: object = None   # 'batch' under pmap: BatchNorm statistics over every device

    @nn.compact
    def __call__(self, x, train=True):
        norm = partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=self.axis_name)
        x = nn.Conv(self.num_filters, (7, 7), (2, 2), padding=[(3, 3), (3, 3)], use_bias=False, name="conv_init")(x)
        x = nn.relu(norm(name="bn_init")(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        for i, blocks in enumerate([3, 4, 6, 3]):
            for j in range(blocks):
                x = Bottleneck(self.num_filters * 2 ** i, (2, 2) if i > 0 and j == 0 else (1, 1), norm)(x)
        return nn.Dense(self.num_classes)(jnp.mean(x, axis=(1, 2)))


def make_state(model, x0, key, has_bn):
    variables = model.init(key, x0)
    params = variables["params"]
    stats = variables["batch_stats"] if has_bn else {}
    # The original's mask: kernels strictly above a threshold (random scores), True elsewhere.
    def mask_of(path, p):
        if path[-1].key == "kernel":
            scores = np.asarray(jax.random.normal(jax.random.PRNGKey(len(path)), p.shape))
            return jnp.asarray(scores > np.sort(scores.ravel())[int(0.2 * scores.size)])
        return jnp.full(p.shape, True)
    mask = jax.tree_util.tree_map_with_path(mask_of, params)
    params = jax.tree_util.tree_map(lambda p, m: p * m, params, mask)
    tx = optax.sgd(learning_rate=optax.piecewise_constant_schedule(0.1, {1000: 0.1}), momentum=0.9)
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx, batch_stats=stats, dynamic_scale=None, mask=mask)


def train_steps(state, batches, has_bn):
    @jax.jit
    def step(state, x, y):
        def loss_fn(p):
            p = jax.tree_util.tree_map(lambda a, m: a * m, p, state.mask)
            if has_bn:
                logits, new = state.apply_fn({"params": p, "batch_stats": state.batch_stats}, x, train=True, mutable=["batch_stats"])
            else:
                logits, new = state.apply_fn({"params": p}, x), {"batch_stats": {}}
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new
        (_, new), g = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        return state.apply_gradients(grads=g, batch_stats=new["batch_stats"])
    for x, y in batches:
        state = step(state, x, y)
    return state


def save(state, d):
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"checkpoint_{int(state.step)}")
    with open(path, "wb") as f:
        f.write(serialization.to_bytes(state))
    return path


def mnist(split):
    base = os.path.join(ROOT, "data", "mnist")
    pre = "train" if split == "train" else "t10k"
    x = np.frombuffer(gzip.open(f"{base}/{pre}-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    y = np.frombuffer(gzip.open(f"{base}/{pre}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    return x.astype(np.float32) / 255.0, y.astype(np.int32)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        with open(sys.argv[2], "rb") as f:
            restored = serialization.msgpack_restore(f.read())
        def show(t, pre=""):
            for k, v in t.items():
                if isinstance(v, dict):
                    show(v, pre + k + "/")
                else:
                    print(f"{pre}{k}: {type(v).__name__} {getattr(v, 'dtype', '')} {getattr(v, 'shape', v)}")
        show(restored)
        return
    print("flax", flax.__version__, "jax", jax.__version__, "optax", optax.__version__)
    rng = np.random.default_rng(0)

    xtr, ytr = mnist("train")
    xte, yte = mnist("test")
    model = MLP(10, (16,))
    state = make_state(model, jnp.ones((1, 28, 28, 1)), jax.random.PRNGKey(0), False)
    batches = [(xtr[i * 128:(i + 1) * 128], ytr[i * 128:(i + 1) * 128]) for i in range(200)]
    state = train_steps(state, batches, False)
    save(state, os.path.join(OUT, "mlp"))
    logits = model.apply({"params": state.params}, xte[:1000])
    loss = float(optax.softmax_cross_entropy_with_integer_labels(logits, yte[:1000]).mean())
    acc = float((jnp.argmax(logits, -1) == yte[:1000]).mean())
    with open(os.path.join(OUT, "mlp", "expected.json"), "w") as f:
        json.dump({"test_examples": 1000, "loss": loss, "accuracy": acc, "num_neurons": [16], "step": int(state.step),
                   "producer": f"flax {flax.__version__}, jax {jax.__version__}"}, f, indent=1)
    print("mlp: loss", loss, "acc", acc)

    for name, model, size in [("resnet18", ResNet18(10, 2), 32), ("resnet50", ResNet50(10, 2), 40)]:
        x0 = jnp.ones((1, size, size, 3))
        state = make_state(model, x0, jax.random.PRNGKey(1), True)
        batches = [(rng.standard_normal((8, size, size, 3)).astype(np.float32), rng.integers(0, 10, 8).astype(np.int32)) for _ in range(3)]
        state = train_steps(state, batches, True)
        d = os.path.join(OUT, name)
        save(state, d)
        images = rng.standard_normal((4, size, size, 3)).astype(np.float32)
        logits = model.apply({"params": state.params, "batch_stats": state.batch_stats}, images, train=False)
        np.save(os.path.join(d, "images.npy"), images)
        np.save(os.path.join(d, "logits.npy"), np.asarray(logits))
        print(name, "logits[0]", np.asarray(logits)[0][:3])


if __name__ == "__main__":
    main()
