/*
 * Scoring pruning policies (lib/kv/prune.h): H2O, KVzap and entropy budgets. The pieces are
 * checked on hand-made inputs; the policies on stories260K for their invariants (sinks and
 * window never released, budgets respected, landmarks only where blocks were released), for
 * exactness when nothing is pruned, and the KVzap surrogate for fitting better than chance and
 * for refusing damaged files.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#include "../lib/engine/engine_internal.h"
#include "../lib/kv/prune.h"
#include "helpers.h"

static char stories_path[1024];
static const char *PROMPT = "Once upon a time, there was a little girl named Lily.";

/* ------------------------------------------------------------------------------------------ */
/* The pieces                                                                                   */

static void entropy_of_uniform_is_log_n_and_of_one_hot_zero(void **state) {
    (void)state;
    float p[50];
    for (int i = 0; i < 50; i++) p[i] = 1.0f / 50;
    assert_true(fabs(pa_entropy(p, 1, 50, 1.0f) - log(50.0)) < 1e-6);
    for (int i = 0; i < 50; i++) p[i] = 4.0f; /* weights over their sum 200, every other */
    assert_true(fabs(pa_entropy(p, 2, 25, 1.0f / 100) - log(25.0)) < 1e-6);
    memset(p, 0, sizeof p);
    p[17] = 1;
    assert_true(pa_entropy(p, 1, 50, 1.0f) == 0);
}

static void split_budget_sums_to_total_and_keeps_floors(void **state) {
    (void)state;
    const double w[5] = {0.9, 0.1, 0.5, 0.0, 0.25};
    int64_t out[5], sum = 0;
    pa_split_budget(w, 5, 103, 4, out);
    for (int i = 0; i < 5; i++) sum += out[i], assert_true(out[i] >= 4);
    assert_int_equal(sum, 103);
    assert_int_equal(out[3], 4);           /* no weight: the floor */
    assert_true(out[0] > out[2] && out[2] > out[4] && out[4] > out[1]);
    pa_split_budget(w, 5, 7, 4, out);      /* floors that do not fit shrink */
    sum = 0;
    for (int i = 0; i < 5; i++) sum += out[i], assert_true(out[i] >= 1);
    assert_int_equal(sum, 7);
    const double flat[3] = {1, 1, 1};
    pa_split_budget(flat, 3, 30, 0, out);
    assert_true(out[0] == 10 && out[1] == 10 && out[2] == 10);
}

static void top_positions_keeps_the_best_in_position_order(void **state) {
    (void)state;
    const float score[7] = {0.5f, 3.0f, -1.0f, 3.0f, 2.0f, 0.1f, 9.0f};
    const int32_t pos[7] = {10, 11, 12, 13, 40, 41, 2};
    int32_t idx[7];
    assert_int_equal(pa_top_positions(score, pos, 7, 3, -INFINITY, idx), 3);
    /* 9.0, 3.0, 3.0, in position order: 2, 11, 13 */
    assert_int_equal(idx[0], 6);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 3);
    /* of the tie at 3.0 the later position stays */
    assert_int_equal(pa_top_positions(score, pos, 7, 2, -INFINITY, idx), 2);
    assert_int_equal(idx[0], 6);
    assert_int_equal(idx[1], 3);
    /* below the threshold never counts, even within the budget */
    assert_int_equal(pa_top_positions(score, pos, 7, 5, 2.5, idx), 3);
    assert_int_equal(pa_top_positions(score, pos, 7, 5, 100, idx), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Policies on stories260K                                                                      */

/* f32 KV: attention of a prompt chunk (matrix products) and of decode steps then agree to float
 * rounding, which the tests below compare at 1e-4 (f16 KV would round the two paths' K and V,
 * which differ in their last bits, to different f16 values now and then) */
static pyagent_engine *open_stories(void) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", 2);
    pyagent_params_set_i64(p, "kv_type", PYAGENT_KV_F32);
    pyagent_params_set_i64(p, "n_ctx", 512);
    pyagent_params_set_i64(p, "kv_block_size", 16);
    pyagent_engine *e = NULL;
    assert_int_equal(pyagent_engine_open(stories_path, p, &e), PYAGENT_OK);
    pyagent_params_destroy(p);
    return e;
}

static pyagent_agent *pruning_agent_with_sinks(pyagent_engine *e, int64_t policy, int64_t window,
                                               int64_t heavy, int64_t entropy, double threshold,
                                               int64_t sinks) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_params_set_i64(s, "kv_policy", policy);
    pyagent_params_set_i64(s, "kv_window", window);
    pyagent_params_set_i64(s, "kv_sinks", sinks);
    pyagent_params_set_i64(s, "kv_heavy", heavy);
    pyagent_params_set_i64(s, "kv_entropy", entropy);
    pyagent_params_set_f64(s, "kv_threshold", threshold);
    pyagent_agent *a = NULL;
    pyagent_status st = pyagent_agent_create(e, s, &a);
    if (st) fprintf(stderr, "agent: %s\n", pyagent_engine_last_error(e));
    assert_int_equal(st, PYAGENT_OK);
    pyagent_params_destroy(s);
    return a;
}

/* The logits after the agent's last token (computing it if it is queued). */
static void last_logits(pyagent_agent *a, float *out, size_t cap) {
    size_t n = 0;
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    assert_int_equal(pyagent_agent_logits(a, out, cap, &n), PYAGENT_OK);
}

static pyagent_agent *pruning_agent(pyagent_engine *e, int64_t policy, int64_t window,
                                    int64_t heavy, int64_t entropy, double threshold) {
    return pruning_agent_with_sinks(e, policy, window, heavy, entropy, threshold, 4);
}

/* The invariants of a pruning agent: sink and window blocks present, landmarks sorted, only in
 * released blocks, within each group's budget; budgets add up to heavy x groups. */
static void check_invariants(const pyagent_agent *a, bool window) {
    const pa_marks *m = a->marks;
    const size_t bs = 16, groups = (size_t)m->n_layer * m->n_head_kv;
    for (size_t b = 0; b < (size_t)(a->kv_sinks + bs - 1) / bs && b < a->n_blocks; b++)
        assert_int_not_equal(a->blocks[b], PA_NO_BLOCK);
    /* the last kv_window positions when it last pruned: a request can end one position back */
    const size_t window_from =
        a->n_computed + 1 > (size_t)a->kv_window ? a->n_computed + 1 - a->kv_window : 0;
    for (size_t b = window_from / bs; window && b < a->n_blocks; b++)
        assert_int_not_equal(a->blocks[b], PA_NO_BLOCK);
    int64_t budget[1024], total = 0;
    assert_true(groups <= 1024);
    pa_marks_budgets(m, budget);
    for (size_t g = 0; g < groups; g++) {
        const pa_mark_set *s = &m->sets[g];
        total += budget[g];
        assert_true(s->n <= budget[g]);
        for (int i = 0; i < s->n; i++) {
            assert_true(i == 0 || s->pos[i] > s->pos[i - 1]);
            assert_int_equal(a->blocks[s->pos[i] / bs], PA_NO_BLOCK);
        }
    }
    assert_int_equal(total, m->heavy * (int64_t)groups);
}

static void h2o_scores_are_attention_sums(void **state) {
    (void)state;
    pyagent_engine *e = open_stories();
    /* nothing released (window past the sequence) and no sinks: every position is scored */
    pyagent_agent *whole = pruning_agent_with_sinks(e, PYAGENT_KV_POLICY_H2O, 400, 8, 0, -1e30, 0);
    pyagent_agent *steps = pruning_agent_with_sinks(e, PYAGENT_KV_POLICY_H2O, 400, 8, 0, -1e30, 0);
    int32_t ids[64];
    unsigned seed = 3;
    for (int i = 0; i < 64; i++) ids[i] = 3 + (int32_t)(rand_r(&seed) % 500);
    assert_int_equal(pyagent_agent_feed_tokens(whole, ids, 64), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(whole), PYAGENT_OK);
    for (int i = 0; i < 64; i++) { /* the same tokens one step each: decode rows */
        assert_int_equal(pyagent_agent_feed_tokens(steps, ids + i, 1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_prefill(steps), PYAGENT_OK);
    }
    const pa_marks *a = whole->marks, *b = steps->marks;
    const int group = a->n_head / a->n_head_kv;
    double worst = 0;
    for (int g = 0; g < a->n_layer * a->n_head_kv; g++) {
        double total = 0;
        for (int p = 0; p < 64; p++) {
            const float x = *pa_marks_score(a, g, (size_t)p), y = *pa_marks_score(b, g, (size_t)p);
            total += x;
            if (fabs(x - y) > worst) worst = fabs(x - y);
            /* position p is seen by the queries p .. 63 of each query head: at most that */
            assert_true(x <= (float)((64 - p) * group) + 1e-3f);
        }
        /* every query row's weights sum to 1: 64 rows x the group's heads */
        assert_true(fabs(total - 64.0 * group) < 1e-3);
    }
    assert_true(worst < 1e-4); /* a chunk's rows and one row per step add the same */
    pyagent_agent_destroy(whole), pyagent_agent_destroy(steps);
    pyagent_engine_destroy(e);
}

static void nothing_pruned_gives_the_plain_output(void **state) {
    (void)state;
    pyagent_engine *e = open_stories();
    pyagent_agent *plain = test_greedy_agent(e);
    pyagent_agent *off = pruning_agent(e, PYAGENT_KV_POLICY_H2O, 0, 8, 0, -1e30);
    pyagent_agent *wide = pruning_agent(e, PYAGENT_KV_POLICY_H2O, 400, 8, 1, -1e30);
    assert_null(off->marks); /* switched off: the plain path, bit for bit */
    pyagent_agent *all[3] = {plain, off, wide};
    test_run runs[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pyagent_agent_feed_text(all[i], PROMPT, -1), PYAGENT_OK);
        runs[i] = test_generate(all[i], 150);
    }
    assert_int_equal(runs[0].n, 150);
    for (int i = 1; i < 3; i++) assert_memory_equal(runs[0].ids, runs[i].ids, sizeof runs[0].ids[0] * 150);
    float want[512], got[512];
    last_logits(plain, want, 512);
    last_logits(off, got, 512);
    assert_memory_equal(want, got, sizeof want);
    last_logits(wide, got, 512); /* attention through matrix products: rounding only */
    for (int i = 0; i < 512; i++) assert_true(fabsf(want[i] - got[i]) < 1e-4f);
    for (int i = 0; i < 3; i++) pyagent_agent_destroy(all[i]);
    pyagent_engine_destroy(e);
}

static int agreement(const test_run *a, const test_run *b) {
    int same = 0;
    for (int i = 0; i < a->n && i < b->n; i++) same += a->ids[i] == b->ids[i];
    return same;
}

static void h2o_keeps_its_invariants_and_bounds_memory(void **state) {
    (void)state;
    pyagent_engine *e = open_stories();
    pyagent_agent *plain = test_greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_text(plain, PROMPT, -1), PYAGENT_OK);
    const test_run want = test_generate(plain, 240);
    for (int entropy = 0; entropy <= 1; entropy++) {
        pyagent_agent *a = pruning_agent(e, PYAGENT_KV_POLICY_H2O, 32, 24, entropy, -1e30);
        assert_int_equal(pyagent_agent_feed_text(a, PROMPT, -1), PYAGENT_OK);
        test_run got = {.n = 0};
        for (int step = 0; step < 8; step++) { /* check between requests */
            test_run part = test_generate(a, 30);
            memcpy(got.ids + got.n, part.ids, (size_t)part.n * sizeof *part.ids);
            got.n += part.n;
            check_invariants(a, true);
        }
        pyagent_agent_stats st = {.struct_size = sizeof st};
        pyagent_agent_stats_get(a, &st);
        assert_true(st.n_pruned_tokens >= 160);
        assert_true(st.n_landmarks > 0 && st.n_landmarks == (int64_t)pa_marks_count(a->marks));
        assert_true(st.landmark_bytes >= st.n_landmarks * 2 * (int64_t)a->marks->row_bytes);
        size_t live = 0;
        for (size_t b = 0; b < a->n_blocks; b++) live += a->blocks[b] != PA_NO_BLOCK;
        assert_true(live <= 4); /* a sink block, two window blocks and the partial one */
        printf("# h2o%s window 32 + 24 landmarks per head: %d of 240 greedy tokens agree\n",
               entropy ? " (entropy budgets)" : "", agreement(&want, &got));
        /* a fork carries the landmarks and continues exactly as its parent */
        pyagent_agent *child = NULL;
        assert_int_equal(pyagent_agent_fork(a, &child), PYAGENT_OK);
        const test_run x = test_generate(a, 30), y = test_generate(child, 30);
        assert_memory_equal(x.ids, y.ids, sizeof x.ids[0] * 30);
        /* rewinding forgets landmarks past the end (positions before the end were released,
         * so there is no window any more), and the rest still holds */
        assert_int_equal(pyagent_agent_rewind(child, 100), PYAGENT_OK);
        check_invariants(child, false);
        for (size_t g = 0; g < (size_t)child->marks->n_layer * child->marks->n_head_kv; g++)
            for (int i = 0; i < child->marks->sets[g].n; i++)
                assert_true((size_t)child->marks->sets[g].pos[i] < child->n_computed);
        pyagent_agent_destroy(child), pyagent_agent_destroy(a);
    }
    pyagent_agent_destroy(plain);
    pyagent_engine_destroy(e);
}

static void entropy_budgets_follow_the_heads(void **state) {
    (void)state;
    pyagent_engine *e = open_stories();
    pyagent_agent *a = pruning_agent(e, PYAGENT_KV_POLICY_H2O, 32, 16, 1, -1e30);
    assert_int_equal(pyagent_agent_feed_text(a, PROMPT, -1), PYAGENT_OK);
    test_generate(a, 120);
    const pa_marks *m = a->marks;
    const int groups = m->n_layer * m->n_head_kv;
    int64_t budget[64];
    pa_marks_budgets(m, budget);
    int lo = 0, hi = 0;
    for (int g = 0; g < groups; g++) {
        assert_true(budget[g] >= 4); /* the floor: heavy / 4 */
        assert_true(m->entropy_n[g] > 0);
        if (budget[g] < budget[lo]) lo = g;
        if (budget[g] > budget[hi]) hi = g;
    }
    /* the most spread-out head got the most */
    const double e_lo = m->entropy_sum[lo] / m->entropy_n[lo], e_hi = m->entropy_sum[hi] / m->entropy_n[hi];
    assert_true(e_hi >= e_lo);
    printf("# entropy budgets: %lld (mean entropy %.3f) .. %lld (%.3f) landmarks per head\n",
           (long long)budget[lo], e_lo, (long long)budget[hi], e_hi);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
}

/* ------------------------------------------------------------------------------------------ */
/* KVzap                                                                                        */

typedef struct text_buf {
    char s[4096];
    size_t n;
} text_buf;

static void collect_text(void *ud, int32_t token, const char *text, size_t len) {
    (void)token;
    text_buf *b = ud;
    if (b->n + len < sizeof b->s) memcpy(b->s + b->n, text, len), b->n += len, b->s[b->n] = 0;
}

/* Texts the model writes itself (sampled, one seed each): fitting needs no outside corpus. */
static char **own_texts(pyagent_engine *e, int n) {
    char **texts = calloc((size_t)n, sizeof *texts);
    for (int i = 0; i < n; i++) {
        pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
        pyagent_params_set_f64(s, "temperature", 1.0);
        pyagent_params_set_i64(s, "seed", 100 + i);
        pyagent_agent *a = NULL;
        assert_int_equal(pyagent_agent_create(e, s, &a), PYAGENT_OK);
        pyagent_params_destroy(s);
        text_buf b = {.n = 0};
        assert_int_equal(pyagent_agent_feed_text(a, "", -1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_generate(a, 120, collect_text, &b, NULL), PYAGENT_OK);
        texts[i] = strdup(b.s);
        pyagent_agent_destroy(a);
    }
    return texts;
}

static void kvzap_fits_better_than_chance_and_prunes(void **state) {
    (void)state;
    pyagent_engine *e = open_stories();
    char path[] = "/tmp/pyagent-kvzap-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    /* kvzap without a surrogate is refused */
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_i64(s, "kv_policy", PYAGENT_KV_POLICY_KVZAP);
    pyagent_params_set_i64(s, "kv_window", 32);
    pyagent_agent *a = NULL;
    assert_int_equal(pyagent_agent_create(e, s, &a), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(pyagent_engine_last_error(e), "surrogate"));
    pyagent_params_destroy(s);

    const int n_texts = 24;
    char **texts = own_texts(e, n_texts);
    pyagent_kvzap_info info = {.struct_size = sizeof info};
    assert_int_equal(pyagent_kvzap_fit(e, (const char *const *)texts, 1, 1.0, 0.25, path, &info),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_status st = pyagent_kvzap_fit(e, (const char *const *)texts, n_texts, 1.0, 0.25, path, &info);
    if (st) fprintf(stderr, "fit: %s\n", pyagent_engine_last_error(e));
    assert_int_equal(st, PYAGENT_OK);
    printf("# kvzap on stories260K (%d own texts, 25%% held out): %lld train / %lld held-out "
           "positions, R^2 %.3f, top-quarter overlap %.3f (chance 0.25)\n",
           n_texts, (long long)info.n_train, (long long)info.n_heldout, info.r2_heldout,
           info.top_overlap);
    assert_true(info.n_heldout > 0 && info.n_train > info.n_heldout);
    assert_true(info.r2_heldout > 0.1);
    assert_true(info.top_overlap > 0.35);

    pyagent_kvzap_info loaded = {.struct_size = sizeof loaded};
    assert_int_equal(pyagent_engine_load_kvzap(e, path, &loaded), PYAGENT_OK);
    assert_true(loaded.r2_heldout == info.r2_heldout && loaded.n_train == info.n_train);

    /* KVzap that has pruned nothing decodes through the plain attention path: bit for bit */
    pyagent_agent *plain = test_greedy_agent(e);
    pyagent_agent *unpruned = pruning_agent(e, PYAGENT_KV_POLICY_KVZAP, 400, 24, 0, -1e30);
    assert_int_equal(pyagent_agent_feed_text(plain, PROMPT, -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_text(unpruned, PROMPT, -1), PYAGENT_OK);
    const test_run want = test_generate(plain, 120), got = test_generate(unpruned, 120);
    assert_memory_equal(want.ids, got.ids, sizeof want.ids[0] * 120);
    float lw[512], lg[512];
    last_logits(plain, lw, 512);
    last_logits(unpruned, lg, 512);
    assert_memory_equal(lw, lg, sizeof lw);
    pyagent_agent_destroy(plain), pyagent_agent_destroy(unpruned);

    /* pruning with it: invariants, and a higher threshold evicts a superset */
    pyagent_agent *lo = pruning_agent(e, PYAGENT_KV_POLICY_KVZAP, 32, 24, 0, -1e30);
    pyagent_agent *hi = pruning_agent(e, PYAGENT_KV_POLICY_KVZAP, 32, 24, 0, -5.8);
    int32_t ids[200];
    unsigned seed = 9;
    for (int i = 0; i < 200; i++) ids[i] = 3 + (int32_t)(rand_r(&seed) % 500);
    for (int i = 0; i < 2; i++) {
        pyagent_agent *x = i ? hi : lo;
        assert_int_equal(pyagent_agent_feed_tokens(x, ids, 200), PYAGENT_OK);
        assert_int_equal(pyagent_agent_prefill(x), PYAGENT_OK);
        check_invariants(x, true);
    }
    size_t kept_lo = 0, kept_hi = 0;
    /* layer 0's scores come from the embeddings, the same in both agents (later layers' depend
     * on what each kept), so there the kept sets nest */
    for (int g = 0; g < lo->marks->n_layer * lo->marks->n_head_kv; g++) {
        const pa_mark_set *a_set = &lo->marks->sets[g], *b_set = &hi->marks->sets[g];
        kept_lo += (size_t)a_set->n, kept_hi += (size_t)b_set->n;
        for (int j = 0; j < b_set->n; j++) { /* kept at the high threshold => kept at the low */
            int found = 0;
            for (int i = 0; i < a_set->n; i++) found |= a_set->pos[i] == b_set->pos[j];
            assert_true(found || g >= lo->marks->n_head_kv);
            assert_true(b_set->score[j] >= -5.8f);
        }
    }
    assert_true(kept_hi > 0 && kept_hi < kept_lo);
    printf("# kvzap landmarks after 200 tokens: %zu with no threshold, %zu at threshold -5.8\n",
           kept_lo, kept_hi);
    pyagent_agent_destroy(lo), pyagent_agent_destroy(hi);

    /* damaged files are refused with a message, and nothing changes */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    rewind(f);
    unsigned char *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    for (long at = 0; at < size; at += at < 112 ? 1 : 997) {
        bytes[at] ^= 0x20;
        f = fopen(path, "wb");
        fwrite(bytes, 1, (size_t)size, f);
        fclose(f);
        assert_int_equal(pyagent_engine_load_kvzap(e, path, NULL), PYAGENT_ERR_BAD_PACKET);
        bytes[at] ^= 0x20;
    }
    f = fopen(path, "wb");
    fwrite(bytes, 1, (size_t)size - 5, f); /* truncated */
    fclose(f);
    assert_int_equal(pyagent_engine_load_kvzap(e, path, NULL), PYAGENT_ERR_BAD_PACKET);
    assert_non_null(strstr(pyagent_engine_last_error(e), path));
    free(bytes);

    /* another model's surrogate: MISMATCH */
    char other[1024];
    test_model_path(other, sizeof other, "tiny-f32.gguf");
    pyagent_engine *e2 = test_open_engine(other, NULL, 0);
    assert_int_equal(pyagent_kvzap_fit(e, (const char *const *)texts, n_texts, 1.0, 0.25, path, NULL),
                     PYAGENT_OK);
    assert_int_equal(pyagent_engine_load_kvzap(e2, path, NULL), PYAGENT_ERR_MISMATCH);
    pyagent_engine_destroy(e2);
    for (int i = 0; i < n_texts; i++) free(texts[i]);
    free(texts);
    unlink(path);
    pyagent_engine_destroy(e);
}

int main(void) {
    test_data_path(stories_path, sizeof stories_path, "stories260K.gguf");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entropy_of_uniform_is_log_n_and_of_one_hot_zero),
        cmocka_unit_test(split_budget_sums_to_total_and_keeps_floors),
        cmocka_unit_test(top_positions_keeps_the_best_in_position_order),
        cmocka_unit_test(h2o_scores_are_attention_sums),
        cmocka_unit_test(nothing_pruned_gives_the_plain_output),
        cmocka_unit_test(h2o_keeps_its_invariants_and_bounds_memory),
        cmocka_unit_test(entropy_budgets_follow_the_heads),
        cmocka_unit_test(kvzap_fits_better_than_chance_and_prunes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
