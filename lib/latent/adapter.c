/*
 * Adapters (latent.h): a linear map from model S's final hidden states to model T's input
 * embeddings, fitted by ridge regression, saved and loaded with checksums.
 *
 * Fit on pairs (h_i, E_T[x_i]) over a text (S's state after reading token x_i, T's input
 * embedding of that token), with X = [h, 1] (n, dim_in + 1) and Y (n, dim_out):
 *     (XᵀX + λ·diag(1, ..., 1, 0)) W = XᵀY        (the bias row is not penalized)
 * solved by Cholesky in double precision: one small (dim_in + 1)² system for every output.
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../core/cholesky.h"
#include "../core/versioned.h"
#include "latent_internal.h"

struct pyagent_adapter {
    pyagent_adapter_info info;
    float *w; /* (dim_in + 1, dim_out): the rows of W, then b */
};

#define MAGIC "PAADAPT1"
#define FORMAT_VERSION 1u
#define HEADER_BYTES 104 /* through the header's checksum */
#define MAX_DIM 65536
#define MAX_FILE_BYTES ((size_t)256 << 20)

static pyagent_adapter *adapter_new(int64_t dim_in, int64_t dim_out) {
    pyagent_adapter *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->w = malloc((size_t)(dim_in + 1) * (size_t)dim_out * sizeof *a->w);
    if (!a->w) {
        free(a);
        return NULL;
    }
    a->info.struct_size = sizeof a->info;
    a->info.dim_in = dim_in;
    a->info.dim_out = dim_out;
    return a;
}

void pyagent_adapter_destroy(pyagent_adapter *adapter) {
    if (!adapter) return;
    free(adapter->w);
    free(adapter);
}

pyagent_status pyagent_adapter_info_get(const pyagent_adapter *adapter,
                                        pyagent_adapter_info *info) {
    if (!adapter || !info || info->struct_size < sizeof(uint32_t))
        return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_copy_versioned(info, &adapter->info, sizeof adapter->info);
    return PYAGENT_OK;
}

/* rows (n, dim_out) = hidden (n, dim_in) @ W + b */
static void map_rows(const pyagent_adapter *a, const float *hidden, size_t n, float *rows) {
    const int din = (int)a->info.dim_in, dout = (int)a->info.dim_out;
    const float *bias = a->w + (size_t)din * dout;
    for (size_t i = 0; i < n; i++) memcpy(rows + i * dout, bias, (size_t)dout * sizeof *rows);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, dout, din, 1.0f, hidden, din,
                a->w, dout, 1.0f, rows, dout);
}

pyagent_status pyagent_adapter_apply(const pyagent_adapter *adapter, const float *hidden,
                                     size_t n_rows, float *rows, size_t capacity) {
    if (!adapter || (n_rows > 0 && (!hidden || !rows))) return PYAGENT_ERR_INVALID_ARGUMENT;
    if (capacity / (size_t)adapter->info.dim_out < n_rows) return PYAGENT_ERR_BUFFER_TOO_SMALL;
    if (n_rows > 0) map_rows(adapter, hidden, n_rows, rows);
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Fitting                                                                                     */

/* The pairs of a text: x (n, dim_in + 1) = [h_i, 1], y (n, dim_out) = E_T[x_i]. */
typedef struct pairs {
    double *x;
    float *y;
    int32_t *token; /* x_i */
    size_t n;
} pairs;

static void pairs_free(pairs *p) {
    free(p->x);
    free(p->y);
    free(p->token);
}

/* src's token ids for `text`, as pyagent_agent_feed_text makes them for an empty agent. */
static pyagent_status tokenize(pyagent_engine *src, const char *text, size_t len, int32_t **ids,
                               size_t *n, pa_err *err) {
    size_t need = 0;
    pyagent_status st = pyagent_engine_tokenize(src, text, (int64_t)len,
                                                PYAGENT_TOKENIZE_ADD_SPECIAL, NULL, 0, &need);
    if (st && st != PYAGENT_ERR_BUFFER_TOO_SMALL)
        return pa_fail(err, st, "adapter text: %s", pyagent_engine_last_error(src));
    *ids = malloc((need + 1) * sizeof **ids);
    if (!*ids) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "adapter: out of memory");
    pyagent_engine_tokenize(src, text, (int64_t)len, PYAGENT_TOKENIZE_ADD_SPECIAL, *ids, need, n);
    if (*n > 1 && (*ids)[*n - 1] == pa_tokenizer_eos(src->model->tokenizer)) (*n)--;
    return PYAGENT_OK;
}

/* Reads the text with an agent of src, one token per step, in windows of n_ctx tokens. */
static pyagent_status collect_pairs(pyagent_engine *src, pyagent_engine *dst,
                                    const int32_t *ids, size_t n, pairs *p, pa_err *err) {
    const size_t din = (size_t)src->model->hp.n_embd, dout = (size_t)dst->model->hp.n_embd;
    const size_t window = (size_t)src->n_ctx;
    p->x = malloc((n * (din + 1) + 1) * sizeof *p->x);
    p->y = malloc((n * dout + 1) * sizeof *p->y);
    p->token = malloc((n + 1) * sizeof *p->token);
    float *h = malloc(din * sizeof *h);
    pyagent_agent *agent = NULL;
    pyagent_status st = !p->x || !p->y || !p->token || !h
                            ? pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "adapter: out of memory")
                            : pyagent_agent_create(src, NULL, &agent);
    if (st && !err->status) pa_fail(err, st, "adapter: %s", pyagent_engine_last_error(src));
    for (size_t i = 0; !st && i < n; i++) {
        size_t got = 0;
        if (i % window == 0) pyagent_agent_reset(agent);
        if ((st = pyagent_agent_feed_tokens(agent, ids + i, 1)) ||
            (st = pyagent_agent_prefill(agent)) ||
            (st = pyagent_agent_hidden(agent, h, din, &got))) {
            pa_fail(err, st, "adapter: reading token %zu: %s", i, pyagent_agent_last_error(agent));
            break;
        }
        double *x = p->x + i * (din + 1);
        for (size_t j = 0; j < din; j++) x[j] = h[j];
        x[din] = 1.0;
        p->token[i] = ids[i];
        pa_matrix_row(&dst->model->token_embd, ids[i], p->y + i * dout);
    }
    p->n = n;
    pyagent_agent_destroy(agent);
    free(h);
    return st;
}

/* W (din + 1, dout) solving the penalized normal equations over the first n pairs. */
static pyagent_status ridge_fit(const pairs *p, size_t n, size_t din, size_t dout, double ridge,
                                double *w, pa_err *err) {
    const size_t k = din + 1;
    double *ata = malloc(k * k * sizeof *ata), *y = malloc((n * dout + 1) * sizeof *y);
    if (!ata || !y) {
        free(ata), free(y);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "adapter: out of memory");
    }
    for (size_t i = 0; i < n * dout; i++) y[i] = p->y[i];
    // XᵀX (k, k) and XᵀY (k, dout) over the n training rows
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)n, 1.0, p->x,
                (int)k, p->x, (int)k, 0.0, ata, (int)k);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)dout, (int)n, 1.0, p->x,
                (int)k, y, (int)dout, 0.0, w, (int)dout);
    for (size_t j = 0; j < din; j++) ata[j * k + j] += ridge;
    const bool ok = pa_cholesky_solve(ata, (int)k, w, (int)dout);
    free(ata), free(y);
    return ok ? PYAGENT_OK
              : pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                        "adapter: the hidden states are linearly dependent; use ridge > 0");
}

/* 1 - SS_res / SS_tot of rows [from, to), SS_tot about those rows' own mean; NaN if empty. */
static double r_squared(const pyagent_adapter *a, const pairs *p, size_t from, size_t to,
                        float *pred, float *h) {
    const size_t din = (size_t)a->info.dim_in, dout = (size_t)a->info.dim_out;
    if (to <= from) return NAN;
    double *mean = calloc(dout, sizeof *mean), ss_res = 0, ss_tot = 0;
    if (!mean) return NAN;
    for (size_t i = from; i < to; i++)
        for (size_t j = 0; j < dout; j++) mean[j] += p->y[i * dout + j] / (double)(to - from);
    for (size_t i = from; i < to; i++) {
        for (size_t j = 0; j < din; j++) h[j] = (float)p->x[i * (din + 1) + j];
        map_rows(a, h, 1, pred);
        for (size_t j = 0; j < dout; j++) {
            const double y = p->y[i * dout + j];
            ss_res += (y - pred[j]) * (y - pred[j]);
            ss_tot += (y - mean[j]) * (y - mean[j]);
        }
    }
    free(mean);
    return ss_tot > 0 ? 1.0 - ss_res / ss_tot : NAN;
}

/* Share of rows [from, to) whose mapped row is nearest, by cosine, to E_T of their token. */
static double top1(const pyagent_adapter *a, const pa_model *dst, const pairs *p, size_t from,
                   size_t to, float *pred, float *h) {
    const size_t din = (size_t)a->info.dim_in, dout = (size_t)a->info.dim_out;
    const size_t n_vocab = (size_t)dst->hp.n_vocab;
    if (to <= from) return NAN;
    float *table = malloc(n_vocab * dout * sizeof *table);
    float *inv_norm = malloc(n_vocab * sizeof *inv_norm), *scores = malloc(n_vocab * sizeof *scores);
    size_t hits = 0;
    if (table && inv_norm && scores) {
        for (size_t t = 0; t < n_vocab; t++) {
            pa_matrix_row(&dst->token_embd, (int32_t)t, table + t * dout);
            double norm = 0;
            for (size_t j = 0; j < dout; j++) norm += (double)table[t * dout + j] * table[t * dout + j];
            inv_norm[t] = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
        }
        for (size_t i = from; i < to; i++) {
            for (size_t j = 0; j < din; j++) h[j] = (float)p->x[i * (din + 1) + j];
            map_rows(a, h, 1, pred);
            // E_T (n_vocab, dout) @ pred (dout,) -> (n_vocab,)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n_vocab, (int)dout, 1.0f, table,
                        (int)dout, pred, 1, 0.0f, scores, 1);
            size_t best = 0;
            for (size_t t = 1; t < n_vocab; t++)
                if (scores[t] * inv_norm[t] > scores[best] * inv_norm[best]) best = t;
            hits += (int32_t)best == p->token[i];
        }
    }
    const bool ok = table && inv_norm && scores;
    free(table), free(inv_norm), free(scores);
    return ok ? (double)hits / (double)(to - from) : NAN;
}

static pyagent_status check_pair_of_models(pyagent_engine *src, pyagent_engine *dst,
                                           pa_err *err) {
    const int32_t id = pa_tokenizer_first_difference(src->model->tokenizer,
                                                     dst->model->tokenizer);
    if (id >= 0)
        return pa_fail(err, PYAGENT_ERR_MISMATCH,
                       "adapter: the models' vocabularies differ (token %d): an adapter maps "
                       "between models that share a tokenizer",
                       id);
    if (src->cuda)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "adapter: the source engine runs on backend cuda, which keeps no hidden "
                       "states yet");
    return PYAGENT_OK;
}

static pyagent_status fit(pyagent_engine *src, pyagent_engine *dst, const char *text,
                          size_t len, double ridge, double heldout, pyagent_adapter **out,
                          pa_err *err) {
    const size_t din = (size_t)src->model->hp.n_embd, dout = (size_t)dst->model->hp.n_embd;
    pyagent_status st = check_pair_of_models(src, dst, err);
    if (st) return st;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if ((st = tokenize(src, text, len, &ids, &n_ids, err))) return st;
    pairs p = {0};
    st = collect_pairs(src, dst, ids, n_ids, &p, err);
    free(ids);
    const size_t n_train = p.n - (size_t)((double)p.n * heldout);
    if (!st && n_train < din + 1)
        st = pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                     "adapter: the text gives %zu pairs to fit, at least %zu are needed (the "
                     "source's width + 1)",
                     n_train, din + 1);
    double *w = NULL;
    pyagent_adapter *a = NULL;
    float *pred = malloc(dout * sizeof *pred), *h = malloc(din * sizeof *h);
    if (!st && (!(w = malloc((din + 1) * dout * sizeof *w)) || !pred || !h ||
                !(a = adapter_new((int64_t)din, (int64_t)dout))))
        st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "adapter: out of memory");
    if (!st) st = ridge_fit(&p, n_train, din, dout, ridge, w, err);
    if (!st) {
        for (size_t i = 0; i < (din + 1) * dout; i++) a->w[i] = (float)w[i];
        pyagent_adapter_info *info = &a->info;
        info->n_train = (int64_t)n_train;
        info->n_heldout = (int64_t)(p.n - n_train);
        info->ridge = ridge;
        info->r2_train = r_squared(a, &p, 0, n_train, pred, h);
        info->r2_heldout = r_squared(a, &p, n_train, p.n, pred, h);
        info->top1_heldout = top1(a, dst->model, &p, n_train, p.n, pred, h);
        info->fingerprint_in = src->model->fingerprint;
        info->fingerprint_out = dst->model->fingerprint;
        *out = a;
        a = NULL;
    }
    pyagent_adapter_destroy(a);
    pairs_free(&p);
    free(w), free(pred), free(h);
    return st;
}

pyagent_status pyagent_adapter_fit(pyagent_engine *src, pyagent_engine *dst, const char *text,
                                   int64_t text_len, double ridge, double heldout,
                                   pyagent_adapter **adapter) {
    if (adapter) *adapter = NULL;
    if (!pa_engine_ready(dst)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = PYAGENT_OK;
    if (!pa_engine_ready(src) || !adapter || (!text && text_len != 0) || text_len < -1)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "adapter fit: NULL argument");
    else if (!(ridge >= 0) || !isfinite(ridge))
        st = pa_fail(&err, PYAGENT_ERR_OUT_OF_RANGE, "adapter fit: ridge must be >= 0, not %g",
                     ridge);
    else if (!(heldout >= 0 && heldout <= 0.9))
        st = pa_fail(&err, PYAGENT_ERR_OUT_OF_RANGE,
                     "adapter fit: heldout must be in [0, 0.9], not %g", heldout);
    else
        st = fit(src, dst, text ? text : "", text_len < 0 ? strlen(text) : (size_t)text_len,
                 ridge, heldout, adapter, &err);
    return st ? pa_engine_set_error(dst, &err) : PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Files                                                                                       */

pyagent_status pyagent_adapter_save(pyagent_engine *engine, const pyagent_adapter *adapter,
                                    const char *path) {
    if (!pa_engine_ready(engine)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    if (!adapter || !path) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "adapter save: NULL argument");
        return pa_engine_set_error(engine, &err);
    }
    const pyagent_adapter_info *info = &adapter->info;
    const uint64_t payload = (uint64_t)(info->dim_in + 1) * (uint64_t)info->dim_out * 4;
    const size_t size = HEADER_BYTES + payload + 8;
    uint8_t *buf = malloc(size);
    if (!buf) {
        pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "adapter save: out of memory");
        return pa_engine_set_error(engine, &err);
    }
    size_t at = 0;
    const uint32_t version = FORMAT_VERSION, din = (uint32_t)info->dim_in,
                   dout = (uint32_t)info->dim_out, reserved = 0;
    pa_put(buf, &at, MAGIC, 8);
    pa_put(buf, &at, &version, 4);
    pa_put(buf, &at, &din, 4);
    pa_put(buf, &at, &dout, 4);
    pa_put(buf, &at, &reserved, 4);
    pa_put(buf, &at, &info->n_train, 8);
    pa_put(buf, &at, &info->n_heldout, 8);
    pa_put(buf, &at, &info->ridge, 8);
    pa_put(buf, &at, &info->r2_train, 8);
    pa_put(buf, &at, &info->r2_heldout, 8);
    pa_put(buf, &at, &info->top1_heldout, 8);
    pa_put(buf, &at, &info->fingerprint_in, 8);
    pa_put(buf, &at, &info->fingerprint_out, 8);
    pa_put(buf, &at, &payload, 8);
    const uint64_t header_sum = XXH3_64bits(buf, at), payload_sum = XXH3_64bits(adapter->w, payload);
    pa_put(buf, &at, &header_sum, 8);
    pa_put(buf, &at, adapter->w, payload);
    pa_put(buf, &at, &payload_sum, 8);
    pyagent_status st = pa_write_file_atomically(path, buf, size, &err);
    free(buf);
    return st ? pa_engine_set_error(engine, &err) : PYAGENT_OK;
}

pyagent_status pa_adapter_parse(const uint8_t *data, size_t size, pyagent_adapter **out,
                                pa_err *err) {
    *out = NULL;
    if (size < HEADER_BYTES) return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "adapter: too short");
    if (memcmp(data, MAGIC, 8) != 0)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "not an adapter file (magic)");
    size_t at = 8;
    uint32_t version, din, dout, reserved;
    pa_get(data, &at, &version, 4);
    if (version != FORMAT_VERSION)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "adapter format %u, this library reads %u",
                       version, FORMAT_VERSION);
    uint64_t header_sum;
    memcpy(&header_sum, data + HEADER_BYTES - 8, 8);
    if (XXH3_64bits(data, HEADER_BYTES - 8) != header_sum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "adapter: header checksum mismatch");
    pa_get(data, &at, &din, 4);
    pa_get(data, &at, &dout, 4);
    pa_get(data, &at, &reserved, 4);
    pyagent_adapter_info info = {.struct_size = sizeof info, .dim_in = din, .dim_out = dout};
    uint64_t payload;
    pa_get(data, &at, &info.n_train, 8);
    pa_get(data, &at, &info.n_heldout, 8);
    pa_get(data, &at, &info.ridge, 8);
    pa_get(data, &at, &info.r2_train, 8);
    pa_get(data, &at, &info.r2_heldout, 8);
    pa_get(data, &at, &info.top1_heldout, 8);
    pa_get(data, &at, &info.fingerprint_in, 8);
    pa_get(data, &at, &info.fingerprint_out, 8);
    pa_get(data, &at, &payload, 8);
    if (din == 0 || dout == 0 || din > MAX_DIM || dout > MAX_DIM || reserved != 0 ||
        info.n_train < 0 || info.n_heldout < 0 || !(info.ridge >= 0) ||
        payload != ((uint64_t)din + 1) * dout * 4)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "adapter: inconsistent header");
    if (size != HEADER_BYTES + payload + 8)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "adapter: %zu bytes, expected %llu", size,
                       (unsigned long long)(HEADER_BYTES + payload + 8));
    uint64_t payload_sum;
    memcpy(&payload_sum, data + HEADER_BYTES + payload, 8);
    if (XXH3_64bits(data + HEADER_BYTES, payload) != payload_sum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "adapter: payload checksum mismatch");
    pyagent_adapter *a = adapter_new(din, dout);
    if (!a) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "adapter: out of memory");
    memcpy(a->w, data + HEADER_BYTES, payload);
    for (size_t i = 0; i < payload / 4; i++)
        if (!isfinite(a->w[i])) {
            pyagent_adapter_destroy(a);
            return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "adapter: value %zu is not finite", i);
        }
    a->info = info;
    *out = a;
    return PYAGENT_OK;
}

pyagent_status pyagent_adapter_load(pyagent_engine *src, pyagent_engine *dst, const char *path,
                                    pyagent_adapter **adapter) {
    if (adapter) *adapter = NULL;
    if (!pa_engine_ready(dst)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    uint8_t *data = NULL;
    size_t size = 0;
    pyagent_adapter *a = NULL;
    pyagent_status st =
        !pa_engine_ready(src) || !path || !adapter
            ? pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "adapter load: NULL argument")
            : pa_read_file(path, MAX_FILE_BYTES, &data, &size, &err);
    if (!st) st = pa_adapter_parse(data, size, &a, &err);
    if (!st && (a->info.fingerprint_in != src->model->fingerprint ||
                a->info.fingerprint_out != dst->model->fingerprint ||
                a->info.dim_in != src->model->hp.n_embd ||
                a->info.dim_out != dst->model->hp.n_embd))
        st = pa_fail(&err, PYAGENT_ERR_MISMATCH,
                     "adapter fitted for other models (widths %lld -> %lld; these are %d -> %d, "
                     "or their weights differ)",
                     (long long)a->info.dim_in, (long long)a->info.dim_out,
                     src->model->hp.n_embd, dst->model->hp.n_embd);
    free(data);
    if (st) {
        pyagent_adapter_destroy(a);
        if (path) pa_err_prefix(&err, path);
        return pa_engine_set_error(dst, &err);
    }
    *adapter = a;
    return PYAGENT_OK;
}
