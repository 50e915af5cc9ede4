/* SPDX-License-Identifier: MIT */
/*
 * test_join.c: the Vac outcome join (vq_join) with the real example
 * messages of tests/fixtures/examples: a Vac machine_status (no code) waits
 * for the machinetype_status of its factory and machinetype whose
 * shutdown_machine names it, and then counts under that code's class;
 * without one it counts as none or fizzle after its deadline.
 */
#include "vacquery/vq_join.h"
#include "vacquery/vq_message.h"
#include "vacquery/vq_sample.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <stdlib.h>
#include <string.h>

/* A fixture, its bytes and its parse. */
typedef struct {
  char *buf;
  size_t len;
  vq_message_t m;
} fx_t;

static vq_parser_t *parser;

/* Loads and parses a fixture; asserts it is accepted. */
static void fx_load(fx_t *f, const char *name) {
  f->buf = cm_test_read_fixture(name, &f->len);
  assert_non_null(f->buf);
  CHECK_REASON(name, vq_parse(parser, f->buf, f->len, &f->m), VQ_OK);
}

/* Loads a fixture with one string replaced: the first `from' becomes
 * `to'. */
static void fx_load_edit(fx_t *f, const char *name, const char *from,
                         const char *to) {
  char *raw = cm_test_read_fixture(name, &f->len);
  assert_non_null(raw);
  char *at = strstr(raw, from);
  assert_non_null(at);
  f->buf = malloc(f->len + strlen(to) + 1);
  assert_non_null(f->buf);
  size_t head = (size_t)(at - raw);
  memcpy(f->buf, raw, head);
  strcpy(f->buf + head, to);
  strcat(f->buf, at + strlen(from));
  f->len = strlen(f->buf);
  free(raw);
  CHECK_REASON(name, vq_parse(parser, f->buf, f->len, &f->m), VQ_OK);
}

static void fx_free(fx_t *f) {
  vq_message_clear(&f->m);
  free(f->buf);
}

/* Counts a waiting machine as the plugin does: parses its datagram again,
 * takes the outcome of mt (when given) and returns the finished record's
 * type instance in ti (of size VQ_NAME_MAX) and its outcome. */
static vq_outcome_t count_pending(const vq_pending_t *p, const fx_t *mt,
                                  char *ti) {
  vq_message_t m;
  CHECK_REASON("pending datagram", vq_parse(parser, p->data, p->len, &m),
               VQ_OK);
  if (mt != NULL)
    assert_int_equal(vq_message_take_outcome(&m, &mt->m), 0);
  vq_ident_t id;
  vq_finished_t fin;
  CHECK_REASON("finished", vq_finished_from_message(&m, 600, &id, &fin), VQ_OK);
  strcpy(ti, id.type_instance);
  vq_message_clear(&m);
  return fin.outcome;
}

static int setup(void **state) {
  (void)state;
  parser = vq_parser_create();
  return parser == NULL;
}

static int teardown(void **state) {
  (void)state;
  vq_parser_destroy(parser);
  return 0;
}

/* Which finished machines wait: Vac ones without a code. */
static void test_who_waits(void **state) {
  (void)state;
  static const struct {
    const char *file;
    int waits;
  } cases[] = {
      {"machine_status-vac-man-success.json", 1},
      {"machine_status-vac-man-fizzle.json", 1},
      {"machine_status-vac-nofqan.json", 1},
      {"machine_status-vac-responder-shutdown.json", 0}, /* has its code */
      {"machine_status-vcycle-success.json", 0},
      {"machine_status-vcycle-failure.json", 0},
      {"machinetype_status-vac-man-lhcb.json", 0}, /* not a machine */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    fx_t f;
    fx_load(&f, cases[i].file);
    CHECK_INT(cases[i].file, vq_join_needs_wait(&f.m), cases[i].waits);
    fx_free(&f);
  }
  /* A Vcycle machine without a code does not wait either: Vcycle sends
   * no shutdown_machine. */
  fx_t f;
  fx_load_edit(&f, "machine_status-vcycle-success.json",
               "\"shutdown_message\": \"200 Success\"",
               "\"shutdown_message\": null");
  CHECK_INT("vcycle without code", vq_join_needs_wait(&f.m), 0);
  fx_free(&f);
}

/* vac101-05 (lhcb-prod) finishes; the lhcb-prod machinetype_status names
 * it with "200 Success": it counts under 200, and the datagram kept is
 * the one received. */
static void test_join_success(void **state) {
  (void)state;
  fx_t mach, mt;
  fx_load(&mach, "machine_status-vac-man-success.json");
  fx_load(&mt, "machinetype_status-vac-man-lhcb.json");
  vq_join_t *j = vq_join_create(100);
  assert_non_null(j);
  assert_int_equal(vq_join_add(j, &mach.m, mach.buf, mach.len, 42, 1000), 0);
  CHECK_INT("waiting", vq_join_count(j), 1);
  vq_pending_t *p = vq_join_take(j, &mt.m);
  assert_non_null(p);
  CHECK_INT("taken", vq_join_count(j), 0);
  CHECK_INT("time kept", p->time, 42);
  CHECK_INT("datagram kept",
            p->len == mach.len && memcmp(p->data, mach.buf, mach.len) == 0, 1);
  char ti[VQ_NAME_MAX];
  CHECK_INT("outcome", count_pending(p, &mt, ti), VQ_OUT_200);
  assert_string_equal(ti, "lhcb.lhcb-prod.200");
  free(p);
  /* The next cycle's machinetype_status names the same machine again: it
   * is not counted twice. */
  CHECK_INT("second take", vq_join_take(j, &mt.m) == NULL, 1);
  vq_join_destroy(j);
  fx_free(&mach);
  fx_free(&mt);
}

/* vac101-14 (gridpp) ran 182 s: alone it is a fizzle; the gridpp
 * machinetype_status names it with "300 Nothing to do". */
static void test_join_overrides_fizzle(void **state) {
  (void)state;
  fx_t mach, mt;
  fx_load(&mach, "machine_status-vac-man-fizzle.json");
  fx_load(&mt, "machinetype_status-vac-man-gridpp.json");
  vq_join_t *j = vq_join_create(100);
  assert_int_equal(vq_join_add(j, &mach.m, mach.buf, mach.len, 1, 1000), 0);
  vq_pending_t *p = vq_join_take(j, &mt.m);
  assert_non_null(p);
  char ti[VQ_NAME_MAX];
  CHECK_INT("outcome", count_pending(p, &mt, ti), VQ_OUT_300);
  assert_string_equal(ti, "gridpp.gridpp.300");
  /* take_outcome put the code into the fields passed on as meta. */
  vq_message_t m;
  vq_parse(parser, p->data, p->len, &m);
  vq_message_take_outcome(&m, &mt.m);
  vq_str_t sm = m.str[VQ_S_SHUTDOWN_MESSAGE];
  CHECK_INT("shutdown_message",
            sm.len == 17 && memcmp(sm.ptr, "300 Nothing to do", 17) == 0, 1);
  CHECK_NUM("shutdown_time", m.num[VQ_N_SHUTDOWN_TIME], 1542929190);
  vq_message_clear(&m);
  free(p);
  vq_join_destroy(j);
  fx_free(&mach);
  fx_free(&mt);
}

/* A machinetype_status of another machinetype, another factory or naming
 * another machine takes nothing; at the deadline the machine counts as it
 * would without a join (fizzle: 182 s). */
static void test_no_match_then_deadline(void **state) {
  (void)state;
  fx_t mach, atlas, other_factory, other_machine;
  fx_load(&mach, "machine_status-vac-man-fizzle.json");
  fx_load(&atlas, "machinetype_status-vac-man-atlas.json");
  fx_load_edit(&other_factory, "machinetype_status-vac-man-gridpp.json",
               "\"factory\": \"vac101.", "\"factory\": \"vac102.");
  fx_load_edit(&other_machine, "machinetype_status-vac-man-gridpp.json",
               "\"shutdown_machine\": \"vac101-14.",
               "\"shutdown_machine\": \"vac101-15.");
  vq_join_t *j = vq_join_create(100);
  assert_int_equal(vq_join_add(j, &mach.m, mach.buf, mach.len, 1, 1000), 0);
  CHECK_INT("atlas", vq_join_take(j, &atlas.m) == NULL, 1);
  CHECK_INT("other factory", vq_join_take(j, &other_factory.m) == NULL, 1);
  CHECK_INT("other machine", vq_join_take(j, &other_machine.m) == NULL, 1);
  CHECK_INT("still waiting", vq_join_count(j), 1);
  CHECK_INT("before deadline", vq_join_expired(j, 999.5) == NULL, 1);
  vq_pending_t *p = vq_join_expired(j, 1000);
  assert_non_null(p);
  char ti[VQ_NAME_MAX];
  CHECK_INT("outcome", count_pending(p, NULL, ti), VQ_OUT_FIZZLE);
  assert_string_equal(ti, "gridpp.gridpp.fizzle");
  free(p);
  CHECK_INT("empty", vq_join_expired(j, 1e12) == NULL, 1);
  vq_join_destroy(j);
  fx_free(&mach);
  fx_free(&atlas);
  fx_free(&other_factory);
  fx_free(&other_machine);
}

/* The documented limit: two lhcb-prod machines finish in one cycle; the
 * machinetype_status names only one (the most recently created). That one
 * gets 200; the other waits out its deadline and counts as none (it ran
 * for days). */
static void test_two_machines_one_cycle(void **state) {
  (void)state;
  fx_t a, b, mt;
  fx_load(&a, "machine_status-vac-man-success.json");
  fx_load_edit(&b, "machine_status-vac-man-success.json",
               "\"machine\": \"vac101-05.", "\"machine\": \"vac101-06.");
  fx_load(&mt, "machinetype_status-vac-man-lhcb.json");
  vq_join_t *j = vq_join_create(100);
  assert_int_equal(vq_join_add(j, &b.m, b.buf, b.len, 1, 1000), 0);
  assert_int_equal(vq_join_add(j, &a.m, a.buf, a.len, 2, 1001), 0);
  vq_pending_t *p = vq_join_take(j, &mt.m);
  assert_non_null(p);
  CHECK_INT("vac101-05 taken", p->time, 2);
  free(p);
  p = vq_join_expired(j, 2000);
  assert_non_null(p);
  char ti[VQ_NAME_MAX];
  CHECK_INT("vac101-06 outcome", count_pending(p, NULL, ti), VQ_OUT_NONE);
  assert_string_equal(ti, "lhcb.lhcb-prod.none");
  free(p);
  vq_join_destroy(j);
  fx_free(&a);
  fx_free(&b);
  fx_free(&mt);
}

/* Vac >= 3.0 names the finished machine even without a message: the join
 * ends the wait, and the machine counts by its run time. */
static void test_named_without_code(void **state) {
  (void)state;
  fx_t mach, mt;
  fx_load(&mach, "machine_status-vac-man-fizzle.json");
  fx_load_edit(&mt, "machinetype_status-vac-man-gridpp.json",
               "\"shutdown_message\": \"300 Nothing to do\"",
               "\"shutdown_message\": null");
  vq_join_t *j = vq_join_create(100);
  assert_int_equal(vq_join_add(j, &mach.m, mach.buf, mach.len, 1, 1000), 0);
  vq_pending_t *p = vq_join_take(j, &mt.m);
  assert_non_null(p);
  char ti[VQ_NAME_MAX];
  CHECK_INT("outcome", count_pending(p, &mt, ti), VQ_OUT_FIZZLE);
  free(p);
  vq_join_destroy(j);
  fx_free(&mach);
  fx_free(&mt);
}

/* At most max_pending wait; the next is refused (counted at once by the
 * caller), and expiry goes oldest first. */
static void test_bounded_count(void **state) {
  (void)state;
  fx_t mach;
  fx_load(&mach, "machine_status-vac-man-success.json");
  vq_join_t *j = vq_join_create(2);
  assert_int_equal(vq_join_add(j, &mach.m, mach.buf, mach.len, 1, 10), 0);
  assert_int_equal(vq_join_add(j, &mach.m, mach.buf, mach.len, 2, 11), 0);
  assert_int_equal(vq_join_add(j, &mach.m, mach.buf, mach.len, 3, 12), 1);
  CHECK_INT("count", vq_join_count(j), 2);
  vq_pending_t *p = vq_join_expired(j, 100);
  CHECK_INT("oldest first", p->time, 1);
  free(p);
  assert_int_equal(vq_join_add(j, &mach.m, mach.buf, mach.len, 4, 13), 0);
  p = vq_join_expired(j, 100);
  CHECK_INT("then the next", p->time, 2);
  free(p);
  p = vq_join_expired(j, 100);
  CHECK_INT("then the newest", p->time, 4);
  free(p);
  CHECK_INT("empty", vq_join_count(j), 0);
  /* Destroy frees what still waits (checked by valgrind/ASan runs). */
  assert_int_equal(vq_join_add(j, &mach.m, mach.buf, mach.len, 5, 14), 0);
  vq_join_destroy(j);
  fx_free(&mach);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_who_waits),
      cmocka_unit_test(test_join_success),
      cmocka_unit_test(test_join_overrides_fizzle),
      cmocka_unit_test(test_no_match_then_deadline),
      cmocka_unit_test(test_two_machines_one_cycle),
      cmocka_unit_test(test_named_without_code),
      cmocka_unit_test(test_bounded_count),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
