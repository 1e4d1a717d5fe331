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

/* The MNIST study's two products for K data orders x J neurons, every neuron's numbers
   computed in an order that does not depend on J (or on the blocking below), so that a run
   could still be replayed alone: x (K x B x F), one batch per data order; W (K x J x F);
   F % 8 == 0.
   neuron_forward: out (K x J x B), out[k][j][b] = x[k][b] . W[k][j]: eight lanes over the
   features, added up in a fixed tree.
   neuron_weight_grad: grad (K x J x F), grad[k][j][i] = sum over b, in order, of
   g[k][j][b] * x[k][b][i] (g: K x J x B). */
static inline float lanes_sum(__m256 v)
{
    __m128 low = _mm256_castps256_ps128(v), high = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(low, high);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void neuron_forward(const float *x, const float *W, float *out, int K, int J, int B, int F)
{
    for (int k = 0; k < K; k++) {
        const float *xk = x + (size_t)k * B * F, *Wk = W + (size_t)k * J * F;
        float *ok = out + (size_t)k * J * B;
        int j = 0;
        for (; j + 2 <= J; j += 2) {
            int b = 0;
            for (; b + 4 <= B; b += 4) {
                __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
                __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                const float *w0 = Wk + (size_t)j * F, *w1 = w0 + F, *x0 = xk + (size_t)b * F;
                for (int i = 0; i < F; i += 8) {
                    __m256 v0 = _mm256_loadu_ps(w0 + i), v1 = _mm256_loadu_ps(w1 + i);
                    __m256 u0 = _mm256_loadu_ps(x0 + i), u1 = _mm256_loadu_ps(x0 + F + i);
                    __m256 u2 = _mm256_loadu_ps(x0 + 2 * F + i), u3 = _mm256_loadu_ps(x0 + 3 * F + i);
                    a00 = _mm256_fmadd_ps(u0, v0, a00); a01 = _mm256_fmadd_ps(u1, v0, a01);
                    a02 = _mm256_fmadd_ps(u2, v0, a02); a03 = _mm256_fmadd_ps(u3, v0, a03);
                    a10 = _mm256_fmadd_ps(u0, v1, a10); a11 = _mm256_fmadd_ps(u1, v1, a11);
                    a12 = _mm256_fmadd_ps(u2, v1, a12); a13 = _mm256_fmadd_ps(u3, v1, a13);
                }
                float *o0 = ok + (size_t)j * B + b, *o1 = o0 + B;
                o0[0] = lanes_sum(a00); o0[1] = lanes_sum(a01); o0[2] = lanes_sum(a02); o0[3] = lanes_sum(a03);
                o1[0] = lanes_sum(a10); o1[1] = lanes_sum(a11); o1[2] = lanes_sum(a12); o1[3] = lanes_sum(a13);
            }
            for (; b < B; b++)
                for (int jj = j; jj < j + 2; jj++) {
                    __m256 a = _mm256_setzero_ps();
                    for (int i = 0; i < F; i += 8)
                        a = _mm256_fmadd_ps(_mm256_loadu_ps(xk + (size_t)b * F + i),
                                            _mm256_loadu_ps(Wk + (size_t)jj * F + i), a);
                    ok[(size_t)jj * B + b] = lanes_sum(a);
                }
        }
        for (; j < J; j++) /* the last neuron of an odd J: the same sums, one at a time */
            for (int b = 0; b < B; b++) {
                __m256 a = _mm256_setzero_ps();
                for (int i = 0; i < F; i += 8)
                    a = _mm256_fmadd_ps(_mm256_loadu_ps(xk + (size_t)b * F + i),
                                        _mm256_loadu_ps(Wk + (size_t)j * F + i), a);
                ok[(size_t)j * B + b] = lanes_sum(a);
            }
    }
}

static void weight_grad_one(const float *xk, const float *gj, float *dj, int B, int F, int from)
{
    for (int i = from; i < F; i += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int b = 0; b < B; b++)
            a = _mm256_fmadd_ps(_mm256_broadcast_ss(gj + b), _mm256_loadu_ps(xk + (size_t)b * F + i), a);
        _mm256_storeu_ps(dj + i, a);
    }
}

void neuron_weight_grad(const float *x, const float *g, float *grad, int K, int J, int B, int F)
{
    for (int k = 0; k < K; k++) {
        const float *xk = x + (size_t)k * B * F, *gk = g + (size_t)k * J * B;
        float *dk = grad + (size_t)k * J * F;
        int j = 0;
        for (; j + 2 <= J; j += 2) { /* two neurons, 32 features at a time: the same sums */
            const float *g0 = gk + (size_t)j * B, *g1 = g0 + B;
            float *d0 = dk + (size_t)j * F, *d1 = d0 + F;
            int i = 0;
            for (; i + 32 <= F; i += 32) {
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
                __m256 c0 = a0, c1 = a0, c2 = a0, c3 = a0;
                for (int b = 0; b < B; b++) {
                    __m256 s0 = _mm256_broadcast_ss(g0 + b), s1 = _mm256_broadcast_ss(g1 + b);
                    const float *xb = xk + (size_t)b * F + i;
                    __m256 u0 = _mm256_loadu_ps(xb), u1 = _mm256_loadu_ps(xb + 8);
                    __m256 u2 = _mm256_loadu_ps(xb + 16), u3 = _mm256_loadu_ps(xb + 24);
                    a0 = _mm256_fmadd_ps(s0, u0, a0); a1 = _mm256_fmadd_ps(s0, u1, a1);
                    a2 = _mm256_fmadd_ps(s0, u2, a2); a3 = _mm256_fmadd_ps(s0, u3, a3);
                    c0 = _mm256_fmadd_ps(s1, u0, c0); c1 = _mm256_fmadd_ps(s1, u1, c1);
                    c2 = _mm256_fmadd_ps(s1, u2, c2); c3 = _mm256_fmadd_ps(s1, u3, c3);
                }
                _mm256_storeu_ps(d0 + i, a0); _mm256_storeu_ps(d0 + i + 8, a1);
                _mm256_storeu_ps(d0 + i + 16, a2); _mm256_storeu_ps(d0 + i + 24, a3);
                _mm256_storeu_ps(d1 + i, c0); _mm256_storeu_ps(d1 + i + 8, c1);
                _mm256_storeu_ps(d1 + i + 16, c2); _mm256_storeu_ps(d1 + i + 24, c3);
            }
            if (i < F) { /* the features left over: each neuron alone, the same sums */
                weight_grad_one(xk, g0, d0, B, F, i);
                weight_grad_one(xk, g1, d1, B, F, i);
            }
        }
        for (; j < J; j++)
            weight_grad_one(xk, gk + (size_t)j * B, dk + (size_t)j * F, B, F, 0);
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
