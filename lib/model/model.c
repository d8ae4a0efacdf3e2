/*
 * Model loading for the llama architecture: hyper-parameters from the `llama.*` keys, every
 * tensor looked up by name with its exact shape and a type the kernels support. A file with a
 * tensor this loader does not know (biases, rope_freqs, experts) is refused rather than run
 * with part of its weights ignored.
 */
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#define MAX_DIM (1 << 20)   /* sanity bound on widths and vocabulary */
#define MAX_LAYERS 4096

static pyagent_status read_hparams(const gguf_file *f, pa_hparams *hp, pa_err *err) {
    gguf_str arch;
    pyagent_status st = gguf_get_str(f, "general.architecture", &arch, err);
    if (st) return st;
    if (!gguf_str_eq(arch, "llama"))
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "architecture '%.*s' is not supported (supported: llama)",
                       (int)(arch.len > 64 ? 64 : arch.len), arch.data);

    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx_train, n_rot;
    if ((st = gguf_get_u32(f, "llama.embedding_length", &n_embd, err)) ||
        (st = gguf_get_u32(f, "llama.block_count", &n_layer, err)) ||
        (st = gguf_get_u32(f, "llama.attention.head_count", &n_head, err)) ||
        (st = gguf_get_u32_or(f, "llama.attention.head_count_kv", n_head, &n_head_kv, err)) ||
        (st = gguf_get_u32(f, "llama.feed_forward_length", &n_ff, err)) ||
        (st = gguf_get_u32_or(f, "llama.context_length", 0, &n_ctx_train, err)) ||
        (st = gguf_get_f32_or(f, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps,
                              err)) ||
        (st = gguf_get_f32_or(f, "llama.rope.freq_base", 10000.0f, &hp->rope_base, err)))
        return st;

    if (n_embd == 0 || n_embd > MAX_DIM)
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "llama.embedding_length = %" PRIu32
                       " is out of range [1, %d]", n_embd, MAX_DIM);
    if (n_layer == 0 || n_layer > MAX_LAYERS)
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "llama.block_count = %" PRIu32
                       " is out of range [1, %d]", n_layer, MAX_LAYERS);
    if (n_head == 0 || n_embd % n_head != 0 || (n_embd / n_head) % 2 != 0)
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "llama.attention.head_count = %" PRIu32
                       " does not split embedding_length %" PRIu32 " into even-sized heads",
                       n_head, n_embd);
    if (n_head_kv == 0 || n_head % n_head_kv != 0)
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "llama.attention.head_count_kv = %" PRIu32
                       " does not divide head_count %" PRIu32, n_head_kv, n_head);
    if (n_ff == 0 || n_ff > MAX_DIM)
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "llama.feed_forward_length = %" PRIu32
                       " is out of range [1, %d]", n_ff, MAX_DIM);
    if ((st = gguf_get_u32_or(f, "llama.rope.dimension_count", n_embd / n_head, &n_rot, err)))
        return st;
    if (n_rot != n_embd / n_head)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "llama.rope.dimension_count = %" PRIu32
                       " differs from the head size %" PRIu32 " (partial RoPE)", n_rot,
                       n_embd / n_head);
    if (!(hp->rms_eps > 0 && hp->rms_eps < 1))
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL,
                       "llama.attention.layer_norm_rms_epsilon = %g is out of range (0, 1)",
                       (double)hp->rms_eps);
    if (!(hp->rope_base > 1))
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "llama.rope.freq_base = %g must be > 1",
                       (double)hp->rope_base);

    hp->n_embd = (int)n_embd;
    hp->n_layer = (int)n_layer;
    hp->n_head = (int)n_head;
    hp->n_head_kv = (int)n_head_kv;
    hp->head_dim = (int)(n_embd / n_head);
    hp->n_ff = (int)n_ff;
    hp->n_ctx_train = n_ctx_train > INT32_MAX ? INT32_MAX : (int)n_ctx_train; /* informational */
    return PYAGENT_OK;
}

/* "[ne0, ne1, ...]": the tensor's shape as it is in the file, all n_dims of it. */
typedef struct shape_text {
    char s[GGUF_MAX_DIMS * 24 + 4];
} shape_text;

static shape_text shape_of(const gguf_tensor *t) {
    shape_text out;
    size_t n = 0;
    out.s[n++] = '[';
    for (uint32_t d = 0; d < t->n_dims && d < GGUF_MAX_DIMS; d++)
        n += (size_t)snprintf(out.s + n, sizeof out.s - n, "%s%" PRId64, d ? ", " : "",
                              t->ne[d]);
    snprintf(out.s + n, sizeof out.s - n, "]");
    return out;
}

/* Finds `name` and checks it is a (n_out, n_in) matrix (ne = [n_in, n_out]) of a supported
 * type, laid out so that the kernels may read it in place. */
static pyagent_status bind_matrix(const gguf_file *f, const char *name, int64_t n_in,
                                  int64_t n_out, pa_matrix *m, pa_err *err) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "missing tensor '%s'", name);
    if (t->n_dims != 2 || t->ne[0] != n_in || t->ne[1] != n_out)
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL,
                       "tensor '%s' has shape %s, expected [%" PRId64 ", %" PRId64 "]", name,
                       shape_of(t).s, n_in, n_out);
    if (!pa_cpu_type_supported(t->type))
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "tensor '%s' has type %s (supported: f32, f16, bf16, q8_0, q4_0, q4_K)",
                       name, gguf_tensor_type_name(t->type));
    /* the reader checked that ne[0] is whole blocks; say so again here, as the kernels rely
     * on it */
    const uint64_t block = pa_cpu_type_block(t->type);
    if (n_in % (int64_t)block != 0)
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "tensor '%s': %s rows of %" PRId64
                       " values are not whole blocks of %" PRIu64, name,
                       gguf_tensor_type_name(t->type), n_in, block);
    size_t align = t->type == GGUF_TENSOR_F32 ? 4 : 2;
    if ((uintptr_t)t->data % align != 0)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "tensor '%s' data is not %zu-byte aligned",
                       name, align);
    m->data = t->data;
    m->type = t->type;
    m->n_in = n_in;
    m->n_out = n_out;
    m->row_bytes = gguf_tensor_type_bytes(t->type, (uint64_t)n_in);
    return PYAGENT_OK;
}

static pyagent_status bind_norm(const gguf_file *f, const char *name, int64_t n,
                                const float **out, pa_err *err) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "missing tensor '%s'", name);
    if (t->n_dims != 1 || t->ne[0] != n)
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL,
                       "tensor '%s' has shape %s, expected [%" PRId64 "]", name, shape_of(t).s,
                       n);
    if (t->type != GGUF_TENSOR_F32)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "norm tensor '%s' has type %s, expected f32",
                       name, gguf_tensor_type_name(t->type));
    if ((uintptr_t)t->data % 4 != 0)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "tensor '%s' data is not 4-byte aligned",
                       name);
    *out = t->data;
    return PYAGENT_OK;
}

static pyagent_status bind_layer(const gguf_file *f, const pa_hparams *hp, int il, pa_layer *l,
                                 pa_err *err) {
    const int64_t d = hp->n_embd, q_dim = (int64_t)hp->n_head * hp->head_dim,
                  kv_dim = (int64_t)hp->n_head_kv * hp->head_dim, ff = hp->n_ff;
    char name[64];
    pyagent_status st;
#define BIND_M(suffix, n_in, n_out, field)                                                    \
    snprintf(name, sizeof name, "blk.%d." suffix ".weight", il);                              \
    if ((st = bind_matrix(f, name, n_in, n_out, &l->field, err))) return st;
#define BIND_N(suffix, field)                                                                 \
    snprintf(name, sizeof name, "blk.%d." suffix ".weight", il);                              \
    if ((st = bind_norm(f, name, d, &l->field, err))) return st;
    BIND_N("attn_norm", attn_norm)
    BIND_M("attn_q", d, q_dim, wq)
    BIND_M("attn_k", d, kv_dim, wk)
    BIND_M("attn_v", d, kv_dim, wv)
    BIND_M("attn_output", q_dim, d, wo)
    BIND_N("ffn_norm", ffn_norm)
    BIND_M("ffn_gate", d, ff, w_gate)
    BIND_M("ffn_up", d, ff, w_up)
    BIND_M("ffn_down", ff, d, w_down)
#undef BIND_M
#undef BIND_N
    return PYAGENT_OK;
}

/* Every tensor in the file must be one this loader bound (9 per layer + 2 or 3 global). */
static pyagent_status check_no_extra_tensors(const gguf_file *f, const pa_model *m,
                                             pa_err *err) {
    size_t expected = 9 * (size_t)m->hp.n_layer + 2 + (m->output.data != m->token_embd.data);
    if (gguf_n_tensors(f) == expected) return PYAGENT_OK;
    /* name the first tensor that is not ours */
    for (size_t i = 0; i < gguf_n_tensors(f); i++) {
        const char *name = gguf_tensor_at(f, i)->name;
        bool known = strcmp(name, "token_embd.weight") == 0 ||
                     strcmp(name, "output_norm.weight") == 0 ||
                     strcmp(name, "output.weight") == 0;
        /* "blk.N.<suffix>" with N written as the loader writes it ("blk.00." or "blk.+0." is
         * not the name it looked up, so it is named here too) */
        char *rest = NULL;
        errno = 0;
        long il = strncmp(name, "blk.", 4) == 0 ? strtol(name + 4, &rest, 10) : -1;
        if (!known && errno == 0 && il >= 0 && il < m->hp.n_layer && *rest == '.') {
            static const char *layer_tensors[] = {
                "attn_norm.weight", "attn_q.weight",  "attn_k.weight",
                "attn_v.weight",    "attn_output.weight", "ffn_norm.weight",
                "ffn_gate.weight",  "ffn_up.weight",  "ffn_down.weight"};
            char canonical[64];
            snprintf(canonical, sizeof canonical, "blk.%ld.", il);
            if (strncmp(name, canonical, strlen(canonical)) == 0)
                for (size_t k = 0; k < sizeof layer_tensors / sizeof *layer_tensors; k++)
                    if (strcmp(rest + 1, layer_tensors[k]) == 0) known = true;
        }
        if (!known)
            return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                           "tensor '%s' is not used by the llama architecture as supported here",
                           name);
    }
    return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "file has %zu tensors, expected %zu",
                   gguf_n_tensors(f), expected);
}

static int64_t count_params(const pa_model *m) {
    const pa_hparams *hp = &m->hp;
    int64_t d = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim,
            kv = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t per_layer = 2 * d + d * q + 2 * d * kv + q * d + 3 * d * hp->n_ff;
    int64_t n = (int64_t)hp->n_vocab * d + d + per_layer * hp->n_layer;
    if (m->output.data != m->token_embd.data) n += (int64_t)hp->n_vocab * d;
    return n;
}

static pyagent_status bind_weights(pa_model *m, pa_err *err) {
    const gguf_file *f = m->gguf;
    const pa_hparams *hp = &m->hp;
    pyagent_status st;
    if ((st = bind_matrix(f, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->token_embd,
                          err)) ||
        (st = bind_norm(f, "output_norm.weight", hp->n_embd, &m->output_norm, err)))
        return st;
    if (gguf_find_tensor(f, "output.weight")) {
        if ((st = bind_matrix(f, "output.weight", hp->n_embd, hp->n_vocab, &m->output, err)))
            return st;
    } else {
        m->output = m->token_embd; /* tied embeddings */
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int il = 0; il < hp->n_layer; il++)
        if ((st = bind_layer(f, hp, il, &m->layers[il], err))) return st;
    return check_no_extra_tensors(f, m, err);
}

/* XXH3 over every tensor's name, type, shape and first 256 bytes, and the vocabulary size:
 * cheap at load, and any re-export, requantization or different checkpoint changes it. */
static uint64_t fingerprint(const gguf_file *f) {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    for (size_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        XXH3_64bits_update(&state, t->name, strlen(t->name) + 1);
        XXH3_64bits_update(&state, &t->type, sizeof t->type);
        XXH3_64bits_update(&state, t->ne, sizeof t->ne);
        XXH3_64bits_update(&state, t->data, t->n_bytes < 256 ? (size_t)t->n_bytes : 256);
    }
    return XXH3_64bits_digest(&state);
}

pyagent_status pa_model_load(const char *path, bool huge_pages, pa_model **out, pa_err *err) {
    *out = NULL;
    pa_model *m = calloc(1, sizeof *m);
    if (!m) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    pyagent_status st = gguf_open_file(path, huge_pages, &m->gguf, err);
    if (st) { /* the reader already named the file */
        free(m);
        return st;
    }
    if ((st = read_hparams(m->gguf, &m->hp, err)) ||
        (st = pa_tokenizer_load(m->gguf, &m->tokenizer, err)))
        goto fail;
    m->hp.n_vocab = pa_tokenizer_n_vocab(m->tokenizer);
    uint32_t n_vocab_key;
    if ((st = gguf_get_u32_or(m->gguf, "llama.vocab_size", (uint32_t)m->hp.n_vocab, &n_vocab_key,
                              err)))
        goto fail;
    if (n_vocab_key != (uint32_t)m->hp.n_vocab) {
        st = pa_fail(err, PYAGENT_ERR_BAD_MODEL,
                     "llama.vocab_size = %" PRIu32 " but the tokenizer has %d tokens",
                     n_vocab_key, m->hp.n_vocab);
        goto fail;
    }
    if ((st = bind_weights(m, err))) goto fail;
    m->n_params = count_params(m);
    m->fingerprint = fingerprint(m->gguf);
    *out = m;
    return PYAGENT_OK;
fail:
    pa_err_prefix(err, path);
    pa_model_free(m);
    return st;
}

void pa_model_free(pa_model *model) {
    if (!model) return;
    free(model->layers);
    pa_tokenizer_free(model->tokenizer);
    gguf_close(model->gguf);
    free(model);
}
