// Convolution as im2col + GEMM, NHWC input, HWIO kernel, no bias (Flax nn.Conv):
//   forward          y[N*OH*OW, O]   = col[N*OH*OW, KH*KW*C] W[KH*KW*C, O]
//   filter gradient  dW[KH*KW*C, O]  = col^T dy
//   input gradient   dcol            = dy W^T, then dx = col2im(dcol)
// col's row r = (n, oh, ow), column (kh, kw, c): the HWIO kernel's row order.
// Geometry arguments: N, H, W, C (input), KH, KW, strides, top/left padding, OH, OW.

// col[(n, oh, ow), (kh, kw, c)] = x[n, oh*sh - pt + kh, ow*sw - pl + kw, c], or 0 in the padding.
KERNEL(im2col)(const real* x, real* col, int N, int H, int W, int C, int KH, int KW,
               int sh, int sw, int pt, int pl, int OH, int OW) {
    long patch = (long)KH * KW * C, total = (long)N * OH * OW * patch;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        long r = i / patch; int p = (int)(i % patch);
        int c = p % C, kw = (p / C) % KW, kh = p / (C * KW);
        int ow = (int)(r % OW), oh = (int)((r / OW) % OH), n = (int)(r / ((long)OW * OH));
        int ih = oh * sh - pt + kh, iw = ow * sw - pl + kw;
        col[i] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[(((long)n * H + ih) * W + iw) * C + c] : (real)0;
    }
}

// dx[n, ih, iw, c] = sum of dcol over every (oh, ow, kh, kw) that read x[n, ih, iw, c],
// gathered by the input element (no atomics), in (kh, kw) order.
KERNEL(col2im)(const real* dcol, real* dx, int N, int H, int W, int C, int KH, int KW,
               int sh, int sw, int pt, int pl, int OH, int OW) {
    long total = (long)N * H * W * C, patch = (long)KH * KW * C;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C), iw = (int)((i / C) % W), ih = (int)((i / ((long)C * W)) % H);
        int n = (int)(i / ((long)C * W * H));
        real acc = 0;
        for (int kh = 0; kh < KH; ++kh) {
            int t = ih + pt - kh;
            if (t < 0 || t % sh != 0) continue;
            int oh = t / sh;
            if (oh >= OH) continue;
            for (int kw = 0; kw < KW; ++kw) {
                int u = iw + pl - kw;
                if (u < 0 || u % sw != 0) continue;
                int ow = u / sw;
                if (ow >= OW) continue;
                acc += dcol[(((long)n * OH + oh) * OW + ow) * patch + ((long)kh * KW + kw) * C + c];
            }
        }
        dx[i] = acc;
    }
}
