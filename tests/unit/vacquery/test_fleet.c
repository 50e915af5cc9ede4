/* SPDX-License-Identifier: MIT */
/*
 * test_fleet.c: unit tests for src/vacquery/vq_fleet.c: the factory registry
 * (seen, stale, back again), per-site counts and finished-machine totals.
 */
#include "vacquery/vq_fleet.h"
#include "vacquery/vq_message.h"
#include "vacquery/vq_name.h"
#include "vacquery/vq_sample.h"

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

static vq_str_t sl(const char *s) {
  return (vq_str_t){s, s != NULL ? strlen(s) : 0};
}

/* A factory_status message and its identifier, as the plugin has them. */
typedef struct {
  vq_message_t m;
  vq_ident_t id;
} fac_t;

static fac_t mk_factory(const char *site, const char *space,
                        const char *factory) {
  fac_t f;
  memset(&f, 0, sizeof(f));
  for (size_t i = 0; i < VQ_N_COUNT; i++)
    f.m.num[i] = NAN;
  f.m.type = VQ_MSG_FACTORY;
  f.m.str[VQ_S_SITE] = sl(site);
  f.m.str[VQ_S_SPACE] = sl(space);
  f.m.str[VQ_S_FACTORY] = sl(factory);
  assert_int_equal(vq_ident_from_message(&f.m, &f.id), VQ_OK);
  return f;
}

/* Records stale callbacks. */
typedef struct {
  int calls;
  char host[VQ_NAME_MAX], pi[VQ_NAME_MAX];
  char site[256], space[256], factory[256];
  double last_seen;
  int stale;
} stale_log_t;

static void on_stale(void *ctx, const vq_factory_t *fac) {
  stale_log_t *l = ctx;
  l->calls++;
  snprintf(l->host, sizeof(l->host), "%s", fac->host);
  snprintf(l->pi, sizeof(l->pi), "%s", fac->plugin_instance);
  snprintf(l->site, sizeof(l->site), "%s", fac->site);
  snprintf(l->space, sizeof(l->space), "%s", fac->space);
  snprintf(l->factory, sizeof(l->factory), "%s", fac->factory);
  l->last_seen = fac->last_seen;
  l->stale = fac->stale;
}

static void test_seen_new_factory_is_fresh(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  assert_non_null(fl);
  fac_t a =
      mk_factory("UKI-EXAMPLE", "vac01.example.ac.uk", "vac101.example.ac.uk");
  assert_int_equal(vq_fleet_factories(fl), 0);
  assert_int_equal(vq_fleet_seen(fl, &a.id, &a.m, 1000), 0);
  assert_int_equal(vq_fleet_factories(fl), 1);
  assert_int_equal(vq_fleet_seen(fl, &a.id, &a.m, 1060), 0);
  assert_int_equal(vq_fleet_factories(fl), 1);
  stale_log_t log = {0};
  assert_int_equal(vq_fleet_check_stale(fl, 1100, 600, on_stale, &log), 0);
  assert_int_equal(log.calls, 0);
  vq_fleet_destroy(fl);
}

/* The full life cycle of one factory, step by step. */
static void test_stale_life_cycle(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  assert_non_null(fl);
  fac_t a =
      mk_factory("UKI-EXAMPLE", "vac01.example.ac.uk", "vac101.example.ac.uk");
  stale_log_t log = {0};
  static const struct {
    const char *name;
    int seen; /* 1: vq_fleet_seen at t, 0: vq_fleet_check_stale at t */
    double t;
    int expect; /* seen: return value; check: stale count */
    int calls;  /* total callbacks so far */
  } steps[] = {
      {"first report", 1, 1000, 0, 0},
      {"check before the timeout", 0, 1500, 0, 0},
      {"check exactly at the timeout", 0, 1600, 0, 0},
      {"check just after the timeout", 0, 1600.5, 1, 1},
      {"check again while stale: no new callback", 0, 1700, 1, 1},
      {"check much later: still no new callback", 0, 99999, 1, 1},
      {"reports again: was stale", 1, 100000, 1, 1},
      {"reports once more: fresh", 1, 100010, 0, 1},
      {"check after it is back", 0, 100100, 0, 1},
      {"silent again: second callback", 0, 100700, 1, 2},
      {"back again", 1, 100800, 1, 2},
  };
  for (size_t i = 0; i < COUNT(steps); i++) {
    int got;
    if (steps[i].seen)
      got = vq_fleet_seen(fl, &a.id, &a.m, steps[i].t);
    else
      got = (int)vq_fleet_check_stale(fl, steps[i].t, 600, on_stale, &log);
    if (got != steps[i].expect)
      fail_msg("[%s] returned %d, expected %d", steps[i].name, got,
               steps[i].expect);
    if (log.calls != steps[i].calls)
      fail_msg("[%s] %d callbacks, expected %d", steps[i].name, log.calls,
               steps[i].calls);
  }
  /* what the callback saw */
  assert_string_equal(log.host, "UKI-EXAMPLE");
  assert_string_equal(log.pi, "vac01_example_ac_uk.vac101_example_ac_uk");
  assert_string_equal(log.site, "UKI-EXAMPLE");
  assert_string_equal(log.space, "vac01.example.ac.uk");
  assert_string_equal(log.factory, "vac101.example.ac.uk");
  assert_true(log.last_seen == 100010);
  assert_int_equal(log.stale, 1);
  assert_int_equal(vq_fleet_factories(fl), 1);
  vq_fleet_destroy(fl);
}

/* The callback may be NULL; the count is still right. */
static void test_check_stale_without_callback(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  fac_t a = mk_factory("s", "sp1", "f"), b = mk_factory("s", "sp2", "f");
  vq_fleet_seen(fl, &a.id, &a.m, 100);
  vq_fleet_seen(fl, &b.id, &b.m, 500);
  assert_int_equal(vq_fleet_check_stale(fl, 800, 600, NULL, NULL), 1);
  assert_int_equal(vq_fleet_check_stale(fl, 1200, 600, NULL, NULL), 2);
  assert_int_equal(vq_fleet_seen(fl, &a.id, &a.m, 1300), 1);
  assert_int_equal(vq_fleet_check_stale(fl, 1300, 600, NULL, NULL), 1);
  vq_fleet_destroy(fl);
}

/* An older report (processed late) does not move last_seen back. */
static void test_seen_out_of_order_keeps_latest_time(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  fac_t a = mk_factory("s", "sp", "f");
  vq_fleet_seen(fl, &a.id, &a.m, 1000);
  vq_fleet_seen(fl, &a.id, &a.m, 400);
  stale_log_t log = {0};
  assert_int_equal(vq_fleet_check_stale(fl, 1500, 600, on_stale, &log), 0);
  assert_int_equal(vq_fleet_check_stale(fl, 1601, 600, on_stale, &log), 1);
  assert_true(log.last_seen == 1000);
  vq_fleet_destroy(fl);
}

typedef struct {
  size_t n;
  struct {
    char host[VQ_NAME_MAX];
    size_t factories, stale;
  } site[200];
} site_log_t;

static void on_site(void *ctx, const char *host, size_t factories,
                    size_t stale) {
  site_log_t *l = ctx;
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->site[i].host, host) == 0)
      fail_msg("site %s reported twice", host);
  assert_true(l->n < COUNT(l->site));
  snprintf(l->site[l->n].host, sizeof(l->site[l->n].host), "%s", host);
  l->site[l->n].factories = factories;
  l->site[l->n].stale = stale;
  l->n++;
}

static const void *find_site(const site_log_t *l, const char *host,
                             size_t *factories, size_t *stale) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->site[i].host, host) == 0) {
      *factories = l->site[i].factories;
      *stale = l->site[i].stale;
      return l;
    }
  return NULL;
}

static void test_foreach_site_counts(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  static const struct {
    const char *site, *space, *factory;
    double seen;
  } reports[] = {
      {"UKI-A", "vac01.a", "f1.a", 1000},
      {"UKI-A", "vac01.a", "f2.a", 1000},
      {"UKI-A", "vac02.a", "f1.a", 100}, /* goes stale */
      {"UKI-B", "vc.b", "vcycle.b", 1000},
      {"c.example", "x", "y", 100},       /* goes stale */
      {"c.example", "x", "z", 200},       /* goes stale */
      {"UKI-A", "vac01.a", "f1.a", 1001}, /* repeat: not a new factory */
  };
  for (size_t i = 0; i < COUNT(reports); i++) {
    fac_t f = mk_factory(reports[i].site, reports[i].space, reports[i].factory);
    assert_int_equal(vq_fleet_seen(fl, &f.id, &f.m, reports[i].seen), 0);
  }
  assert_int_equal(vq_fleet_factories(fl), 6);
  assert_int_equal(vq_fleet_check_stale(fl, 1100, 600, NULL, NULL), 3);

  site_log_t log;
  memset(&log, 0, sizeof(log));
  assert_int_equal(vq_fleet_foreach_site(fl, on_site, &log), 0);
  assert_int_equal(log.n, 3);
  static const struct {
    const char *host;
    size_t factories, stale;
  } want[] = {{"UKI-A", 3, 1}, {"UKI-B", 1, 0}, {"c_example", 2, 2}};
  for (size_t i = 0; i < COUNT(want); i++) {
    size_t fa = 0, st = 0;
    if (find_site(&log, want[i].host, &fa, &st) == NULL)
      fail_msg("site %s not reported", want[i].host);
    if (fa != want[i].factories || st != want[i].stale)
      fail_msg("site %s: %zu factories, %zu stale; expected %zu, %zu",
               want[i].host, fa, st, want[i].factories, want[i].stale);
  }
  vq_fleet_destroy(fl);
}

static void test_foreach_site_on_empty_fleet(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  site_log_t log;
  memset(&log, 0, sizeof(log));
  assert_int_equal(vq_fleet_foreach_site(fl, on_site, &log), 0);
  assert_int_equal(log.n, 0);
  assert_int_equal(vq_fleet_check_stale(fl, 1e9, 1, NULL, NULL), 0);
  vq_fleet_destroy(fl);
  vq_fleet_destroy(NULL);
}

/* ---- finished totals --------------------------------------------------- */

typedef struct {
  size_t n;
  struct {
    char host[VQ_NAME_MAX], pi[VQ_NAME_MAX], ti[VQ_NAME_MAX];
    uint64_t machines;
    double cpu, wall, hs06;
  } t[16];
} fin_log_t;

static void on_finished(void *ctx, const vq_finished_total_t *t) {
  fin_log_t *l = ctx;
  assert_true(l->n < COUNT(l->t));
  snprintf(l->t[l->n].host, VQ_NAME_MAX, "%s", t->host);
  snprintf(l->t[l->n].pi, VQ_NAME_MAX, "%s", t->plugin_instance);
  snprintf(l->t[l->n].ti, VQ_NAME_MAX, "%s", t->type_instance);
  l->t[l->n].machines = t->machines;
  l->t[l->n].cpu = t->cpu_seconds;
  l->t[l->n].wall = t->wall_seconds;
  l->t[l->n].hs06 = t->hs06_seconds;
  l->n++;
}

static vq_ident_t mk_id(const char *host, const char *pi, const char *ti) {
  vq_ident_t id;
  memset(&id, 0, sizeof(id));
  snprintf(id.host, sizeof(id.host), "%s", host);
  snprintf(id.plugin_instance, sizeof(id.plugin_instance), "%s", pi);
  snprintf(id.type_instance, sizeof(id.type_instance), "%s", ti);
  return id;
}

static void test_add_finished_sums_per_series(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  static const struct {
    const char *ti;
    double cpu, wall, hs06;
  } adds[] = {
      {"lhcb.lhcb-prod.200", 100, 200, 2000},   {"lhcb.lhcb-prod.700", 1, 2, 3},
      {"lhcb.lhcb-prod.200", 50.5, 60, 600.25}, {"none.test.fizzle", 0, 10, 0},
      {"lhcb.lhcb-prod.200", 0, 0, 0},
  };
  for (size_t i = 0; i < COUNT(adds); i++) {
    vq_ident_t id = mk_id("UKI-A", "sp.f", adds[i].ti);
    vq_finished_t f = {.outcome = VQ_OUT_200,
                       .code = 200,
                       .cpu_seconds = adds[i].cpu,
                       .wall_seconds = adds[i].wall,
                       .hs06_seconds = adds[i].hs06};
    assert_int_equal(vq_fleet_add_finished(fl, &id, &f), 0);
  }
  /* same type_instance under another factory is another series */
  vq_ident_t other = mk_id("UKI-A", "sp.g", "lhcb.lhcb-prod.200");
  vq_finished_t f1 = {.cpu_seconds = 7, .wall_seconds = 8, .hs06_seconds = 9};
  assert_int_equal(vq_fleet_add_finished(fl, &other, &f1), 0);

  fin_log_t log;
  memset(&log, 0, sizeof(log));
  vq_fleet_foreach_finished(fl, on_finished, &log);
  assert_int_equal(log.n, 4);
  static const struct {
    const char *pi, *ti;
    uint64_t machines;
    double cpu, wall, hs06;
  } want[] = {
      {"sp.f", "lhcb.lhcb-prod.200", 3, 150.5, 260, 2600.25},
      {"sp.f", "lhcb.lhcb-prod.700", 1, 1, 2, 3},
      {"sp.f", "none.test.fizzle", 1, 0, 10, 0},
      {"sp.g", "lhcb.lhcb-prod.200", 1, 7, 8, 9},
  };
  for (size_t w = 0; w < COUNT(want); w++) {
    size_t i;
    for (i = 0; i < log.n; i++)
      if (strcmp(log.t[i].pi, want[w].pi) == 0 &&
          strcmp(log.t[i].ti, want[w].ti) == 0)
        break;
    if (i == log.n)
      fail_msg("series %s/%s not reported", want[w].pi, want[w].ti);
    assert_string_equal(log.t[i].host, "UKI-A");
    if (log.t[i].machines != want[w].machines || log.t[i].cpu != want[w].cpu ||
        log.t[i].wall != want[w].wall || log.t[i].hs06 != want[w].hs06)
      fail_msg("series %s/%s: %llu machines, cpu %g wall %g hs06 %g",
               want[w].pi, want[w].ti, (unsigned long long)log.t[i].machines,
               log.t[i].cpu, log.t[i].wall, log.t[i].hs06);
  }
  /* finished series are not factories */
  assert_int_equal(vq_fleet_factories(fl), 0);
  vq_fleet_destroy(fl);
}

/* calloc, wrapped for this program (-Wl,--wrap=calloc, Makefile.am): the
 * next fail_callocs calls fail, as when memory runs out. */
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
static int fail_callocs;
void *__wrap_calloc(size_t n, size_t size) {
  if (fail_callocs > 0) {
    fail_callocs--;
    return NULL;
  }
  return __real_calloc(n, size);
}

/* Out of memory: seen and add_finished say so (-1, which the plugin counts
 * and reports; not VQ_FLEET_FULL, which rejects the message), record
 * nothing, and work again once memory is back. */
static void test_out_of_memory(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  assert_non_null(fl);
  fac_t a =
      mk_factory("UKI-OOM", "vac01.example.ac.uk", "vac101.example.ac.uk");
  fail_callocs = 1;
  CHECK_INT("seen, no memory", vq_fleet_seen(fl, &a.id, &a.m, 1000), -1);
  CHECK_INT("the calloc was tried", fail_callocs, 0);
  CHECK_INT("no factory recorded", vq_fleet_factories(fl), 0);
  CHECK_INT("seen, memory back", vq_fleet_seen(fl, &a.id, &a.m, 1000), 0);
  CHECK_INT("recorded", vq_fleet_factories(fl), 1);

  vq_ident_t id = mk_id("UKI-OOM", "sp.f", "lhcb.lhcb-prod.200");
  vq_finished_t f = {.cpu_seconds = 1, .wall_seconds = 2, .hs06_seconds = 3};
  fail_callocs = 1;
  CHECK_INT("add, no memory", vq_fleet_add_finished(fl, &id, &f), -1);
  CHECK_INT("no series", vq_fleet_finished_series(fl), 0);
  CHECK_INT("add, memory back", vq_fleet_add_finished(fl, &id, &f), 0);
  CHECK_INT("one series", vq_fleet_finished_series(fl), 1);
  fail_callocs = 0;
  vq_fleet_destroy(fl);
}

/* Identifier slots of the maximum length (127 bytes each). */
static void test_longest_identifiers(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  char h[128], p[128], t[128];
  memset(h, 'h', 127);
  h[127] = '\0';
  memset(p, 'p', 127);
  p[127] = '\0';
  memset(t, 't', 127);
  t[127] = '\0';
  vq_ident_t id = mk_id(h, p, t);
  vq_message_t m;
  memset(&m, 0, sizeof(m));
  m.str[VQ_S_SITE] = (vq_str_t){h, 127};
  m.str[VQ_S_SPACE] = (vq_str_t){p, 127};
  m.str[VQ_S_FACTORY] = (vq_str_t){t, 127};
  assert_int_equal(vq_fleet_seen(fl, &id, &m, 1), 0);
  vq_finished_t f = {.cpu_seconds = 1, .wall_seconds = 2, .hs06_seconds = 3};
  assert_int_equal(vq_fleet_add_finished(fl, &id, &f), 0);
  assert_int_equal(vq_fleet_add_finished(fl, &id, &f), 0);
  fin_log_t log;
  memset(&log, 0, sizeof(log));
  vq_fleet_foreach_finished(fl, on_finished, &log);
  assert_int_equal(log.n, 1);
  assert_int_equal(log.t[0].machines, 2);
  assert_string_equal(log.t[0].ti, t);
  stale_log_t sl_ = {0};
  assert_int_equal(vq_fleet_check_stale(fl, 1000, 10, on_stale, &sl_), 1);
  assert_string_equal(sl_.factory, t);
  vq_fleet_destroy(fl);
}

/* ---- scale ------------------------------------------------------------- */

/* Factory i belongs to site i % 100; every site has 50 factories that
 * fall silent (those with an odd i / 100). */
#define SILENT(i) (((i) / 100) % 2)

typedef struct {
  unsigned char *hit;
  size_t calls;
} many_log_t;

static void on_many_stale(void *ctx, const vq_factory_t *fac) {
  many_log_t *l = ctx;
  unsigned n;
  if (sscanf(fac->factory, "vac%u.example", &n) != 1 || n >= 10000)
    fail_msg("unexpected factory %s", fac->factory);
  if (l->hit[n]++)
    fail_msg("factory %s reported stale twice", fac->factory);
  if (SILENT(n) == 0)
    fail_msg("fresh factory %s reported stale", fac->factory);
  l->calls++;
}

static void on_many_site(void *ctx, const char *host, size_t factories,
                         size_t stale) {
  size_t *sites = ctx;
  if (strncmp(host, "SITE-", 5) != 0)
    fail_msg("unexpected site %s", host);
  if (factories != 100 || stale != 50)
    fail_msg("site %s: %zu factories, %zu stale", host, factories, stale);
  (*sites)++;
}

static void test_ten_thousand_factories(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  for (int round = 0; round < 2; round++) {
    for (unsigned i = 0; i < 10000; i++) {
      char site[32], factory[64];
      snprintf(site, sizeof(site), "SITE-%u", i % 100);
      snprintf(factory, sizeof(factory), "vac%u.example.ac.uk", i);
      fac_t f = mk_factory(site, "space.example.ac.uk", factory);
      /* silent factories report only in round 0, the others in both */
      if (round == 1 && SILENT(i))
        continue;
      double t = round == 0 ? 1000 : 2000;
      if (vq_fleet_seen(fl, &f.id, &f.m, t) != 0)
        fail_msg("factory %u: seen returned non-zero", i);
    }
    assert_int_equal(vq_fleet_factories(fl), 10000);
  }
  many_log_t log = {calloc(10000, 1), 0};
  assert_non_null(log.hit);
  assert_int_equal(vq_fleet_check_stale(fl, 2100, 600, on_many_stale, &log),
                   5000);
  assert_int_equal(log.calls, 5000);
  assert_int_equal(vq_fleet_check_stale(fl, 2200, 600, on_many_stale, &log),
                   5000);
  assert_int_equal(log.calls, 5000);
  size_t sites = 0;
  assert_int_equal(vq_fleet_foreach_site(fl, on_many_site, &sites), 0);
  assert_int_equal(sites, 100);
  /* every stale one comes back exactly once */
  size_t back = 0;
  for (unsigned i = 0; i < 10000; i++) {
    if (!SILENT(i))
      continue;
    char site[32], factory[64];
    snprintf(site, sizeof(site), "SITE-%u", i % 100);
    snprintf(factory, sizeof(factory), "vac%u.example.ac.uk", i);
    fac_t f = mk_factory(site, "space.example.ac.uk", factory);
    back += (size_t)vq_fleet_seen(fl, &f.id, &f.m, 2300);
    assert_int_equal(vq_fleet_seen(fl, &f.id, &f.m, 2301), 0);
  }
  assert_int_equal(back, 5000);
  assert_int_equal(vq_fleet_check_stale(fl, 2400, 600, NULL, NULL), 0);
  free(log.hit);
  vq_fleet_destroy(fl);
}

/* A machinetype_status of factory a with machinetype mt: its identifier
 * as the plugin has it (type_instance "<vo>.<machinetype>"). */
static fac_t mk_mt(const fac_t *a, const char *ti) {
  fac_t m = *a;
  m.m.type = VQ_MSG_MACHINETYPE;
  snprintf(m.id.type_instance, sizeof(m.id.type_instance), "%s", ti);
  return m;
}

/* MaxFactories: a message that would add one more factory is refused
 * (VQ_FLEET_FULL) and adds nothing; known factories still report. The
 * same for machinetypes and finished series. */
static void test_limits(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  vq_fleet_set_limits(fl, 2, 3, 2);
  fac_t a = mk_factory("S", "sp", "fa"), b = mk_factory("S", "sp", "fb"),
        c = mk_factory("S", "sp", "fc");
  assert_int_equal(vq_fleet_seen(fl, &a.id, &a.m, 10), 0);
  assert_int_equal(vq_fleet_seen(fl, &b.id, &b.m, 10), 0);
  assert_int_equal(vq_fleet_seen(fl, &c.id, &c.m, 10), VQ_FLEET_FULL);
  assert_int_equal(vq_fleet_factories(fl), 2);
  assert_int_equal(vq_fleet_seen(fl, &a.id, &a.m, 20), 0);
  /* A machinetype of a new factory is refused as a factory. */
  fac_t cm = mk_mt(&c, "lhcb.lhcb-prod");
  assert_int_equal(vq_fleet_seen(fl, &cm.id, &cm.m, 20), VQ_FLEET_FULL);
  const char *mts[] = {"lhcb.lhcb-prod", "atlas.atlas-prod", "none.test"};
  for (size_t i = 0; i < 3; i++) {
    fac_t m = mk_mt(&a, mts[i]);
    assert_int_equal(vq_fleet_seen(fl, &m.id, &m.m, 30), 0);
  }
  fac_t m4 = mk_mt(&b, "lhcb.lhcb-prod");
  assert_int_equal(vq_fleet_seen(fl, &m4.id, &m4.m, 30), VQ_FLEET_FULL);
  fac_t again = mk_mt(&a, "atlas.atlas-prod");
  assert_int_equal(vq_fleet_seen(fl, &again.id, &again.m, 40), 0);
  assert_int_equal(vq_fleet_machinetypes(fl), 3);
  vq_finished_t fin = {.outcome = VQ_OUT_200, .code = 200};
  vq_ident_t s1 = mk_id(a.id.host, a.id.plugin_instance, "lhcb.lhcb-prod.200");
  vq_ident_t s2 = mk_id(a.id.host, a.id.plugin_instance, "lhcb.lhcb-prod.700");
  vq_ident_t s3 = mk_id(a.id.host, a.id.plugin_instance, "lhcb.lhcb-prod.none");
  assert_int_equal(vq_fleet_add_finished(fl, &s1, &fin), 0);
  assert_int_equal(vq_fleet_add_finished(fl, &s2, &fin), 0);
  assert_int_equal(vq_fleet_add_finished(fl, &s3, &fin), VQ_FLEET_FULL);
  assert_int_equal(vq_fleet_add_finished(fl, &s1, &fin), 0);
  assert_int_equal(vq_fleet_finished_series(fl), 2);
  fin_log_t log = {0};
  vq_fleet_foreach_finished(fl, on_finished, &log);
  assert_int_equal(log.n, 2);
  vq_fleet_destroy(fl);
}

/* ForgetAfter: a factory silent longer than forget_after goes, with its
 * machinetypes and finished series; it is no longer stale, its series no
 * longer listed, and it makes room under MaxFactories. A factory that
 * reported recently stays with its series. */
static void test_forget(void **state) {
  (void)state;
  vq_fleet_t *fl = vq_fleet_create();
  vq_fleet_set_limits(fl, 2, 0, 0);
  fac_t old = mk_factory("UKI-OLD", "sp", "old"),
        live = mk_factory("UKI-LIVE", "sp", "live"),
        fresh = mk_factory("UKI-NEW", "sp", "new");
  assert_int_equal(vq_fleet_seen(fl, &old.id, &old.m, 1000), 0);
  assert_int_equal(vq_fleet_seen(fl, &live.id, &live.m, 1000), 0);
  fac_t om = mk_mt(&old, "lhcb.lhcb-prod"), lm = mk_mt(&live, "lhcb.lhcb-prod");
  assert_int_equal(vq_fleet_seen(fl, &om.id, &om.m, 1000), 0);
  assert_int_equal(vq_fleet_seen(fl, &lm.id, &lm.m, 1000), 0);
  vq_finished_t fin = {.outcome = VQ_OUT_200, .code = 200, .cpu_seconds = 5};
  vq_ident_t os = mk_id(old.id.host, old.id.plugin_instance, "lhcb.x.200");
  vq_ident_t ls = mk_id(live.id.host, live.id.plugin_instance, "lhcb.x.200");
  assert_int_equal(vq_fleet_add_finished(fl, &os, &fin), 0);
  assert_int_equal(vq_fleet_add_finished(fl, &ls, &fin), 0);
  assert_int_equal(vq_fleet_seen(fl, &fresh.id, &fresh.m, 1500), VQ_FLEET_FULL);
  /* Both go stale; then live reports again. */
  stale_log_t sl_ = {0};
  assert_int_equal(vq_fleet_check_stale(fl, 2000, 600, on_stale, &sl_), 2);
  assert_int_equal(vq_fleet_seen(fl, &live.id, &live.m, 5000), 1);
  assert_int_equal(vq_fleet_forget(fl, 5000, 4000), 0); /* 4000 s: not more */
  assert_int_equal(vq_fleet_forget(fl, 5001, 4000), 1); /* 4001 s */
  assert_int_equal(vq_fleet_factories(fl), 1);
  assert_int_equal(vq_fleet_machinetypes(fl), 1);
  assert_int_equal(vq_fleet_finished_series(fl), 1);
  fin_log_t log = {0};
  vq_fleet_foreach_finished(fl, on_finished, &log);
  assert_int_equal(log.n, 1);
  assert_string_equal(log.t[0].host, "UKI-LIVE");
  site_log_t sites = {0};
  assert_int_equal(vq_fleet_foreach_site(fl, on_site, &sites), 0);
  assert_int_equal(sites.n, 1);
  assert_int_equal(vq_fleet_check_stale(fl, 5001, 600, NULL, NULL), 0);
  /* Room for a new factory again; the forgotten one comes back new. */
  assert_int_equal(vq_fleet_seen(fl, &fresh.id, &fresh.m, 5002), 0);
  vq_fleet_set_limits(fl, 3, 0, 0);
  assert_int_equal(vq_fleet_seen(fl, &old.id, &old.m, 5003), 0);
  log.n = 0;
  vq_fleet_foreach_finished(fl, on_finished, &log);
  assert_int_equal(log.n, 1);
  vq_fleet_destroy(fl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seen_new_factory_is_fresh),
      cmocka_unit_test(test_stale_life_cycle),
      cmocka_unit_test(test_check_stale_without_callback),
      cmocka_unit_test(test_seen_out_of_order_keeps_latest_time),
      cmocka_unit_test(test_foreach_site_counts),
      cmocka_unit_test(test_foreach_site_on_empty_fleet),
      cmocka_unit_test(test_add_finished_sums_per_series),
      cmocka_unit_test(test_longest_identifiers),
      cmocka_unit_test(test_ten_thousand_factories),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_forget),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
