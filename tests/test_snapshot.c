/*
 * Agent snapshots: a restored agent continues exactly as the saved one (greedy and sampled,
 * same engine or another one), damaged or foreign files are refused, and a process killed with
 * SIGKILL while generating and snapshotting leaves a snapshot that continues like an
 * uninterrupted run.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#include "helpers.h"

static char stories_path[1024], random_path[1024];

static pyagent_engine *open_engine(const char *path) {
    return test_open_engine(path, "n_threads", 1);
}

static pyagent_agent *sampling_agent(pyagent_engine *e) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 1.0);
    pyagent_params_set_i64(s, "seed", 5);
    pyagent_agent *a = NULL;
    assert_int_equal(pyagent_agent_create(e, s, &a), PYAGENT_OK);
    pyagent_params_destroy(s);
    assert_int_equal(pyagent_agent_add_stop(a, "zzz", -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_set_label(a, "agent_id", "writer"), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_text(a, "Once upon a time, there was a cat", -1), 0);
    return a;
}

static void temp_path(char *out, size_t size, const char *name) {
    snprintf(out, size, "/tmp/pyagent-snapshot-%d-%s", (int)getpid(), name);
}

static void restored_agent_continues_exactly(void **state) {
    (void)state;
    char path[256];
    temp_path(path, sizeof path, "a");
    pyagent_engine *e = open_engine(stories_path), *other = open_engine(stories_path);
    for (int queued = 0; queued < 2; queued++) {
        pyagent_agent *a = sampling_agent(e);
        test_generate(a, 12);
        if (queued) assert_int_equal(pyagent_agent_feed_text(a, " and a dog", -1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_save(a, path), PYAGENT_OK);
        test_run want = test_generate(a, 40);
        for (int k = 0; k < 2; k++) { /* the same engine and another one */
            pyagent_agent *b = NULL;
            assert_int_equal(pyagent_agent_load(k ? other : e, path, &b), PYAGENT_OK);
            assert_string_equal(pyagent_agent_get_label(b, "agent_id"), "writer");
            test_run got = test_generate(b, 40);
            assert_int_equal(got.n, want.n);
            assert_memory_equal(got.ids, want.ids, sizeof(int32_t) * (size_t)want.n);
            pyagent_agent_destroy(b);
        }
        pyagent_agent_destroy(a);
    }
    remove(path);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(other);
}

static void damaged_or_foreign_snapshots_are_refused(void **state) {
    (void)state;
    char path[256], bad[256];
    temp_path(path, sizeof path, "b");
    temp_path(bad, sizeof bad, "c");
    pyagent_engine *e = open_engine(stories_path), *other = open_engine(random_path);
    pyagent_agent *a = sampling_agent(e), *b = NULL;
    test_generate(a, 3);
    assert_int_equal(pyagent_agent_save(a, path), PYAGENT_OK);
    FILE *f = fopen(path, "rb");
    static unsigned char data[1 << 20];
    size_t size = fread(data, 1, sizeof data, f);
    fclose(f);
    assert_int_equal(pyagent_agent_load(other, path, &b), PYAGENT_ERR_MISMATCH);
    assert_null(b);
    for (size_t i = 0; i < size; i += 1 + i / 64) { /* every byte of the header, then spread */
        data[i] ^= 0x10;
        f = fopen(bad, "wb");
        fwrite(data, 1, size, f);
        fclose(f);
        data[i] ^= 0x10;
        pyagent_status st = pyagent_agent_load(e, bad, &b);
        if (st == PYAGENT_OK) fprintf(stderr, "flipped byte %zu accepted\n", i);
        assert_int_not_equal(st, PYAGENT_OK);
        assert_null(b);
        assert_non_null(strstr(pyagent_engine_last_error(e), bad));
    }
    for (size_t cut = 0; cut < size; cut += 1 + cut / 16) {
        f = fopen(bad, "wb");
        fwrite(data, 1, cut, f);
        fclose(f);
        assert_int_equal(pyagent_agent_load(e, bad, &b), PYAGENT_ERR_BAD_PACKET);
    }
    assert_int_equal(pyagent_agent_load(e, "/nonexistent/snapshot", &b), PYAGENT_ERR_IO);
    /* an engine whose pool cannot hold it (two blocks for 100 tokens): KV_FULL, with the
     * store's message */
    pyagent_agent *big = sampling_agent(e);
    test_generate(big, 100);
    assert_int_equal(pyagent_agent_save(big, path), PYAGENT_OK);
    pyagent_agent_destroy(big);
    pyagent_engine *tiny = test_open_engine(stories_path, "kv_bytes", 2 * 20480);
    assert_int_equal(pyagent_agent_load(tiny, path, &b), PYAGENT_ERR_KV_FULL);
    assert_null(b);
    assert_non_null(strstr(pyagent_engine_last_error(tiny), "KV store full"));
    pyagent_engine_destroy(tiny);
    remove(path);
    remove(bad);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(other);
}

/* Removes a file or a directory and what it holds. */
static void remove_all(const char *path) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* Saving a whole agent to `where` (a snapshot file or a checkpoint directory), and making
 * one from it. */
typedef pyagent_status (*save_fn)(pyagent_agent *agent, const char *where);
typedef pyagent_status (*restore_fn)(pyagent_engine *engine, const char *where,
                                     pyagent_agent **agent);

/* A child generates a token, saves, and so on, until the parent kills it with SIGKILL at a
 * random moment (3 rounds); what it left restores to an agent that continues like the
 * uninterrupted 200-token run. */
static void survives_sigkill(const char *what, const char *where, save_fn save,
                             restore_fn restore) {
    pyagent_engine *e = open_engine(stories_path);
    pyagent_agent *ref = sampling_agent(e);
    test_run want = test_generate(ref, 200); /* the uninterrupted run */
    pyagent_agent_destroy(ref);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 3; round++) {
        remove_all(where);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            pyagent_agent *a = sampling_agent(e);
            for (int i = 0; i < 200; i++) {
                pyagent_agent_generate(a, 1, NULL, NULL, NULL);
                save(a, where);
            }
            _exit(0);
        }
        struct timespec wait = {0, 20000000L + (long)(rand() % 60) * 1000000L}; /* 20-80 ms */
        nanosleep(&wait, NULL);
        kill(child, SIGKILL);
        int status;
        waitpid(child, &status, 0);
        pyagent_agent *b = NULL;
        pyagent_status st = restore(e, where, &b);
        if (st == PYAGENT_ERR_IO) continue; /* killed before its first save */
        assert_int_equal(st, PYAGENT_OK); /* never a torn state */
        int32_t ids[512];
        size_t n = 0, n_prompt = 0;
        assert_int_equal(pyagent_agent_tokens(b, ids, 512, &n), PYAGENT_OK);
        pyagent_agent *probe = sampling_agent(e);
        pyagent_agent_tokens(probe, NULL, 0, &n_prompt);
        pyagent_agent_destroy(probe);
        const int done = (int)(n - n_prompt); /* tokens generated before the kill */
        printf("# %s round %d: killed after %d tokens\n", what, round, done);
        assert_true(done >= 1 && done <= 200);
        assert_memory_equal(ids + n_prompt, want.ids, sizeof(int32_t) * (size_t)done);
        test_run rest = test_generate(b, 200 - done);
        assert_memory_equal(rest.ids, want.ids + done, sizeof(int32_t) * (size_t)(200 - done));
        pyagent_agent_destroy(b);
    }
    remove_all(where);
    pyagent_engine_destroy(e);
}

static void snapshot_survives_sigkill(void **state) {
    (void)state;
    char path[256];
    temp_path(path, sizeof path, "d");
    survives_sigkill("snapshot", path, pyagent_agent_save, pyagent_agent_load);
}

/* ------------------------------------------------------------------------------------------ */
/* Checkpoints                                                                                  */

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}


/* Checkpoints taken as an agent goes append only what is new; each restores to an agent that
 * continues exactly as the original; recomputed positions or another agent start a new log. */
static void checkpoints_append_and_restore_exactly(void **state) {
    (void)state;
    char dir[256], log1[300], log2[300], st_path[300];
    temp_path(dir, sizeof dir, "ckpt");
    remove_all(dir);
    snprintf(log1, sizeof log1, "%s/kv.1", dir);
    snprintf(log2, sizeof log2, "%s/kv.2", dir);
    snprintf(st_path, sizeof st_path, "%s/state", dir);
    pyagent_engine *e = open_engine(stories_path), *other = open_engine(stories_path);
    pyagent_agent *a = sampling_agent(e);
    long sizes[4];
    for (int round = 0; round < 4; round++) {
        test_generate(a, 10);
        assert_int_equal(pyagent_agent_checkpoint(a, dir), PYAGENT_OK);
        sizes[round] = file_size(log1);
        assert_true(sizes[round] > 0);
        assert_true(round == 0 || sizes[round] > sizes[round - 1]); /* appended */
        assert_true(file_size(st_path) < sizes[0] + 8192);          /* the state stays small */
    }
    /* each append is about 10 positions' KV, not the whole sequence again */
    assert_true(sizes[3] - sizes[2] < sizes[0]);
    test_run want = test_generate(a, 40);
    pyagent_agent *b = NULL;
    assert_int_equal(pyagent_agent_restore(other, dir, &b), PYAGENT_OK);
    assert_string_equal(pyagent_agent_get_label(b, "agent_id"), "writer");
    test_run got = test_generate(b, 40);
    assert_int_equal(got.n, want.n);
    assert_memory_equal(got.ids, want.ids, sizeof(int32_t) * (size_t)want.n);
    /* the restored agent continues the log */
    assert_int_equal(pyagent_agent_checkpoint(b, dir), PYAGENT_OK);
    assert_true(file_size(log1) > sizes[3]);
    assert_true(file_size(log2) < 0);
    /* rewinding into the log's positions (dropping the last 20 tokens): a new generation, the
     * old log removed */
    size_t before = 0, n = 0;
    assert_int_equal(pyagent_agent_tokens(b, NULL, 0, &before), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(pyagent_agent_rewind(b, 20), PYAGENT_OK);
    assert_int_equal(pyagent_agent_checkpoint(b, dir), PYAGENT_OK);
    assert_true(file_size(log2) > 0 && file_size(log1) < 0);
    pyagent_agent *c = NULL;
    assert_int_equal(pyagent_agent_restore(e, dir, &c), PYAGENT_OK);
    assert_int_equal(pyagent_agent_tokens(c, NULL, 0, &n), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, before - 20);
    want = test_generate(b, 20), got = test_generate(c, 20);
    assert_memory_equal(got.ids, want.ids, sizeof(int32_t) * 20);
    pyagent_agent_destroy(c);
    /* another agent's checkpoint into the directory: written whole */
    pyagent_agent *d = sampling_agent(e);
    test_generate(d, 5);
    assert_int_equal(pyagent_agent_checkpoint(d, dir), PYAGENT_OK);
    char log3[300];
    snprintf(log3, sizeof log3, "%s/kv.3", dir);
    assert_true(file_size(log3) > 0 && file_size(log2) < 0);
    pyagent_agent_destroy(d), pyagent_agent_destroy(b), pyagent_agent_destroy(a);
    remove_all(dir);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(other);
}

/* A torn append (bytes past the committed end) is ignored; damage within it is refused with a
 * message naming the directory; another model's checkpoint is a mismatch. */
static void damaged_checkpoints_are_refused(void **state) {
    (void)state;
    char dir[256], log[300], st_path[300];
    temp_path(dir, sizeof dir, "ckpt-bad");
    remove_all(dir);
    snprintf(log, sizeof log, "%s/kv.1", dir);
    snprintf(st_path, sizeof st_path, "%s/state", dir);
    pyagent_engine *e = open_engine(stories_path), *other = open_engine(random_path);
    pyagent_agent *a = sampling_agent(e), *b = NULL;
    test_generate(a, 6);
    assert_int_equal(pyagent_agent_checkpoint(a, dir), PYAGENT_OK);
    test_generate(a, 6);
    assert_int_equal(pyagent_agent_checkpoint(a, dir), PYAGENT_OK);
    FILE *f = fopen(log, "ab"); /* a torn third append */
    fwrite("torn tail", 1, 9, f);
    fclose(f);
    assert_int_equal(pyagent_agent_restore(e, dir, &b), PYAGENT_OK);
    pyagent_agent_destroy(b), b = NULL;
    assert_int_equal(pyagent_agent_restore(other, dir, &b), PYAGENT_ERR_MISMATCH);
    for (int which = 0; which < 2; which++) { /* flipped bytes of the state, then of the log */
        const char *path = which ? log : st_path;
        const long size = file_size(path) - (which ? 9 : 0);
        static unsigned char data[1 << 20];
        f = fopen(path, "rb");
        assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        for (long i = 0; i < size; i += 1 + i / 32) {
            data[i] ^= 0x10;
            f = fopen(path, "r+b");
            fwrite(data, 1, (size_t)size, f);
            fclose(f);
            data[i] ^= 0x10;
            const pyagent_status st = pyagent_agent_restore(e, dir, &b);
            if (st == PYAGENT_OK) fprintf(stderr, "%s byte %ld accepted\n", path, i);
            assert_int_not_equal(st, PYAGENT_OK);
            assert_null(b);
            assert_non_null(strstr(pyagent_engine_last_error(e), dir));
        }
        f = fopen(path, "r+b");
        fwrite(data, 1, (size_t)size, f);
        fclose(f);
    }
    assert_int_equal(truncate(log, file_size(log) - 200), 0); /* committed bytes missing */
    assert_int_equal(pyagent_agent_restore(e, dir, &b), PYAGENT_ERR_BAD_PACKET);
    assert_int_equal(pyagent_agent_restore(e, "/nonexistent/ckpt", &b), PYAGENT_ERR_IO);
    pyagent_agent_destroy(a);
    remove_all(dir);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(other);
}

static void checkpoint_survives_sigkill(void **state) {
    (void)state;
    char dir[256];
    temp_path(dir, sizeof dir, "ckpt-kill");
    survives_sigkill("checkpoint", dir, pyagent_agent_checkpoint, pyagent_agent_restore);
}

int main(void) {
    test_data_path(stories_path, sizeof stories_path, "stories260K.gguf");
    test_model_path(random_path, sizeof random_path, "tiny-f32.gguf");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(restored_agent_continues_exactly),
        cmocka_unit_test(damaged_or_foreign_snapshots_are_refused),
        cmocka_unit_test(snapshot_survives_sigkill),
        cmocka_unit_test(checkpoints_append_and_restore_exactly),
        cmocka_unit_test(damaged_checkpoints_are_refused),
        cmocka_unit_test(checkpoint_survives_sigkill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
