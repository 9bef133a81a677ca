// BatchNorm in training mode over the rows of x[M, C] (M = N*H*W), as Flax and the CPU
// reference (BatchNormOp.swift):
//   mean = E[x], var = E[(x - mean)^2] (biased), both taken in double, rounded to real;
//   inv_std = 1 / sqrt(var + eps), in double from the rounded var;
//   y = (x - mean) * (real(inv_std) * scale) + bias.
// Backward, with xhat = (x - mean) * inv_std:
//   dbias = sum dy,  dscale = sum dy * xhat  (double),
//   dx = scale * inv_std * (dy - dbias / M - xhat * dscale / M).
//
// Every sum over rows is taken in the CPU reference's order: rows in chunks of `chunk`
// (1024, BatchNormOp.rowChunk), each chunk summed in row order from 0, then the chunks'
// sums added in chunk order from 0. One thread per (chunk, channel) writes a partial sum;
// one thread per channel adds them. So in double the statistics agree with the CPU's to
// the last bit wherever no fused multiply-add is formed (the emulator: always), and the
// float64 fixtures' ill-conditioned BatchNorm gradients (docs/FIXTURES.md) land where the
// reference's do.

// partial[k * C + c] = sum over chunk k's rows of x (mean == 0) or of (x - mean)^2, in double.
KERNEL(bn_partial_sums)(const real* x, long M, int C, long chunk, const real* mean, double* partial) {
    long chunks = (M + chunk - 1) / chunk, total = chunks * C;
    for (long t = GRID_INDEX; t < total; t += GRID_STRIDE) {
        int c = (int)(t % C);
        long k = t / C, end = (k + 1) * chunk < M ? (k + 1) * chunk : M;
        double s = 0;
        if (mean == 0) {
            for (long i = k * chunk; i < end; ++i) s += (double)x[i * C + c];
        } else {
            for (long i = k * chunk; i < end; ++i) { double d = (double)(x[i * C + c] - mean[c]); s += d * d; }
        }
        partial[t] = s;
    }
}

// stage 0: mean[c] = real(sum of the partials / M);
// stage 1: var[c] = real(sum of the partials / M), inv_std[c] = 1 / sqrt(var + eps).
KERNEL(bn_finish_statistics)(const double* partial, long chunks, long M, int C, double eps, int stage,
                             real* mean, real* var, double* inv_std) {
    for (long c = GRID_INDEX; c < C; c += GRID_STRIDE) {
        double s = 0;
        for (long k = 0; k < chunks; ++k) s += partial[k * C + c];
        if (stage == 0) {
            mean[c] = (real)(s / (double)M);
        } else {
            real v = (real)(s / (double)M);
            var[c] = v;
            inv_std[c] = 1.0 / sqrt((double)v + eps);
        }
    }
}

KERNEL(bn_apply)(const real* x, real* y, long M, int C, const real* mean, const double* inv_std,
                 const real* scale, const real* bias) {
    long total = M * C;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C);
        real k = (real)inv_std[c] * scale[c];
        y[i] = (x[i] - mean[c]) * k + bias[c];
    }
}

// partial[k * 2C + c] = chunk k's sum of dy, partial[k * 2C + C + c] = its sum of dy * xhat.
KERNEL(bn_backward_partials)(const real* x, const real* dy, long M, int C, long chunk, const real* mean,
                             const double* inv_std, double* partial) {
    long chunks = (M + chunk - 1) / chunk, total = chunks * C;
    for (long t = GRID_INDEX; t < total; t += GRID_STRIDE) {
        int c = (int)(t % C);
        long k = t / C, end = (k + 1) * chunk < M ? (k + 1) * chunk : M;
        double sb = 0, ss = 0;
        for (long i = k * chunk; i < end; ++i) {
            double g = (double)dy[i * C + c];
            sb += g;
            ss += g * (double)(x[i * C + c] - mean[c]) * inv_std[c];
        }
        partial[k * 2 * C + c] = sb;
        partial[k * 2 * C + C + c] = ss;
    }
}

// sums[c] = dbias, sums[C + c] = dscale (the partials added in chunk order, double);
// dscale_out, dbias_out rounded to real.
KERNEL(bn_backward_finish)(const double* partial, long chunks, int C, double* sums, real* dscale_out, real* dbias_out) {
    for (long c = GRID_INDEX; c < C; c += GRID_STRIDE) {
        double db = 0, ds = 0;
        for (long k = 0; k < chunks; ++k) { db += partial[k * 2 * C + c]; ds += partial[k * 2 * C + C + c]; }
        sums[c] = db;
        sums[C + c] = ds;
        dbias_out[c] = (real)db;
        dscale_out[c] = (real)ds;
    }
}

KERNEL(bn_backward_dx)(const real* x, const real* dy, real* dx, long M, int C, const real* mean, const double* inv_std,
                       const real* scale, const double* sums) {
    long total = M * C;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C);
        double k = (double)scale[c] * inv_std[c];
        double xhat = (double)(x[i] - mean[c]) * inv_std[c];
        double g = (double)dy[i];
        dx[i] = (real)(k * (g - sums[c] / (double)M - xhat * sums[C + c] / (double)M));
    }
}

// running' = a * running + b * batch (Flax's momentum update: a = 0.9, b = 0.1 in real).
KERNEL(bn_running_update)(const real* running, const real* batch, real* out, int C, real a, real b) {
    for (long i = GRID_INDEX; i < C; i += GRID_STRIDE) out[i] = a * running[i] + b * batch[i];
}

// Shards sharing batch statistics (ResNet50 under sam_shards, BatchNormOp+Shards.swift):
// rows [d * per, (d + 1) * per) are shard d's, normalised with the statistics of all rows
// and shard d's scale and bias (bn_apply and bn_backward_sums run per shard on its rows).
// Backward, with scales[d * C + c] shard d's scale and sums[d * 2C ..] its (dbias, dscale):
//   ab[c] = sum_d scale_d dbias_d,  ab[C + c] = sum_d scale_d dscale_d   (double)
//   dx = inv_std * (scale_d dy - ab[c] / M - xhat * ab[C + c] / M)
KERNEL(bn_shard_terms)(const double* sums, const real* scales, int D, int C, double* ab) {
    for (long c = GRID_INDEX; c < C; c += GRID_STRIDE) {
        double a = 0, b = 0;
        for (int d = 0; d < D; ++d) {
            double s = (double)scales[(long)d * C + c];
            a += s * sums[(long)d * 2 * C + c];
            b += s * sums[(long)d * 2 * C + C + c];
        }
        ab[c] = a;
        ab[C + c] = b;
    }
}

KERNEL(bn_backward_dx_shards)(const real* x, const real* dy, real* dx, long M, int C, long per, const real* mean,
                              const double* inv_std, const real* scales, const double* ab) {
    long total = M * C;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C);
        long d = (i / C) / per;
        double xhat = (double)(x[i] - mean[c]) * inv_std[c];
        double dxhat = (double)scales[d * C + c] * (double)dy[i];
        dx[i] = (real)(inv_std[c] * (dxhat - ab[c] / (double)M - xhat * ab[C + c] / (double)M));
    }
}

// Evaluation mode: inv_std[c] = 1 / sqrt(var[c] + eps) from the running variance (then
// bn_apply with the running mean), as BatchNormOp.forwardInference.
KERNEL(bn_inference_inv_std)(const real* var, double eps, double* inv_std, int C) {
    for (long c = GRID_INDEX; c < C; c += GRID_STRIDE) inv_std[c] = 1.0 / sqrt((double)var[c] + eps);
}
