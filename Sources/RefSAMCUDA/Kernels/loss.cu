// Mean softmax cross-entropy of logits[N, K] against integer labels (CrossEntropyOp.swift):
//   logp = z - (max z + log sum exp(z - max z)),  loss = -sum_i logp[i, label_i] / N
//   dz = (exp(logp) - onehot) * (g / N)

// One thread per row: log_softmax and the row's loss.
KERNEL(cross_entropy)(const real* z, const int* labels, real* logp, real* row_loss, int N, int K) {
    for (long i = GRID_INDEX; i < N; i += GRID_STRIDE) {
        const real* row = z + i * K;
        real m = row[0];
        for (int j = 1; j < K; ++j) if (row[j] > m) m = row[j];
        real s = 0;
        for (int j = 0; j < K; ++j) s += exp(row[j] - m);
        real lse = m + log(s);
        for (int j = 0; j < K; ++j) logp[i * K + j] = row[j] - lse;
        row_loss[i] = -logp[i * K + labels[i]];
    }
}

// loss = sum of row losses in row order / N: one thread, the CPU reference's order.
KERNEL(mean_of_rows)(const real* row_loss, real* loss, int N) {
    if (GRID_INDEX != 0) return;
    real total = 0;
    for (int i = 0; i < N; ++i) total += row_loss[i];
    *loss = total / (real)N;
}

KERNEL(cross_entropy_backward)(const real* logp, const int* labels, real* dz, int N, int K, real g) {
    long total = (long)N * K;
    real s = g / (real)N;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int j = (int)(i % K); long r = i / K;
        real p = exp(logp[i]);
        dz[i] = (p - (j == labels[r] ? (real)1 : (real)0)) * s;
    }
}
