/* SPDX-License-Identifier: MIT */
/*
 * test_poll_output.c: what a polled machine slot becomes (issue 12): the
 * vacquery_machine and vacquery_machine_state value lists of the real Vac
 * responder reply, the lifecycle notifications (severity, message, meta)
 * of every kind of change, when a polled slot decides a finished machine,
 * the finish_source meta pair, and the per-factory vacquery_slots tally.
 * Every expectation is written out by hand from the protocol notes and
 * the issue-12 naming contract.
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_poll.h"
#include "vacquery/vq_poll_output.h"

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

#define SITE "UKI-NORTHGRID-MAN-HEP"
#define SPACE "vac01.tier2.hep.manchester.ac.uk"
#define FACTORY "vac101.tier2.hep.manchester.ac.uk"
#define PI "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk"
#define TIME_SENT 1542927530.0

static void test_state_codes_and_keys(void **state) {
  (void)state;
  static const struct {
    vq_slot_state_t s;
    double code;
    const char *key;
  } table[] = {
      {VQ_SLOT_NONE, NAN, NULL},       {VQ_SLOT_STARTING, 1, "starting"},
      {VQ_SLOT_RUNNING, 2, "running"}, {VQ_SLOT_SHUT_DOWN, 3, "shut_down"},
      {VQ_SLOT_PAUSED, 4, "paused"},   {VQ_SLOT_ZOMBIE, 5, "zombie"},
      {VQ_SLOT_UNKNOWN, 6, "unknown"}, {VQ_SLOT_GONE, NAN, NULL},
  };
  for (size_t i = 0; i < COUNT(table); i++) {
    const char *ctx = vq_slot_state_name(table[i].s);
    CHECK_NUM(ctx, vq_poll_state_code(table[i].s), table[i].code);
    if (table[i].key == NULL)
      assert_null(vq_poll_state_key(table[i].s));
    else
      CHECK_CSTR(ctx, vq_poll_state_key(table[i].s), table[i].key);
  }
}

/* Returns the meta pair key of l, or NULL. */
static const vq_meta_t *meta(const vq_meta_list_t *l, const char *key) {
  for (size_t i = 0; i < l->num; i++)
    if (strcmp(l->items[i].key, key) == 0)
      return &l->items[i];
  return NULL;
}

/* Checks string pair key = want (NULL: absent). */
static void check_meta_str(const vq_meta_list_t *l, const char *key,
                           const char *want) {
  const vq_meta_t *m = meta(l, key);
  if (want == NULL) {
    if (m != NULL)
      fail_msg("meta %s present, expected absent", key);
    return;
  }
  if (m == NULL)
    fail_msg("meta %s absent, expected \"%s\"", key, want);
  CHECK_INT(key, m->kind, VQ_META_STRING);
  CHECK_CSTR(key, m->s, want);
}

static void check_meta_int(const vq_meta_list_t *l, const char *key,
                           int64_t want) {
  const vq_meta_t *m = meta(l, key);
  if (m == NULL)
    fail_msg("meta %s absent", key);
  CHECK_INT(key, m->kind, VQ_META_SIGNED);
  CHECK_INT(key, m->i, want);
}

/* The real Vac responder reply of a finished slot (protocol notes'
 * example): its two value lists and its first lifecycle notification. */
static void test_real_reply(void **state) {
  (void)state;
  vq_message_t m = {0};
  vq_test_parse_fixture("machine_status-vac-responder-shutdown.json", &m);
  vq_slots_t *t = vq_slots_create(10);
  vq_slot_event_t ev;
  CHECK_INT("new slot", vq_slots_observe(t, &m, 1, TIME_SENT, &ev), 1);
  vq_poll_ctx_t ctx = {
      .site = SITE, .space = SPACE, .source = "127.0.0.2", .m = &m};
  vq_poll_out_t *o = malloc(sizeof(*o));
  assert_non_null(o);
  CHECK_INT("output", vq_poll_output(o, ev.slot, &ev, &ctx, TIME_SENT), 0);
  CHECK_INT("lists", o->lists_num, 2);
  static const struct {
    const char *type;
    size_t n;
    double v[4];
  } lists[] = {
      /* processors, cpu_percentage, cpu_seconds, hs06 */
      {"vacquery_machine", 4, {8, 14.6, 1159337, 84.0}},
      /* state Shut down; age 1542927530 - 1542768930; heartbeat age
       * 1542927530 - 1542927335 */
      {"vacquery_machine_state", 3, {3, 158600, 195}},
  };
  for (size_t k = 0; k < 2; k++) {
    const vq_out_values_t *l = &o->lists[k];
    CHECK_CSTR(lists[k].type, l->type->name, lists[k].type);
    CHECK_CSTR("host", l->id.host, SITE);
    CHECK_CSTR("plugin_instance", l->id.plugin_instance, PI);
    CHECK_CSTR("type_instance", l->id.type_instance,
               "lhcb.lhcb-prod.vac101-05_tier2_hep_manchester_ac_uk");
    CHECK_INT(lists[k].type, l->values_num, lists[k].n);
    for (size_t i = 0; i < lists[k].n; i++)
      CHECK_NUM(lists[k].type, l->values[i], lists[k].v[i]);
    CHECK_INT("no meta on machine lists", l->meta.num, 0);
  }
  CHECK_INT("one notification", o->notifs_num, 1);
  const vq_out_notif_t *n = &o->notif;
  CHECK_INT("severity", n->severity, VQ_SEV_OKAY);
  CHECK_CSTR("type", n->type, "vacquery_machine_state");
  CHECK_CSTR("n host", n->id.host, SITE);
  CHECK_CSTR("n plugin_instance", n->id.plugin_instance, PI);
  CHECK_CSTR("n type_instance", n->id.type_instance,
             "lhcb.lhcb-prod.vac101-05_tier2_hep_manchester_ac_uk");
  CHECK_CSTR("message", n->message,
             "machine vac101-05.tier2.hep.manchester.ac.uk: none -> Shut "
             "down");
  static const char *const strs[][2] = {
      {"event", "machine_state"},
      {"site", SITE},
      {"space", SPACE},
      {"factory", FACTORY},
      {"machine", "vac101-05.tier2.hep.manchester.ac.uk"},
      {"machinetype", "lhcb-prod"},
      {"vo", "lhcb"},
      {"fqan", "/lhcb/Role=NULL/Capability=NULL"},
      {"uuid", "5f0c7a2e-9b1d-4e63-8a47-2c9d1e6b3f80"},
      {"old_state", "none"},
      {"new_state", "Shut down"},
      {"shutdown_message", "200 Success"},
      {"source_address", "127.0.0.2"},
  };
  for (size_t i = 0; i < COUNT(strs); i++)
    check_meta_str(&n->meta, strs[i][0], strs[i][1]);
  check_meta_int(&n->meta, "created_time", 1542768930);
  check_meta_int(&n->meta, "started_time", 1542768954);
  check_meta_int(&n->meta, "heartbeat_time", 1542927335);
  check_meta_int(&n->meta, "shutdown_time", 1542927380);
  CHECK_INT("meta pairs", n->meta.num, COUNT(strs) + 4);

  /* The same reply again: values, no notification. */
  CHECK_INT("unchanged", vq_slots_observe(t, &m, 2, TIME_SENT + 60, &ev), 0);
  CHECK_INT("output", vq_poll_output(o, ev.slot, NULL, &ctx, TIME_SENT + 60),
            0);
  CHECK_INT("lists again", o->lists_num, 2);
  CHECK_INT("no notification", o->notifs_num, 0);
  CHECK_NUM("age a minute later", o->lists[1].values[1], 158660);
  free(o);
  vq_slots_destroy(t);
  vq_message_clear(&m);
}

/* A reply of slot `machine' in state, with or without a machinetype. */
static void slot_reply(const char *machine, const char *st, const char *mt,
                       const char *fqan, vq_message_t *m) {
  char text[1024], mtf[128] = "null", fq[128] = "";
  if (mt != NULL)
    snprintf(mtf, sizeof(mtf), "\"%s\"", mt);
  if (fqan != NULL)
    snprintf(fq, sizeof(fq), ", \"fqan\": \"%s\"", fqan);
  snprintf(text, sizeof(text),
           "{\"message_type\": \"machine_status\", \"space\": \"" SPACE
           "\", \"factory\": \"" FACTORY "\", \"site\": \"" SITE "\", "
           "\"num_machines\": 4, \"machine\": \"%s\", \"state\": \"%s\", "
           "\"uuid\": null, \"created_time\": null, \"heartbeat_time\": null, "
           "\"num_processors\": 0, \"cpu_percentage\": 0, \"cpu_seconds\": 0, "
           "\"hs06\": 0, \"machinetype\": %s%s}",
           machine, st, mtf, fq);
  vq_reason_t r = vq_parse(vq_test_parser, text, strlen(text), m);
  if (r != VQ_OK)
    fail_msg("rejected: %s", vq_reason_name(r));
}

/* Each kind of change: severity and message; the empty slot's names. */
static void test_changes(void **state) {
  (void)state;
  static const struct {
    const char *state;
    vq_slot_state_t old;
    const char *mt, *fqan;
    vq_severity_t sev;
    const char *message, *ti;
    double code;
  } table[] = {
      {"Starting", VQ_SLOT_NONE, "atlas-prod", "/atlas/Role=production",
       VQ_SEV_OKAY, "machine m1.x: none -> Starting", "atlas.atlas-prod.m1_x",
       1},
      {"Running", VQ_SLOT_STARTING, "atlas-prod", "/atlas/Role=production",
       VQ_SEV_OKAY, "machine m1.x: Starting -> Running",
       "atlas.atlas-prod.m1_x", 2},
      {"Paused", VQ_SLOT_RUNNING, "atlas-prod", "/atlas/Role=production",
       VQ_SEV_OKAY, "machine m1.x: Running -> Paused", "atlas.atlas-prod.m1_x",
       4},
      {"Zombie", VQ_SLOT_PAUSED, "atlas-prod", "/atlas/Role=production",
       VQ_SEV_WARNING, "machine m1.x: Paused -> Zombie",
       "atlas.atlas-prod.m1_x", 5},
      /* an empty slot: no machinetype, no fqan */
      {"Unknown", VQ_SLOT_NONE, NULL, NULL, VQ_SEV_OKAY,
       "machine m1.x: none -> Unknown", "none.none.m1_x", 6},
  };
  vq_poll_out_t *o = malloc(sizeof(*o));
  assert_non_null(o);
  for (size_t i = 0; i < COUNT(table); i++) {
    vq_message_t m = {0};
    slot_reply("m1.x", table[i].state, table[i].mt, table[i].fqan, &m);
    vq_slots_t *t = vq_slots_create(4);
    vq_slot_event_t ev;
    if (table[i].old != VQ_SLOT_NONE) {
      vq_message_t first = {0};
      slot_reply("m1.x", vq_slot_state_name(table[i].old), table[i].mt,
                 table[i].fqan, &first);
      vq_slots_observe(t, &first, 1, 100, &ev);
      vq_message_clear(&first);
    }
    CHECK_INT(table[i].message, vq_slots_observe(t, &m, 2, 100, &ev), 1);
    vq_poll_ctx_t ctx = {.site = SITE, .space = SPACE, .m = &m};
    CHECK_INT("output", vq_poll_output(o, ev.slot, &ev, &ctx, 100), 0);
    CHECK_INT("notified", o->notifs_num, 1);
    CHECK_INT(table[i].message, o->notif.severity, table[i].sev);
    CHECK_CSTR("message", o->notif.message, table[i].message);
    CHECK_CSTR("type_instance", o->lists[0].id.type_instance, table[i].ti);
    CHECK_NUM("state code", o->lists[1].values[0], table[i].code);
    CHECK_NUM("no created_time: age NaN", o->lists[1].values[1], NAN);
    CHECK_NUM("no heartbeat: NaN", o->lists[1].values[2], NAN);
    check_meta_str(&o->notif.meta, "source_address", NULL);
    check_meta_str(&o->notif.meta, "fqan", table[i].fqan);
    check_meta_str(&o->notif.meta, "machinetype",
                   table[i].mt ? table[i].mt : "none");
    vq_slots_destroy(t);
    vq_message_clear(&m);
  }
  free(o);
}

typedef struct {
  vq_poll_out_t *outs;
  size_t n;
} gone_outs_t;

static void on_gone(const vq_slot_event_t *ev, void *arg) {
  gone_outs_t *g = arg;
  vq_poll_ctx_t ctx = {.site = SITE, .space = SPACE};
  assert_int_equal(vq_poll_output(&g->outs[g->n++], ev->slot, ev, &ctx, 500),
                   0);
}

/* Slots a complete round no longer lists: a running machine gone without
 * shutting down is a WARNING, a shut-down one OKAY, one known only from a
 * pushed message gives nothing; no values for any. */
static void test_gone(void **state) {
  (void)state;
  vq_slots_t *t = vq_slots_create(8);
  vq_slot_event_t ev;
  static const char *const st[] = {"Running", "Shut down"};
  for (size_t i = 0; i < 2; i++) {
    vq_message_t m = {0};
    char name[16];
    snprintf(name, sizeof(name), "m%zu.x", i + 1);
    slot_reply(name, st[i], "lhcb-prod", "/lhcb/Role=NULL", &m);
    vq_slots_observe(t, &m, 1, 100, &ev);
    vq_message_clear(&m);
  }
  /* m3 known only from a pushed machine_status */
  vq_message_t pushed = {0};
  slot_reply("m3.x", "Running", "lhcb-prod", "/lhcb/Role=NULL", &pushed);
  CHECK_INT("pushed finish", vq_slots_count_finish(t, &pushed, 100), 1);
  vq_message_clear(&pushed);
  gone_outs_t g = {calloc(4, sizeof(vq_poll_out_t)), 0};
  assert_non_null(g.outs);
  CHECK_INT("three gone", vq_slots_end_round(t, FACTORY, 2, on_gone, &g), 3);
  CHECK_INT("three outputs", g.n, 3);
  int seen = 0;
  for (size_t i = 0; i < g.n; i++) {
    const vq_poll_out_t *o = &g.outs[i];
    CHECK_INT("no values for a slot gone", o->lists_num, 0);
    if (o->notifs_num == 0) {
      seen |= 4; /* the pushed-only slot */
      continue;
    }
    if (strcmp(o->notif.message, "machine m1.x: Running -> gone") == 0) {
      CHECK_INT("gone while running", o->notif.severity, VQ_SEV_WARNING);
      seen |= 1;
    } else {
      CHECK_CSTR("gone", o->notif.message, "machine m2.x: Shut down -> gone");
      CHECK_INT("gone after shutting down", o->notif.severity, VQ_SEV_OKAY);
      seen |= 2;
    }
    check_meta_str(&o->notif.meta, "new_state", "gone");
    check_meta_str(&o->notif.meta, "vo", "lhcb");
  }
  CHECK_INT("each slot once", seen, 7);
  free(g.outs);
  vq_slots_destroy(t);
}

/* When a polled slot decides a finished machine: "Shut down" with a code. */
static void test_finish_ready(void **state) {
  (void)state;
  static const struct {
    const char *state, *msg;
    bool ready;
  } table[] = {
      {"Shut down", "\"200 Success\"", true},
      {"Shut down", "\"300 No more work\"", true},
      {"Shut down", "\"700\"", true},
      {"Shut down", "null", false},
      {"Shut down", "\"\"", false},
      {"Shut down", "\"Success\"", false},
      {"Shut down", "\"20 Short\"", false},
      {"Shut down", "\"2000 Long\"", false},
      {"Running", "\"200 Success\"", false},
      {"Zombie", "\"600 Lost\"", false},
  };
  for (size_t i = 0; i < COUNT(table); i++) {
    char text[512];
    snprintf(text, sizeof(text),
             "{\"message_type\": \"machine_status\", \"space\": \"s\", "
             "\"factory\": \"f\", \"site\": \"S\", \"machine\": \"m\", "
             "\"state\": \"%s\", \"shutdown_message\": %s}",
             table[i].state, table[i].msg);
    vq_message_t m = {0};
    CHECK_REASON(text, vq_parse(vq_test_parser, text, strlen(text), &m), VQ_OK);
    CHECK_INT(text, vq_poll_finish_ready(&m), table[i].ready);
    vq_message_clear(&m);
  }
}

static void test_meta_with(void **state) {
  (void)state;
  const vq_meta_t items[2] = {
      {.key = "machine", .kind = VQ_META_STRING, .s = "m1"},
      {.key = "wall_seconds", .kind = VQ_META_DOUBLE, .d = 3600}};
  vq_meta_list_t in = {.items = items, .num = 2};
  vq_meta_t out[3];
  CHECK_INT("room", vq_poll_meta_with(&in, "finish_source", "poll", out, 3), 3);
  CHECK_CSTR("kept 0", out[0].s, "m1");
  CHECK_NUM("kept 1", out[1].d, 3600);
  CHECK_CSTR("added key", out[2].key, "finish_source");
  CHECK_INT("added kind", out[2].kind, VQ_META_STRING);
  CHECK_CSTR("added value", out[2].s, "poll");
  CHECK_INT("no room", vq_poll_meta_with(&in, "finish_source", "poll", out, 2),
            2);
  vq_meta_list_t none = {0};
  CHECK_INT("empty in", vq_poll_meta_with(&none, "k", "v", out, 3), 1);
  CHECK_CSTR("only pair", out[0].s, "v");
}

/* One round of a factory: slots per VO, machinetype and state. */
static void test_tally(void **state) {
  (void)state;
  static const struct {
    const char *machine, *state, *mt, *fqan;
  } slots[] = {
      {"m1", "Running", "lhcb-prod", "/lhcb/Role=NULL"},
      {"m2", "Running", "lhcb-prod", "/lhcb/Role=NULL"},
      {"m3", "Shut down", "lhcb-prod", "/lhcb/Role=NULL"},
      {"m4", "Starting", "atlas-prod", "/atlas/Role=production"},
      {"m5", "Shut down", NULL, NULL},
      {"m6", "Unknown", NULL, NULL},
  };
  /* Written by hand: per (VO, machinetype) in first-seen order, the six
   * states starting running shut_down paused zombie unknown. */
  static const struct {
    const char *ti;
    double n;
  } want[] = {
      {"lhcb.lhcb-prod.starting", 0},    {"lhcb.lhcb-prod.running", 2},
      {"lhcb.lhcb-prod.shut_down", 1},   {"lhcb.lhcb-prod.paused", 0},
      {"lhcb.lhcb-prod.zombie", 0},      {"lhcb.lhcb-prod.unknown", 0},
      {"atlas.atlas-prod.starting", 1},  {"atlas.atlas-prod.running", 0},
      {"atlas.atlas-prod.shut_down", 0}, {"atlas.atlas-prod.paused", 0},
      {"atlas.atlas-prod.zombie", 0},    {"atlas.atlas-prod.unknown", 0},
      {"none.none.starting", 0},         {"none.none.running", 0},
      {"none.none.shut_down", 1},        {"none.none.paused", 0},
      {"none.none.zombie", 0},           {"none.none.unknown", 1},
  };
  vq_poll_tally_t *tally = vq_poll_tally_create();
  vq_slots_t *t = vq_slots_create(10);
  assert_non_null(tally);
  for (size_t i = 0; i < COUNT(slots); i++) {
    vq_message_t m = {0};
    slot_reply(slots[i].machine, slots[i].state, slots[i].mt, slots[i].fqan,
               &m);
    vq_slot_event_t ev;
    vq_slots_observe(t, &m, 1, 100, &ev);
    CHECK_INT("add", vq_poll_tally_add(tally, ev.slot), 0);
    vq_message_clear(&m);
  }
  size_t n = 0;
  vq_out_values_t *l = vq_poll_tally_lists(tally, SITE, SPACE, FACTORY, &n);
  CHECK_INT("lists", n, COUNT(want));
  for (size_t i = 0; i < n; i++) {
    CHECK_CSTR("type", l[i].type->name, "vacquery_slots");
    CHECK_CSTR("host", l[i].id.host, SITE);
    CHECK_CSTR("plugin_instance", l[i].id.plugin_instance, PI);
    CHECK_CSTR("type_instance", l[i].id.type_instance, want[i].ti);
    CHECK_INT(want[i].ti, l[i].values_num, 1);
    CHECK_NUM(want[i].ti, l[i].values[0], want[i].n);
  }
  free(l);
  vq_poll_tally_reset(tally);
  l = vq_poll_tally_lists(tally, SITE, SPACE, FACTORY, &n);
  assert_null(l);
  CHECK_INT("empty after reset", n, 0);
  vq_poll_tally_destroy(tally);
  vq_slots_destroy(t);
}

/* Parses into *m the reply of a Running lhcb slot whose machine name is
 * len bytes of c, and observes it in a new table *t at time 100 (the caller
 * clears m and destroys *t). Returns the event, ev.slot the slot. */
static vq_slot_event_t long_name_slot(char c, size_t len, vq_message_t *m,
                                      vq_slots_t **t) {
  char machine[256];
  assert_true(len < sizeof(machine));
  memset(machine, c, len);
  machine[len] = '\0';
  slot_reply(machine, "Running", "lhcb-prod", "/lhcb/Role=NULL", m);
  *t = vq_slots_create(2);
  assert_non_null(*t);
  vq_slot_event_t ev;
  CHECK_INT("new slot", vq_slots_observe(*t, m, 1, 100, &ev), 1);
  return ev;
}

/* A machine name that makes the type instance longer than collectd's 127
 * bytes: nothing is dispatched for it. */
static void test_name_too_long(void **state) {
  (void)state;
  vq_message_t m = {0};
  vq_slots_t *t;
  vq_slot_event_t ev = long_name_slot('a', 139, &m, &t);
  vq_poll_ctx_t ctx = {.site = SITE, .space = SPACE, .m = &m};
  vq_poll_out_t *o = malloc(sizeof(*o));
  assert_non_null(o);
  CHECK_INT("too long", vq_poll_output(o, ev.slot, &ev, &ctx, 100), -1);
  CHECK_INT("no lists", o->lists_num, 0);
  CHECK_INT("no notification", o->notifs_num, 0);
  free(o);
  vq_slots_destroy(t);
  vq_message_clear(&m);
}

/* Names each within collectd's limit but together longer than 256 bytes
 * (write_graphite would drop the list): nothing is dispatched. */
static void test_names_too_long_together(void **state) {
  (void)state;
  vq_message_t m = {0};
  vq_slots_t *t;
  vq_slot_event_t ev = long_name_slot('b', 100, &m, &t);
  vq_ident_t id;
  /* site 21 + plugin instance 66 + "lhcb.lhcb-prod." 15 + 100 = 202 */
  CHECK_INT("202 bytes", vq_poll_ident(&id, SITE, SPACE, ev.slot), 0);
  char site[80];
  memset(site, 's', sizeof(site) - 1);
  site[sizeof(site) - 1] = '\0';
  /* 79 + 66 + 115 = 260 */
  CHECK_INT("260 bytes", vq_poll_ident(&id, site, SPACE, ev.slot), -1);
  /* 54 + 66 + 115 = 235 */
  site[54] = '\0';
  CHECK_INT("235 bytes", vq_poll_ident(&id, site, SPACE, ev.slot), 0);
  vq_slots_destroy(t);
  vq_message_clear(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_state_codes_and_keys),
      cmocka_unit_test(test_real_reply),
      cmocka_unit_test(test_changes),
      cmocka_unit_test(test_gone),
      cmocka_unit_test(test_finish_ready),
      cmocka_unit_test(test_meta_with),
      cmocka_unit_test(test_tally),
      cmocka_unit_test(test_name_too_long),
      cmocka_unit_test(test_names_too_long_together),
  };
  return cmocka_run_group_tests(tests, vq_test_setup, vq_test_teardown);
}
