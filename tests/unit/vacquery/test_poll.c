/* SPDX-License-Identifier: MIT */
/*
 * test_poll.c: responder polling: salt and cookie (the worked example of
 * the protocol notes), the machines_query, reply checks on a real
 * responder reply, the slot state machine and the single count of a
 * machine's finish from two sources.
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_poll.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#define SALT "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define FACTORY "vac101.tier2.hep.manchester.ac.uk"
#define SPACE "vac01.tier2.hep.manchester.ac.uk"
#define COOKIE                                                                 \
  "c23bc3de99b959e908495ac40cdaacef14a5c91434c2e0e6ddd34e6540d0818a"

static void test_salt_and_cookie(void **state) {
  (void)state;
  uint8_t rnd[32];
  for (int i = 0; i < 32; i++)
    rnd[i] = (uint8_t)i;
  char salt[VQ_POLL_SALT_LEN + 1];
  vq_poll_salt(rnd, salt);
  CHECK_CSTR("salt of 0x00..0x1f", salt, SALT);
  memset(rnd, 0xff, sizeof(rnd));
  vq_poll_salt(rnd, salt);
  CHECK_CSTR("salt of 0xff", salt,
             "//////////////////////////////////////////8=");
  char cookie[VQ_POLL_COOKIE_LEN + 1];
  vq_poll_cookie(SALT, FACTORY, strlen(FACTORY), cookie);
  CHECK_CSTR("worked example", cookie, COOKIE);
}

static void test_query(void **state) {
  (void)state;
  char buf[512];
  long n = vq_poll_query(buf, sizeof(buf), SPACE, COOKIE);
  CHECK_CSTR("query", buf,
             "{\"message_type\": \"machines_query\", \"method\": \"machines\", "
             "\"vacquery_version\": \"VacQuery 01.03\", \"space\": \"" SPACE
             "\", \"cookie\": \"" COOKIE "\"}");
  CHECK_INT("length", n, strlen(buf));
  CHECK_INT("too small", vq_poll_query(buf, (size_t)n, SPACE, COOKIE), -1);
  CHECK_INT("exactly", vq_poll_query(buf, (size_t)n + 1, SPACE, COOKIE), n);
  vq_poll_query(buf, sizeof(buf), "sp\"ace", COOKIE);
  CHECK_INT("quote escaped", strstr(buf, "\"sp\\\"ace\"") != NULL, 1);
}

/* Parses text into *m; fails the test when it is rejected. */
static void parse(vq_parser_t *p, const char *text, vq_message_t *m) {
  vq_reason_t r = vq_parse(p, text, strlen(text), m);
  if (r != VQ_OK)
    fail_msg("rejected: %s: %.80s", vq_reason_name(r), text);
}

static void test_check(void **state) {
  (void)state;
  vq_parser_t *p = vq_parser_create();
  assert_non_null(p);
  size_t len;
  char *reply =
      cm_test_read_fixture("machine_status-vac-responder-shutdown.json", &len);
  vq_message_t m = {0};
  parse(p, reply, &m);
  CHECK_CSTR("real reply", vq_poll_verdict_name(vq_poll_check(&m, SALT, SPACE)),
             "ok");
  CHECK_CSTR("another space",
             vq_poll_verdict_name(vq_poll_check(&m, SALT, "vac02.example")),
             "bad_space");
  CHECK_CSTR("another salt",
             vq_poll_verdict_name(vq_poll_check(
                 &m, "BBECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", SPACE)),
             "bad_cookie");
  vq_message_clear(&m);
  /* The same reply claiming another factory: the cookie no longer fits. */
  char *forged = strdup(reply);
  char *f = strstr(forged, "\"vac101.");
  assert_non_null(f);
  f[5] = '2'; /* vac101 -> vac201 */
  parse(p, forged, &m);
  CHECK_CSTR("forged factory",
             vq_poll_verdict_name(vq_poll_check(&m, SALT, SPACE)),
             "bad_cookie");
  vq_message_clear(&m);
  free(forged);
  free(reply);
  char *fs = cm_test_read_fixture("factory_status-vac-man.json", &len);
  parse(p, fs, &m);
  CHECK_CSTR("not a machine_status",
             vq_poll_verdict_name(vq_poll_check(&m, SALT, SPACE)),
             "not_machine");
  vq_message_clear(&m);
  free(fs);
  vq_parser_destroy(p);
}

/* A responder reply for slot NN of FACTORY in state, machine uuid. */
static void reply(vq_parser_t *p, int slot, const char *state, const char *uuid,
                  vq_message_t *m) {
  char text[1024];
  snprintf(text, sizeof(text),
           "{\"message_type\": \"machine_status\", \"cookie\": \"" COOKIE
           "\", \"space\": \"" SPACE "\", \"factory\": \"" FACTORY "\", "
           "\"site\": \"UKI-NORTHGRID-MAN-HEP\", \"num_machines\": 2, "
           "\"machine\": \"vac101-%02d.tier2.hep.manchester.ac.uk\", "
           "\"state\": \"%s\", \"uuid\": \"%s\", \"created_time\": 1542768930, "
           "\"num_processors\": 8, \"cpu_percentage\": 14.6, "
           "\"cpu_seconds\": 1159337, \"hs06\": 84.0, \"machinetype\": "
           "\"lhcb-prod\", \"fqan\": \"/lhcb/Role=NULL/Capability=NULL\", "
           "\"time_sent\": 1542927530}",
           slot, state, uuid);
  parse(p, text, m);
}

typedef struct {
  int n;
  vq_slot_state_t old[4], new_[4];
} gone_t;

static void on_gone(const vq_slot_event_t *ev, void *arg) {
  gone_t *g = arg;
  g->old[g->n] = ev->old_state;
  g->new_[g->n++] = ev->new_state;
}

static void test_slots(void **state) {
  (void)state;
  vq_parser_t *p = vq_parser_create();
  vq_slots_t *t = vq_slots_create(2);
  assert_non_null(t);
  vq_message_t m = {0};
  vq_slot_event_t ev;
  static const struct {
    int slot;
    const char *state, *uuid;
    uint64_t round;
    int changed;
    vq_slot_state_t old, new_;
  } steps[] = {
      {1, "Starting", "u1", 1, 1, VQ_SLOT_NONE, VQ_SLOT_STARTING},
      {1, "Starting", "u1", 2, 0, 0, 0},
      {1, "Running", "u1", 3, 1, VQ_SLOT_STARTING, VQ_SLOT_RUNNING},
      {1, "Shut down", "u1", 4, 1, VQ_SLOT_RUNNING, VQ_SLOT_SHUT_DOWN},
      {1, "Starting", "u2", 5, 1, VQ_SLOT_NONE, VQ_SLOT_STARTING},
      {1, "Zombie", "u2", 6, 1, VQ_SLOT_STARTING, VQ_SLOT_ZOMBIE},
      {1, "Sideways", "u2", 7, 1, VQ_SLOT_ZOMBIE, VQ_SLOT_UNKNOWN},
  };
  for (size_t i = 0; i < COUNT(steps); i++) {
    char ctx[32];
    snprintf(ctx, sizeof(ctx), "step %zu", i);
    reply(p, steps[i].slot, steps[i].state, steps[i].uuid, &m);
    int r = vq_slots_observe(t, &m, steps[i].round, 100.0 + (double)i, &ev);
    CHECK_INT(ctx, r, steps[i].changed);
    if (r == 1) {
      CHECK_CSTR(ctx, vq_slot_state_name(ev.old_state),
                 vq_slot_state_name(steps[i].old));
      CHECK_CSTR(ctx, vq_slot_state_name(ev.new_state),
                 vq_slot_state_name(steps[i].new_));
      CHECK_CSTR(ctx, ev.slot->machine, "vac101-01.tier2.hep.manchester.ac.uk");
      CHECK_CSTR(ctx, ev.slot->factory, FACTORY);
      CHECK_CSTR(ctx, ev.slot->vo, "lhcb");
      CHECK_CSTR(ctx, ev.slot->machinetype, "lhcb-prod");
      CHECK_NUM(ctx, ev.slot->processors, 8);
      CHECK_NUM(ctx, ev.slot->cpu_percentage, 14.6);
      CHECK_NUM(ctx, ev.slot->hs06, 84);
    }
    vq_message_clear(&m);
  }
  /* Slot 2 joins; a third slot does not fit (max 2). */
  reply(p, 2, "Running", "v1", &m);
  CHECK_INT("slot 2", vq_slots_observe(t, &m, 8, 200, &ev), 1);
  vq_message_clear(&m);
  reply(p, 3, "Running", "w1", &m);
  CHECK_INT("table full", vq_slots_observe(t, &m, 8, 200, &ev), -1);
  vq_message_clear(&m);
  CHECK_INT("count", vq_slots_count(t), 2);
  /* Round 8 listed only slot 2: slot 1 is gone. */
  gone_t g = {0};
  CHECK_INT("gone", vq_slots_end_round(t, FACTORY, 8, on_gone, &g), 1);
  CHECK_INT("one event", g.n, 1);
  CHECK_CSTR("gone from", vq_slot_state_name(g.old[0]), "Unknown");
  CHECK_CSTR("gone to", vq_slot_state_name(g.new_[0]), "gone");
  CHECK_INT("count after", vq_slots_count(t), 1);
  CHECK_INT("other factory untouched",
            vq_slots_end_round(t, "vac999.example", 8, on_gone, &g), 0);
  vq_slots_destroy(t);
  vq_parser_destroy(p);
}

static void test_count_finish_once(void **state) {
  (void)state;
  vq_parser_t *p = vq_parser_create();
  vq_slots_t *t = vq_slots_create(10);
  vq_message_t m = {0};
  vq_slot_event_t ev;
  /* Pushed first, then polled "Shut down": one count. */
  reply(p, 1, "Running", "u1", &m); /* Vac pushes "Running" (the quirk) */
  CHECK_INT("pushed counts", vq_slots_count_finish(t, &m, 10), 1);
  vq_message_clear(&m);
  reply(p, 1, "Shut down", "u1", &m);
  CHECK_INT("polled seen", vq_slots_observe(t, &m, 1, 11, &ev), 1);
  CHECK_INT("polled does not count again", vq_slots_count_finish(t, &m, 11), 0);
  vq_message_clear(&m);
  /* Polled first, then pushed: one count. */
  reply(p, 2, "Shut down", "v1", &m);
  CHECK_INT("polled seen", vq_slots_observe(t, &m, 1, 12, &ev), 1);
  CHECK_INT("polled counts", vq_slots_count_finish(t, &m, 12), 1);
  vq_message_clear(&m);
  reply(p, 2, "Running", "v1", &m);
  CHECK_INT("pushed does not count again", vq_slots_count_finish(t, &m, 13), 0);
  vq_message_clear(&m);
  /* The next machine in slot 1 counts again. */
  reply(p, 1, "Shut down", "u2", &m);
  CHECK_INT("new machine counts", vq_slots_count_finish(t, &m, 14), 1);
  CHECK_INT("once", vq_slots_count_finish(t, &m, 15), 0);
  vq_message_clear(&m);
  vq_slots_destroy(t);
  vq_parser_destroy(p);
}

static void test_state_names(void **state) {
  (void)state;
  static const struct {
    const char *text;
    vq_slot_state_t s;
  } cases[] = {{"Starting", VQ_SLOT_STARTING},   {"Running", VQ_SLOT_RUNNING},
               {"Shut down", VQ_SLOT_SHUT_DOWN}, {"Paused", VQ_SLOT_PAUSED},
               {"Zombie", VQ_SLOT_ZOMBIE},       {"Unknown", VQ_SLOT_UNKNOWN},
               {"running", VQ_SLOT_UNKNOWN},     {"Shut", VQ_SLOT_UNKNOWN}};
  for (size_t i = 0; i < COUNT(cases); i++)
    CHECK_INT(cases[i].text,
              vq_slot_state_parse(cases[i].text, strlen(cases[i].text)),
              cases[i].s);
  CHECK_INT("NULL", vq_slot_state_parse(NULL, 0), VQ_SLOT_UNKNOWN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_salt_and_cookie),
      cmocka_unit_test(test_query),
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_slots),
      cmocka_unit_test(test_count_finish_once),
      cmocka_unit_test(test_state_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
