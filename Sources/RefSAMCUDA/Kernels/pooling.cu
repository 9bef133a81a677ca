// Pooling over NHWC tensors. Geometry: N, H, W, C (input), KH, KW (window), strides,
// top/left padding, OH, OW. Backward passes gather by input element (no atomics).

// Average pool, VALID: y = sum of the window / (KH * KW)
KERNEL(avg_pool)(const real* x, real* y, int N, int H, int W, int C, int KH, int KW, int sh, int sw, int OH, int OW) {
    long total = (long)N * OH * OW * C;
    real inv = (real)1 / (real)(KH * KW);
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C), ow = (int)((i / C) % OW), oh = (int)((i / ((long)C * OW)) % OH);
        int n = (int)(i / ((long)C * OW * OH));
        real acc = 0;
        for (int kh = 0; kh < KH; ++kh)
            for (int kw = 0; kw < KW; ++kw)
                acc += x[(((long)n * H + oh * sh + kh) * W + ow * sw + kw) * C + c];
        y[i] = acc * inv;
    }
}

KERNEL(avg_pool_backward)(const real* dy, real* dx, int N, int H, int W, int C, int KH, int KW, int sh, int sw,
                          int OH, int OW) {
    long total = (long)N * H * W * C;
    real inv = (real)1 / (real)(KH * KW);
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C), iw = (int)((i / C) % W), ih = (int)((i / ((long)C * W)) % H);
        int n = (int)(i / ((long)C * W * H));
        real acc = 0;
        for (int oh = 0; oh < OH; ++oh) {
            if (ih < oh * sh || ih >= oh * sh + KH) continue;
            for (int ow = 0; ow < OW; ++ow) {
                if (iw < ow * sw || iw >= ow * sw + KW) continue;
                acc += dy[(((long)n * OH + oh) * OW + ow) * C + c] * inv;
            }
        }
        dx[i] = acc;
    }
}

// Max pool; padding counts as -infinity; ties go to the first maximum in (kh, kw) order.
// argmax[o] = flat index into x of the chosen element (-1 if the window is all padding).
KERNEL(max_pool)(const real* x, real* y, int* argmax, int N, int H, int W, int C, int KH, int KW, int sh, int sw,
                 int pt, int pl, int OH, int OW) {
    long total = (long)N * OH * OW * C;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C), ow = (int)((i / C) % OW), oh = (int)((i / ((long)C * OW)) % OH);
        int n = (int)(i / ((long)C * OW * OH));
        real best = 0; long bestIndex = -1;
        for (int kh = 0; kh < KH; ++kh) {
            int ih = oh * sh - pt + kh;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; ++kw) {
                int iw = ow * sw - pl + kw;
                if (iw < 0 || iw >= W) continue;
                long j = (((long)n * H + ih) * W + iw) * C + c;
                if (bestIndex < 0 || x[j] > best) { best = x[j]; bestIndex = j; }
            }
        }
        y[i] = bestIndex < 0 ? -(real)1 / (real)0 : best;
        argmax[i] = (int)bestIndex;
    }
}

// dx[j] = sum of dy[o] over the outputs o whose argmax is j, in output order.
KERNEL(max_pool_backward)(const real* dy, const int* argmax, real* dx, int N, int H, int W, int C, int KH, int KW,
                          int sh, int sw, int pt, int pl, int OH, int OW) {
    long total = (long)N * H * W * C;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C), iw = (int)((i / C) % W), ih = (int)((i / ((long)C * W)) % H);
        int n = (int)(i / ((long)C * W * H));
        real acc = 0;
        for (int oh = 0; oh < OH; ++oh) {
            int kh = ih + pt - oh * sh;
            if (kh < 0 || kh >= KH) continue;
            for (int ow = 0; ow < OW; ++ow) {
                int kw = iw + pl - ow * sw;
                if (kw < 0 || kw >= KW) continue;
                long o = (((long)n * OH + oh) * OW + ow) * C + c;
                if (argmax[o] == i) acc += dy[o];
            }
        }
        dx[i] = acc;
    }
}

// Mean over the spatial axes: y[n, c] = sum_{h, w} x[n, h, w, c] / (H * W), in (h, w) order.
KERNEL(spatial_mean)(const real* x, real* y, int N, int HW, int C) {
    long total = (long)N * C;
    real inv = (real)1 / (real)HW;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C); long n = i / C;
        real acc = 0;
        for (int p = 0; p < HW; ++p) acc += x[(n * HW + p) * C + c];
        y[i] = acc * inv;
    }
}

KERNEL(spatial_mean_backward)(const real* dy, real* dx, int N, int HW, int C) {
    long total = (long)N * HW * C;
    real inv = (real)1 / (real)HW;
    for (long i = GRID_INDEX; i < total; i += GRID_STRIDE) {
        int c = (int)(i % C); long n = i / ((long)HW * C);
        dx[i] = dy[n * C + c] * inv;
    }
}
