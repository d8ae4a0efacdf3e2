/* pyagent-bench --handoff: the latent link's wire size and the receiver's time to first token
 * against re-prefilling (bench_handoff.c). */
#ifndef PYAGENT_BENCH_HANDOFF_H
#define PYAGENT_BENCH_HANDOFF_H

int pa_bench_handoff_main(int argc, char **argv);

#endif
