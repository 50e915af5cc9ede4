/* SPDX-License-Identifier: MIT */
/*
 * test_es_sender.c: the Elasticsearch delivery engine
 * (src/elasticsearch/es_sender.c) through a fake cluster and a fake clock:
 * outages, 413s, 400s, 429s, partial failures, give-up, queue overflow and
 * restarts. Every document is {"n":N}; the fake cluster stores documents
 * in the order it accepts them and answers 409 to a second create of the
 * same one, as Elasticsearch does.
 */
#include "elasticsearch/es_sender.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXDOC 64

typedef struct {
  double now;
  int down;            /* no answer */
  int whole_status[8]; /* statuses for the next requests (then 200) */
  size_t whole_next;
  size_t max_docs;       /* 413 above this (0: no limit) */
  int poison;            /* a document whose presence makes the body a 400 */
  int script[MAXDOC][4]; /* per document: item statuses in turn (0: 201) */
  size_t script_pos[MAXDOC];
  size_t truncate_once; /* answer only this many items once (0: all) */
  int stored[1024];
  size_t nstored;
  int times_stored[MAXDOC];
  size_t posts, puts, gets;
  char puts_paths[512];
  char site_components[256]; /* "path;" of components a site made */
  char resp[65536];
  int logs[4]; /* per es_log_t channel */
  char last_docs_log[1024];
} fake_t;

static fake_t F;

/* The fake cluster: answers a request like Elasticsearch would. */
static int fake_http(void *ctx, const char *method, const char *path,
                     const char *body, size_t len, es_http_result_t *out) {
  (void)ctx;
  if (F.down) {
    snprintf(out->error, sizeof(out->error), "Connection refused");
    return -1;
  }
  if (strcmp(method, "GET") == 0) {
    /* A component template exists once PUT, or when the site made it. */
    char key[300];
    snprintf(key, sizeof(key), "%s;", path);
    F.gets++;
    bool have = strstr(F.puts_paths, key) != NULL ||
                strstr(F.site_components, key) != NULL;
    out->status = have ? 200 : 404;
    out->body = have ? "{\"component_templates\":[]}" : "{\"status\":404}";
    out->len = strlen(out->body);
    return 0;
  }
  if (strcmp(method, "PUT") == 0) {
    F.puts++;
    strncat(F.puts_paths, path,
            sizeof(F.puts_paths) - strlen(F.puts_paths) - 2);
    strcat(F.puts_paths, ";");
    out->status = 200;
    out->body = "{\"acknowledged\":true}";
    out->len = strlen(out->body);
    return 0;
  }
  assert_string_equal(method, "POST");
  assert_string_equal(path, "/_bulk");
  F.posts++;
  int docs[1024];
  size_t n = 0;
  for (const char *p = body; p < body + len;) {
    const char *nl = memchr(p, '\n', (size_t)(body + len - p));
    assert_non_null(nl);
    int d;
    if (sscanf(p, "{\"n\":%d}", &d) == 1)
      docs[n++] = d;
    p = nl + 1;
  }
  if (F.whole_next < COUNT(F.whole_status) &&
      F.whole_status[F.whole_next] != 0) {
    out->status = F.whole_status[F.whole_next++];
    out->body = "{\"error\":\"busy\"}";
    out->len = strlen(out->body);
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    if (F.poison && docs[i] == F.poison) {
      out->status = 400;
      out->body = "{\"error\":\"bad body\"}";
      out->len = strlen(out->body);
      return 0;
    }
  if (F.max_docs > 0 && n > F.max_docs) {
    out->status = 413;
    out->body = "";
    out->len = 0;
    return 0;
  }
  size_t answer = n;
  if (F.truncate_once > 0) {
    answer = F.truncate_once < n ? F.truncate_once : n;
    F.truncate_once = 0;
  }
  size_t off = (size_t)snprintf(F.resp, sizeof(F.resp), "{\"items\":[");
  for (size_t i = 0; i < answer; i++) {
    int d = docs[i], st = 201;
    if (F.script_pos[d] < 4 && F.script[d][F.script_pos[d]] != 0)
      st = F.script[d][F.script_pos[d]++];
    if (st == 201 && F.times_stored[d] > 0)
      st = 409;
    const char *err = st == 400   ? ",\"error\":{\"type\":\"mapper_parsing_"
                                    "exception\",\"reason\":\"bad n\"}"
                      : st >= 300 ? ",\"error\":{\"type\":\"busy\"}"
                                  : "";
    if (st == 201) {
      F.times_stored[d]++;
      F.stored[F.nstored++] = d;
    }
    off += (size_t)snprintf(F.resp + off, sizeof(F.resp) - off,
                            "%s{\"create\":{\"status\":%d%s}}", i ? "," : "",
                            st, err);
  }
  snprintf(F.resp + off, sizeof(F.resp) - off, "]}");
  out->status = 200;
  out->body = F.resp;
  out->len = strlen(F.resp);
  return 0;
}

static double fake_now(void *ctx) {
  (void)ctx;
  return F.now;
}

static int fake_sleep(void *ctx, double s) {
  (void)ctx;
  F.now += s;
  return 0;
}

static void fake_log(void *ctx, es_log_t ch, int sev, const char *msg) {
  (void)ctx;
  (void)sev;
  F.logs[ch]++;
  if (ch == ES_LOG_DOCS)
    snprintf(F.last_docs_log, sizeof(F.last_docs_log), "%s", msg);
}

static const es_sender_io_t IO = {fake_http, fake_now, fake_sleep, fake_log,
                                  NULL};

static char dir[256], dead[300];

/* Makes a sender on a fresh spool directory (or the last one: keep). */
static es_sender_t *make(size_t batch, unsigned max_retries, int templates,
                         int keep) {
  if (!keep) {
    snprintf(dir, sizeof(dir), "/tmp/test_es_sender.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(dead, sizeof(dead), "%s/dead-letter.ndjson", dir);
  }
  es_sender_config_t cfg = {
      .name = "t",
      .batch_size = batch,
      .retry = {.initial = 1, .max = 8, .max_retries = max_retries},
      .seed = 42,
      .spool_dir = dir,
      .spool_max = 1 << 20,
      .dead_letter = dead,
      .install_templates = templates,
      .mode = ES_MODE_DAILY,
      .prefix = "t",
  };
  char err[256];
  es_sender_t *s = es_sender_new(&cfg, &IO, err, sizeof(err));
  if (s == NULL)
    fail_msg("es_sender_new: %s", err);
  return s;
}

/* Removes the test's spool directory. */
static void cleanup(void) {
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void enqueue(es_sender_t *s, int from, int to) {
  for (int d = from; d < to; d++) {
    char *pair = malloc(80);
    int len = snprintf(pair, 80,
                       "{\"create\":{\"_index\":\"t-1\",\"_id\":\"%d\"}}\n"
                       "{\"n\":%d}\n",
                       d, d);
    es_sender_enqueue(s, pair, (size_t)len);
  }
}

/* Steps (everything due) until the sender is idle or backs off. Returns
 * the last step. */
static es_step_t run(es_sender_t *s) {
  double until;
  es_step_t st;
  int guard = 0;
  while ((st = es_sender_step(s, true, &until)) == ES_STEP_WORKED)
    assert_true(++guard < 1000);
  return st;
}

/* The stored documents as "0,1,2". */
static const char *stored(void) {
  static char buf[4096];
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < F.nstored; i++)
    off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%d", i ? "," : "",
                            F.stored[i]);
  return buf;
}

/* Returns the number of lines of the dead-letter file. */
static int dead_lines(char *first, size_t size) {
  FILE *f = fopen(dead, "r");
  if (f == NULL)
    return 0;
  char line[2048];
  int n = 0;
  while (fgets(line, sizeof(line), f) != NULL)
    if (n++ == 0 && first != NULL)
      snprintf(first, size, "%s", line);
  fclose(f);
  return n;
}

static int setup(void **state) {
  (void)state;
  memset(&F, 0, sizeof(F));
  F.now = 1000;
  return 0;
}

static void test_delivers_in_batches_in_order(void **state) {
  (void)state;
  es_sender_t *s = make(4, 0, 0, 0);
  enqueue(s, 0, 10);
  CHECK_INT("queued", es_sender_queued(s), 10);
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("stored", stored(), "0,1,2,3,4,5,6,7,8,9");
  CHECK_INT("requests of 4, 4, 2", F.posts, 3);
  CHECK_INT("queued", es_sender_counter(s, ES_C_QUEUED), 10);
  CHECK_INT("sent", es_sender_counter(s, ES_C_SENT), 10);
  CHECK_INT("stored", es_sender_counter(s, ES_C_STORED), 10);
  CHECK_INT("spooled", es_sender_counter(s, ES_C_SPOOLED), 0);
  /* Nothing due: nothing sent. */
  enqueue(s, 10, 11);
  double until;
  CHECK_INT("not due", es_sender_step(s, false, &until), ES_STEP_IDLE);
  CHECK_INT("posts", F.posts, 3);
  es_sender_free(s);
  cleanup();
}

/* A site's own @custom component template is kept: GET answers 200, so
 * only the missing one and the index templates are PUT; after an outage
 * the index templates are PUT again, the components never. */
static void test_site_component_kept(void **state) {
  (void)state;
  es_sender_t *s = make(4, 0, 1, 0);
  snprintf(F.site_components, sizeof(F.site_components),
           "/_component_template/t-events@custom;");
  assert_int_equal(es_sender_templates(s), 0);
  CHECK_CSTR("first", F.puts_paths,
             "/_component_template/t-metrics@custom;"
             "/_index_template/t-metrics;/_index_template/t-events;");
  CHECK_INT("gets", F.gets, 2);
  F.down = 1;
  enqueue(s, 0, 1);
  double until = 0;
  CHECK_INT("tried", es_sender_step(s, true, &until), ES_STEP_WORKED);
  CHECK_INT("down", es_sender_step(s, true, &until), ES_STEP_BACKOFF);
  assert_true(es_sender_down(s));
  F.down = 0;
  F.now = until;
  F.puts_paths[0] = '\0';
  snprintf(F.site_components, sizeof(F.site_components),
           "/_component_template/t-events@custom;"
           "/_component_template/t-metrics@custom;");
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("again", F.puts_paths,
             "/_index_template/t-metrics;/_index_template/t-events;");
  CHECK_INT("gets", F.gets, 4);
  es_sender_free(s);
  cleanup();
}

static void test_outage_spools_then_replays_in_order(void **state) {
  (void)state;
  es_sender_t *s = make(4, 0, 1, 0);
  F.down = 1;
  assert_int_equal(es_sender_templates(s), -1);
  assert_true(es_sender_down(s));
  enqueue(s, 0, 5);
  double until = 0;
  /* Backing off: what is due goes to the spool, not to the cluster. */
  CHECK_INT("backoff", es_sender_step(s, true, &until), ES_STEP_BACKOFF);
  assert_true(until > F.now);
  CHECK_INT("queued", es_sender_queued(s), 0);
  CHECK_INT("spooled", es_sender_counter(s, ES_C_SPOOLED), 5);
  assert_true(es_sender_spool_bytes(s) > 0);
  /* Still down when the backoff ends: the replay fails, backs off again. */
  F.now = until;
  CHECK_INT("replay tried", es_sender_step(s, true, &until), ES_STEP_WORKED);
  CHECK_INT("backoff again", es_sender_step(s, true, &until), ES_STEP_BACKOFF);
  enqueue(s, 5, 8);
  CHECK_INT("new ones spooled", es_sender_step(s, true, &until),
            ES_STEP_BACKOFF);
  CHECK_INT("spooled", es_sender_counter(s, ES_C_SPOOLED), 8);
  assert_true(F.logs[ES_LOG_CLUSTER] >= 2);
  CHECK_INT("not up yet", F.logs[ES_LOG_UP], 0);
  /* Back: templates first, then the spool in order, each document once. */
  F.down = 0;
  F.now = until;
  enqueue(s, 8, 10);
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("templates", F.puts_paths,
             "/_component_template/t-metrics@custom;"
             "/_component_template/t-events@custom;"
             "/_index_template/t-metrics;/_index_template/t-events;");
  CHECK_CSTR("stored", stored(), "0,1,2,3,4,5,6,7,8,9");
  CHECK_INT("spool empty", es_sender_spool_bytes(s), 0);
  CHECK_INT("up once", F.logs[ES_LOG_UP], 1);
  assert_false(es_sender_down(s));
  CHECK_INT("dropped", es_sender_counter(s, ES_C_DROPPED), 0);
  es_sender_free(s);
  cleanup();
}

static void test_413_splits_and_400_dead_letters_alone(void **state) {
  (void)state;
  es_sender_t *s = make(8, 0, 0, 0);
  F.max_docs = 2;
  F.poison = 5;
  enqueue(s, 0, 8);
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("stored", stored(), "0,1,2,3,4,6,7");
  /* 8 -> 413; 4 (0-3) -> 413; 2, 2 stored; 4 (4-7) -> 400; 2 (4,5) -> 400;
   * 4 stored... */
  char first[2048];
  CHECK_INT("dead letters", dead_lines(first, sizeof(first)), 1);
  assert_non_null(strstr(first, "\"doc\":{\"n\":5}"));
  assert_non_null(strstr(first, "\"status\":400"));
  CHECK_INT("dead", es_sender_counter(s, ES_C_DEAD), 1);
  CHECK_INT("stored", es_sender_counter(s, ES_C_STORED), 7);
  assert_false(es_sender_down(s));
  es_sender_free(s);
  cleanup();
}

static void test_429_and_503_back_off_then_store_once(void **state) {
  (void)state;
  es_sender_t *s = make(4, 0, 0, 0);
  F.whole_status[0] = 429;
  F.whole_status[1] = 503;
  enqueue(s, 0, 4);
  double until;
  assert_int_equal(run(s), ES_STEP_BACKOFF);
  assert_true(es_sender_down(s));
  CHECK_INT("retried", es_sender_counter(s, ES_C_RETRIED), 4);
  CHECK_INT("spooled", es_sender_counter(s, ES_C_SPOOLED), 4);
  es_sender_step(s, true, &until);
  F.now = until;
  assert_int_equal(run(s), ES_STEP_BACKOFF); /* the 503 */
  es_sender_step(s, true, &until);
  F.now = until;
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("stored", stored(), "0,1,2,3");
  CHECK_INT("posts", F.posts, 3);
  es_sender_free(s);
  cleanup();
}

static void test_partial_failures(void **state) {
  (void)state;
  es_sender_t *s = make(8, 0, 0, 0);
  F.script[1][0] = 429;                  /* then stored */
  F.script[2][0] = 400;                  /* never accepted */
  F.script[3][0] = F.script[3][1] = 503; /* stored at the third try */
  F.truncate_once = 5;                   /* 5, 6 missing from the answer */
  enqueue(s, 0, 7);
  double t0 = F.now;
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("stored", stored(), "0,4,1,5,6,3");
  CHECK_INT("each once", F.times_stored[3], 1);
  CHECK_INT("rounds", F.posts, 3);
  assert_true(F.now > t0); /* waited between the rounds */
  CHECK_INT("retried (1,3,5,6 then 3)", es_sender_counter(s, ES_C_RETRIED), 5);
  CHECK_INT("stored", es_sender_counter(s, ES_C_STORED), 6);
  CHECK_INT("dead", es_sender_counter(s, ES_C_DEAD), 1);
  char first[2048];
  CHECK_INT("dead letters", dead_lines(first, sizeof(first)), 1);
  assert_non_null(strstr(first, "mapper_parsing_exception: bad n"));
  assert_non_null(strstr(first, "\"doc\":{\"n\":2}"));
  /* A dead document is reported rate-limited (c_complain), not once per
   * document as a plain message. */
  CHECK_INT("docs channel", F.logs[ES_LOG_DOCS], 1);
  CHECK_INT("plain", F.logs[ES_LOG_PLAIN], 0);
  assert_non_null(strstr(F.last_docs_log, "rejected (status 400)"));
  assert_false(es_sender_down(s));
  es_sender_free(s);
  cleanup();
}

static void test_gives_up_after_max_retries(void **state) {
  (void)state;
  es_sender_t *s = make(4, 2, 0, 0);
  F.script[0][0] = F.script[0][1] = F.script[0][2] = 429;
  enqueue(s, 0, 2);
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("stored", stored(), "1");
  char first[2048];
  CHECK_INT("dead letters", dead_lines(first, sizeof(first)), 1);
  assert_non_null(strstr(first, "gave up after 2 retries"));
  assert_non_null(strstr(first, "\"doc\":{\"n\":0}"));
  CHECK_INT("posts", F.posts, 2);
  es_sender_free(s);
  cleanup();
}

static void test_queue_overflows_to_the_spool(void **state) {
  (void)state;
  es_sender_t *s = make(2, 0, 0, 0);
  enqueue(s, 0, 8); /* 4 x BatchSize: kept */
  CHECK_INT("queued", es_sender_queued(s), 8);
  CHECK_INT("spooled", es_sender_counter(s, ES_C_SPOOLED), 0);
  enqueue(s, 8, 9); /* past it: the queue goes to the spool */
  CHECK_INT("queued", es_sender_queued(s), 0);
  CHECK_INT("spooled", es_sender_counter(s, ES_C_SPOOLED), 9);
  enqueue(s, 9, 11);
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("stored", stored(), "0,1,2,3,4,5,6,7,8,9,10");
  CHECK_INT("spool empty", es_sender_spool_bytes(s), 0);
  es_sender_free(s);
  cleanup();
}

static void test_restart_replays_the_spool(void **state) {
  (void)state;
  es_sender_t *s = make(4, 0, 0, 0);
  F.down = 1;
  enqueue(s, 0, 6);
  assert_int_equal(run(s), ES_STEP_BACKOFF);
  enqueue(s, 6, 8);
  es_sender_stop(s, F.now + 10); /* down: the queue is spooled */
  CHECK_INT("queued", es_sender_queued(s), 0);
  CHECK_INT("spooled", es_sender_counter(s, ES_C_SPOOLED), 8);
  es_sender_free(s);
  /* A new run on the same spool, the cluster back. */
  F.down = 0;
  s = make(4, 0, 0, 1);
  assert_true(es_sender_spool_bytes(s) > 0);
  enqueue(s, 8, 9);
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("stored", stored(), "0,1,2,3,4,5,6,7,8");
  es_sender_free(s);
  /* Stopping while the cluster answers sends the queue; past the
   * deadline it spools it. */
  s = make(4, 0, 0, 1);
  enqueue(s, 9, 10);
  es_sender_stop(s, F.now + 10);
  enqueue(s, 10, 11);
  es_sender_stop(s, F.now - 1);
  CHECK_INT("spooled at the deadline", es_sender_counter(s, ES_C_SPOOLED), 1);
  es_sender_free(s);
  s = make(4, 0, 0, 1);
  assert_int_equal(run(s), ES_STEP_IDLE);
  CHECK_CSTR("stored", stored(), "0,1,2,3,4,5,6,7,8,9,10");
  es_sender_free(s);
  cleanup();
}

static void test_new_fails_cleanly(void **state) {
  (void)state;
  es_sender_config_t cfg = {.name = "t",
                            .batch_size = SIZE_MAX / 4,
                            .retry = {1, 8, 0},
                            .spool_dir = "/tmp/x",
                            .dead_letter = "/tmp/x/d",
                            .spool_max = 1 << 20};
  char err[256] = "";
  assert_null(es_sender_new(&cfg, &IO, err, sizeof(err)));
  assert_non_null(strstr(err, "out of memory"));
  cfg.batch_size = 4;
  cfg.spool_dir = "/proc/no/such/dir";
  assert_null(es_sender_new(&cfg, &IO, err, sizeof(err)));
  assert_non_null(strstr(err, "SpoolDir"));
  es_sender_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_delivers_in_batches_in_order, setup),
      cmocka_unit_test_setup(test_outage_spools_then_replays_in_order, setup),
      cmocka_unit_test_setup(test_site_component_kept, setup),
      cmocka_unit_test_setup(test_413_splits_and_400_dead_letters_alone, setup),
      cmocka_unit_test_setup(test_429_and_503_back_off_then_store_once, setup),
      cmocka_unit_test_setup(test_partial_failures, setup),
      cmocka_unit_test_setup(test_gives_up_after_max_retries, setup),
      cmocka_unit_test_setup(test_queue_overflows_to_the_spool, setup),
      cmocka_unit_test_setup(test_restart_replays_the_spool, setup),
      cmocka_unit_test_setup(test_new_fails_cleanly, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
