/*
 * KVzap surrogates (Jegou et al. 2026, NVIDIA kvpress): per layer, a linear map from the hidden
 * state that enters the layer at a position (after its input norm) to the log-importance of
 * that position's K/V for each kv head.
 *
 * Fitting (pyagent_kvzap_fit). The target is KVzip+'s oracle: the text is fed, then fed again
 * ("repeat the context"), and key i of the first copy scores, for query head h,
 *     s(h, i) = max over queries q of the repeat  a(q, i) * |Wo_h v(h, i)| / |x_q|
 * (x_q: the normed input of the query's layer; Wo_h: head h's columns of the output projection,
 * so the factor is what the value adds to the residual stream), the max over the query heads of
 * a kv head, and y = log s. A base model has no chat template, so the repeat is the plain text
 * again. The surrogate is ridge regression in closed form: (X^T X + ridge I) W = X^T Y.
 *
 * File: magic "PAKVZAP1", format version, n_layer, n_head_kv, n_embd, then the fit's figures,
 * the model fingerprint, the payload size and XXH3 of the header; payload: per layer
 * (n_head_kv, n_embd + 1) f32 (bias last) and its XXH3.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../core/cholesky.h"
#include "../core/versioned.h"
#include "../engine/engine_internal.h"
#include "../latent/latent_internal.h"
#include "prune.h"

#define MAGIC "PAKVZAP1"
#define FORMAT_VERSION 1u
#define HEADER_BYTES 104
#define MAX_FILE_BYTES ((size_t)1 << 31)

struct pa_kvzap {
    pyagent_kvzap_info info;
    float *w; /* (n_layer, n_head_kv, n_embd + 1) */
};

const float *pa_kvzap_layer(const pa_kvzap *zap, int layer) {
    return zap->w + (size_t)layer * (size_t)zap->info.n_head_kv * (size_t)(zap->info.n_embd + 1);
}

void pa_kvzap_free(pa_kvzap *zap) {
    if (!zap) return;
    free(zap->w);
    free(zap);
}

static size_t payload_floats(const pyagent_kvzap_info *info) {
    return (size_t)info->n_layer * (size_t)info->n_head_kv * (size_t)(info->n_embd + 1);
}

/* ----------------------------------------------------------------------------------------- */
/* The oracle                                                                                  */

/* One text's samples: x (n, n_layer, d + 1) = [normed input, 1], y (n, n_layer, n_head_kv). */
typedef struct samples {
    double *x;
    double *y;
    size_t n, cap;
} samples;

static bool samples_grow(samples *s, size_t n, size_t xw, size_t yw) {
    if (s->n + n <= s->cap) return true;
    size_t cap = s->cap ? s->cap * 2 : 1024;
    while (cap < s->n + n) cap *= 2;
    double *x = realloc(s->x, cap * xw * sizeof *x);
    if (x) s->x = x;
    double *y = realloc(s->y, cap * yw * sizeof *y);
    if (y) s->y = y;
    if (!x || !y) return false;
    s->cap = cap;
    return true;
}

/* Wo (d, q_dim) of layer il as f32 rows. */
static float *output_projection(const pa_model *m, int il) {
    const pa_matrix *wo = &m->layers[il].wo;
    float *w = malloc((size_t)wo->n_out * (size_t)wo->n_in * sizeof *w);
    for (int r = 0; w && r < wo->n_out; r++) pa_matrix_row(wo, r, w + (size_t)r * wo->n_in);
    return w;
}

/* Runs [BOS] text text through a private agent that captures the oracle, and appends the
 * samples of the first copy's positions (1 .. n) to s. */
static pyagent_status oracle_text(pyagent_engine *e, const int32_t *ids, size_t n, samples *s,
                                  pa_err *err) {
    const pa_hparams *hp = &e->model->hp;
    const int d = hp->n_embd, hd = hp->head_dim, n_kv = hp->n_head_kv, group = hp->n_head / n_kv;
    const int repeat = (int)n + 1, L = hp->n_layer;
    int32_t *seq = malloc((2 * n + 1) * sizeof *seq);
    pa_oracle orc = {.repeat = repeat,
                     .amax = calloc((size_t)L * hp->n_head * repeat, sizeof(float)),
                     .x = calloc((size_t)L * repeat * d, sizeof(float))};
    pa_marks *mk = pa_marks_create(PA_MARKS_ORACLE, L, n_kv, hp->n_head, hd, d,
                                   pa_kv_config_of(e->kv)->elem_type, 0, false, -INFINITY);
    float *vh = malloc((size_t)repeat * hd * sizeof *vh), *out = malloc((size_t)repeat * d * sizeof *out);
    pyagent_agent *a = NULL;
    pyagent_status st = !seq || !orc.amax || !orc.x || !mk || !vh || !out ||
                                !samples_grow(s, n, (size_t)L * (d + 1), (size_t)L * n_kv)
                            ? pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "kvzap fit: out of memory")
                            : pyagent_agent_create(e, NULL, &a);
    if (st && !err->status) pa_fail(err, st, "kvzap fit: %s", pyagent_engine_last_error(e));
    if (!st) {
        seq[0] = pa_tokenizer_bos(e->model->tokenizer);
        memcpy(seq + 1, ids, n * sizeof *ids);
        memcpy(seq + 1 + n, ids, n * sizeof *ids);
        mk->oracle = &orc;
        a->marks = mk, mk = NULL; /* the agent frees it */
        a->private_kv = true;
        if ((st = pyagent_agent_feed_tokens(a, seq, 2 * n + 1)) || (st = pyagent_agent_prefill(a)))
            pa_fail(err, st, "kvzap fit: %s", pyagent_agent_last_error(a));
    }
    const size_t at = s->n;
    for (int il = 0; !st && il < L; il++) {
        float *wo = output_projection(e->model, il);
        if (!wo) {
            st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "kvzap fit: out of memory");
            break;
        }
        for (size_t i = 1; i <= n; i++) { /* x: the normed inputs, bias column 1 */
            double *x = s->x + ((at + i - 1) * L + il) * (d + 1);
            const float *src = orc.x + ((size_t)il * repeat + i) * d;
            for (int j = 0; j < d; j++) x[j] = src[j];
            x[d] = 1;
            for (int g = 0; g < n_kv; g++) s->y[((at + i - 1) * L + il) * n_kv + g] = -INFINITY;
        }
        const pa_kv_config *cfg = pa_kv_config_of(e->kv);
        for (int h = 0; h < hp->n_head; h++) {
            const int g = h / group;
            for (int i = 0; i < repeat; i++) { /* v(h, i) rows */
                const uint8_t *row = pa_kv_v(e->kv, a->blocks[i / cfg->block_size], il,
                                             i % cfg->block_size);
                pa_kv_slice_to_f32(cfg->elem_type, row, g * hd, hd, vh + (size_t)i * hd);
            }
            // Wo_h v (repeat, d) = V_h (repeat, hd) @ Wo[:, h*hd : (h+1)*hd]^T (hd, d)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, repeat, d, hd, 1.0f, vh, hd,
                        wo + (size_t)h * hd, hp->n_head * hd, 0.0f, out, d);
            const float *amax = orc.amax + ((size_t)il * hp->n_head + h) * repeat;
            for (size_t i = 1; i <= n; i++) {
                const double score = (double)amax[i] * cblas_snrm2(d, out + i * d, 1);
                const double y = log(score > 1e-30 ? score : 1e-30);
                double *dst = &s->y[((at + i - 1) * L + il) * n_kv + g];
                if (y > *dst) *dst = y; /* max over the kv head's query heads */
            }
        }
        free(wo);
    }
    if (!st) s->n += n;
    pyagent_agent_destroy(a);
    pa_marks_free(mk);
    free(seq), free(orc.amax), free(orc.x), free(vh), free(out);
    return st;
}

/* ----------------------------------------------------------------------------------------- */
/* Fitting                                                                                     */

typedef struct text_span {
    size_t first, n; /* samples of one text */
} text_span;

/* W (n_layer, n_kv, d + 1) by ridge regression per layer over the training samples. */
static pyagent_status ridge(const samples *s, size_t n_train, int L, int d, int n_kv, double alpha,
                            float *w, pa_err *err) {
    const size_t k = (size_t)d + 1;
    double *xtx = malloc(k * k * sizeof *xtx), *xty = malloc(k * n_kv * sizeof *xty);
    pyagent_status st = xtx && xty ? PYAGENT_OK
                                   : pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "kvzap fit: out of memory");
    for (int il = 0; !st && il < L; il++) {
        // X^T X (k, k) and X^T Y (k, n_kv) over the training rows of layer il
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)n_train, 1.0,
                    s->x + (size_t)il * k, (int)(L * k), s->x + (size_t)il * k, (int)(L * k), 0.0,
                    xtx, (int)k);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, n_kv, (int)n_train, 1.0,
                    s->x + (size_t)il * k, (int)(L * k), s->y + (size_t)il * n_kv, L * n_kv, 0.0,
                    xty, n_kv);
        for (int j = 0; j < d; j++) xtx[(size_t)j * k + j] += alpha; /* not the bias */
        if (!pa_cholesky_solve(xtx, (int)k, xty, n_kv)) {
            st = pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                         "kvzap fit: the hidden states of layer %d are linearly dependent; use "
                         "ridge > 0 or more text", il);
            break;
        }
        for (int g = 0; g < n_kv; g++)
            for (size_t j = 0; j < k; j++)
                w[((size_t)il * n_kv + g) * k + j] = (float)xty[j * n_kv + g];
    }
    free(xtx), free(xty);
    return st;
}

static double predict(const float *w, const double *x, int d) {
    double y = w[d];
    for (int j = 0; j < d; j++) y += (double)w[j] * x[j];
    return y;
}

typedef struct ranked {
    double v;
    size_t i;
} ranked;

static int ranked_desc(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    return (x->v < y->v) - (x->v > y->v);
}

/* Held-out figures: R^2 of the predicted log-scores (pooled over layers and kv heads, each
 * about its own mean), and the share of the oracle's top quarter of each text's positions
 * (per layer and kv head) that the surrogate's top quarter holds. */
static void evaluate(const samples *s, const text_span *texts, size_t first_text,
                     size_t n_texts, int L, int d, int n_kv, const float *w,
                     pyagent_kvzap_info *info) {
    const size_t k = (size_t)d + 1;
    double r2_sum = 0, hits = 0, picks = 0;
    int r2_n = 0;
    for (int il = 0; il < L; il++)
        for (int g = 0; g < n_kv; g++) {
            const float *wg = w + ((size_t)il * n_kv + g) * k;
            double mean = 0, ss_tot = 0, ss_res = 0;
            size_t n = 0;
            for (size_t t = first_text; t < n_texts; t++)
                for (size_t i = texts[t].first; i < texts[t].first + texts[t].n; i++, n++)
                    mean += s->y[(i * L + il) * n_kv + g];
            if (n < 2) continue;
            mean /= (double)n;
            for (size_t t = first_text; t < n_texts; t++) {
                const size_t m = texts[t].n, top = m / 4 ? m / 4 : 1;
                ranked *by_y = malloc(m * sizeof *by_y), *by_p = malloc(m * sizeof *by_p);
                if (!by_y || !by_p) {
                    free(by_y), free(by_p);
                    continue;
                }
                for (size_t j = 0; j < m; j++) {
                    const size_t i = texts[t].first + j;
                    const double y = s->y[(i * L + il) * n_kv + g];
                    const double p = predict(wg, s->x + (i * L + il) * k, d);
                    ss_tot += (y - mean) * (y - mean);
                    ss_res += (y - p) * (y - p);
                    by_y[j] = (ranked){y, j}, by_p[j] = (ranked){p, j};
                }
                qsort(by_y, m, sizeof *by_y, ranked_desc);
                qsort(by_p, m, sizeof *by_p, ranked_desc);
                for (size_t a = 0; a < top; a++)
                    for (size_t b = 0; b < top; b++) hits += by_y[a].i == by_p[b].i;
                picks += (double)top;
                free(by_y), free(by_p);
            }
            if (ss_tot > 0) r2_sum += 1 - ss_res / ss_tot, r2_n++;
        }
    info->r2_heldout = r2_n ? r2_sum / r2_n : NAN;
    info->top_overlap = picks > 0 ? hits / picks : NAN;
}

static pyagent_status save(const pyagent_kvzap_info *info, const float *w, const char *path,
                           pa_err *err) {
    const uint64_t payload = payload_floats(info) * sizeof(float);
    const size_t size = HEADER_BYTES + payload + 8;
    uint8_t *buf = malloc(size);
    if (!buf) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "kvzap save: out of memory");
    size_t at = 0;
    const uint32_t version = FORMAT_VERSION, L = (uint32_t)info->n_layer,
                   n_kv = (uint32_t)info->n_head_kv, d = (uint32_t)info->n_embd, reserved = 0;
    pa_put(buf, &at, MAGIC, 8);
    pa_put(buf, &at, &version, 4);
    pa_put(buf, &at, &L, 4);
    pa_put(buf, &at, &n_kv, 4);
    pa_put(buf, &at, &d, 4);
    pa_put(buf, &at, &reserved, 4);
    pa_put(buf, &at, &reserved, 4);
    pa_put(buf, &at, &info->n_train, 8);
    pa_put(buf, &at, &info->n_heldout, 8);
    pa_put(buf, &at, &info->ridge, 8);
    pa_put(buf, &at, &info->r2_heldout, 8);
    pa_put(buf, &at, &info->top_overlap, 8);
    pa_put(buf, &at, &info->fingerprint, 8);
    pa_put(buf, &at, &payload, 8);
    pa_put(buf, &at, &info->n_texts, 8);
    const uint64_t header_sum = XXH3_64bits(buf, at);
    pa_put(buf, &at, &header_sum, 8);
    const uint64_t payload_sum = XXH3_64bits(w, payload);
    pa_put(buf, &at, w, payload);
    pa_put(buf, &at, &payload_sum, 8);
    const pyagent_status st = pa_write_file_atomically(path, buf, size, err);
    free(buf);
    return st;
}

pyagent_status pyagent_kvzap_fit(pyagent_engine *engine, const char *const *texts,
                                 size_t n_texts, double ridge_alpha, double heldout,
                                 const char *path, pyagent_kvzap_info *info) {
    if (!pa_engine_ready(engine)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    const pa_hparams *hp = &engine->model->hp;
    const int L = hp->n_layer, d = hp->n_embd, n_kv = hp->n_head_kv;
    if (!texts || !path || n_texts < 2 || !(ridge_alpha >= 0) || !(heldout > 0 && heldout < 1)) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT,
                "kvzap fit: needs at least 2 texts, a path, ridge >= 0 and 0 < heldout < 1");
        return pa_engine_set_error(engine, &err);
    }
    if (engine->cuda) {
        pa_fail(&err, PYAGENT_ERR_UNSUPPORTED, "kvzap fit: not on backend cuda yet");
        return pa_engine_set_error(engine, &err);
    }
    samples s = {0};
    text_span *spans = calloc(n_texts, sizeof *spans);
    float *w = malloc(((size_t)L * n_kv * (d + 1)) * sizeof *w);
    pyagent_status st = spans && w ? PYAGENT_OK
                                   : pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "kvzap fit: out of memory");
    const size_t most = (size_t)(engine->n_ctx - 1) / 2; /* [BOS] text text fits */
    for (size_t t = 0; !st && t < n_texts; t++) {
        size_t need = 0, n = 0;
        const char *text = texts[t] ? texts[t] : "";
        pyagent_engine_tokenize(engine, text, -1, 0, NULL, 0, &need);
        int32_t *ids = malloc((need + 1) * sizeof *ids);
        if (!ids) st = pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "kvzap fit: out of memory");
        if (!st && (st = pyagent_engine_tokenize(engine, text, -1, 0, ids, need, &n)))
            pa_fail(&err, st, "kvzap fit: text %zu: %s", t, pyagent_engine_last_error(engine));
        if (!st && n < 4)
            st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "kvzap fit: text %zu has %zu tokens, "
                         "at least 4", t, n);
        spans[t].first = s.n;
        if (!st) st = oracle_text(engine, ids, n < most ? n : most, &s, &err);
        spans[t].n = s.n - spans[t].first;
        free(ids);
    }
    size_t n_test = (size_t)((double)n_texts * heldout + 0.5);
    if (n_test < 1) n_test = 1;
    if (n_test >= n_texts) n_test = n_texts - 1;
    const size_t first_test = n_texts - n_test;
    pyagent_kvzap_info fit = {.struct_size = sizeof fit, .n_layer = L, .n_head_kv = n_kv,
                              .n_embd = d, .n_texts = (int64_t)n_texts, .ridge = ridge_alpha,
                              .fingerprint = engine->model->fingerprint};
    if (!st) {
        fit.n_train = (int64_t)spans[first_test].first;
        fit.n_heldout = (int64_t)(s.n - spans[first_test].first);
        st = ridge(&s, spans[first_test].first, L, d, n_kv, ridge_alpha, w, &err);
    }
    if (!st) {
        evaluate(&s, spans, first_test, n_texts, L, d, n_kv, w, &fit);
        st = save(&fit, w, path, &err);
    }
    if (!st && info && info->struct_size >= sizeof(uint32_t)) pa_copy_versioned(info, &fit, sizeof fit);
    free(s.x), free(s.y), free(spans), free(w);
    return st ? pa_engine_set_error(engine, &err) : PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Loading                                                                                     */

pyagent_status pa_kvzap_parse(const uint8_t *data, size_t size, pa_kvzap **out, pa_err *err) {
    *out = NULL;
    if (size < HEADER_BYTES) return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "kvzap: too short");
    if (memcmp(data, MAGIC, 8) != 0)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "not a KVzap file (magic)");
    size_t at = 8;
    uint32_t version, L, n_kv, d, reserved[2];
    pa_get(data, &at, &version, 4);
    if (version != FORMAT_VERSION)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "kvzap format %u, this library reads %u",
                       version, FORMAT_VERSION);
    uint64_t header_sum;
    memcpy(&header_sum, data + HEADER_BYTES - 8, 8);
    if (XXH3_64bits(data, HEADER_BYTES - 8) != header_sum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "kvzap: header checksum mismatch");
    pa_get(data, &at, &L, 4);
    pa_get(data, &at, &n_kv, 4);
    pa_get(data, &at, &d, 4);
    pa_get(data, &at, &reserved[0], 4);
    pa_get(data, &at, &reserved[1], 4);
    pyagent_kvzap_info info = {.struct_size = sizeof info, .n_layer = L, .n_head_kv = n_kv,
                               .n_embd = d};
    uint64_t payload;
    pa_get(data, &at, &info.n_train, 8);
    pa_get(data, &at, &info.n_heldout, 8);
    pa_get(data, &at, &info.ridge, 8);
    pa_get(data, &at, &info.r2_heldout, 8);
    pa_get(data, &at, &info.top_overlap, 8);
    pa_get(data, &at, &info.fingerprint, 8);
    pa_get(data, &at, &payload, 8);
    pa_get(data, &at, &info.n_texts, 8);
    if (L == 0 || n_kv == 0 || d == 0 || L > 4096 || n_kv > 4096 || d > 65536 || reserved[0] ||
        reserved[1] || info.n_train < 0 || info.n_heldout < 0 || info.n_texts < 0 ||
        !(info.ridge >= 0) || payload != payload_floats(&info) * sizeof(float))
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "kvzap: inconsistent header");
    if (size != HEADER_BYTES + payload + 8)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "kvzap: %zu bytes, expected %llu", size,
                       (unsigned long long)(HEADER_BYTES + payload + 8));
    uint64_t payload_sum;
    memcpy(&payload_sum, data + HEADER_BYTES + payload, 8);
    if (XXH3_64bits(data + HEADER_BYTES, payload) != payload_sum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "kvzap: payload checksum mismatch");
    pa_kvzap *zap = calloc(1, sizeof *zap);
    if (zap) zap->w = malloc(payload);
    if (!zap || !zap->w) {
        pa_kvzap_free(zap);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "kvzap: out of memory");
    }
    memcpy(zap->w, data + HEADER_BYTES, payload);
    for (size_t i = 0; i < payload / 4; i++)
        if (!isfinite(zap->w[i])) {
            pa_kvzap_free(zap);
            return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "kvzap: weight %zu is not finite", i);
        }
    zap->info = info;
    *out = zap;
    return PYAGENT_OK;
}

pyagent_status pyagent_engine_load_kvzap(pyagent_engine *engine, const char *path,
                                         pyagent_kvzap_info *info) {
    if (!pa_engine_ready(engine)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    uint8_t *data = NULL;
    size_t size = 0;
    pa_kvzap *zap = NULL;
    const pa_hparams *hp = &engine->model->hp;
    pyagent_status st = !path ? pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "kvzap: path is NULL")
                              : pa_read_file(path, MAX_FILE_BYTES, &data, &size, &err);
    if (!st) st = pa_kvzap_parse(data, size, &zap, &err);
    if (!st && (zap->info.fingerprint != engine->model->fingerprint ||
                zap->info.n_layer != hp->n_layer || zap->info.n_head_kv != hp->n_head_kv ||
                zap->info.n_embd != hp->n_embd))
        st = pa_fail(&err, PYAGENT_ERR_MISMATCH,
                     "kvzap surrogate fitted for another model (%lld layers, %lld kv heads, "
                     "width %lld, or other weights)",
                     (long long)zap->info.n_layer, (long long)zap->info.n_head_kv,
                     (long long)zap->info.n_embd);
    free(data);
    if (st) {
        pa_kvzap_free(zap);
        if (path) pa_err_prefix(&err, path);
        return pa_engine_set_error(engine, &err);
    }
    pthread_mutex_lock(&engine->lock);
    bool in_use = false; /* an agent's step may be reading the old one */
    for (pyagent_agent *a = engine->agents; a; a = a->next) in_use |= a->marks && a->marks->zap;
    pa_kvzap *old = in_use ? zap : engine->kvzap;
    if (!in_use) engine->kvzap = zap;
    pthread_mutex_unlock(&engine->lock);
    pa_kvzap_free(old);
    if (in_use) {
        pa_fail(&err, PYAGENT_ERR_BUSY, "kvzap: agents prune with the loaded surrogate; destroy "
                "or reset them to kv_policy window first");
        return pa_engine_set_error(engine, &err);
    }
    if (info && info->struct_size >= sizeof(uint32_t))
        pa_copy_versioned(info, &engine->kvzap->info, sizeof engine->kvzap->info);
    return PYAGENT_OK;
}
