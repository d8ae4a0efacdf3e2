#ifndef PA_CORE_CHOLESKY_H
#define PA_CORE_CHOLESKY_H

#include <stdbool.h>

/* Solves A X = B in place for symmetric positive definite A (n, n) and B (n, m): A becomes its
 * Cholesky factor L (lower), B becomes X. False if A is not positive definite. */
bool pa_cholesky_solve(double *a, int n, double *b, int m);

#endif
