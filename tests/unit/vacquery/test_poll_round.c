/* SPDX-License-Identifier: MIT */
/*
 * test_poll_round.c: when a factory's query round is complete. The rule,
 * as the documentation states it: a Vac responder answers one
 * machine_status per machine slot, each with num_machines, the number of
 * slots on the factory (docs/protocol.md section 6); a round is complete
 * once no fewer distinct slots answered than num_machines
 * (collectd-vacquery(5), PollTimeout), so that every slot answered. Each
 * expectation below is worked out by hand from that rule.
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_poll_round.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One reply: its machine, its num_machines (-1: the field is absent), and
 * what the round says after it: new machine (1) or seen before (0), and
 * complete or not. */
typedef struct {
  const char *machine;
  int num_machines;
  int added;
  bool complete;
} step_t;

#define STEPS_MAX 8

static const struct {
  const char *name;
  step_t steps[STEPS_MAX];
  size_t n;
} cases[] = {
    {"in order",
     {{"vac1-00", 3, 1, false},
      {"vac1-01", 3, 1, false},
      {"vac1-02", 3, 1, true}},
     3},
    {"out of order",
     {{"vac1-02", 3, 1, false},
      {"vac1-00", 3, 1, false},
      {"vac1-01", 3, 1, true}},
     3},
    /* an answer to an earlier send of the same round is not a new slot */
    {"duplicates",
     {{"vac1-00", 3, 1, false},
      {"vac1-00", 3, 0, false},
      {"vac1-01", 3, 1, false},
      {"vac1-01", 3, 0, false},
      {"vac1-02", 3, 1, true}},
     5},
    /* the count decides, not the slot's number in its name */
    {"a slot numbered beyond num_machines",
     {{"vac1-00", 2, 1, false}, {"vac1-07", 2, 1, true}},
     2},
    /* more distinct slots than num_machines: complete, and stays so */
    {"more slots than num_machines",
     {{"vac1-00", 2, 1, false},
      {"vac1-01", 2, 1, true},
      {"vac1-02", 2, 1, true}},
     3},
    /* the factory's latest figure counts: it grew */
    {"num_machines grows mid-round",
     {{"vac1-00", 2, 1, false},
      {"vac1-01", 4, 1, false},
      {"vac1-02", 4, 1, false},
      {"vac1-03", 4, 1, true}},
     4},
    /* it shrank: two slots answered, and the factory now has two */
    {"num_machines shrinks mid-round",
     {{"vac1-00", 4, 1, false}, {"vac1-01", 2, 1, true}},
     2},
    /* without num_machines the number of slots is not known */
    {"no num_machines",
     {{"vac1-00", -1, 1, false},
      {"vac1-01", -1, 1, false},
      {"vac1-02", 2, 1, true}},
     3},
    /* a factory of zero slots: no fewer than zero answered */
    {"zero machines", {{"vac1-00", 0, 1, true}}, 1},
};

/* Parses a reply of machine with num_machines (< 0: absent) and site. */
static void reply(const char *machine, int num_machines, const char *site,
                  vq_message_t *m) {
  char text[512], nm[64] = "";
  if (num_machines >= 0)
    snprintf(nm, sizeof(nm), "\"num_machines\": %d, ", num_machines);
  snprintf(text, sizeof(text),
           "{\"message_type\": \"machine_status\", \"space\": \"s.example\", "
           "\"factory\": \"vac1.s.example\", \"site\": \"%s\", %s"
           "\"machine\": \"%s\", \"state\": \"Running\"}",
           site, nm, machine);
  CHECK_REASON(text, vq_parse(vq_test_parser, text, strlen(text), m), VQ_OK);
}

static void test_table(void **state) {
  (void)state;
  vq_poll_round_t *r = vq_poll_round_create();
  assert_non_null(r);
  for (size_t c = 0; c < COUNT(cases); c++) {
    vq_poll_round_reset(r);
    CHECK_INT(cases[c].name, vq_poll_round_complete(r), false);
    size_t distinct = 0;
    for (size_t i = 0; i < cases[c].n; i++) {
      const step_t *s = &cases[c].steps[i];
      char ctx[160];
      snprintf(ctx, sizeof(ctx), "%s, reply %zu (%s)", cases[c].name, i + 1,
               s->machine);
      vq_message_t m = {0};
      reply(s->machine, s->num_machines, "SITE-A", &m);
      CHECK_INT(ctx, vq_poll_round_add(r, &m), s->added);
      distinct += (size_t)s->added;
      CHECK_INT(ctx, vq_poll_round_complete(r), s->complete);
      CHECK_INT(ctx, vq_poll_round_seen(r), distinct);
      vq_message_clear(&m);
    }
  }
  vq_poll_round_destroy(r);
}

/* A new round forgets who answered and num_machines; the site stays. */
static void test_reset_and_site(void **state) {
  (void)state;
  vq_poll_round_t *r = vq_poll_round_create();
  assert_non_null(r);
  CHECK_CSTR("no site yet", vq_poll_round_site(r), "");
  vq_message_t m = {0};
  reply("vac1-00", 1, "SITE-A", &m);
  CHECK_INT("first", vq_poll_round_add(r, &m), 1);
  CHECK_INT("complete", vq_poll_round_complete(r), true);
  CHECK_CSTR("site of the reply", vq_poll_round_site(r), "SITE-A");
  vq_poll_round_reset(r);
  CHECK_INT("new round: not complete", vq_poll_round_complete(r), false);
  CHECK_INT("new round: none seen", vq_poll_round_seen(r), 0);
  CHECK_CSTR("site kept", vq_poll_round_site(r), "SITE-A");
  CHECK_INT("same machine, new round", vq_poll_round_add(r, &m), 1);
  vq_message_clear(&m);

  /* A duplicate does not change the site; a new machine does. */
  reply("vac1-00", 2, "SITE-B", &m);
  CHECK_INT("duplicate", vq_poll_round_add(r, &m), 0);
  CHECK_CSTR("duplicate: site as before", vq_poll_round_site(r), "SITE-A");
  vq_message_clear(&m);
  reply("vac1-01", 2, "SITE-B", &m);
  CHECK_INT("second", vq_poll_round_add(r, &m), 1);
  CHECK_CSTR("site of the new reply", vq_poll_round_site(r), "SITE-B");
  vq_message_clear(&m);

  /* A site too long for a collectd host name is not taken. */
  char longsite[200];
  memset(longsite, 'x', sizeof(longsite) - 1);
  longsite[sizeof(longsite) - 1] = '\0';
  vq_str_t s = {.ptr = longsite, .len = strlen(longsite)};
  CHECK_INT("too long", vq_poll_round_set_site(r, s), -1);
  CHECK_CSTR("kept", vq_poll_round_site(r), "SITE-B");
  vq_str_t none = {0};
  CHECK_INT("absent", vq_poll_round_set_site(r, none), -1);
  vq_str_t ok = {.ptr = "SITE-C", .len = 6};
  CHECK_INT("set", vq_poll_round_set_site(r, ok), 0);
  CHECK_CSTR("set", vq_poll_round_site(r), "SITE-C");
  vq_poll_round_destroy(r);
  vq_poll_round_destroy(NULL);
}

/* calloc and malloc, wrapped for this program (-Wl,--wrap, Makefile.am):
 * while fail_alloc is set, they fail, as when memory runs out. */
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
static bool fail_calloc, fail_malloc;
void *__wrap_calloc(size_t n, size_t size) {
  return fail_calloc ? NULL : __real_calloc(n, size);
}
void *__wrap_malloc(size_t size) {
  return fail_malloc ? NULL : __real_malloc(size);
}

/* Out of memory: no round; a reply not recorded (it counts when it comes
 * again); a reply without a machine name is not recorded either. */
static void test_errors(void **state) {
  (void)state;
  fail_calloc = true;
  assert_null(vq_poll_round_create());
  fail_calloc = false;

  vq_poll_round_t *r = vq_poll_round_create();
  assert_non_null(r);
  vq_message_t m = {0};
  reply("vac1-00", 1, "SITE-A", &m);
  fail_malloc = true;
  CHECK_INT("no memory for the name", vq_poll_round_add(r, &m), -1);
  fail_malloc = false;
  CHECK_INT("not recorded", vq_poll_round_seen(r), 0);
  CHECK_INT("not complete", vq_poll_round_complete(r), false);
  CHECK_CSTR("no site", vq_poll_round_site(r), "");
  CHECK_INT("again", vq_poll_round_add(r, &m), 1);
  CHECK_INT("complete", vq_poll_round_complete(r), true);
  vq_message_clear(&m);

  /* The set of names cannot grow: some reply fails, and is not counted. */
  vq_poll_round_reset(r);
  fail_calloc = true;
  int got = 0;
  size_t i;
  for (i = 0; i < 100000 && got != -1; i++) {
    char name[32];
    snprintf(name, sizeof(name), "vac1-%zu", i);
    reply(name, 100000, "SITE-A", &m);
    got = vq_poll_round_add(r, &m);
    vq_message_clear(&m);
  }
  fail_calloc = false;
  CHECK_INT("a reply failed", got, -1);
  CHECK_INT("only those before it", vq_poll_round_seen(r), i - 1);

  vq_message_t nameless = {0}; /* every field absent */
  vq_poll_round_reset(r);
  CHECK_INT("no machine name", vq_poll_round_add(r, &nameless), -1);
  CHECK_INT("nothing recorded", vq_poll_round_seen(r), 0);
  vq_poll_round_destroy(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_reset_and_site),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, vq_test_setup, vq_test_teardown);
}
