#!/usr/bin/env python3
"""Write and read `sam-fixture/1` train-step fixtures (docs/FIXTURES.md) with NumPy alone.

    import sys; sys.path.insert(0, "tools")
    from samfixture import write_fixture, read_fixture

    write_fixture("my_case", dtype="float64", model={...}, step={...},
                  inputs={"image": x, "label": y, "params/Dense_0/kernel": w, ...},
                  outputs={"loss": loss, "grads/Dense_0/kernel": g, ...},
                  producer="my backend", trace_zero=True)
    meta, inputs, outputs = read_fixture("my_case")

Tensors may be anything NumPy can turn into an array (NumPy arrays, CPU PyTorch tensors,
JAX arrays). The writer applies the rules `ref-run verify` enforces, so a mistake is
named here rather than discovered there: every float tensor must already be in the
fixture's dtype (nothing is cast silently), `label` holds integer class indices (written
as int32), `outputs` is not empty, and the `trace/` inputs are given for every parameter
or, with `trace_zero=True`, for none. `python3 tools/samfixture.py DIR` prints a
fixture's summary.
"""
import json
import os
import sys

import numpy as np

FORMAT = "sam-fixture/1"
FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


def _array(name, value):
    a = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    if a.dtype == object:
        raise TypeError(f"{name}: not a numeric array")
    return np.ascontiguousarray(a) if a.ndim else a


def _check(kind, tensors, dtype):
    out = {}
    for name, value in tensors.items():
        if not name or name.startswith("/") or name.endswith("/") or ".." in name.split("/"):
            raise ValueError(f"{kind}/{name}: a tensor name is a relative path of non-empty parts")
        a = _array(f"{kind}/{name}", value)
        if kind == "inputs" and name == "label":
            if not np.issubdtype(a.dtype, np.integer) or a.ndim != 1:
                raise TypeError(f"inputs/label: integer class indices of shape [N], got {a.dtype} {a.shape}")
            a = a.astype(np.int32)
        elif a.dtype.kind == "f" and a.dtype != FLOAT_DTYPES[dtype]:
            raise TypeError(f"{kind}/{name} is {a.dtype}, the fixture's dtype is {dtype} (convert it before writing)")
        elif a.dtype.kind != "f":
            raise TypeError(f"{kind}/{name} is {a.dtype}; only inputs/label may be an integer array")
        out[name] = a
    return out


def write_fixture(directory, *, dtype, model, step, inputs, outputs, producer, trace_zero=False):
    """Writes DIR/fixture.json, DIR/inputs/*.npy, DIR/outputs/*.npy (docs/FIXTURES.md)."""
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if not outputs:
        raise ValueError("outputs is empty: a fixture must give something to compare")
    ins, outs = _check("inputs", inputs, dtype), _check("outputs", outputs, dtype)
    for required in ["image", "label"]:
        if required not in ins:
            raise ValueError(f"inputs must include {required!r}")
    params = [n[len("params/"):] for n in ins if n.startswith("params/")]
    traces = {n[len("trace/"):] for n in ins if n.startswith("trace/")}
    if trace_zero and traces:
        raise ValueError("trace_zero=True but trace/ inputs were given")
    if not trace_zero and set(params) - traces:
        missing = sorted(set(params) - traces)[0]
        raise ValueError(f"trace/{missing} is missing: give every trace, or trace_zero=True for a zero trace")
    meta = {"format": FORMAT, "kind": "train_step", "dtype": dtype, "model": model, "step": step,
            "producer": producer, "inputs": list(ins), "outputs": list(outs)}
    if trace_zero:
        meta["trace"] = "zero"
    for kind, tensors in [("inputs", ins), ("outputs", outs)]:
        for name, a in tensors.items():
            path = os.path.join(directory, kind, *name.split("/")) + ".npy"
            os.makedirs(os.path.dirname(path), exist_ok=True)
            np.save(path, a)
    with open(os.path.join(directory, "fixture.json"), "w") as f:
        json.dump(meta, f, indent=1)


def read_fixture(directory):
    """(meta, inputs, outputs): fixture.json and every listed tensor, as NumPy arrays."""
    with open(os.path.join(directory, "fixture.json")) as f:
        meta = json.load(f)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{directory}/fixture.json: format {meta.get('format')!r}, expected {FORMAT!r}")

    def load(kind):
        return {n: np.load(os.path.join(directory, kind, *n.split("/")) + ".npy") for n in meta[kind]}
    return meta, load("inputs"), load("outputs")


if __name__ == "__main__":
    for d in sys.argv[1:]:
        m, i, o = read_fixture(d)
        print(f"{d}: {m['model']['name']} {m['dtype']} {m['step']['optimizer']}, {len(i)} inputs, {len(o)} outputs, "
              f"producer {m['producer']!r}")
