/* pyagent-bench --memory: KV bytes per agent by policy and context, and greedy agreement
 * (bench_memory.c). */
#ifndef PYAGENT_BENCH_MEMORY_H
#define PYAGENT_BENCH_MEMORY_H

int pa_bench_memory_main(int argc, char **argv);

#endif
