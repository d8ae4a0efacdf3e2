/* pyagent-bench --adapter: fit an adapter between two models and measure what it carries
 * (bench_adapter.c). */
#ifndef PYAGENT_BENCH_ADAPTER_H
#define PYAGENT_BENCH_ADAPTER_H

int pa_bench_adapter_main(int argc, char **argv);

#endif
