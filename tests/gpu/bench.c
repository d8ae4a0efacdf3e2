/*
 * gpu-bench: decode and prefill speed of an engine on the CUDA backend, with the device's own
 * copy bandwidth for a roofline (built with -Dcuda=enabled; run by tests/gpu/run.sh).
 *
 *   gpu-bench MODEL [--backend 0|1] [--gen G] [--agents A] [--prompt P] [--profile 1|A]
 *             [--top-candidates 0|1]
 *
 * --top-candidates sets the engine key (default 1: a greedy agent's step copies one (id,
 * logit) pair down; 0: its whole row of logits).
 *
 * --profile 1 (or A) brackets the timed batch-1 decode (or the A agents' steps) with
 * cudaProfilerStart/Stop, so `ncu --profile-from-start off` times the kernels of decode steps
 * alone (tests/gpu/profile.sh).
 *
 * Prints "key value" lines:
 *   device_copy_gbs       device-to-device copy of 1 GiB, bytes read + written per second
 *   weight_bytes          what one decode step reads of the weights: every tensor of the file
 *                         once, except an embedding table that is not also the output head
 *                         (a step reads one row of it)
 *   prefill_tps           one agent's P-token prompt in one forward pass (n_batch = P)
 *   decode_tps_1          one agent generating G tokens after a 16-token prompt
 *   decode_tps_A          A agents with their own 16-token prompts, G tokens each, in the
 *                         same steps (tokens of all agents per second)
 *   roofline_fraction_1   decode_tps_1 * weight_bytes / device_copy_gbs: the share of the copy
 *                         bandwidth a batch-1 step reaches (1.0: a step as fast as reading its
 *                         weights at that speed)
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_profiler_api.h>
#include <cuda_runtime_api.h>
#include <pyagent/pyagent.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, pyagent_engine *e) {
    fprintf(stderr, "gpu-bench: %s: %s\n", what, e ? pyagent_engine_last_error(e) : "");
    exit(1);
}

/* Bytes read + written per second by cudaMemcpy of 1 GiB within the device. */
static double copy_bandwidth(void) {
    const size_t bytes = (size_t)1 << 30;
    void *a = NULL, *b = NULL;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
    cudaEvent_t t0, t1;
    cudaEventCreate(&t0);
    cudaEventCreate(&t1);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(t0, 0);
    const int reps = 10;
    for (int i = 0; i < reps; i++) cudaMemcpy(i % 2 ? a : b, i % 2 ? b : a, bytes,
                                              cudaMemcpyDeviceToDevice);
    cudaEventRecord(t1, 0);
    cudaEventSynchronize(t1);
    float ms = 0;
    cudaEventElapsedTime(&ms, t0, t1);
    cudaFree(a);
    cudaFree(b);
    return 2.0 * (double)bytes * reps / (ms * 1e-3) / 1e9;
}

static pyagent_engine *open_engine(const char *path, int64_t backend, int64_t n_batch,
                                   int64_t top_candidates) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "top_candidates", top_candidates);
    pyagent_params_set_i64(p, "backend", backend);
    pyagent_params_set_i64(p, "n_ctx", 4096);
    pyagent_params_set_i64(p, "n_batch", n_batch);
    pyagent_params_set_i64(p, "kv_type", PYAGENT_KV_F16);
    pyagent_params_set_i64(p, "kv_bytes", (int64_t)2 << 30);
    pyagent_params_set_i64(p, "prefix_cache", 0);
    pyagent_engine *e = NULL;
    if (pyagent_engine_open(path, p, &e) != PYAGENT_OK) die("open", e);
    pyagent_params_destroy(p);
    return e;
}

/* Bytes of weights a decode step reads: all tensors, less token_embd unless the model has no
 * output.weight (tied: token_embd is the output head and is read whole). */
static double step_weight_bytes(pyagent_engine *e) {
    int64_t n = 0;
    pyagent_engine_info(e, "n_tensors", &n);
    double all = 0, embd = 0;
    bool tied = true;
    for (int64_t i = 0; i < n; i++) {
        pyagent_tensor_info t = {.struct_size = sizeof t};
        if (pyagent_engine_tensor(e, i, &t) != PYAGENT_OK) die("tensor", e);
        all += (double)t.n_bytes;
        if (!strcmp(t.name, "token_embd.weight")) embd = (double)t.n_bytes;
        if (!strcmp(t.name, "output.weight")) tied = false;
    }
    return tied ? all : all - embd;
}

static pyagent_agent *agent_with_prompt(pyagent_engine *e, int n, unsigned seed) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_agent *a = NULL;
    if (pyagent_agent_create(e, s, &a) != PYAGENT_OK) die("agent", e);
    pyagent_params_destroy(s);
    int64_t n_vocab = 0;
    pyagent_engine_info(e, "n_vocab", &n_vocab);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        ids[i] = 3 + (int32_t)((seed >> 8) % (unsigned)(n_vocab - 3));
    }
    if (pyagent_agent_feed_tokens(a, ids, (size_t)n) != PYAGENT_OK) die("feed", e);
    free(ids);
    return a;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: gpu-bench MODEL [--backend 0|1] [--gen G] [--agents A] "
                        "[--prompt P] [--profile 1|A] [--top-candidates 0|1]\n");
        return 2;
    }
    const char *path = argv[1];
    int64_t backend = PYAGENT_BACKEND_CUDA;
    int gen = 256, n_agents = 16, prompt = 2048, profile = 0, top_candidates = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--backend")) backend = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--gen")) gen = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--agents")) n_agents = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prompt")) prompt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--profile")) profile = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--top-candidates")) top_candidates = atoi(argv[i + 1]);
    }
    const double bw = backend == PYAGENT_BACKEND_CUDA ? copy_bandwidth() : 0;
    pyagent_engine *e = open_engine(path, backend, prompt, top_candidates);
    const double weight_bytes = step_weight_bytes(e);
    printf("device_copy_gbs %.1f\nweight_bytes %.0f\ntop_candidates %d\n", bw, weight_bytes,
           top_candidates);
    for (int rep = 0; rep < 2; rep++) { /* the first warms up */
        pyagent_agent *a = agent_with_prompt(e, prompt, 1 + rep);
        double t0 = now();
        if (pyagent_agent_prefill(a) != PYAGENT_OK) die("prefill", e);
        if (rep) printf("prefill_tps %.1f\n", prompt / (now() - t0));
        pyagent_agent_destroy(a);
    }

    double tps1 = 0;
    for (int rep = 0; rep < 2; rep++) {
        pyagent_agent *a = agent_with_prompt(e, 16, 7 + rep);
        if (pyagent_agent_prefill(a) != PYAGENT_OK) die("prefill", e);
        if (rep && profile == 1) cudaProfilerStart();
        double t0 = now();
        if (pyagent_agent_generate(a, rep ? gen : 16, NULL, NULL, NULL) != PYAGENT_OK)
            die("generate", e);
        if (rep) tps1 = gen / (now() - t0);
        if (rep && profile == 1) cudaProfilerStop();
        pyagent_agent_destroy(a);
    }
    printf("decode_tps_1 %.1f\n", tps1);

    pyagent_agent **agents = calloc((size_t)n_agents, sizeof *agents);
    for (int i = 0; i < n_agents; i++) {
        agents[i] = agent_with_prompt(e, 16, 100 + i);
        if (pyagent_agent_prefill(agents[i]) != PYAGENT_OK) die("prefill", e);
    }
    if (profile > 0 && profile == n_agents) cudaProfilerStart();
    double t0 = now();
    for (int i = 0; i < n_agents; i++)
        if (pyagent_agent_submit(agents[i], gen, NULL, NULL) != PYAGENT_OK) die("submit", e);
    int32_t n_active = 1;
    while (n_active > 0)
        if (pyagent_engine_step(e, &n_active) != PYAGENT_OK) die("step", e);
    printf("decode_tps_%d %.1f\n", n_agents, (double)n_agents * gen / (now() - t0));
    if (profile > 0 && profile == n_agents) cudaProfilerStop();
    for (int i = 0; i < n_agents; i++) pyagent_agent_destroy(agents[i]);
    free(agents);
    if (bw > 0)
        printf("roofline_fraction_1 %.3f\n", tps1 * weight_bytes / (bw * 1e9));
    pyagent_engine_destroy(e);
    return 0;
}
