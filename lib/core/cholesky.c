/* Dense symmetric positive definite solves (ridge regressions: adapters, KVzap). */
#include "cholesky.h"

#include <math.h>
#include <stddef.h>

/* Solves A X = B in place for symmetric positive definite A (n, n) and B (n, m): A becomes its
 * Cholesky factor L (lower), B becomes X. False if A is not positive definite. */
bool pa_cholesky_solve(double *a, int n, double *b, int m) {
    for (int j = 0; j < n; j++) {
        double d = a[(size_t)j * n + j];
        for (int k = 0; k < j; k++) d -= a[(size_t)j * n + k] * a[(size_t)j * n + k];
        if (!(d > 0)) return false;
        const double ljj = sqrt(d);
        a[(size_t)j * n + j] = ljj;
        for (int i = j + 1; i < n; i++) {
            double s = a[(size_t)i * n + j];
            for (int k = 0; k < j; k++) s -= a[(size_t)i * n + k] * a[(size_t)j * n + k];
            a[(size_t)i * n + j] = s / ljj;
        }
    }
    for (int c = 0; c < m; c++) {
        for (int i = 0; i < n; i++) { /* L z = b */
            double s = b[(size_t)i * m + c];
            for (int k = 0; k < i; k++) s -= a[(size_t)i * n + k] * b[(size_t)k * m + c];
            b[(size_t)i * m + c] = s / a[(size_t)i * n + i];
        }
        for (int i = n - 1; i >= 0; i--) { /* Lᵀ x = z */
            double s = b[(size_t)i * m + c];
            for (int k = i + 1; k < n; k++) s -= a[(size_t)k * n + i] * b[(size_t)k * m + c];
            b[(size_t)i * m + c] = s / a[(size_t)i * n + i];
        }
    }
    return true;
}
