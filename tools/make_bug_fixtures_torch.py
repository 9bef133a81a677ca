#!/usr/bin/env python3
"""Fixtures of deliberately wrong SAM/SGD steps, written by PyTorch, for `ref-run diagnose`.

Each case is a step with one known bug planted (the variants of `StepVariant`):
`ref-run verify` must fail it and `ref-run diagnose` must name the bug. The models,
layers and writer are those of tools/make_fixtures_torch.py (an implementation
independent of the Swift code); only the step (and, for BatchNorm and padding bugs,
a layer) is changed here.

    python3 tools/make_bug_fixtures_torch.py      # rewrites Tests/RefSAMTests/Resources/bugs/ and bugs-shards/

bugs/ holds one case per variant without shards; bugs-shards/ a few under `sam_shards` 2,
one per way the step shards: shard by shard (MLP, ResNet18) and with BatchNorm statistics
shared across shards (ResNet50).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures_torch as M  # noqa: E402

RESOURCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "RefSAMTests", "Resources")
OUT = os.path.join(RESOURCES, "bugs")
OUT_SHARDS = os.path.join(RESOURCES, "bugs-shards")


def ascent(v, hp, params, g1):
    """SAM's perturbation e = rho * g1 / (||g1|| + 1e-12), or the variant's."""
    if v == "per-layer-gradient-norm":
        d = {k: g1[k] / (torch.sqrt((g1[k] ** 2).sum()) + 1e-12) for k in params}
    else:
        norm = torch.sqrt(sum((t ** 2).sum() for t in g1.values()))
        den = norm if v == "no-norm-epsilon" else (1.0 if v == "unnormalised-ascent" else norm + 1e-12)
        d = {k: g1[k] / den for k in params}
    return {k: hp["rho"] * d[k] for k in params}


def make_step(v):
    """make_fixtures_torch.train_step with bug `v` planted, for one shard or several:
    shards that share nothing but the parameters (MLP, ResNet18) one after another, and
    ResNet50's shards, which share BatchNorm statistics, in one pass with a parameter copy
    each (make_fixtures_torch.train_step_shared). With several shards the weight-decay
    variants apply per shard: mean over shards of g_d + wd * (p + e_d) at the ascent point."""
    def step(model, hp, params, stats, trace, mask, x, y, dtype):
        opt = hp["optimizer"]
        if v == "optimizer-swapped":
            opt = "sgd" if opt == "sam" else "sam"
        shards = hp.get("sam_shards", 1)
        if shards > 1 and model["name"] == "ResNet50_ImageNet":
            losses, logits, g1s, st1 = M.forward_backward_shared(model, [params] * shards, stats, mask, x, y, dtype)
            loss, gs, es, st = sum(losses) / shards, g1s, [None] * shards, st1
            if opt == "sam":
                es = [ascent(v, hp, params, g1) for g1 in g1s]
                _, _, gs, st2 = M.forward_backward_shared(model, [{k: params[k] + e[k] for k in params} for e in es],
                                                          stats, mask, x, y, dtype)
                if v == "bn-stats-from-perturbed-pass":
                    st = st2
        else:
            n = x.shape[0] // shards
            firsts, gs, es, sts = [], [], [], []
            for s_ in range(shards):
                xs, ys = x[s_ * n:(s_ + 1) * n], y[s_ * n:(s_ + 1) * n]
                loss_s, logits_s, g1, st1 = M.forward_backward(model, params, stats, mask, xs, ys, dtype)
                firsts.append((loss_s, logits_s, g1))
                g, e, st_s = g1, None, st1
                if opt == "sam":
                    e = ascent(v, hp, params, g1)
                    _, _, g, st2 = M.forward_backward(model, {k: params[k] + e[k] for k in params}, stats, mask, xs, ys, dtype)
                    if v == "bn-stats-from-perturbed-pass":
                        st_s = st2
                gs.append(g); es.append(e); sts.append(st_s)
            loss = firsts[0][0] if shards == 1 else sum(f[0] for f in firsts) / shards
            logits = torch.cat([f[1] for f in firsts])
            g1s = [f[2] for f in firsts]
            st = M.mean_of(sts) if stats else {}
        wd, m, lr = hp["weight_decay"], hp["momentum"], hp["learning_rate"]
        if v == "weight-decay-at-ascent-point":
            gd = M.mean_of([{k: g[k] + wd * (params[k] + (e[k] if e else 0)) for k in params} for g, e in zip(gs, es)])
        elif v == "weight-decay-omitted":
            gd = M.mean_of(gs)
        else:
            g = M.mean_of(gs)
            gd = {k: g[k] + wd * params[k] for k in params}
        if v == "dampening":
            tr = {k: m * trace[k] + (1 - m) * gd[k] for k in params}
            new = {k: params[k] - lr * tr[k] for k in params}
        elif v == "nesterov":
            tr = {k: gd[k] + m * trace[k] for k in params}
            new = {k: params[k] - lr * (gd[k] + m * tr[k]) for k in params}
        elif v == "learning-rate-in-trace":
            tr = {k: lr * gd[k] + m * trace[k] for k in params}
            new = {k: params[k] - tr[k] for k in params}
        else:
            tr = {k: gd[k] + m * trace[k] for k in params}
            new = {k: params[k] - lr * tr[k] for k in params}
        return dict(loss=loss, logits=logits, grads_first=M.mean_of(g1s), grads=gd, params=new, trace=tr,
                    batch_stats=st if stats else {})
    return step


_batch_norm = M.batch_norm  # the correct layer, before a variant replaces M.batch_norm


def unbiased_batch_norm(P, S, path, x, scale_kind="scale"):
    """make_fixtures_torch's BatchNorm (normalising with the biased variance; with
    per-shard copies, statistics pooled over the shards) updating the running variance
    with the unbiased one, as PyTorch's nn.BatchNorm does."""
    n = x.numel() // x.shape[-1]

    class Unbiased:
        def update(self, path_, mean, var):
            S.update(path_, mean, var * n / (n - 1))
    return _batch_norm(P, Unbiased(), path, x, scale_kind)


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    M.PRODUCER = "tools/make_bug_fixtures_torch.py (PyTorch %s), one planted bug" % torch.__version__
    sam = dict(optimizer="sam", rho=0.05, learning_rate=0.1, momentum=0.9, weight_decay=0.0005)
    mlp = {"name": "MLP", "num_classes": 10, "num_neurons": [16, 8]}
    r18 = {"name": "ResNet18", "num_classes": 10, "num_filters": 2}
    conv, batch_norm = M.conv, M.batch_norm
    cases = [(v, mlp, (8, 12, 12, 1), {}) for v in ["per-layer-gradient-norm", "unnormalised-ascent", "weight-decay-at-ascent-point",
                                                     "weight-decay-omitted", "dampening", "nesterov", "learning-rate-in-trace",
                                                     "optimizer-swapped"]]
    cases += [("no-norm-epsilon", dict(mlp, num_classes=4), (8, 6, 6, 1), {"zero_gradient": True})]
    cases += [(v, r18, (2, 32, 32, 3), {}) for v in ["bn-stats-from-perturbed-pass", "unbiased-running-variance", "same-padding"]]
    r50 = {"name": "ResNet50_ImageNet", "num_classes": 10, "num_filters": 2}
    shards = [("mlp-per-layer-gradient-norm", mlp, (8, 12, 12, 1)), ("mlp-weight-decay-at-ascent-point", mlp, (8, 12, 12, 1)),
              ("resnet18-bn-stats-from-perturbed-pass", r18, (4, 32, 32, 3)),
              ("resnet50-unbiased-running-variance", r50, (8, 48, 48, 3))]
    # ResNet50's float64 gradients are sensitive to summation order (docs/FIXTURES.md): its
    # case takes the seed of Fixtures/resnet50_nf2_sam_shards2_f64, whose correct step agrees.
    seeds = {"resnet50-unbiased-running-variance": 23}
    for k, (v, model, shape, extra) in enumerate(cases + [(n, m, sh, {"shards": True}) for n, m, sh in shards]):
        sharded = extra.pop("shards", False)
        v, name = (v.split("-", 1)[1], v) if sharded else (v, v)
        M.ROOT = OUT_SHARDS if sharded else OUT
        M.train_step = make_step(v)
        M.conv = (lambda P, path, x, f, k_, s, pad: conv(P, path, x, f, k_, s, "SAME")) if v == "same-padding" else conv
        M.batch_norm = unbiased_batch_norm if v == "unbiased-running-variance" else batch_norm
        M.write_case(name, model, dict(sam, sam_shards=2) if sharded else sam, "float64", shape, steps=1,
                     seed=seeds.get(name, 100 + k), **extra)


if __name__ == "__main__":
    sys.exit(main())
