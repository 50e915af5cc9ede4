/* SPDX-License-Identifier: MIT */
/*
 * test_gm_vo.c: unit tests for src/ganglia/gm_vo.c: per-site, per-VO totals of
 * running processors and machines over the latest value of every factory's
 * machinetype (a new value replaces the old one, NaN counts as 0, silent
 * entries drop out, bad keys are refused).
 */
#include "ganglia/gm_vo.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

typedef struct {
  char site[64], vo[64];
  double rp, rm;
  size_t mts, route;
} total_t;

typedef struct {
  total_t t[16];
  size_t n;
} totals_t;

static void collect(const gm_vo_total_t *t, void *arg) {
  totals_t *all = arg;
  if (all->n >= 16)
    fail_msg("too many totals");
  total_t *o = &all->t[all->n++];
  snprintf(o->site, sizeof(o->site), "%s", t->site);
  snprintf(o->vo, sizeof(o->vo), "%s", t->vo);
  o->rp = t->running_processors;
  o->rm = t->running_machines;
  o->mts = t->machinetypes;
  o->route = t->route;
}

/* Returns the total of site and vo in all, or NULL. */
static const total_t *find(const totals_t *all, const char *site,
                           const char *vo) {
  for (size_t i = 0; i < all->n; i++)
    if (strcmp(all->t[i].site, site) == 0 && strcmp(all->t[i].vo, vo) == 0)
      return &all->t[i];
  return NULL;
}

static void test_totals(void **state) {
  (void)state;
  gm_vo_t *t = gm_vo_create();
  assert_non_null(t);
  static const struct {
    const char *site, *pi, *ti;
    double rp, rm, now;
    size_t route;
  } updates[] = {
      {"S1", "sp.f1", "atlas.atlas-prod", 8, 1, 100, 1},
      {"S1", "sp.f1", "atlas.atlas-sim", 4, 2, 100, 1},
      {"S1", "sp.f2", "atlas.atlas-prod", 16, 2, 100, 1},
      {"S1", "sp.f2", "lhcb.lhcb-prod", 2, 2, 100, 1},
      {"S2", "sp.f9", "atlas.atlas-prod", 1, 1, 100, 0},
      {"S1", "sp.f1", "atlas.atlas-prod", 10, 3, 150, 2}, /* replaces 8, 1 */
      {"S1", "sp.f3", "none.cms-prod", NAN, NAN, 150, 2},
  };
  for (size_t i = 0; i < COUNT(updates); i++)
    CHECK_INT(updates[i].ti,
              gm_vo_update(t, updates[i].site, updates[i].route, updates[i].pi,
                           updates[i].ti, updates[i].rp, updates[i].rm,
                           updates[i].now),
              0);
  totals_t all = {.n = 0};
  CHECK_INT("totals", gm_vo_totals(t, 160, 600, collect, &all), 4);
  size_t entries = 0;
  for (size_t i = 0; i < all.n; i++)
    entries += all.t[i].mts;
  CHECK_INT("entries", entries, 6);
  static const struct {
    const char *site, *vo;
    double rp, rm;
    size_t mts, route;
  } want[] = {
      {"S1", "atlas", 30, 7, 3, 2},
      {"S1", "lhcb", 2, 2, 1, 1},
      {"S1", "none", 0, 0, 1, 2},
      {"S2", "atlas", 1, 1, 1, 0},
  };
  for (size_t i = 0; i < COUNT(want); i++) {
    const total_t *o = find(&all, want[i].site, want[i].vo);
    if (o == NULL)
      fail_msg("no total for %s %s", want[i].site, want[i].vo);
    CHECK_NUM(want[i].vo, o->rp, want[i].rp);
    CHECK_NUM(want[i].vo, o->rm, want[i].rm);
    CHECK_INT(want[i].vo, o->mts, want[i].mts);
    CHECK_INT(want[i].vo, o->route, want[i].route);
  }
  /* At 720 only the entries of 150 are within 600 s. */
  all.n = 0;
  CHECK_INT("after timeout", gm_vo_totals(t, 720, 600, collect, &all), 2);
  const total_t *a = find(&all, "S1", "atlas");
  assert_non_null(a);
  CHECK_NUM("only f1 atlas-prod left", a->rp, 10);
  CHECK_INT("lhcb gone", find(&all, "S1", "lhcb") == NULL, 1);
  all.n = 0;
  CHECK_INT("all silent", gm_vo_totals(t, 10000, 600, collect, &all), 0);
  gm_vo_destroy(t);
  gm_vo_destroy(NULL);
}

static void test_refused(void **state) {
  (void)state;
  gm_vo_t *t = gm_vo_create();
  assert_non_null(t);
  char big[300];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  static const struct {
    const char *ctx, *site, *pi, *ti;
  } bad[] = {
      {"empty site", "", "sp.f", "atlas.p"},
      {"empty pi", "S", "", "atlas.p"},
      {"no dot", "S", "sp.f", "atlas"},
      {"empty vo", "S", "sp.f", ".p"},
  };
  for (size_t i = 0; i < COUNT(bad); i++)
    CHECK_INT(bad[i].ctx,
              gm_vo_update(t, bad[i].site, 0, bad[i].pi, bad[i].ti, 1, 1, 1),
              -1);
  CHECK_INT("too long", gm_vo_update(t, big, 0, big, "a.b", 1, 1, 1), -1);
  totals_t none = {.n = 0};
  CHECK_INT("nothing stored", gm_vo_totals(t, 2, 600, collect, &none), 0);
  gm_vo_destroy(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_totals),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
