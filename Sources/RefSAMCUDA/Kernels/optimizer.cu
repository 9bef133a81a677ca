// SAM and SGD over every parameter at once: parameters, gradients and the momentum trace
// each live in one flat buffer, in the parameter tree's order.

// partial[b] = sum of g^2 over this block's share of the grid-stride loop, in double.
// Launch with a fixed grid (the sum's order depends on it) of REDUCE_THREADS threads.
KERNEL(sum_of_squares)(const real* g, long n, double* partial) {
    __shared__ double scratch[REDUCE_THREADS];
    double s = 0;
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) { double v = (double)g[i]; s += v * v; }
    double total = block_sum(s, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// One block: norm = sqrt(sum of the partials); denominator = real(norm) + real(1e-12).
KERNEL(finish_norm)(const double* partial, int count, double* norm, real* denominator) {
    __shared__ double scratch[REDUCE_THREADS];
    double s = 0;
    for (int i = threadIdx.x; i < count; i += REDUCE_THREADS) s += partial[i];
    double total = block_sum(s, scratch);
    if (threadIdx.x == 0) {
        *norm = sqrt(total);
        *denominator = (real)*norm + (real)1e-12;
    }
}

// SAM's ascent point: e = p + rho * (g / denominator), denominator = ||g|| + 1e-12 on the device.
KERNEL(ascent_point)(const real* p, const real* g, real* out, real rho, const real* denominator, long n) {
    real d = *denominator;
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) out[i] = p[i] + rho * (g[i] / d);
}

// Weight decay on the unperturbed parameters, then optax.sgd with momentum:
//   g' = g + wd * p;  trace' = g' + momentum * trace;  p' = p - lr * trace'
KERNEL(momentum_update)(const real* p, const real* trace, const real* g, real wd, real momentum, real lr,
                        real* g_out, real* trace_out, real* p_out, long n) {
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) {
        real gi = g[i] + wd * p[i];
        real ti = gi + momentum * trace[i];
        g_out[i] = gi;
        trace_out[i] = ti;
        p_out[i] = p[i] - lr * ti;
    }
}
