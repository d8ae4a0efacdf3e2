/* pyagent-bench --spec: speculative against plain decoding (bench_spec.c). */
#ifndef PYAGENT_BENCH_SPEC_H
#define PYAGENT_BENCH_SPEC_H

int pa_bench_spec_main(int argc, char **argv);

#endif
