// BatchNorm in training mode over the rows of x[M, C] (M = N*H*W), as Flax and the CPU
// reference (BatchNormOp.swift):
//   mean = E[x], var = E[(x - mean)^2] (biased), both taken in double, rounded to real;
//   inv_std = 1 / sqrt(var + eps), in double from the rounded var;
//   y = (x - mean) * (real(inv_std) * scale) + bias.
// Backward, with xhat = (x - mean) * inv_std:
//   dbias = sum dy,  dscale = sum dy * xhat  (double),
//   dx = scale * inv_std * (dy - dbias / M - xhat * dscale / M).
// Reductions: one block of REDUCE_THREADS threads per channel (grid = C).

KERNEL(bn_stats)(const real* x, int M, int C, double eps, real* mean, real* var, double* inv_std) {
    __shared__ double scratch[REDUCE_THREADS];
    int c = blockIdx.x;
    double s = 0;
    for (long i = threadIdx.x; i < M; i += REDUCE_THREADS) s += (double)x[i * C + c];
    real m = (real)(block_sum(s, scratch) / M);
    __syncthreads();                      // every thread has read scratch[0] before it is reused
    double q = 0;
    for (long i = threadIdx.x; i < M; i += REDUCE_THREADS) {
        double d = (double)(x[i * C + c] - m);
        q += d * d;
    }
    real v = (real)(block_sum(q, scratch) / M);
    if (threadIdx.x == 0) {
        mean[c] = m;
        var[c] = v;
        inv_std[c] = 1.0 / sqrt((double)v + eps);
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

// sums[c] = dbias, sums[C + c] = dscale (double); dscale_out, dbias_out rounded to real.
KERNEL(bn_backward_sums)(const real* x, const real* dy, int M, int C, const real* mean, const double* inv_std,
                         double* sums, real* dscale_out, real* dbias_out) {
    __shared__ double scratch[REDUCE_THREADS];
    int c = blockIdx.x;
    double sb = 0, ss = 0;
    for (long i = threadIdx.x; i < M; i += REDUCE_THREADS) {
        double g = (double)dy[i * C + c];
        sb += g;
        ss += g * (double)(x[i * C + c] - mean[c]) * inv_std[c];
    }
    double db = block_sum(sb, scratch);
    __syncthreads();
    double ds = block_sum(ss, scratch);
    if (threadIdx.x == 0) {
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
