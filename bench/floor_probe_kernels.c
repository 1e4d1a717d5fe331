/* Kernels of bench/floor_probe.py (a probe of this machine's floor, not part of any engine).

   fused_step: one step of a Dense layer's weights, W (n_in x n_out) with Adam's moments m, v:
   the weight gradient x^T g summed over the batch (in registers, 8 rows x 8 columns at a
   time), Adam's update of those weights as TensorFlow's fused kernel writes it, and, when
   x_next_t is given, the next batch's forward product x_next @ W from the updated weights in
   the same pass. x_t and x_next_t are the batches transposed (n_in x 32), so that a block of
   rows reads contiguous memory. n_in % 8 == 0, n_out % 8 == 0.

   With -DPEAK_MAIN: a program printing one core's FMA rate in GFLOPS (ten independent chains
   of 8-lane FMAs, argv[1] iterations). */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 32

static inline __m256 adam8(float *w, float *m, float *v, __m256 grad, __m256 one_minus_b1,
                           __m256 one_minus_b2, __m256 alpha, __m256 epsilon)
{
    __m256 mm = _mm256_loadu_ps(m), vv = _mm256_loadu_ps(v), ww = _mm256_loadu_ps(w);
    mm = _mm256_add_ps(mm, _mm256_mul_ps(_mm256_sub_ps(grad, mm), one_minus_b1));
    vv = _mm256_add_ps(vv, _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(grad, grad), vv), one_minus_b2));
    ww = _mm256_sub_ps(ww, _mm256_div_ps(_mm256_mul_ps(mm, alpha),
                                         _mm256_add_ps(_mm256_sqrt_ps(vv), epsilon)));
    _mm256_storeu_ps(m, mm);
    _mm256_storeu_ps(v, vv);
    _mm256_storeu_ps(w, ww);
    return ww;
}

void fused_step(const float *x_t, const float *g, float *W, float *m, float *v, int n_in,
                int n_out, float alpha, float beta_1, float beta_2, float epsilon,
                const float *x_next_t, float *h_next)
{
    const __m256 b1 = _mm256_set1_ps(1.0f - beta_1), b2 = _mm256_set1_ps(1.0f - beta_2);
    const __m256 lr = _mm256_set1_ps(alpha), eps = _mm256_set1_ps(epsilon);
    if (x_next_t)
        memset(h_next, 0, sizeof(float) * BATCH * n_out);
    for (int i = 0; i < n_in; i += 8) {
        const float *xi = x_t + (size_t)i * BATCH;
        for (int j = 0; j < n_out; j += 8) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
                   a6 = a0, a7 = a0;
            for (int b = 0; b < BATCH; b++) {
                __m256 gv = _mm256_loadu_ps(g + b * n_out + j);
#define ROW(r) a##r = _mm256_fmadd_ps(_mm256_broadcast_ss(xi + (r) * BATCH + b), gv, a##r);
                ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
            }
            size_t o = (size_t)i * n_out + j;
#define UPDATE(r) a##r = adam8(W + o + (r) * n_out, m + o + (r) * n_out, v + o + (r) * n_out, \
                               a##r, b1, b2, lr, eps);
            UPDATE(0) UPDATE(1) UPDATE(2) UPDATE(3) UPDATE(4) UPDATE(5) UPDATE(6) UPDATE(7)
            if (!x_next_t)
                continue;
            const float *xn = x_next_t + (size_t)i * BATCH;
            for (int b = 0; b < BATCH; b += 4) {
                float *h = h_next + (size_t)b * n_out + j;
                __m256 h0 = _mm256_loadu_ps(h), h1 = _mm256_loadu_ps(h + n_out),
                       h2 = _mm256_loadu_ps(h + 2 * n_out), h3 = _mm256_loadu_ps(h + 3 * n_out);
#define FORWARD(r)                                                                      \
    h0 = _mm256_fmadd_ps(_mm256_broadcast_ss(xn + (r) * BATCH + b), a##r, h0);          \
    h1 = _mm256_fmadd_ps(_mm256_broadcast_ss(xn + (r) * BATCH + b + 1), a##r, h1);      \
    h2 = _mm256_fmadd_ps(_mm256_broadcast_ss(xn + (r) * BATCH + b + 2), a##r, h2);      \
    h3 = _mm256_fmadd_ps(_mm256_broadcast_ss(xn + (r) * BATCH + b + 3), a##r, h3);
                FORWARD(0) FORWARD(1) FORWARD(2) FORWARD(3)
                FORWARD(4) FORWARD(5) FORWARD(6) FORWARD(7)
                _mm256_storeu_ps(h, h0);
                _mm256_storeu_ps(h + n_out, h1);
                _mm256_storeu_ps(h + 2 * n_out, h2);
                _mm256_storeu_ps(h + 3 * n_out, h3);
            }
        }
    }
}

#ifdef PEAK_MAIN
int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 400000000L;
    __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(1.0f), a1 = _mm256_set1_ps(1.1f), a2 = _mm256_set1_ps(1.2f),
           a3 = _mm256_set1_ps(1.3f), a4 = _mm256_set1_ps(1.4f), a5 = _mm256_set1_ps(1.5f),
           a6 = _mm256_set1_ps(1.6f), a7 = _mm256_set1_ps(1.7f), a8 = _mm256_set1_ps(1.8f),
           a9 = _mm256_set1_ps(1.9f);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
#define F(x) x = _mm256_fmadd_ps(x, m, c);
        F(a0) F(a1) F(a2) F(a3) F(a4) F(a5) F(a6) F(a7) F(a8) F(a9)
        __asm__ volatile("" ::: "memory");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(a8, a9));
    float out[8];
    _mm256_storeu_ps(out, s);
    /* the sum is printed to stderr so that the loop is not optimised away */
    fprintf(stderr, "%f\n", out[0]);
    printf("%.1f\n", seconds > 0 ? n * 10.0 * 16.0 / seconds / 1e9 : 0.0);
    return 0;
}
#endif
