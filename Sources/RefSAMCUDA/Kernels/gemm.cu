// C[M, N] = A[M, K] B[K, N]   (or C += A B when accumulate != 0)
//
// Operands are addressed through strides, so one kernel serves every layout the dense
// and convolution passes use: A(m, k) = A[m * a_m + k * a_k], B(k, n) = B[k * b_k + n * b_n].
// Row-major A is (a_m, a_k) = (K, 1); its transpose is (1, M).
//
// Tiled through shared memory: a block computes a GEMM_TILE x GEMM_TILE tile of C, one
// element per thread, stepping over K a tile at a time; each product is summed in k order
// (the naive loop's order) in the element type.
// Launch: block (GEMM_TILE, GEMM_TILE), grid (ceil(N / GEMM_TILE), ceil(M / GEMM_TILE)).
#define GEMM_TILE 16

KERNEL(gemm)(int M, int N, int K, const real* A, long a_m, long a_k, const real* B, long b_k, long b_n,
             real* C, long ldc, int accumulate) {
    __shared__ real As[GEMM_TILE][GEMM_TILE + 1];
    __shared__ real Bs[GEMM_TILE][GEMM_TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * GEMM_TILE + ty, col = blockIdx.x * GEMM_TILE + tx;
    real acc = 0;
    for (int k0 = 0; k0 < K; k0 += GEMM_TILE) {
        int ka = k0 + tx, kb = k0 + ty;
        As[ty][tx] = (row < M && ka < K) ? A[row * a_m + ka * a_k] : (real)0;
        Bs[ty][tx] = (kb < K && col < N) ? B[kb * b_k + col * b_n] : (real)0;
        __syncthreads();
        int kn = K - k0 < GEMM_TILE ? K - k0 : GEMM_TILE;
        for (int k = 0; k < kn; ++k) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < M && col < N) {
        real* c = &C[row * ldc + col];
        *c = accumulate ? *c + acc : acc;
    }
}
