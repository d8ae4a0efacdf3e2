/* pyagent-bench --agents: the multi-agent shared-prefix workload (bench_agents.c). */
#ifndef PYAGENT_BENCH_AGENTS_H
#define PYAGENT_BENCH_AGENTS_H

int pa_bench_agents_main(int argc, char **argv);

#endif
