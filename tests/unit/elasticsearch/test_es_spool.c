/* SPDX-License-Identifier: MIT */
/*
 * test_es_spool.c: unit tests for src/elasticsearch/es_spool.c: append-only
 * segments, the size bound (oldest dropped first, counted), replay order,
 * restart, torn lines, unwritable directories and failed writes.
 */
#include "elasticsearch/es_spool.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_root[256];

/* Bytes of one document as chunk() writes it. */
#define DOC 58

/* A fresh directory path (not created) below the test's temp dir. */
static void fresh(char *buf, size_t size, const char *name) {
  snprintf(buf, size, "%s/%s", tmp_root, name);
}

static int setup(void **state) {
  (void)state;
  const char *t = getenv("TMPDIR");
  snprintf(tmp_root, sizeof(tmp_root), "%s/test_es_spool.XXXXXX",
           t && *t ? t : "/tmp");
  return mkdtemp(tmp_root) == NULL ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[400];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
  return system(cmd) == 0 ? 0 : -1;
}

/* A chunk of ndocs pairs whose sources carry the numbers first.. */
static char *chunk(int first, int ndocs, size_t *len) {
  char *buf = malloc(200 * (size_t)ndocs + 1);
  size_t k = 0;
  for (int i = 0; i < ndocs; i++)
    k += (size_t)sprintf(buf + k,
                         "{\"create\":{\"_index\":\"i\",\"_id\":\"%08d\"}}\n"
                         "{\"x\":%08d}\n",
                         first + i, first + i);
  *len = k;
  return buf;
}

static void append(es_spool_t *sp, int first, int ndocs, uint64_t *dropped) {
  size_t len;
  char *c = chunk(first, ndocs, &len);
  assert_int_equal(es_spool_append(sp, c, len, (size_t)ndocs, dropped), 0);
  free(c);
}

/* Reads and removes every segment; returns the numbers in replay order
 * as a comma separated list. */
static void drain(es_spool_t *sp, char *out, size_t size) {
  out[0] = '\0';
  size_t k = 0;
  char *data;
  size_t len;
  uint64_t seq;
  while (es_spool_oldest(sp, &data, &len, &seq) == 1) {
    for (char *p = data; (p = strstr(p, "{\"x\":")) != NULL; p += 5)
      k += (size_t)snprintf(out + k, size - k, "%s%d", k ? "," : "",
                            atoi(p + 5));
    free(data);
    assert_int_equal(es_spool_remove(sp, seq), 0);
  }
}

/* Returns the number of segment files (<20 digits>.ndjson) in dir, as a
 * user listing the spool directory sees them. */
static size_t segment_files(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    size_t len = strlen(e->d_name);
    if (e->d_type != DT_DIR && len == 27 &&
        strcmp(e->d_name + 20, ".ndjson") == 0 &&
        strspn(e->d_name, "0123456789") == 20)
      n++;
  }
  closedir(d);
  return n;
}

static void test_append_replay_in_order(void **state) {
  (void)state;
  char dir[512], err[256], got[4096];
  fresh(dir, sizeof(dir), "a/b/c"); /* parents are created */
  es_spool_t *sp = es_spool_open(dir, 1 << 20, 100, err, sizeof(err));
  assert_non_null(sp);
  assert_int_equal(es_spool_bytes(sp), 0);
  char *data;
  size_t len;
  uint64_t seq, dropped = 0;
  assert_int_equal(es_spool_oldest(sp, &data, &len, &seq), 0);
  assert_int_equal(es_spool_append(sp, "", 0, 0, &dropped), 0);
  assert_int_equal(segment_files(dir), 0);
  /* Segments of 100 bytes take one chunk of 2 documents each. */
  for (int i = 0; i < 10; i++)
    append(sp, i * 2, 2, &dropped);
  assert_int_equal(dropped, 0);
  assert_int_equal(es_spool_bytes(sp), 10 * 2 * DOC);
  assert_int_equal(segment_files(dir), 10);
  drain(sp, got, sizeof(got));
  CHECK_CSTR("order", got, "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19");
  assert_int_equal(es_spool_bytes(sp), 0);
  assert_int_equal(segment_files(dir), 0);
  es_spool_close(sp);
  es_spool_close(NULL);
}

static void test_reading_closes_the_newest_segment(void **state) {
  (void)state;
  char dir[512], err[256], got[4096];
  fresh(dir, sizeof(dir), "active");
  es_spool_t *sp = es_spool_open(dir, 1 << 20, 1 << 20, err, sizeof(err));
  uint64_t dropped = 0, seq;
  append(sp, 1, 3, &dropped);
  char *data;
  size_t len;
  assert_int_equal(es_spool_oldest(sp, &data, &len, &seq), 1);
  assert_int_equal(len, 3 * DOC);
  free(data);
  /* While it is replayed, new chunks go to a new segment... */
  append(sp, 4, 1, &dropped);
  assert_int_equal(segment_files(dir), 2);
  /* ...so removing the replayed one loses nothing new. */
  assert_int_equal(es_spool_remove(sp, seq), 0);
  assert_int_equal(es_spool_remove(sp, seq), 0);   /* twice: no error */
  assert_int_equal(es_spool_remove(sp, 12345), 0); /* unknown */
  drain(sp, got, sizeof(got));
  CHECK_CSTR("new data kept", got, "4");
  es_spool_close(sp);
}

static void test_size_limit_drops_oldest_counted(void **state) {
  (void)state;
  char dir[512], err[256], got[4096];
  fresh(dir, sizeof(dir), "limit");
  /* 1000 bytes at most, segments of 2 docs. */
  es_spool_t *sp = es_spool_open(dir, 1000, 2 * DOC, err, sizeof(err));
  uint64_t dropped = 0;
  for (int i = 0; i < 20; i++) /* 20 docs, 1160 bytes offered */
    append(sp, i, 1, &dropped);
  assert_true(es_spool_bytes(sp) <= 1000);
  CHECK_INT("dropped", dropped, 20 - (int)(es_spool_bytes(sp) / DOC));
  CHECK_INT("dropped whole segments", dropped % 2, 0);
  drain(sp, got, sizeof(got));
  /* The newest survive, in order. */
  CHECK_CSTR("kept", got, "4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19");
  CHECK_INT("dropped", dropped, 4);
  /* A chunk larger than the whole spool is dropped, counted, not
   * written, and the spool is left as it was. */
  append(sp, 100, 2, &dropped);
  dropped = 0;
  size_t len;
  char *big = chunk(200, 20, &len);
  assert_int_equal(es_spool_append(sp, big, len, 20, &dropped), 0);
  free(big);
  CHECK_INT("big", dropped, 20);
  drain(sp, got, sizeof(got));
  CHECK_CSTR("unchanged", got, "100,101");
  es_spool_close(sp);
}

static void test_restart_keeps_order(void **state) {
  (void)state;
  char dir[512], err[256], got[4096];
  fresh(dir, sizeof(dir), "restart");
  es_spool_t *sp = es_spool_open(dir, 1 << 20, 150, err, sizeof(err));
  uint64_t dropped = 0;
  for (int i = 0; i < 6; i++)
    append(sp, i, 1, &dropped);
  uint64_t bytes = es_spool_bytes(sp);
  size_t segs = segment_files(dir);
  es_spool_close(sp);
  /* Files that are not segments are left alone. */
  char path[700];
  static const char *const others[] = {"dead-letter.ndjson", "1.ndjson",
                                       "0000000000000000000a.ndjson",
                                       "notes.txt"};
  for (size_t i = 0; i < COUNT(others); i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, others[i]);
    FILE *f = fopen(path, "w");
    fputs("{\"create\":{\"_index\":\"zz\"}}\n{\"n\":999}\n", f);
    fclose(f);
  }
  snprintf(path, sizeof(path), "%s/00000000000000000099.ndjson", dir);
  mkdir(path, 0700); /* a directory with a segment's name */
  sp = es_spool_open(dir, 1 << 20, 150, err, sizeof(err));
  assert_non_null(sp);
  CHECK_INT("bytes", es_spool_bytes(sp), bytes);
  CHECK_INT("segments", segment_files(dir), segs);
  append(sp, 6, 1, &dropped); /* after a restart: after the old ones */
  append(sp, 7, 1, &dropped);
  es_spool_close(sp);
  sp = es_spool_open(dir, 1 << 20, 150, err, sizeof(err));
  drain(sp, got, sizeof(got));
  CHECK_CSTR("order", got, "0,1,2,3,4,5,6,7");
  es_spool_close(sp);
  snprintf(path, sizeof(path), "%s/dead-letter.ndjson", dir);
  assert_int_equal(access(path, F_OK), 0);
}

/* The path of segment seq in dir, as es_spool.c names it. */
static void es_seg_path_for_test(const char *dir, uint64_t seq, char *buf,
                                 size_t size) {
  snprintf(buf, size, "%s/%020llu.ndjson", dir, (unsigned long long)seq);
}

static void test_torn_and_vanished_segments(void **state) {
  (void)state;
  char dir[512], err[256], got[4096], path[700];
  fresh(dir, sizeof(dir), "torn");
  es_spool_t *sp = es_spool_open(dir, 1 << 20, 1, err, sizeof(err));
  uint64_t dropped = 0;
  append(sp, 1, 1, &dropped);
  append(sp, 2, 1, &dropped);
  append(sp, 3, 1, &dropped);
  es_spool_close(sp);
  /* A crash left half a line at the end of the second segment. */
  snprintf(path, sizeof(path), "%s/%020d.ndjson", dir, 1);
  FILE *f = fopen(path, "a");
  fputs("{\"create\":{\"_index\":\"i\"", f);
  fclose(f);
  /* and the first one was deleted by hand. */
  snprintf(path, sizeof(path), "%s/%020d.ndjson", dir, 0);
  sp = es_spool_open(dir, 1 << 20, 1, err, sizeof(err));
  unlink(path);
  char *data;
  size_t len;
  uint64_t seq;
  assert_int_equal(es_spool_oldest(sp, &data, &len, &seq), 1);
  CHECK_INT("seq", seq, 1);
  CHECK_INT("complete lines only", len, DOC);
  assert_int_equal(data[len - 1], '\n');
  free(data);
  assert_int_equal(es_spool_remove(sp, seq), 0);
  /* A segment that cannot be deleted (here: replaced by a non-empty
   * directory) is forgotten anyway, so it is not replayed forever. */
  assert_int_equal(es_spool_oldest(sp, &data, &len, &seq), 1);
  free(data);
  es_seg_path_for_test(dir, seq, path, sizeof(path));
  unlink(path);
  mkdir(path, 0700);
  char inner[800];
  snprintf(inner, sizeof(inner), "%s/x", path);
  fclose(fopen(inner, "w"));
  assert_true(es_spool_remove(sp, seq) < 0);
  CHECK_INT("bytes", es_spool_bytes(sp), 0);
  drain(sp, got, sizeof(got));
  CHECK_CSTR("rest", got, "");
  es_spool_close(sp);
}

static void test_unusable_directories(void **state) {
  (void)state;
  char dir[600], err[256], file[512];
  /* A path through a regular file. */
  fresh(file, sizeof(file), "plainfile");
  FILE *f = fopen(file, "w");
  fclose(f);
  snprintf(dir, sizeof(dir), "%s/sub", file);
  err[0] = '\0';
  assert_null(es_spool_open(dir, 1 << 20, 100, err, sizeof(err)));
  assert_non_null(strstr(err, "cannot create spool directory"));
  assert_non_null(strstr(err, "Not a directory"));
  /* The path is the file itself. */
  assert_null(es_spool_open(file, 1 << 20, 100, err, sizeof(err)));
  assert_non_null(strstr(err, "spool directory"));
  /* A directory we may not write into (root ignores modes: use sysfs). */
  const char *ro = "/sys/kernel";
  if (geteuid() != 0) {
    fresh(dir, sizeof(dir), "readonly");
    mkdir(dir, 0500);
    ro = dir;
  }
  assert_null(es_spool_open(ro, 1 << 20, 100, err, sizeof(err)));
  assert_non_null(strstr(err, "cannot write into spool directory"));
  /* Nonsense arguments. */
  assert_null(es_spool_open("", 1 << 20, 100, err, sizeof(err)));
  assert_null(es_spool_open(NULL, 1 << 20, 100, err, sizeof(err)));
  fresh(dir, sizeof(dir), "zero");
  assert_null(es_spool_open(dir, 0, 100, err, sizeof(err)));
  CHECK_CSTR("zero", err, "empty spool directory or zero size");
}

static void test_failed_write_leaves_no_partial_chunk(void **state) {
  (void)state;
  char dir[512], err[256], got[4096];
  fresh(dir, sizeof(dir), "efbig");
  es_spool_t *sp = es_spool_open(dir, 1 << 20, 1 << 20, err, sizeof(err));
  uint64_t dropped = 0;
  append(sp, 1, 2, &dropped); /* 116 bytes */
  /* Files may not grow past 200 bytes: the next 116-byte chunk fails
   * half-way with EFBIG. */
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 200;
  signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  size_t len;
  char *c = chunk(3, 2, &len);
  int rc = es_spool_append(sp, c, len, 2, &dropped);
  setrlimit(RLIMIT_FSIZE, &old);
  free(c);
  CHECK_INT("rc", rc, -EFBIG);
  CHECK_INT("bytes", es_spool_bytes(sp), 2 * DOC);
  append(sp, 5, 1, &dropped); /* works again afterwards */
  drain(sp, got, sizeof(got));
  CHECK_CSTR("no partial chunk", got, "1,2,5");
  es_spool_close(sp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_replay_in_order),
      cmocka_unit_test(test_reading_closes_the_newest_segment),
      cmocka_unit_test(test_size_limit_drops_oldest_counted),
      cmocka_unit_test(test_restart_keeps_order),
      cmocka_unit_test(test_torn_and_vanished_segments),
      cmocka_unit_test(test_unusable_directories),
      cmocka_unit_test(test_failed_write_leaves_no_partial_chunk),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
