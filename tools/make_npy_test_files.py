#!/usr/bin/env python3
"""Writes the .npy files RefTensor's NpyTests read, with NumPy as the independent writer.

Every array is a closed form (arange-based) so the Swift tests check values against
the formula, not against numbers copied from this script's output.
Run: python3 tools/make_npy_test_files.py   (written with NumPy, see the version printed)
"""
import os
import numpy as np

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "RefTensorTests", "Resources", "npy")
os.makedirs(out, exist_ok=True)

def save(name, arr, version=None):
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version, allow_pickle=False)

save("f32_2x3.npy", (np.arange(6, dtype=np.float32) * 0.5).reshape(2, 3))        # v1.0
save("f64_fortran_2x3x4.npy", np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4)))
save("f32_bigendian_3x2.npy", np.arange(6, dtype=">f4").reshape(3, 2))
save("f64_bigendian_4.npy", np.arange(4, dtype=">f8") - 1.5)
save("i32_5.npy", np.arange(5, dtype=np.int32) - 2)
save("i64_5.npy", np.arange(5, dtype=np.int64) * 3)
save("u8_2x2.npy", np.array([[0, 1], [254, 255]], dtype=np.uint8))
save("bool_3.npy", np.array([True, False, True]))
save("f64_scalar.npy", np.array(2.25, dtype=np.float64))
save("f32_v2_2x2.npy", np.arange(4, dtype=np.float32).reshape(2, 2), version=(2, 0))
save("f32_v3_2x2.npy", np.arange(4, dtype=np.float32).reshape(2, 2), version=(3, 0))
save("complex_2.npy", np.array([1 + 2j, 3 - 1j], dtype=np.complex64))             # must be refused
print("wrote", out, "with numpy", np.__version__)
