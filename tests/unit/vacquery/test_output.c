/* SPDX-License-Identifier: MIT */
/*
 * test_output.c: unit tests for src/vacquery/vq_output.c: what one message
 * becomes. Real example messages (tests/fixtures/examples) against tables
 * written by hand from those files: every value list's identifier, DS
 * values and meta pairs, every notification's severity, text and meta, and
 * the fleet updates.
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_output.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses the NUL-terminated datagram s; fails unless it is accepted. */
static void parse_text(const char *s, vq_message_t *m) {
  vq_reason_t r = vq_parse(vq_test_parser, s, strlen(s), m);
  if (r != VQ_OK)
    fail_msg("vq_parse(%.60s) = %s", s, vq_reason_name(r));
}

/* ---- expected tables ---------------------------------------------------- */

typedef struct {
  const char *key;
  vq_meta_kind_t kind;
  const char *s; /* VQ_META_STRING */
  double v;      /* the number (bool: 0 or 1) */
} meta_expect_t;

#define MS(k, v)                                                               \
  { k, VQ_META_STRING, v, 0 }
#define MI(k, v)                                                               \
  { k, VQ_META_SIGNED, NULL, v }
#define MD(k, v)                                                               \
  { k, VQ_META_DOUBLE, NULL, v }
#define MB(k, v)                                                               \
  { k, VQ_META_BOOL, NULL, v }
#define MEND                                                                   \
  { NULL, VQ_META_STRING, NULL, 0 }

typedef struct {
  const char *type;
  size_t values_num;
  double values[VQ_MAX_DS];
  const meta_expect_t *meta;
} list_expect_t;

typedef struct {
  vq_severity_t severity;
  const char *host, *plugin_instance, *type, *type_instance;
  const char *message;
  const meta_expect_t *meta;
} notif_expect_t;

#define MAN_SITE "UKI-NORTHGRID-MAN-HEP"
#define MAN_SPACE "vac01.tier2.hep.manchester.ac.uk"
#define MAN_FACTORY "vac101.tier2.hep.manchester.ac.uk"
#define MAN_PI                                                                 \
  "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk"
#define SOURCE "192.0.2.10"

/* factory_status-vac-man.json */
static const meta_expect_t man_factory_full[] = {
    MS("site", MAN_SITE),
    MS("space", MAN_SPACE),
    MS("factory", MAN_FACTORY),
    MS("source_address", SOURCE),
    MS("daemon_version", "Vac 03.01.00 vacd-factory"),
    MS("vacquery_version", "VacQuery 01.03"),
    MS("os_issue", "CentOS Linux release 7.5.1804 (Core)"),
    MS("kernel_version", "3.10.0-862.14.4.el7.x86_64"),
    MI("time_sent", 1542931201),
    MEND};
/* Every list carries the source address: writers may see them in any
 * order. */
static const meta_expect_t man_factory_names[] = {
    MS("site", MAN_SITE), MS("space", MAN_SPACE), MS("factory", MAN_FACTORY),
    MS("source_address", SOURCE), MEND};
static const list_expect_t man_factory_lists[] = {
    {"vacquery_factory", 4, {28, 7, 294, 27.63}, man_factory_full},
    {"vacquery_capacity", 4, {32, 32, 336, 1539080347}, man_factory_names},
    {"vacquery_memory",
     4,
     {62818132, 65690748, 1048, 16776164},
     man_factory_names},
    {"vacquery_disk",
     4,
     {38127412, 2431180, 1523419032, 97433561},
     man_factory_names},
    {"vacquery_heartbeat",
     4,
     {1542931109, 1542931187, 1542931160, 1542930876},
     man_factory_names},
};
/* Every field but the cookie, in the order of the datagram. */
static const meta_expect_t man_factory_fields[] = {
    MS("message_type", "factory_status"),
    MS("vac_version", "Vac 03.01.00 vacd-factory"),
    MS("daemon_version", "Vac 03.01.00 vacd-factory"),
    MS("vacquery_version", "VacQuery 01.03"),
    MS("space", MAN_SPACE),
    MS("factory", MAN_FACTORY),
    MI("time_sent", 1542931201),
    MI("running_cpus", 28),
    MI("running_processors", 28),
    MI("running_machines", 7),
    MD("running_hs06", 294.0),
    MI("max_cpus", 32),
    MI("max_processors", 32),
    MI("max_machines", 32),
    MD("max_hs06", 336.0),
    MI("total_cpus", 32),
    MI("total_machines", 32),
    MD("total_hs06", 336.0),
    MI("root_disk_avail_kb", 38127412),
    MI("root_disk_avail_inodes", 2431180),
    MI("vac_disk_avail_kb", 1523419032),
    MI("daemon_disk_avail_kb", 1523419032),
    MI("vac_disk_avail_inodes", 97433561),
    MI("daemon_disk_avail_inodes", 97433561),
    MD("load_average", 27.63),
    MS("kernel_version", "3.10.0-862.14.4.el7.x86_64"),
    MS("os_issue", "CentOS Linux release 7.5.1804 (Core)"),
    MI("boot_time", 1539080347),
    MI("factory_heartbeat_time", 1542931109),
    MI("responder_heartbeat_time", 1542931187),
    MI("mjf_heartbeat_time", 1542931160),
    MI("metadata_heartbeat_time", 1542930876),
    MI("swap_used_kb", 1048),
    MI("swap_free_kb", 16776164),
    MI("mem_used_kb", 62818132),
    MI("mem_total_kb", 65690748),
    MS("site", MAN_SITE),
    MS("source_address", SOURCE),
    MEND};
static const notif_expect_t man_factory_notif = {
    VQ_SEV_OKAY,
    MAN_SITE,
    MAN_PI,
    "vacquery_message",
    "factory_status",
    "factory_status from factory " MAN_FACTORY " (space " MAN_SPACE
    ", site " MAN_SITE ").",
    man_factory_fields};
static const meta_expect_t man_back_meta[] = {
    MS("site", MAN_SITE), MS("space", MAN_SPACE), MS("factory", MAN_FACTORY),
    MS("source_address", SOURCE), MEND};
static const notif_expect_t man_back = {VQ_SEV_OKAY,
                                        MAN_SITE,
                                        MAN_PI,
                                        "vacquery_factory",
                                        "",
                                        "Factory " MAN_FACTORY
                                        " (space " MAN_SPACE ", site " MAN_SITE
                                        ") is reporting again.",
                                        man_back_meta};

/* machinetype_status-vac-man-atlas.json */
#define ATLAS_MT_META                                                          \
  MS("site", MAN_SITE), MS("space", MAN_SPACE), MS("factory", MAN_FACTORY),    \
      MS("vo", "atlas"), MS("machinetype", "atlas-prod")
static const meta_expect_t atlas_full[] = {
    ATLAS_MT_META,
    MS("source_address", SOURCE),
    MS("daemon_version", "Vac 03.01.00 vacd-factory"),
    MS("vacquery_version", "VacQuery 01.03"),
    MS("fqan", "/atlas/Role=production/Capability=NULL"),
    MS("shutdown_message", "700 Heartbeat file not updated"),
    MS("shutdown_machine", "vac101-11.tier2.hep.manchester.ac.uk"),
    MI("time_sent", 1542931200),
    MEND};
static const meta_expect_t atlas_names[] = {ATLAS_MT_META,
                                            MS("source_address", SOURCE), MEND};
static const list_expect_t atlas_lists[] = {
    {"vacquery_mt", 3, {8, 1, 84}, atlas_full},
    {"vacquery_mt_limits", 3, {8, 172800, 2147483648.0}, atlas_names},
    {"vacquery_mt_info", 2, {1, 3}, atlas_names},
};
static const meta_expect_t atlas_fields[] = {
    MS("message_type", "machinetype_status"),
    MS("vac_version", "Vac 03.01.00 vacd-factory"),
    MS("daemon_version", "Vac 03.01.00 vacd-factory"),
    MS("vacquery_version", "VacQuery 01.03"),
    MS("space", MAN_SPACE),
    MS("factory", MAN_FACTORY),
    MI("num_machinetypes", 3),
    MI("time_sent", 1542931200),
    MS("machinetype", "atlas-prod"),
    MI("bytes_per_processor", 2147483648.0),
    MD("running_hs06", 84.0),
    MI("running_machines", 1),
    MD("running_cpus", 8.0),
    MD("running_processors", 8.0),
    MI("num_before_fizzle", 1),
    MS("shutdown_message", "700 Heartbeat file not updated"),
    MI("shutdown_time", 1542922871),
    MS("shutdown_machine", "vac101-11.tier2.hep.manchester.ac.uk"),
    MS("site", MAN_SITE),
    MS("fqan", "/atlas/Role=production/Capability=NULL"),
    MI("max_wallclock_seconds", 172800),
    MI("max_processors", 8),
    MS("vo", "atlas"),
    MS("source_address", SOURCE),
    MEND};
static const notif_expect_t atlas_notif = {
    VQ_SEV_OKAY,
    MAN_SITE,
    MAN_PI,
    "vacquery_message",
    "machinetype_status",
    "machinetype_status of atlas-prod (VO atlas) from factory " MAN_FACTORY
    " (space " MAN_SPACE ", site " MAN_SITE ").",
    atlas_fields};

/* machine_status-vac-man-success.json: no shutdown message, ran from
 * started_time 1542768954 to heartbeat_time 1542927335 = 158381 s, hs06
 * 84: 13304004 HS06 seconds. */
static const meta_expect_t success_fields[] = {
    MS("message_type", "machine_status"),
    MS("vac_version", "Vac 03.01.00 vacd-factory"),
    MS("daemon_version", "Vac 03.01.00 vacd-factory"),
    MS("vacquery_version", "VacQuery 01.03"),
    MS("space", MAN_SPACE),
    MS("factory", MAN_FACTORY),
    MI("num_machines", 32),
    MI("time_sent", 1542927453),
    MS("machine", "vac101-05.tier2.hep.manchester.ac.uk"),
    MS("state", "Running"),
    MS("machine_model", "cernvm3"),
    MS("uuid", "5f0c7a2e-9b1d-4e63-8a47-2c9d1e6b3f80"),
    MI("created_time", 1542768930),
    MI("started_time", 1542768954),
    MI("heartbeat_time", 1542927335),
    MI("num_cpus", 8),
    MI("num_processors", 8),
    MI("cpu_seconds", 1159337),
    MD("cpu_percentage", 14.6),
    MD("hs06", 84.0),
    MS("machinetype", "lhcb-prod"),
    MS("site", MAN_SITE),
    MS("fqan", "/lhcb/Role=NULL/Capability=NULL"),
    MS("vo", "lhcb"),
    MS("outcome", "none"),
    MD("wall_seconds", 158381),
    MD("hs06_seconds", 13304004),
    MS("source_address", SOURCE),
    MEND};
static const notif_expect_t success_notif = {
    VQ_SEV_OKAY,
    MAN_SITE,
    MAN_PI,
    "vacquery_finished",
    "lhcb.lhcb-prod.none",
    "Machine vac101-05.tier2.hep.manchester.ac.uk (lhcb-prod, VO lhcb) "
    "finished after 158381 s: none.",
    success_fields};

/* ---- checks ------------------------------------------------------------- */

static void check_meta(const char *ctx, const vq_meta_list_t *l,
                       const meta_expect_t *e) {
  size_t n = 0;
  while (e[n].key != NULL)
    n++;
  for (size_t i = 0; i < l->num && i < n; i++) {
    char what[200];
    snprintf(what, sizeof(what), "%s meta[%zu] %s", ctx, i, e[i].key);
    const vq_meta_t *a = &l->items[i];
    CHECK_CSTR(what, a->key, e[i].key);
    CHECK_INT(what, a->kind, e[i].kind);
    switch (e[i].kind) {
    case VQ_META_STRING:
      CHECK_CSTR(what, a->s, e[i].s);
      break;
    case VQ_META_SIGNED:
      CHECK_INT(what, a->i, (int64_t)e[i].v);
      break;
    case VQ_META_DOUBLE:
      CHECK_NUM(what, a->d, e[i].v);
      break;
    case VQ_META_BOOL:
      CHECK_INT(what, a->b, e[i].v != 0);
      break;
    }
  }
  if (l->num != n)
    fail_msg("[%s] %zu meta pairs, expected %zu", ctx, l->num, n);
}

static void check_lists(const char *ctx, const vq_output_t *o, const char *host,
                        const char *pi, const char *ti, const list_expect_t *e,
                        size_t n) {
  CHECK_INT(ctx, o->lists_num, n);
  for (size_t k = 0; k < n; k++) {
    const vq_out_values_t *l = &o->lists[k];
    char what[200];
    snprintf(what, sizeof(what), "%s list %zu %s", ctx, k, e[k].type);
    CHECK_CSTR(what, l->type->name, e[k].type);
    CHECK_CSTR(what, l->id.host, host);
    CHECK_CSTR(what, l->id.plugin_instance, pi);
    CHECK_CSTR(what, l->id.type_instance, ti);
    CHECK_INT(what, l->values_num, e[k].values_num);
    for (size_t i = 0; i < e[k].values_num; i++)
      CHECK_NUM(what, l->values[i], e[k].values[i]);
    check_meta(what, &l->meta, e[k].meta);
  }
}

static void check_notif(const char *ctx, const vq_out_notif_t *n,
                        const notif_expect_t *e) {
  CHECK_INT(ctx, n->severity, e->severity);
  CHECK_CSTR(ctx, n->id.host, e->host);
  CHECK_CSTR(ctx, n->id.plugin_instance, e->plugin_instance);
  CHECK_CSTR(ctx, n->type, e->type);
  CHECK_CSTR(ctx, n->id.type_instance, e->type_instance);
  CHECK_CSTR(ctx, n->message, e->message);
  check_meta(ctx, &n->meta, e->meta);
}

/* A sockaddr for the IPv4 or IPv6 address text. */
static struct sockaddr_storage source(const char *addr) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  struct sockaddr_in *in = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, addr, &in->sin_addr) == 1)
    in->sin_family = AF_INET;
  else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1)
    in6->sin6_family = AF_INET6;
  else
    fail_msg("bad address %s", addr);
  return ss;
}

static const vq_output_conf_t conf_default = {.fizzle_seconds = 600,
                                              .finished_notifications = true};
static const vq_output_conf_t conf_messages = {.fizzle_seconds = 600,
                                               .finished_notifications = true,
                                               .message_notifications = true};

/* Builds the output of one datagram (JSON text when it starts with '{',
 * else an example file's name) received from addr (NULL: unknown) under
 * conf. Returns the reason: the output is built, or why not. */
static vq_reason_t build(const char *datagram, const vq_output_conf_t *conf,
                         const char *addr, vq_output_t *o) {
  vq_message_t m;
  if (datagram[0] == '{')
    parse_text(datagram, &m);
  else
    vq_test_parse_fixture(datagram, &m);
  struct sockaddr_storage from;
  if (addr != NULL)
    from = source(addr);
  vq_reason_t r = VQ_REJ_MISSING;
  assert_int_equal(
      vq_output_build(o, conf, &m, addr ? (struct sockaddr *)&from : NULL, &r),
      0);
  vq_message_clear(&m); /* the output owns everything it points to */
  return r;
}

/* Builds the output of one example file from SOURCE under conf; fails
 * unless it is accepted. */
static void build_fixture(const char *file, const vq_output_conf_t *conf,
                          vq_output_t *o) {
  CHECK_REASON(file, build(file, conf, SOURCE, o), VQ_OK);
}

/* ---- tests -------------------------------------------------------------- */

static void test_factory_status(void **state) {
  (void)state;
  vq_output_t o = VQ_OUTPUT_INIT;
  const char *ctx = "factory_status-vac-man.json";
  build_fixture(ctx, &conf_default, &o);
  check_lists(ctx, &o, MAN_SITE, MAN_PI, "", man_factory_lists,
              COUNT(man_factory_lists));
  CHECK_INT(ctx, o.notifs_num, 0);
  check_notif(ctx, &o.back, &man_back);
  CHECK_CSTR(ctx, o.fleet.factory.host, MAN_SITE);
  CHECK_CSTR(ctx, o.fleet.factory.plugin_instance, MAN_PI);
  assert_false(o.fleet.finished);

  /* MessageNotifications: the same lists and one notification. */
  build_fixture(ctx, &conf_messages, &o);
  check_lists(ctx, &o, MAN_SITE, MAN_PI, "", man_factory_lists,
              COUNT(man_factory_lists));
  CHECK_INT(ctx, o.notifs_num, 1);
  check_notif(ctx, &o.notifs[0], &man_factory_notif);
  vq_output_free(&o);
}

static void test_machinetype_status(void **state) {
  (void)state;
  vq_output_t o = VQ_OUTPUT_INIT;
  const char *ctx = "machinetype_status-vac-man-atlas.json";
  build_fixture(ctx, &conf_messages, &o);
  check_lists(ctx, &o, MAN_SITE, MAN_PI, "atlas.atlas-prod", atlas_lists,
              COUNT(atlas_lists));
  CHECK_INT(ctx, o.notifs_num, 1);
  check_notif(ctx, &o.notifs[0], &atlas_notif);
  check_notif(ctx, &o.back, &man_back);
  CHECK_CSTR(ctx, o.fleet.factory.plugin_instance, MAN_PI);
  assert_false(o.fleet.finished);
  vq_output_free(&o);
}

static void test_machine_status(void **state) {
  (void)state;
  vq_output_t o = VQ_OUTPUT_INIT;
  const char *ctx = "machine_status-vac-man-success.json";
  /* MessageNotifications adds nothing for a machine_status. */
  build_fixture(ctx, &conf_messages, &o);
  CHECK_INT(ctx, o.lists_num, 0);
  CHECK_INT(ctx, o.notifs_num, 1);
  check_notif(ctx, &o.notifs[0], &success_notif);
  check_notif(ctx, &o.back, &man_back);
  assert_true(o.fleet.finished);
  CHECK_CSTR(ctx, o.fleet.factory.host, MAN_SITE);
  CHECK_CSTR(ctx, o.fleet.finished_id.host, MAN_SITE);
  CHECK_CSTR(ctx, o.fleet.finished_id.plugin_instance, MAN_PI);
  CHECK_CSTR(ctx, o.fleet.finished_id.type_instance, "lhcb.lhcb-prod.none");
  CHECK_INT(ctx, o.fleet.fin.outcome, VQ_OUT_NONE);
  CHECK_NUM(ctx, o.fleet.fin.cpu_seconds, 1159337);
  CHECK_NUM(ctx, o.fleet.fin.wall_seconds, 158381);
  CHECK_NUM(ctx, o.fleet.fin.hs06_seconds, 13304004);

  /* FinishedNotifications false: the totals only. */
  vq_output_conf_t quiet = conf_default;
  quiet.finished_notifications = false;
  build_fixture(ctx, &quiet, &o);
  CHECK_INT(ctx, o.notifs_num, 0);
  assert_true(o.fleet.finished);
  CHECK_CSTR(ctx, o.fleet.finished_id.type_instance, "lhcb.lhcb-prod.none");
  vq_output_free(&o);
}

/* The outcome decides the severity: a 700 code is a WARNING. */
static void test_machine_failure_is_warning(void **state) {
  (void)state;
  vq_output_t o = VQ_OUTPUT_INIT;
  CHECK_REASON(
      "700",
      build("{\"message_type\": \"machine_status\", \"site\": \"S\", "
            "\"space\": \"sp\", \"factory\": \"f\", \"machinetype\": \"mt\", "
            "\"fqan\": \"/vo1/Role=NULL\", \"started_time\": 1000, "
            "\"shutdown_time\": 1100, \"shutdown_message\": \"700 Oops\"}",
            &conf_default, NULL, &o),
      VQ_OK);
  static const meta_expect_t meta[] = {MS("message_type", "machine_status"),
                                       MS("site", "S"),
                                       MS("space", "sp"),
                                       MS("factory", "f"),
                                       MS("machinetype", "mt"),
                                       MS("fqan", "/vo1/Role=NULL"),
                                       MI("started_time", 1000),
                                       MI("shutdown_time", 1100),
                                       MS("shutdown_message", "700 Oops"),
                                       MS("vo", "vo1"),
                                       MS("outcome", "700"),
                                       MD("wall_seconds", 100),
                                       MD("hs06_seconds", 0),
                                       MEND};
  static const notif_expect_t e = {
      VQ_SEV_WARNING,
      "S",
      "sp.f",
      "vacquery_finished",
      "vo1.mt.700",
      "Machine ? (mt, VO vo1) finished after 100 s: 700.",
      meta};
  check_notif("700", &o.notifs[0], &e);
  /* no source: no source_address anywhere */
  static const meta_expect_t back_meta[] = {MS("site", "S"), MS("space", "sp"),
                                            MS("factory", "f"), MEND};
  check_meta("back", &o.back.meta, back_meta);
  vq_output_free(&o);
}

/* The source address is written as the address alone, IPv6 too. */
static void test_source_address_ipv6(void **state) {
  (void)state;
  vq_output_t o = VQ_OUTPUT_INIT;
  CHECK_REASON(
      "vcycle",
      build("factory_status-vcycle.json", &conf_default, "2001:db8::7", &o),
      VQ_OK);
  static const meta_expect_t full[] = {
      MS("site", "UKI-EXAMPLE-CLOUD"),
      MS("space", "vcycle01.cloud.example.ac.uk"),
      MS("factory", "vcycle01.example.ac.uk"),
      MS("source_address", "2001:db8::7"),
      MS("daemon_version", "Vcycle 03.00+pre06 vcycled"),
      MS("vacquery_version", "VacQuery 01.02"),
      MS("os_issue", "\\S"),
      MS("kernel_version", "3.10.0-957.1.3.el7.x86_64"),
      MI("time_sent", 1542931187),
      MEND};
  check_meta("vcycle", &o.lists[0].meta, full);
  /* no responder in Vcycle: NaN */
  CHECK_CSTR("vcycle", o.lists[4].type->name, "vacquery_heartbeat");
  CHECK_NUM("vcycle", o.lists[4].values[0], 1542931187);
  CHECK_NUM("vcycle", o.lists[4].values[1], NAN);
  CHECK_CSTR("vcycle", o.back.meta.items[3].key, "source_address");
  CHECK_CSTR("vcycle", o.back.meta.items[3].s, "2001:db8::7");
  vq_output_free(&o);
}

/* A site with a cookie: a message without it becomes nothing. */
static void test_cookie_rejects(void **state) {
  (void)state;
  vq_output_t o = VQ_OUTPUT_INIT;
  const char *file = "factory_status-vac-man.json";
  const vq_site_cookie_t cookies[] = {{MAN_SITE, "s3cret"}};
  vq_output_conf_t conf = conf_messages;
  conf.cookies = cookies;
  conf.cookies_num = 1;
  CHECK_REASON("cookie", build(file, &conf, NULL, &o), VQ_REJ_COOKIE);
  CHECK_INT("cookie", o.lists_num, 0);
  CHECK_INT("cookie", o.notifs_num, 0);
  /* the right cookie: accepted, and the cookie is never meta */
  const vq_site_cookie_t zero[] = {{MAN_SITE, "0"}};
  conf.cookies = zero;
  CHECK_REASON("cookie 0", build(file, &conf, NULL, &o), VQ_OK);
  CHECK_INT("cookie 0", o.lists_num, 5);
  for (size_t i = 0; i < o.notifs[0].meta.num; i++)
    assert_string_not_equal(o.notifs[0].meta.items[i].key, "cookie");
  vq_output_free(&o);
}

/* Control bytes never reach meta or message text, long strings are cut
 * to 511 bytes, and keys that are not plain names are left out. */
static void test_text_is_cleaned(void **state) {
  (void)state;
  char long_issue[700];
  memset(long_issue, 'x', sizeof(long_issue) - 1);
  long_issue[sizeof(long_issue) - 1] = '\0';
  char json[1200];
  snprintf(json, sizeof(json),
           "{\"message_type\": \"factory_status\", \"site\": \"S\\nX\", "
           "\"space\": \"sp\", \"factory\": \"f\\u0007\", \"os_issue\": "
           "\"%s\", \"bad key\": 1, \"k\\nl\": 2}",
           long_issue);
  vq_output_t o = VQ_OUTPUT_INIT;
  CHECK_REASON("clean", build(json, &conf_messages, NULL, &o), VQ_OK);
  CHECK_CSTR("clean", o.lists[0].id.host, "S_X");
  CHECK_CSTR("clean", o.lists[0].id.plugin_instance, "sp.f_");
  CHECK_CSTR("clean", o.lists[0].meta.items[0].s, "S?X");
  CHECK_CSTR("clean", o.lists[0].meta.items[2].s, "f?");
  CHECK_CSTR("clean", o.lists[0].meta.items[3].key, "os_issue");
  CHECK_INT("clean", strlen(o.lists[0].meta.items[3].s), 511);
  CHECK_CSTR("clean", o.notifs[0].message,
             "factory_status from factory f? (space sp, site S?X).");
  CHECK_CSTR("clean", o.back.message,
             "Factory f? (space sp, site S?X) is reporting again.");
  const meta_expect_t fields[] = {MS("message_type", "factory_status"),
                                  MS("site", "S?X"),
                                  MS("space", "sp"),
                                  MS("factory", "f?"),
                                  MS("os_issue", long_issue + 700 - 1 - 511),
                                  MEND};
  check_meta("clean", &o.notifs[0].meta, fields);
  vq_output_free(&o);
}

/* A name too long for a collectd identifier rejects the message. */
static void test_name_too_long(void **state) {
  (void)state;
  char site[200], json[400];
  memset(site, 's', sizeof(site) - 1);
  site[sizeof(site) - 1] = '\0';
  snprintf(json, sizeof(json),
           "{\"message_type\": \"factory_status\", \"site\": \"%s\", "
           "\"space\": \"sp\", \"factory\": \"f\"}",
           site);
  vq_output_t o = VQ_OUTPUT_INIT;
  CHECK_REASON("long", build(json, &conf_messages, NULL, &o), VQ_REJ_TOO_LONG);
  CHECK_INT("long", o.lists_num, 0);
  CHECK_INT("long", o.notifs_num, 0);
  vq_output_free(&o);
}

static void test_stale(void **state) {
  (void)state;
  vq_output_t o = VQ_OUTPUT_INIT;
  assert_int_equal(vq_output_stale(&o, MAN_SITE, MAN_PI, MAN_SITE, MAN_SPACE,
                                   MAN_FACTORY, 612.4),
                   0);
  CHECK_INT("stale", o.lists_num, 0);
  CHECK_INT("stale", o.notifs_num, 1);
  static const meta_expect_t meta[] = {MS("site", MAN_SITE),
                                       MS("space", MAN_SPACE),
                                       MS("factory", MAN_FACTORY), MEND};
  static const notif_expect_t e = {VQ_SEV_FAILURE,
                                   MAN_SITE,
                                   MAN_PI,
                                   "vacquery_factory",
                                   "",
                                   "Factory " MAN_FACTORY " (space " MAN_SPACE
                                   ", site " MAN_SITE
                                   ") has sent nothing for 612 s.",
                                   meta};
  check_notif("stale", &o.notifs[0], &e);
  vq_output_free(&o);
}

/* One output reused for every example file: each build starts empty. */
static void test_reuse_across_examples(void **state) {
  (void)state;
  static const struct {
    const char *file;
    size_t lists, notifs;
  } cases[] = {
      {"factory_status-vac-man.json", 5, 1},
      {"machine_status-vac-man-success.json", 0, 1},
      {"machinetype_status-vac-man-lhcb.json", 3, 1},
      {"factory_status-vcycle-nolimit.json", 5, 1},
      {"machine_status-vcycle-failure.json", 0, 1},
  };
  vq_output_t o = VQ_OUTPUT_INIT;
  for (size_t i = 0; i < COUNT(cases); i++) {
    build_fixture(cases[i].file, &conf_messages, &o);
    CHECK_INT(cases[i].file, o.lists_num, cases[i].lists);
    CHECK_INT(cases[i].file, o.notifs_num, cases[i].notifs);
  }
  vq_output_free(&o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_factory_status),
      cmocka_unit_test(test_machinetype_status),
      cmocka_unit_test(test_machine_status),
      cmocka_unit_test(test_machine_failure_is_warning),
      cmocka_unit_test(test_source_address_ipv6),
      cmocka_unit_test(test_cookie_rejects),
      cmocka_unit_test(test_text_is_cleaned),
      cmocka_unit_test(test_name_too_long),
      cmocka_unit_test(test_stale),
      cmocka_unit_test(test_reuse_across_examples),
  };
  return cmocka_run_group_tests(tests, vq_test_setup, vq_test_teardown);
}
