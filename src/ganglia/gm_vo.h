/* SPDX-License-Identifier: MIT */
/*
 * gm_vo.h: per-site, per-VO totals of running processors and machines.
 *
 * gmetad sums each metric over the hosts of a cluster, but the factories'
 * machinetype metrics are named per VO *and* machinetype, so no Ganglia
 * metric holds "running processors of VO atlas at this site". This table
 * keeps the latest vacquery_mt values of every (site, factory, machinetype)
 * and adds them up per (site, VO), for the site's own spoofed host
 * (metrics vacquery_vo.<vo>.running_processors / running_machines).
 * Not thread-safe; callers lock. Times in seconds.
 */
#ifndef GM_VO_H
#define GM_VO_H

#include <stddef.h>

typedef struct gm_vo gm_vo_t;

/* One (site, VO) total, valid during the callback only. */
typedef struct {
  const char *site, *vo;
  size_t route; /* of the most recent value of the site */
  double running_processors, running_machines;
  size_t machinetypes; /* (factory, machinetype) pairs summed */
} gm_vo_total_t;

/* Returns an empty table, or NULL on allocation failure. */
gm_vo_t *gm_vo_create(void);

/* Frees the table. */
void gm_vo_destroy(gm_vo_t *t);

/*
 * Records the latest running processors and machines (NaN counts as 0) of
 * machinetype type_instance "<vo>.<machinetype>" of factory plugin_instance
 * at site (the value list's host) at time now, sent on route. Returns 0, or
 * -1 when an argument is empty, type_instance has no '.', or memory runs
 * out.
 */
int gm_vo_update(gm_vo_t *t, const char *site, size_t route,
                 const char *plugin_instance, const char *type_instance,
                 double running_processors, double running_machines,
                 double now);

/*
 * Calls fn for each (site, VO) with the sums over the machinetypes updated
 * within timeout seconds before now (older ones are left out: a silent
 * factory no longer counts). Returns the number of totals, or -1 when
 * memory runs out (fn then was not called).
 */
long gm_vo_totals(const gm_vo_t *t, double now, double timeout,
                  void (*fn)(const gm_vo_total_t *, void *), void *arg);

#endif
