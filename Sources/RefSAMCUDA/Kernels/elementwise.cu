// Elementwise kernels over n values (grid-stride loops; any launch size is correct).

KERNEL(fill)(real* y, real value, long n) {
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) y[i] = value;
}

KERNEL(copy)(const real* x, real* y, long n) {
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) y[i] = x[i];
}

// y = a + b  (y may be a or b: gradient accumulation in place)
KERNEL(add)(const real* a, const real* b, real* y, long n) {
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) y[i] = a[i] + b[i];
}

// y = x / d  (the mean over shards of their sums, as the CPU divides: d = shards)
KERNEL(divide)(const real* x, real* y, real d, long n) {
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) y[i] = x[i] / d;
}

KERNEL(relu)(const real* x, real* y, long n) {
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) y[i] = x[i] > (real)0 ? x[i] : (real)0;
}

// dx = dy * [x > 0]
KERNEL(relu_backward)(const real* x, const real* dy, real* dx, long n) {
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) dx[i] = x[i] > (real)0 ? dy[i] : (real)0;
}

// y = x * mask (pruning; the same kernel gives the gradient dx = dy * mask)
KERNEL(apply_mask)(const real* x, const real* mask, real* y, long n) {
    for (long i = GRID_INDEX; i < n; i += GRID_STRIDE) y[i] = x[i] * mask[i];
}

// y[r, c] += bias[c] for a row-major [rows, cols] matrix (Dense's bias)
KERNEL(add_bias)(real* y, const real* bias, long rows, int cols) {
    long total = rows * cols;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) y[i] += bias[i % cols];
}

// out[c] = sum over rows of x[r, c], in row order, in double (Dense's bias gradient)
KERNEL(column_sums)(const real* x, real* out, long rows, int cols) {
    for (long c = GRID_INDEX; c < cols; c += GRID_STRIDE) {
        double s = 0;
        for (long r = 0; r < rows; ++r) s += (double)x[r * cols + c];
        out[c] = (real)s;
    }
}
