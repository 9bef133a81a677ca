// C[M, N] = A[M, K] B[K, N]   (or C += A B when accumulate != 0)
//
// Operands are addressed through strides, so one kernel serves every layout the dense
// and convolution passes use: A(m, k) = A[m * a_m + k * a_k], B(k, n) = B[k * b_k + n * b_n].
// Row-major A is (a_m, a_k) = (K, 1); its transpose is (1, M).
//
// Register-tiled through shared memory: a block of 16 x 16 threads computes a 64 x 64 tile
// of C, each thread 4 x 4 values (rows ty + 16 i, columns tx + 16 j), stepping over K
// GEMM_K at a time. Each value is summed in k order from 0, as the naive loop sums it, so
// without fused multiply-adds (the emulator) the result is the naive loop's to the bit.
// Launch: block (16, 16), grid (ceil(N / 64), ceil(M / 64)).
#define GEMM_TILE 64
#define GEMM_K 16

KERNEL(gemm)(int M, int N, int K, const real* A, long a_m, long a_k, const real* B, long b_k, long b_n,
             real* C, long ldc, int accumulate) {
    __shared__ real As[GEMM_K][GEMM_TILE + 1];   // As[k][m]: the A tile, transposed
    __shared__ real Bs[GEMM_K][GEMM_TILE + 1];   // Bs[k][n]
    int tx = threadIdx.x, ty = threadIdx.y, t = ty * 16 + tx;
    int row0 = blockIdx.y * GEMM_TILE, col0 = blockIdx.x * GEMM_TILE;
    real acc[4][4];
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = 0;
    for (int k0 = 0; k0 < K; k0 += GEMM_K) {
        // 256 threads load the 16 x 64 tiles, 4 values each, neighbouring threads reading
        // neighbouring addresses along whichever axis has stride 1.
        for (int l = 0; l < 4; ++l) {
            int e = t + 256 * l;
            int ka = a_k == 1 ? e % GEMM_K : e / GEMM_TILE, ma = a_k == 1 ? e / GEMM_K : e % GEMM_TILE;
            int r = row0 + ma, kr = k0 + ka;
            As[ka][ma] = (r < M && kr < K) ? A[r * a_m + kr * a_k] : (real)0;
            int kb = b_n == 1 ? e / GEMM_TILE : e % GEMM_K, nb = b_n == 1 ? e % GEMM_TILE : e / GEMM_K;
            int c = col0 + nb, kc = k0 + kb;
            Bs[kb][nb] = (kc < K && c < N) ? B[kc * b_k + c * b_n] : (real)0;
        }
        __syncthreads();
        int kn = K - k0 < GEMM_K ? K - k0 : GEMM_K;
        for (int k = 0; k < kn; ++k) {
            real a[4], b[4];
            for (int i = 0; i < 4; ++i) a[i] = As[k][ty + 16 * i];
            for (int j = 0; j < 4; ++j) b[j] = Bs[k][tx + 16 * j];
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
    for (int i = 0; i < 4; ++i) {
        int row = row0 + ty + 16 * i;
        if (row >= M) continue;
        for (int j = 0; j < 4; ++j) {
            int col = col0 + tx + 16 * j;
            if (col >= N) continue;
            real* c = &C[row * ldc + col];
            *c = accumulate ? *c + acc[i][j] : acc[i][j];
        }
    }
}
