/*
 * The CUDA backend: upload of the weights, the device KV pool, and the forward pass of
 * lib/model/arch/llama.c told again with device kernels (kernels/kernels.h) and cuBLAS:
 *
 *   x = token_embd[tokens]                                     embed
 *   for each layer:
 *       h = rmsnorm(x) * attn_norm                             rmsnorm
 *       q, k, v = Wq h, Wk h, Wv h                             project_qkv (one launch for Q, K,
 *       rope(q), rope(k);  K/V -> their slots of the pool      V, RoPE and the KV write)
 *       att = softmax(q kᵀ / sqrt(hd)) v  over the visible slots  attention
 *       x += Wo att                                            project, accumulating
 *       h = rmsnorm(x) * ffn_norm
 *       x += Wdown (silu(Wgate h) * Wup h)                     gemv_swiglu (or 2 GEMMs + swiglu)
 *   logits = Woutput (rmsnorm(x_row) * output_norm)            for the rows that want them
 *
 * A batch's exact rows (decode tokens, draft trees: the first n_exact tokens) go through the
 * GEMV kernels, whose rows do not depend on the batch; the other rows (prompt chunks) through
 * cuBLAS when there are at least GEMM_MIN_ROWS of them and the weights are f32, f16 or bf16
 * (activations rounded to the weights' type, products summed in f32), else through the GEMV
 * kernels too. Logits always come from the GEMV kernels, LOGIT_ROWS rows at a time; a row
 * that a sampler draws from (pa_batch_seq.top) goes down as its best candidates, picked on the
 * device (kernels/sample.cu), the others whole.
 *
 * Everything of a step goes on one stream: the token table and the block tables are copied
 * up at its start, the logits down at its end, and the step waits for the stream before it
 * returns (so the host buffers are free again and errors are known). A decode step (every
 * sequence one token that wants logits, at most LOGIT_ROWS of them) launches the same kernels
 * with the same arguments whenever it has as many tokens: its launches are captured once per
 * token count into a CUDA graph and replayed, one launch instead of about a hundred. The step
 * table keeps that true: the logit rows and their candidate counts come first among its
 * ints, so every pointer into it depends on the token count alone (which rows go down whole
 * is decided after the replay).
 */
#include "cuda.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../kernels/kernels.h"

#define GEMM_MIN_ROWS 16 /* non-exact rows from which cuBLAS computes the projections */
#define LOGIT_ROWS 64    /* rows of the output matrix product per launch and copy down */
#define TOP_BYTES(rows) ((size_t)(rows) * PA_DEV_TOP_MAX * sizeof(pa_dev_top))

_Static_assert(PA_DEV_TOP_MAX == PA_TOP_CANDIDATES && sizeof(pa_dev_top) == sizeof(pa_token_logit),
               "the device's candidates are the host's");

typedef struct dev_layer {
    float *attn_norm, *ffn_norm;    /* (n_embd,) */
    pa_dev_matrix wq, wk, wv, wo;
    pa_dev_matrix w_gate, w_up, w_down;
} dev_layer;

struct pa_cuda {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    const pa_model *model;
    pa_kv_store *store;
    int n_batch;

    /* weights */
    pa_dev_matrix token_embd, output; /* output shares token_embd's memory when tied */
    float *output_norm;
    dev_layer *layers;
    void **allocs; /* every device allocation, freed together */
    size_t n_allocs, allocs_cap;

    /* the KV pool: block ids are the store's */
    pa_dev_kv kv;
    size_t slot_bytes;  /* one slot of one layer: kv_dim elements */

    /* activations: (n_batch, width) f32 rows */
    int ld_qkv;          /* q_dim + 2 kv_dim: Q, then K, then V of a token */
    float *x, *xb, *qkv, *att, *hb, *hb2;
    void *x_half;        /* (n_batch, widest input) f16/bf16 copy of a GEMM's input */
    float *x_last;       /* (LOGIT_ROWS, n_embd) normed rows that want logits */
    float *logits;       /* (LOGIT_ROWS, n_vocab) */
    float *logits_host;  /* pinned copy of `logits` (the rows wanted whole) */
    pa_dev_top *top, *top_host; /* (LOGIT_ROWS, PA_DEV_TOP_MAX) best candidates, pinned copy */

    /* the step's table, laid out on the host (pinned), copied up in one piece:
       n_tok pa_dev_token, then int32: logit rows, their n_top, block tables, tree
       ancestors */
    uint8_t *step_host, *step_dev;
    size_t step_cap;
    int32_t *parent, *slot, *pos; /* (n_batch,) host-only layout of the batch */
    pa_logit_dest *logit_dest;    /* (n_batch,) where each logit row goes */

    bool mirror_failed;           /* a block copy failed; the next step reports it */
    char mirror_error[128];
    pthread_mutex_t stream_lock;  /* one thread enqueues at a time (steps, mirror copies) */
    cudaGraphExec_t decode_graphs[LOGIT_ROWS]; /* [n - 1]: a decode step of n tokens */
};

/* ----------------------------------------------------------------------------------------- */
/* Errors and allocations                                                                      */

static pyagent_status cuda_fail(pa_err *err, cudaError_t e, const char *what) {
    if (e == cudaErrorMemoryAllocation)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "backend cuda: out of device memory (%s)",
                       what);
    return pa_fail(err, PYAGENT_ERR_INTERNAL, "backend cuda: %s: %s", what,
                   cudaGetErrorString(e));
}

static pyagent_status dev_alloc(pa_cuda *c, size_t bytes, void **out, const char *what,
                                pa_err *err) {
    *out = NULL;
    if (c->n_allocs == c->allocs_cap) {
        size_t cap = c->allocs_cap ? 2 * c->allocs_cap : 64;
        void **p = realloc(c->allocs, cap * sizeof *p);
        if (!p) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        c->allocs = p;
        c->allocs_cap = cap;
    }
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *out = NULL;
        cudaGetLastError(); /* clear it: an allocation failure is not sticky */
        return pa_fail(err, e == cudaErrorMemoryAllocation ? PYAGENT_ERR_OUT_OF_MEMORY
                                                          : PYAGENT_ERR_INTERNAL,
                       "backend cuda: %zu MiB of device memory for %s: %s", bytes >> 20, what,
                       cudaGetErrorString(e));
    }
    c->allocs[c->n_allocs++] = *out;
    return PYAGENT_OK;
}

static pyagent_status upload(pa_cuda *c, const void *src, size_t bytes, void **out,
                             const char *what, pa_err *err) {
    pyagent_status st = dev_alloc(c, bytes, out, what, err);
    if (st) return st;
    cudaError_t e = cudaMemcpy(*out, src, bytes, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? PYAGENT_OK : cuda_fail(err, e, what);
}

/* ----------------------------------------------------------------------------------------- */
/* Weights                                                                                     */

/* GGUF's Q8_0 (f16 d, 32 int8) and Q4_0 (f16 d, 16 bytes of nibbles) blocks, split into the
 * values and the scales (pa_dev_matrix). */
static pyagent_status upload_quantized(pa_cuda *c, const pa_matrix *w, pa_dev_matrix *out,
                                       const char *name, pa_err *err) {
    const bool q8 = w->type == GGUF_TENSOR_Q8_0;
    const size_t n_blocks = (size_t)w->n_in / PA_DEV_QBLOCK, block_values = q8 ? 32 : 16;
    const size_t block_bytes = 2 + block_values, rows = (size_t)w->n_out;
    uint8_t *values = malloc(rows * n_blocks * block_values);
    uint16_t *scales = malloc(rows * n_blocks * sizeof *scales);
    pyagent_status st = PYAGENT_OK;
    if (!values || !scales) st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t r = 0; !st && r < rows; r++) {
        const uint8_t *row = (const uint8_t *)w->data + r * w->row_bytes;
        for (size_t b = 0; b < n_blocks; b++) {
            memcpy(&scales[r * n_blocks + b], row + b * block_bytes, 2);
            memcpy(&values[(r * n_blocks + b) * block_values], row + b * block_bytes + 2,
                   block_values);
        }
    }
    if (!st) st = upload(c, values, rows * n_blocks * block_values, &out->data, name, err);
    if (!st)
        st = upload(c, scales, rows * n_blocks * sizeof *scales, (void **)&out->scales, name, err);
    free(values);
    free(scales);
    return st;
}

static pyagent_status upload_matrix(pa_cuda *c, const pa_matrix *w, pa_dev_matrix *out,
                                    const char *name, pa_err *err) {
    *out = (pa_dev_matrix){.n_in = (int)w->n_in, .n_out = (int)w->n_out, .ld = (int)w->n_in};
    size_t elem = 0;
    switch (w->type) {
    case GGUF_TENSOR_F32: out->type = PA_DEV_F32, elem = 4; break;
    case GGUF_TENSOR_F16: out->type = PA_DEV_F16, elem = 2; break;
    case GGUF_TENSOR_BF16: out->type = PA_DEV_BF16, elem = 2; break;
    case GGUF_TENSOR_Q8_0: out->type = PA_DEV_Q8_0; break;
    case GGUF_TENSOR_Q4_0: out->type = PA_DEV_Q4_0; break;
    default:
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "backend cuda: tensor %s has type %u, which has no GPU kernel (f32, f16, "
                       "bf16, q8_0 and q4_0 do)",
                       name, w->type);
    }
    if (!elem) return upload_quantized(c, w, out, name, err);
    out->ld = (int)((w->n_in + 7) / 8 * 8); /* 16-byte aligned rows for the GEMV loads */
    const size_t pitch = (size_t)out->ld * elem;
    pyagent_status st = dev_alloc(c, pitch * (size_t)w->n_out, &out->data, name, err);
    if (st) return st;
    cudaError_t e = cudaMemset(out->data, 0, pitch * (size_t)w->n_out);
    if (e == cudaSuccess)
        e = cudaMemcpy2D(out->data, pitch, w->data, w->row_bytes, (size_t)w->n_in * elem,
                         (size_t)w->n_out, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? PYAGENT_OK : cuda_fail(err, e, name);
}

static pyagent_status upload_norm(pa_cuda *c, const float *w, float **out, const char *name,
                                  pa_err *err) {
    return upload(c, w, (size_t)c->model->hp.n_embd * sizeof *w, (void **)out, name, err);
}

static pyagent_status upload_weights(pa_cuda *c, pa_err *err) {
    const pa_model *m = c->model;
    pyagent_status st;
    if ((st = upload_matrix(c, &m->token_embd, &c->token_embd, "token_embd.weight", err)) ||
        (st = upload_norm(c, m->output_norm, &c->output_norm, "output_norm.weight", err)))
        return st;
    if (m->output.data == m->token_embd.data) c->output = c->token_embd;
    else if ((st = upload_matrix(c, &m->output, &c->output, "output.weight", err))) return st;
    c->layers = calloc((size_t)m->hp.n_layer, sizeof *c->layers);
    if (!c->layers) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int il = 0; il < m->hp.n_layer; il++) {
        const pa_layer *l = &m->layers[il];
        dev_layer *d = &c->layers[il];
        char name[64];
        const struct {
            const pa_matrix *w;
            pa_dev_matrix *out;
            const char *role;
        } mats[] = {{&l->wq, &d->wq, "attn_q"},         {&l->wk, &d->wk, "attn_k"},
                    {&l->wv, &d->wv, "attn_v"},         {&l->wo, &d->wo, "attn_output"},
                    {&l->w_gate, &d->w_gate, "ffn_gate"}, {&l->w_up, &d->w_up, "ffn_up"},
                    {&l->w_down, &d->w_down, "ffn_down"}};
        for (size_t i = 0; i < sizeof mats / sizeof *mats; i++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", il, mats[i].role);
            if ((st = upload_matrix(c, mats[i].w, mats[i].out, name, err))) return st;
        }
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", il);
        if ((st = upload_norm(c, l->attn_norm, &d->attn_norm, name, err))) return st;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", il);
        if ((st = upload_norm(c, l->ffn_norm, &d->ffn_norm, name, err))) return st;
    }
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* The KV pool and the store's mirror                                                          */

/* Slots [src_slot, src_slot + n) of every layer of block src -> block dst, K and V, enqueued on
 * the step stream (so a later step sees them). */
static void mirror_copy(void *ctx, int32_t dst_block, int dst_slot, int32_t src_block,
                        int src_slot, int n_slots) {
    pa_cuda *c = ctx;
    const size_t pitch = (size_t)c->kv.block_size * c->slot_bytes; /* one layer of a block */
    const size_t dst = ((size_t)dst_block * c->kv.n_layer * c->kv.block_size + dst_slot) *
                       c->slot_bytes,
                 src = ((size_t)src_block * c->kv.n_layer * c->kv.block_size + src_slot) *
                       c->slot_bytes;
    pthread_mutex_lock(&c->stream_lock); /* never inside a step's graph capture */
    cudaError_t e = cudaSetDevice(c->device);
    for (int values = 0; values < 2 && e == cudaSuccess; values++) {
        uint8_t *base = values ? c->kv.v : c->kv.k;
        e = cudaMemcpy2DAsync(base + dst, pitch, base + src, pitch, (size_t)n_slots * c->slot_bytes,
                              (size_t)c->kv.n_layer, cudaMemcpyDeviceToDevice, c->stream);
    }
    pthread_mutex_unlock(&c->stream_lock);
    if (e != cudaSuccess && !c->mirror_failed) {
        c->mirror_failed = true;
        snprintf(c->mirror_error, sizeof c->mirror_error, "%s", cudaGetErrorString(e));
    }
}

/* Block `block`'s rows between the device pool and the store's host rows (a tier keeps them on
 * the host): K and V of every layer, one contiguous range each in both layouts. Download waits
 * for the steps before it; upload is ordered before the steps after it. */
static void block_transfer(pa_cuda *c, int32_t block, bool to_host) {
    const size_t bytes = (size_t)c->kv.n_layer * c->kv.block_size * c->slot_bytes;
    const size_t at = (size_t)block * bytes;
    pthread_mutex_lock(&c->stream_lock);
    cudaError_t e = cudaSetDevice(c->device);
    for (int values = 0; values < 2 && e == cudaSuccess; values++) {
        uint8_t *dev = (uint8_t *)(values ? c->kv.v : c->kv.k) + at;
        void *host = values ? pa_kv_v(c->store, block, 0, 0) : pa_kv_k(c->store, block, 0, 0);
        e = to_host ? cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, c->stream)
                    : cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, c->stream);
    }
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream); /* host rows in use after */
    pthread_mutex_unlock(&c->stream_lock);
    if (e != cudaSuccess && !c->mirror_failed) {
        c->mirror_failed = true;
        snprintf(c->mirror_error, sizeof c->mirror_error, "%s", cudaGetErrorString(e));
    }
}

static void block_download(void *ctx, int32_t block) { block_transfer(ctx, block, true); }
static void block_upload(void *ctx, int32_t block) { block_transfer(ctx, block, false); }

static pyagent_status create_kv_pool(pa_cuda *c, pa_err *err) {
    const pa_kv_config *cfg = pa_kv_config_of(c->store);
    c->kv = (pa_dev_kv){.f16 = cfg->elem_type == PA_KV_F16,
                        .n_layer = cfg->n_layer,
                        .block_size = cfg->block_size,
                        .kv_dim = cfg->kv_dim};
    c->slot_bytes = (size_t)cfg->kv_dim * (c->kv.f16 ? 2 : 4);
    const size_t half = pa_kv_block_bytes(cfg) / 2 * (size_t)cfg->n_blocks;
    pyagent_status st;
    if ((st = dev_alloc(c, half, &c->kv.k, "the KV pool (K)", err)) ||
        (st = dev_alloc(c, half, &c->kv.v, "the KV pool (V)", err)))
        return st;
    pa_kv_set_mirror(c->store, mirror_copy, block_download, block_upload, c);
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Open and free                                                                               */

int pa_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

/* The shapes the kernels take: even head_dim up to 256, widths that are multiples of 4 (16-byte
 * loads of activation rows). */
static pyagent_status check_shapes(const pa_hparams *hp, pa_err *err) {
    const int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    if (hp->head_dim % 2 || hp->head_dim > 256 || hp->n_embd % 4 || q_dim % 4 || kv_dim % 4 ||
        hp->n_ff % 4)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "backend cuda: head_dim %d (even, at most 256), n_embd %d, q/kv widths "
                       "%d/%d and n_ff %d (multiples of 4) are outside what the kernels take",
                       hp->head_dim, hp->n_embd, q_dim, kv_dim, hp->n_ff);
    return PYAGENT_OK;
}

static pyagent_status create_activations(pa_cuda *c, pa_err *err) {
    const pa_hparams *hp = &c->model->hp;
    const size_t nb = (size_t)c->n_batch, q_dim = (size_t)hp->n_head * hp->head_dim;
    const size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t widest = (size_t)hp->n_embd;
    if (q_dim > widest) widest = q_dim;
    if ((size_t)hp->n_ff > widest) widest = (size_t)hp->n_ff;
    c->ld_qkv = (int)(q_dim + 2 * kv_dim);
    pyagent_status st;
    if ((st = dev_alloc(c, nb * hp->n_embd * 4, (void **)&c->x, "activations", err)) ||
        (st = dev_alloc(c, nb * hp->n_embd * 4, (void **)&c->xb, "activations", err)) ||
        (st = dev_alloc(c, nb * c->ld_qkv * 4, (void **)&c->qkv, "activations", err)) ||
        (st = dev_alloc(c, nb * q_dim * 4, (void **)&c->att, "activations", err)) ||
        (st = dev_alloc(c, nb * hp->n_ff * 4, (void **)&c->hb, "activations", err)) ||
        (st = dev_alloc(c, nb * hp->n_ff * 4, (void **)&c->hb2, "activations", err)) ||
        (st = dev_alloc(c, nb * widest * 2, &c->x_half, "activations", err)) ||
        (st = dev_alloc(c, (size_t)LOGIT_ROWS * hp->n_embd * 4, (void **)&c->x_last, "logits",
                        err)) ||
        (st = dev_alloc(c, (size_t)LOGIT_ROWS * hp->n_vocab * 4, (void **)&c->logits, "logits",
                        err)) ||
        (st = dev_alloc(c, TOP_BYTES(LOGIT_ROWS), (void **)&c->top, "logits", err)))
        return st;
    cudaError_t e = cudaMallocHost((void **)&c->logits_host,
                                   (size_t)LOGIT_ROWS * hp->n_vocab * sizeof(float));
    if (e == cudaSuccess) e = cudaMallocHost((void **)&c->top_host, TOP_BYTES(LOGIT_ROWS));
    if (e != cudaSuccess) return cuda_fail(err, e, "pinned host memory for logits");
    c->parent = malloc(nb * sizeof *c->parent);
    c->slot = malloc(nb * sizeof *c->slot);
    c->pos = malloc(nb * sizeof *c->pos);
    c->logit_dest = malloc(nb * sizeof *c->logit_dest);
    if (!c->parent || !c->slot || !c->pos || !c->logit_dest)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    return PYAGENT_OK;
}

pyagent_status pa_cuda_open(const pa_model *m, pa_kv_store *store, int device, int n_batch,
                            pa_cuda **out, pa_err *err) {
    *out = NULL;
    int n_devices = 0;
    cudaError_t e = cudaGetDeviceCount(&n_devices);
    if (e != cudaSuccess || n_devices == 0) {
        cudaGetLastError();
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "backend cuda: no CUDA device found (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    }
    if (device < 0 || device >= n_devices)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "backend cuda: device %d does not exist (%d device%s: 0 .. %d)", device,
                       n_devices, n_devices == 1 ? "" : "s", n_devices - 1);
    pyagent_status st = check_shapes(&m->hp, err);
    if (st) return st;
    pa_cuda *c = calloc(1, sizeof *c);
    if (!c) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    pthread_mutex_init(&c->stream_lock, NULL);
    c->device = device;
    c->model = m;
    c->store = store;
    c->n_batch = n_batch;
    if ((e = cudaSetDevice(device)) != cudaSuccess ||
        (e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        st = cuda_fail(err, e, "device setup");
    } else if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS ||
               cublasSetStream(c->blas, c->stream) != CUBLAS_STATUS_SUCCESS) {
        c->blas = NULL;
        st = pa_fail(err, PYAGENT_ERR_INTERNAL, "backend cuda: cuBLAS could not start");
    }
    if (!st) st = upload_weights(c, err);
    if (!st) st = create_activations(c, err);
    if (!st) st = create_kv_pool(c, err);
    if (st) {
        pa_cuda_free(c);
        return st;
    }
    *out = c;
    return PYAGENT_OK;
}

void pa_cuda_free(pa_cuda *c) {
    if (!c) return;
    cudaSetDevice(c->device);
    if (c->stream) cudaStreamSynchronize(c->stream);
    if (c->store) pa_kv_set_mirror(c->store, NULL, NULL, NULL, NULL);
    for (int i = 0; i < LOGIT_ROWS; i++)
        if (c->decode_graphs[i]) cudaGraphExecDestroy(c->decode_graphs[i]);
    pthread_mutex_destroy(&c->stream_lock);
    for (size_t i = 0; i < c->n_allocs; i++) cudaFree(c->allocs[i]);
    free(c->allocs);
    cudaFreeHost(c->logits_host);
    cudaFreeHost(c->top_host);
    cudaFreeHost(c->step_host);
    cudaFree(c->step_dev);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c->layers);
    free(c->parent);
    free(c->slot);
    free(c->pos);
    free(c->logit_dest);
    free(c);
}

/* ----------------------------------------------------------------------------------------- */
/* The step's tables                                                                           */

/* Room for `bytes` of step table on the host and the device. */
static cudaError_t reserve_step(pa_cuda *c, size_t bytes) {
    if (bytes <= c->step_cap) return cudaSuccess;
    size_t cap = c->step_cap ? c->step_cap : 1 << 16;
    while (cap < bytes) cap *= 2;
    for (int i = 0; i < LOGIT_ROWS; i++) { /* they point into the old table */
        if (c->decode_graphs[i]) cudaGraphExecDestroy(c->decode_graphs[i]);
        c->decode_graphs[i] = NULL;
    }
    cudaFreeHost(c->step_host);
    cudaFree(c->step_dev);
    c->step_host = c->step_dev = NULL;
    c->step_cap = 0;
    cudaError_t e = cudaMallocHost((void **)&c->step_host, cap);
    if (e == cudaSuccess) e = cudaMalloc((void **)&c->step_dev, cap);
    if (e == cudaSuccess) c->step_cap = cap;
    return e;
}

typedef struct step_layout {
    int n_tok, n_exact;
    int n_ints;       /* logit rows (first), their n_top, block tables, ancestors */
    int n_logit_rows;
    bool decode;      /* every sequence one plain exact token that wants logits */
} step_layout;

/* Counts what the step's table needs: block tables, ancestor lists, logit rows. */
static void measure_step(const pa_cuda *c, const pa_batch_seq *seqs, int n_seqs,
                         step_layout *L) {
    const int bs = c->kv.block_size;
    memset(L, 0, sizeof *L);
    L->decode = true;
    for (int s = 0; s < n_seqs; s++) {
        const pa_batch_seq *seq = &seqs[s];
        const bool output = seq->logits || seq->top;
        L->decode = L->decode && seq->n == 1 && seq->exact && output && !seq->tree_parent;
        if (seq->exact && L->n_exact == L->n_tok) L->n_exact += seq->n;
        L->n_tok += seq->n;
        L->n_ints += (seq->pos0 + seq->n - 1) / bs + 1;
        if (seq->tree_parent) L->n_ints += seq->n * (seq->n < PA_MAX_TREE_DEPTH ? seq->n
                                                                                 : PA_MAX_TREE_DEPTH);
        if (output)
            L->n_logit_rows += seq->logit_rows ? seq->n_logit_rows : seq->tree_parent ? seq->n : 1;
    }
    L->n_ints += 2 * L->n_logit_rows;
}

/* Fills the step's table: each token's id, position, KV slot and what it sees (as
 * lay_out_batch in llama.c), the sequences' block tables, and where each logit row goes. */
static void lay_out_step(pa_cuda *c, const pa_batch_seq *seqs, int n_seqs, step_layout *L) {
    const int bs = c->kv.block_size;
    pa_dev_token *tokens = (pa_dev_token *)c->step_host;
    int32_t *ints = (int32_t *)(c->step_host + (size_t)L->n_tok * sizeof *tokens);
    int n = 0, k = 2 * L->n_logit_rows, r = 0;
    for (int s = 0; s < n_seqs; s++) {
        const pa_batch_seq *seq = &seqs[s];
        const int first = n, table = k, n_table = (seq->pos0 + seq->n - 1) / bs + 1;
        memcpy(ints + k, seq->block_table, (size_t)n_table * sizeof *ints);
        k += n_table;
        for (int i = 0; i < seq->n; i++, n++) {
            pa_dev_token *t = &tokens[n];
            c->slot[n] = seq->pos0 + i;
            if (seq->tree_parent && i > 0) { /* a draft node: one deeper than its parent */
                c->parent[n] = first + seq->tree_parent[i];
                c->pos[n] = c->pos[c->parent[n]] + 1;
            } else {
                c->parent[n] = -1;
                c->pos[n] = seq->pos0 + i;
            }
            *t = (pa_dev_token){.id = seq->tokens[i],
                                .pos = c->pos[n],
                                .dst_block = seq->block_table[c->slot[n] / bs],
                                .dst_slot = c->slot[n] % bs,
                                .table = table,
                                .limit = c->parent[n] >= 0 ? seq->pos0 : c->pos[n],
                                .extra = k};
            int depth = 0; /* ancestors below the root and itself, root side first */
            for (int a = n; c->parent[a] >= 0 && depth < PA_MAX_TREE_DEPTH; a = c->parent[a])
                depth++;
            int d = depth;
            for (int a = n; d > 0; a = c->parent[a]) ints[k + --d] = c->slot[a];
            t->n_extra = depth;
            k += depth;
        }
    }
    int first_token = 0;
    for (int s = 0; s < n_seqs; first_token += seqs[s].n, s++) {
        const pa_batch_seq *seq = &seqs[s];
        if (!seq->logits && !seq->top) continue;
        const int n_rows = seq->logit_rows ? seq->n_logit_rows : seq->tree_parent ? seq->n : 1;
        for (int j = 0; j < n_rows; j++, r++) {
            const int i = seq->logit_rows ? seq->logit_rows[j] : seq->tree_parent ? j : seq->n - 1;
            ints[r] = first_token + i;
            ints[L->n_logit_rows + r] = seq->top ? seq->n_top : 0; /* 0: the whole row */
            c->logit_dest[r] = pa_logit_dest_of(seq, j, c->model->hp.n_vocab);
        }
    }
}

/* ----------------------------------------------------------------------------------------- */
/* Projections                                                                                 */

static bool gemm_type(const pa_dev_matrix *w) {
    return w->type == PA_DEV_F32 || w->type == PA_DEV_F16 || w->type == PA_DEV_BF16;
}

/* Y rows [0, n) (ldy) (+)= X (n, ldx) @ W^T through cuBLAS; X rounded to W's type first. */
static cublasStatus_t gemm(pa_cuda *c, const pa_dev_matrix *w, const float *x, int ldx, float *y,
                           int ldy, int n, bool accumulate) {
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    if (w->type == PA_DEV_F32)
        return cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, w->n_out, n, w->n_in, &one,
                           w->data, w->ld, x, ldx, &beta, y, ldy);
    const bool bf16 = w->type == PA_DEV_BF16;
    pa_cuda_to_half(c->x_half, x, ldx, n, w->n_in, bf16, c->stream);
    const cudaDataType_t t = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    return cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, w->n_out, n, w->n_in, &one, w->data,
                        t, w->ld, c->x_half, t, w->n_in, &beta, y, CUDA_R_32F, ldy,
                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

/* Of n rows whose first e are exact, how many go through the GEMV kernels (the rest go through
 * cuBLAS): the exact ones, or all of a short batch or of weights cuBLAS does not take. */
static int gemv_rows(const pa_dev_matrix *const *w, int n_w, int n, int e) {
    bool blas = n - e >= GEMM_MIN_ROWS;
    for (int i = 0; i < n_w; i++) blas = blas && gemm_type(w[i]);
    return blas ? e : n;
}

/* Matrices of one type and width: the GEMV kernels take them in one launch. */
static bool same_shape(const pa_dev_matrix *const *w, int n_w) {
    bool same = true;
    for (int i = 1; i < n_w; i++) same = same && w[i]->type == w[0]->type && w[i]->n_in == w[0]->n_in;
    return same;
}

/* Y (n, ldy) (+)= X (n, ldx) @ [W0; W1; W2]^T: the exact rows [0, e) and short batches through
 * the GEMV kernels, the rest through cuBLAS. Matrices of one type and width share a launch. */
static cublasStatus_t project(pa_cuda *c, const pa_dev_matrix *const *w, int n_w,
                              const float *x, int ldx, float *y, int ldy, int n, int e,
                              bool accumulate) {
    const bool fused = same_shape(w, n_w);
    const int split = gemv_rows(w, n_w, n, e);
    int col = 0;
    for (int i = 0; i < n_w; col += w[i]->n_out, i++) {
        if (split > 0 && (!fused || i == 0))
            pa_cuda_gemv(w + i, fused ? n_w : 1, x, ldx, y + col, ldy, split, accumulate,
                         c->stream);
        if (split < n) {
            cublasStatus_t s = gemm(c, w[i], x + (size_t)split * ldx, ldx,
                                    y + (size_t)split * ldy + col, ldy, n - split, accumulate);
            if (s != CUBLAS_STATUS_SUCCESS) return s;
        }
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* hb (n, n_ff) = silu(h Wgate^T) * (h Wup^T) for h = xb */
static cublasStatus_t feed_forward_in(pa_cuda *c, const dev_layer *l, int n, int e) {
    const int d = c->model->hp.n_embd, ff = c->model->hp.n_ff;
    const pa_dev_matrix *gate_up[2] = {&l->w_gate, &l->w_up};
    const int split = gemv_rows(gate_up, 2, n, e);
    if (split > 0 && l->w_gate.type == l->w_up.type) {
        pa_cuda_gemv_swiglu(&l->w_gate, &l->w_up, c->xb, d, c->hb, ff, split, c->stream);
    } else if (split > 0) {
        const pa_dev_matrix *g = &l->w_gate, *u = &l->w_up;
        pa_cuda_gemv(&g, 1, c->xb, d, c->hb, ff, split, false, c->stream);
        pa_cuda_gemv(&u, 1, c->xb, d, c->hb2, ff, split, false, c->stream);
        pa_cuda_swiglu(c->hb, c->hb2, (int64_t)split * ff, c->stream);
    }
    if (split == n) return CUBLAS_STATUS_SUCCESS;
    const size_t in = (size_t)split * d, out = (size_t)split * ff;
    cublasStatus_t s = gemm(c, &l->w_gate, c->xb + in, d, c->hb + out, ff, n - split, false);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = gemm(c, &l->w_up, c->xb + in, d, c->hb2 + out, ff, n - split, false);
    if (s == CUBLAS_STATUS_SUCCESS)
        pa_cuda_swiglu(c->hb + out, c->hb2 + out, (int64_t)(n - split) * ff, c->stream);
    return s;
}

/* qkv (n, ld_qkv) = Q | K | V of xb, Q and K rotated, K and V in the tokens' KV slots. The
 * GEMV rows do all of it in one launch where Q, K and V share a type and width. */
static cublasStatus_t project_qkv(pa_cuda *c, const dev_layer *l, const pa_dev_token *tokens,
                                  int n, int e, int layer) {
    const pa_hparams *hp = &c->model->hp;
    const pa_dev_matrix *qkv[3] = {&l->wq, &l->wk, &l->wv};
    const int d = hp->n_embd;
    int done = 0; /* tokens rotated and stored */
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    if (same_shape(qkv, 3)) {
        done = gemv_rows(qkv, 3, n, e);
        if (done > 0)
            pa_cuda_gemv_qkv_rope(qkv, c->xb, d, c->qkv, c->ld_qkv, done, tokens, hp->head_dim,
                                  hp->rope_base, &c->kv, layer, c->stream);
        if (done < n) /* the rest: cuBLAS */
            bs = project(c, qkv, 3, c->xb + (size_t)done * d, d, c->qkv + (size_t)done * c->ld_qkv,
                         c->ld_qkv, n - done, 0, false);
    } else {
        bs = project(c, qkv, 3, c->xb, d, c->qkv, c->ld_qkv, n, e, false);
    }
    if (done < n)
        pa_cuda_rope_store(c->qkv + (size_t)done * c->ld_qkv, c->ld_qkv, tokens + done, n - done,
                           hp->n_head, hp->n_head_kv, hp->head_dim, hp->rope_base, &c->kv, layer,
                           c->stream);
    return bs;
}

/* ----------------------------------------------------------------------------------------- */
/* The forward pass                                                                            */

/* Embedding and the first n_layers layers of the step's tokens, into x. */
static cublasStatus_t enqueue_layers(pa_cuda *c, const pa_dev_token *tokens, const int32_t *ints,
                                     const step_layout *L, int n_layers) {
    const pa_hparams *hp = &c->model->hp;
    const int d = hp->n_embd, hd = hp->head_dim, q_dim = hp->n_head * hd;
    const int n = L->n_tok, x_e = L->n_exact;
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    pa_cuda_embed(&c->token_embd, tokens, n, c->x, d, c->stream);
    for (int il = 0; il < n_layers && bs == CUBLAS_STATUS_SUCCESS; il++) {
        const dev_layer *l = &c->layers[il];
        const pa_dev_matrix *wo = &l->wo, *down = &l->w_down;
        pa_cuda_rmsnorm(c->xb, d, c->x, d, NULL, l->attn_norm, n, d, hp->rms_eps, c->stream);
        bs = project_qkv(c, l, tokens, n, x_e, il);
        if (bs != CUBLAS_STATUS_SUCCESS) break;
        pa_cuda_attention(c->att, q_dim, c->qkv, c->ld_qkv, tokens, ints, n, hp->n_head,
                          hp->n_head_kv, hd, &c->kv, il, c->stream);
        bs = project(c, &wo, 1, c->att, q_dim, c->x, d, n, x_e, true);
        if (bs != CUBLAS_STATUS_SUCCESS) break;
        pa_cuda_rmsnorm(c->xb, d, c->x, d, NULL, l->ffn_norm, n, d, hp->rms_eps, c->stream);
        bs = feed_forward_in(c, l, n, x_e);
        if (bs != CUBLAS_STATUS_SUCCESS) break;
        bs = project(c, &down, 1, c->hb, hp->n_ff, c->x, d, n, x_e, true);
    }
    return bs;
}

/* Logit rows [r0, r0 + rows) of the step (their token indices lead the ints, their n_top
 * follow) on the device, and the best candidates of those that want them into the pinned
 * top_host (the same launches whatever the rows want: a decode graph replays them). */
static void enqueue_logits(pa_cuda *c, const int32_t *ints, const step_layout *L, int r0,
                           int rows) {
    const pa_hparams *hp = &c->model->hp;
    const pa_dev_matrix *out = &c->output;
    pa_cuda_rmsnorm(c->x_last, hp->n_embd, c->x, hp->n_embd, ints + r0, c->output_norm, rows,
                    hp->n_embd, hp->rms_eps, c->stream);
    pa_cuda_gemv(&out, 1, c->x_last, hp->n_embd, c->logits, hp->n_vocab, rows, false, c->stream);
    pa_cuda_top_k(c->logits, hp->n_vocab, rows, ints + L->n_logit_rows + r0, c->top, c->stream);
    cudaMemcpyAsync(c->top_host, c->top, TOP_BYTES(rows), cudaMemcpyDeviceToHost, c->stream);
}

/* The rows of [r0, r0 + rows) wanted whole into the pinned logits_host, a copy per run of
 * adjacent ones (a verification tree's rows are one run). */
static cudaError_t enqueue_whole_rows(pa_cuda *c, int r0, int rows) {
    const size_t n_vocab = (size_t)c->model->hp.n_vocab;
    cudaError_t e = cudaSuccess;
    for (int r = 0; r < rows && e == cudaSuccess;) {
        if (!c->logit_dest[r0 + r].row) {
            r++;
            continue;
        }
        int end = r + 1;
        while (end < rows && c->logit_dest[r0 + end].row) end++;
        e = cudaMemcpyAsync(c->logits_host + r * n_vocab, c->logits + r * n_vocab,
                            (size_t)(end - r) * n_vocab * sizeof(float), cudaMemcpyDeviceToHost,
                            c->stream);
        r = end;
    }
    return e;
}

/* Rows [r0, r0 + rows) from the pinned buffers to their destinations (after the stream). */
static void deliver_rows(pa_cuda *c, int r0, int rows) {
    const size_t n_vocab = (size_t)c->model->hp.n_vocab;
    for (int r = 0; r < rows; r++) {
        const pa_logit_dest *d = &c->logit_dest[r0 + r];
        if (d->row) memcpy(d->row, c->logits_host + r * n_vocab, n_vocab * sizeof(float));
        else memcpy(d->top, c->top_host + (size_t)r * PA_DEV_TOP_MAX, d->n_top * sizeof *d->top);
    }
}

pyagent_status pa_cuda_forward(pa_cuda *c, const pa_batch_seq *seqs, int n_seqs, int n_layers,
                               pa_err *err) {
    const pa_hparams *hp = &c->model->hp;
    if (c->mirror_failed)
        return pa_fail(err, PYAGENT_ERR_INTERNAL, "backend cuda: a KV block copy failed: %s",
                       c->mirror_error);
    cudaError_t e = cudaSetDevice(c->device);
    if (e != cudaSuccess) return cuda_fail(err, e, "cudaSetDevice");
    if (n_layers <= 0 || n_layers > hp->n_layer) n_layers = hp->n_layer;

    step_layout L;
    measure_step(c, seqs, n_seqs, &L);
    if (L.n_tok == 0) return PYAGENT_OK;
    const size_t step_bytes = (size_t)L.n_tok * sizeof(pa_dev_token) +
                              (size_t)L.n_ints * sizeof(int32_t);
    if ((e = reserve_step(c, step_bytes)) != cudaSuccess)
        return cuda_fail(err, e, "step table");
    lay_out_step(c, seqs, n_seqs, &L);
    const pa_dev_token *tokens = (const pa_dev_token *)c->step_dev;
    const int32_t *ints = (const int32_t *)(c->step_dev + (size_t)L.n_tok * sizeof *tokens);
    pthread_mutex_lock(&c->stream_lock);
    e = cudaMemcpyAsync(c->step_dev, c->step_host, step_bytes, cudaMemcpyHostToDevice, c->stream);
    pthread_mutex_unlock(&c->stream_lock);
    if (e != cudaSuccess) return cuda_fail(err, e, "step table upload");

    e = cudaSuccess;
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    pthread_mutex_lock(&c->stream_lock);
    if (L.decode && L.n_tok <= LOGIT_ROWS && n_layers == hp->n_layer) {
        cudaGraphExec_t *exec = &c->decode_graphs[L.n_tok - 1];
        if (!*exec) { /* first decode step of this many tokens: capture it */
            cudaGraph_t graph = NULL;
            e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal);
            if (e == cudaSuccess) {
                bs = enqueue_layers(c, tokens, ints, &L, n_layers);
                enqueue_logits(c, ints, &L, 0, L.n_tok);
                e = cudaStreamEndCapture(c->stream, &graph);
            }
            if (e == cudaSuccess && bs == CUBLAS_STATUS_SUCCESS &&
                (e = cudaGraphInstantiate(exec, graph, 0)) != cudaSuccess)
                *exec = NULL;
            if (graph) cudaGraphDestroy(graph);
        }
        if (e == cudaSuccess && bs == CUBLAS_STATUS_SUCCESS) e = cudaGraphLaunch(*exec, c->stream);
        if (e == cudaSuccess && bs == CUBLAS_STATUS_SUCCESS) e = enqueue_whole_rows(c, 0, L.n_tok);
        pthread_mutex_unlock(&c->stream_lock);
        if (e == cudaSuccess && bs == CUBLAS_STATUS_SUCCESS) e = cudaStreamSynchronize(c->stream);
        if (e == cudaSuccess && bs == CUBLAS_STATUS_SUCCESS) deliver_rows(c, 0, L.n_tok);
    } else {
        bs = enqueue_layers(c, tokens, ints, &L, n_layers);
        pthread_mutex_unlock(&c->stream_lock);
        for (int r0 = 0; bs == CUBLAS_STATUS_SUCCESS && r0 < L.n_logit_rows; r0 += LOGIT_ROWS) {
            const int rows = L.n_logit_rows - r0 < LOGIT_ROWS ? L.n_logit_rows - r0 : LOGIT_ROWS;
            pthread_mutex_lock(&c->stream_lock);
            enqueue_logits(c, ints, &L, r0, rows);
            e = enqueue_whole_rows(c, r0, rows);
            pthread_mutex_unlock(&c->stream_lock);
            if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
            if (e != cudaSuccess) break;
            deliver_rows(c, r0, rows);
        }
    }
    if (bs != CUBLAS_STATUS_SUCCESS) {
        cudaStreamSynchronize(c->stream);
        return pa_fail(err, PYAGENT_ERR_INTERNAL, "backend cuda: cuBLAS failed (status %d)",
                       (int)bs);
    }
    if (e != cudaSuccess) return cuda_fail(err, e, "forward pass");
    e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess) e = cudaGetLastError();
    return e == cudaSuccess ? PYAGENT_OK : cuda_fail(err, e, "forward pass");
}
