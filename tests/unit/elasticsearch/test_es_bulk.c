/* SPDX-License-Identifier: MIT */
/*
 * test_es_bulk.c: unit tests for src/elasticsearch/es_bulk.c: bulk bodies,
 * whole-request and per-item decisions, response parsing (malformed and
 * partial), dead letters, items read back from spooled NDJSON.
 */
#include "elasticsearch/es_bulk.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

#include <json-c/json.h>

#define PAIR(i, doc)                                                           \
  "{\"create\":{\"_index\":\"" i "\",\"_id\":\"x\"}}\n" doc "\n"

static void item(es_item_t *it, const char *pair) {
  assert_int_equal(es_item_init(it, pair, strlen(pair)), 0);
}

static void test_item_parts(void **state) {
  (void)state;
  es_item_t it;
  item(&it, PAIR("vacmon-metrics-2026.11.23", "{\"a\":1}"));
  assert_int_equal(it.attempts, 0);
  assert_int_equal(it.done, 0);
  const char *doc;
  size_t len;
  assert_int_equal(es_item_doc(&it, &doc, &len), 0);
  assert_int_equal(len, 7);
  assert_memory_equal(doc, "{\"a\":1}", 7);
  char index[64];
  assert_int_equal(es_item_index(&it, index, sizeof(index)), 0);
  CHECK_CSTR("index", index, "vacmon-metrics-2026.11.23");
  assert_int_equal(es_item_index(&it, index, 10), -1); /* does not fit */
  es_items_clear(&it, 1);
  assert_null(it.pair);

  static const char *const bad[] = {
      "no newline at all",
      "{\"create\":{\"_index\":\"i\"}}\n{\"a\":1}", /* source not ended */
      "{\"create\":{\"_index\":\"i\"}}\n",          /* no source */
  };
  for (size_t i = 0; i < COUNT(bad); i++) {
    item(&it, bad[i]);
    if (es_item_doc(&it, &doc, &len) != -1)
      fail_msg("[%s] doc found", bad[i]);
    es_items_clear(&it, 1);
  }
  static const char *const bad_action[] = {
      "{\"index\":{\"_index\":\"i\"}}\n{}\n",    "{\"create\":{}}\n{}\n",
      "{\"create\":{\"_index\":5}}\n{}\n",       "not json\n{}\n",
      "{\"create\":{\"_index\":\"i\"}} x\n{}\n", "nothing",
  };
  for (size_t i = 0; i < COUNT(bad_action); i++) {
    item(&it, bad_action[i]);
    if (es_item_index(&it, index, sizeof(index)) != -1)
      fail_msg("[%s] index found", bad_action[i]);
    es_items_clear(&it, 1);
  }
}

static void test_body(void **state) {
  (void)state;
  es_item_t it[2];
  item(&it[0], PAIR("a", "{}"));
  item(&it[1], PAIR("b", "{\"x\":2}"));
  cm_buf_t b = CM_BUF_INIT;
  assert_int_equal(es_bulk_body(&b, it, 2), 0);
  CHECK_CSTR("body", b.data, PAIR("a", "{}") PAIR("b", "{\"x\":2}"));
  cm_buf_free(&b);
  assert_int_equal(es_bulk_body(&b, it, 0), 0);
  assert_int_equal(b.len, 0);
  cm_buf_free(&b);
  es_items_clear(it, 2);
}

static void test_classify(void **state) {
  (void)state;
  static const struct {
    long status;
    int transport;
    es_req_t want;
  } rows[] = {
      {0, 1, ES_REQ_RETRY},   {200, 1, ES_REQ_RETRY}, {200, 0, ES_REQ_OK},
      {201, 0, ES_REQ_OK},    {413, 0, ES_REQ_SPLIT}, {400, 0, ES_REQ_REJECT},
      {429, 0, ES_REQ_RETRY}, {500, 0, ES_REQ_RETRY}, {502, 0, ES_REQ_RETRY},
      {503, 0, ES_REQ_RETRY}, {504, 0, ES_REQ_RETRY}, {401, 0, ES_REQ_RETRY},
      {403, 0, ES_REQ_RETRY}, {404, 0, ES_REQ_RETRY}, {301, 0, ES_REQ_RETRY},
      {100, 0, ES_REQ_RETRY},
  };
  for (size_t i = 0; i < COUNT(rows); i++) {
    char ctx[32];
    snprintf(ctx, sizeof(ctx), "%ld/%d", rows[i].status, rows[i].transport);
    CHECK_INT(ctx, es_bulk_classify(rows[i].status, rows[i].transport),
              rows[i].want);
  }
}

static void test_item_outcome(void **state) {
  (void)state;
  static const struct {
    int status;
    es_outcome_t want;
  } rows[] = {
      {200, ES_ITEM_STORED}, {201, ES_ITEM_STORED}, {409, ES_ITEM_DUPLICATE},
      {429, ES_ITEM_RETRY},  {500, ES_ITEM_RETRY},  {503, ES_ITEM_RETRY},
      {599, ES_ITEM_RETRY},  {400, ES_ITEM_DEAD},   {404, ES_ITEM_DEAD},
      {413, ES_ITEM_DEAD},   {0, ES_ITEM_RETRY},    {-1, ES_ITEM_RETRY},
      {600, ES_ITEM_DEAD},
  };
  for (size_t i = 0; i < COUNT(rows); i++) {
    char ctx[16];
    snprintf(ctx, sizeof(ctx), "%d", rows[i].status);
    CHECK_INT(ctx, es_item_outcome(rows[i].status), rows[i].want);
  }
}

static void test_parse_full_response(void **state) {
  (void)state;
  const char *body =
      "{\"took\":3,\"errors\":true,\"items\":["
      "{\"create\":{\"_index\":\"i\",\"_id\":\"1\",\"status\":201,"
      "\"result\":\"created\"}},"
      "{\"create\":{\"_index\":\"i\",\"_id\":\"2\",\"status\":409,\"error\":"
      "{\"type\":\"version_conflict_engine_exception\",\"reason\":\"exists\"}}}"
      ","
      "{\"create\":{\"_index\":\"i\",\"_id\":\"3\",\"status\":429,\"error\":"
      "{\"type\":\"es_rejected_execution_exception\",\"reason\":\"busy\"}}},"
      "{\"create\":{\"_index\":\"i\",\"_id\":\"4\",\"status\":400,\"error\":"
      "{\"type\":\"document_parsing_exception\",\"reason\":\"[1:20] failed "
      "to parse field [values.x] of type [double]\"}}},"
      "{\"create\":{\"status\":503,\"error\":\"old style string error\"}},"
      "{\"index\":{\"status\":200}},"
      "{\"create\":{\"status\":404,\"error\":{\"reason\":\"no type\"}}},"
      "{\"create\":{\"status\":400,\"error\":{}}}"
      "]}";
  es_result_t r[8];
  assert_int_equal(es_bulk_parse(body, strlen(body), 8, r), 0);
  static const struct {
    es_outcome_t outcome;
    int status;
    const char *reason;
  } want[] = {
      {ES_ITEM_STORED, 201, ""},
      {ES_ITEM_DUPLICATE, 409, "version_conflict_engine_exception: exists"},
      {ES_ITEM_RETRY, 429, "es_rejected_execution_exception: busy"},
      {ES_ITEM_DEAD, 400,
       "document_parsing_exception: [1:20] failed to parse field [values.x] "
       "of type [double]"},
      {ES_ITEM_RETRY, 503, "old style string error"},
      {ES_ITEM_STORED, 200, ""},
      {ES_ITEM_DEAD, 404, "error: no type"},
      {ES_ITEM_DEAD, 400, "error: "},
  };
  for (size_t i = 0; i < COUNT(want); i++) {
    char ctx[16];
    snprintf(ctx, sizeof(ctx), "item %zu", i);
    CHECK_INT(ctx, r[i].outcome, want[i].outcome);
    CHECK_INT(ctx, r[i].status, want[i].status);
    CHECK_CSTR(ctx, r[i].reason, want[i].reason);
  }
}

static void test_parse_partial_and_malformed_items(void **state) {
  (void)state;
  /* Two of four items answered: the others must be resent. */
  const char *partial =
      "{\"errors\":false,\"items\":[{\"create\":{\"status\":201}},"
      "{\"create\":{\"status\":201}}]}";
  es_result_t r[4];
  assert_int_equal(es_bulk_parse(partial, strlen(partial), 4, r), 0);
  CHECK_INT("0", r[0].outcome, ES_ITEM_STORED);
  CHECK_INT("1", r[1].outcome, ES_ITEM_STORED);
  CHECK_INT("2", r[2].outcome, ES_ITEM_RETRY);
  CHECK_INT("3", r[3].outcome, ES_ITEM_RETRY);
  CHECK_CSTR("3", r[3].reason, "missing from a partial response");
  /* More items than sent: the extra ones are ignored. */
  r[1].outcome = ES_ITEM_DEAD; /* must stay as it was */
  r[1].status = 999;
  assert_int_equal(es_bulk_parse(partial, strlen(partial), 1, r), 0);
  CHECK_INT("first of one", r[0].outcome, ES_ITEM_STORED);
  CHECK_INT("first of one", r[0].status, 201);
  CHECK_INT("beyond the request", r[1].outcome, ES_ITEM_DEAD);
  CHECK_INT("beyond the request", r[1].status, 999);
  /* Items that are not what ES sends are resent, never trusted. */
  static const char *const odd[] = {
      "{\"items\":[5]}",
      "{\"items\":[{}]}",
      "{\"items\":[{\"create\":5}]}",
      "{\"items\":[{\"create\":{}}]}",
      "{\"items\":[{\"create\":{\"status\":\"201\"}}]}",
      "{\"items\":[{\"create\":{\"status\":201.5}}]}",
      "{\"items\":[null]}",
  };
  for (size_t i = 0; i < COUNT(odd); i++) {
    assert_int_equal(es_bulk_parse(odd[i], strlen(odd[i]), 1, r), 0);
    CHECK_INT(odd[i], r[0].outcome, ES_ITEM_RETRY);
    CHECK_CSTR(odd[i], r[0].reason, "malformed item in response");
  }
}

static void test_parse_malformed_bodies(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "not json",
      "{\"errors\":false,\"items\":[{\"create\":{\"status\":201}}", /* cut */
      "[]",
      "{}",
      "{\"items\":{}}",
      "{\"items\":null}",
      "{\"error\":{\"type\":\"x\"},\"status\":500}",
      "{\"items\":[]} trailing",
      "<html>502 Bad Gateway</html>",
  };
  for (size_t i = 0; i < COUNT(bad); i++) {
    es_result_t r[1] = {{.outcome = ES_ITEM_DEAD, .status = 7}};
    CHECK_INT(bad[i], es_bulk_parse(bad[i], strlen(bad[i]), 1, r), -1);
    CHECK_INT(bad[i], r[0].status, 7); /* untouched */
  }
  es_result_t r[1];
  assert_int_equal(es_bulk_parse(NULL, 0, 1, r), -1);
  /* A body with an embedded NUL is cut there and is then incomplete. */
  const char nul[] = "{\"items\":[\0]}";
  assert_int_equal(es_bulk_parse(nul, sizeof(nul) - 1, 1, r), -1);
  /* Nesting deeper than the tokener allows is refused, not recursed. */
  char deep[400];
  size_t k = 0;
  k += (size_t)snprintf(deep, sizeof(deep), "{\"items\":[");
  for (int i = 0; i < 100; i++)
    deep[k++] = '[';
  for (int i = 0; i < 100; i++)
    deep[k++] = ']';
  k += (size_t)snprintf(deep + k, sizeof(deep) - k, "]}");
  assert_int_equal(es_bulk_parse(deep, k, 1, r), -1);
}

static void test_dead_letter(void **state) {
  (void)state;
  es_item_t it;
  item(&it, PAIR("vacmon-metrics-2026.11.23", "{\"values\":{\"x\":\"s\"}}"));
  cm_buf_t b = CM_BUF_INIT;
  assert_int_equal(es_dead_letter(&b, &it, "mapper: \"x\" bad", 400), 0);
  CHECK_CSTR("line", b.data,
             "{\"reason\":\"mapper: \\\"x\\\" bad\",\"status\":400,"
             "\"index\":\"vacmon-metrics-2026.11.23\","
             "\"doc\":{\"values\":{\"x\":\"s\"}}}\n");
  json_object *o = json_tokener_parse(b.data);
  assert_non_null(o);
  json_object_put(o);
  es_items_clear(&it, 1);
  /* A damaged item still gives one valid line. */
  cm_buf_reset(&b);
  item(&it, "garbage");
  assert_int_equal(es_dead_letter(&b, &it, "r", 0), 0);
  CHECK_CSTR("damaged", b.data,
             "{\"reason\":\"r\",\"status\":0,\"index\":\"\",\"doc\":null}\n");
  es_items_clear(&it, 1);
  cm_buf_free(&b);
}

static void test_items_from_ndjson(void **state) {
  (void)state;
  const char *data = PAIR("a", "{\"n\":1}") PAIR(
      "b",
      "{\"n\":2}") "{\"create\":{\"_index\":\"c\"}}\n{\"n\":3"; /* torn last
                                                                   pair */
  es_item_t *items = NULL;
  size_t n = 0, bad = 0;
  assert_int_equal(es_items_from_ndjson(data, strlen(data), &items, &n, &bad),
                   2);
  assert_int_equal(n, 2);
  assert_int_equal(bad, 0);
  CHECK_CSTR("0", items[0].pair, PAIR("a", "{\"n\":1}"));
  CHECK_CSTR("1", items[1].pair, PAIR("b", "{\"n\":2}"));
  /* Appends to what is there. */
  assert_int_equal(es_items_from_ndjson(data, strlen(data), &items, &n, &bad),
                   2);
  assert_int_equal(n, 4);
  es_items_clear(items, n);
  free(items);

  /* A lost line costs one line, not every following pair. */
  const char *damaged =
      PAIR("a", "{\"n\":1}") "{\"n\":2}\n" /* its action line is missing */
      PAIR("c", "{\"n\":3}") "{\"create\":{\"_index\":\"d\"}}\n"
                             "not a doc\n" PAIR("e", "{\"n\":5}");
  items = NULL;
  n = bad = 0;
  assert_int_equal(
      es_items_from_ndjson(damaged, strlen(damaged), &items, &n, &bad), 3);
  assert_int_equal(bad, 3);
  CHECK_CSTR("a", items[0].pair, PAIR("a", "{\"n\":1}"));
  CHECK_CSTR("c", items[1].pair, PAIR("c", "{\"n\":3}"));
  CHECK_CSTR("e", items[2].pair, PAIR("e", "{\"n\":5}"));
  es_items_clear(items, n);
  free(items);

  items = NULL;
  n = bad = 0;
  assert_int_equal(es_items_from_ndjson("", 0, &items, &n, &bad), 0);
  assert_null(items);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_item_parts),
      cmocka_unit_test(test_body),
      cmocka_unit_test(test_classify),
      cmocka_unit_test(test_item_outcome),
      cmocka_unit_test(test_parse_full_response),
      cmocka_unit_test(test_parse_partial_and_malformed_items),
      cmocka_unit_test(test_parse_malformed_bodies),
      cmocka_unit_test(test_dead_letter),
      cmocka_unit_test(test_items_from_ndjson),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
