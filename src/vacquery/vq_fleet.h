/* SPDX-License-Identifier: MIT */
/*
 * vq_fleet.h: what the receiver remembers about the fleet.
 *
 * For each factory (site, space, factory) the time it last reported and
 * whether it is stale; for each site/space/factory/VO/machinetype/outcome
 * the running totals of finished machines. Times are seconds since the
 * epoch, passed in, so that everything here is a pure function of its
 * calls. Not thread-safe: the plugin holds a lock around it.
 */
#ifndef VQ_FLEET_H
#define VQ_FLEET_H

#include "vq_message.h"
#include "vq_name.h"
#include "vq_sample.h"

#include <stdint.h>

typedef struct vq_fleet vq_fleet_t;

/* A factory as the registry knows it. Strings are owned by the registry. */
typedef struct {
  const char *host, *plugin_instance; /* sanitised identifier slots */
  const char *site, *space, *factory; /* raw names, for notifications */
  double last_seen;
  int stale;
} vq_factory_t;

/* Running totals of one finished-machine series. */
typedef struct {
  const char *host, *plugin_instance, *type_instance; /* owned */
  uint64_t machines;
  double cpu_seconds, wall_seconds, hs06_seconds;
} vq_finished_total_t;

/* Returned by vq_fleet_seen() and vq_fleet_add_finished() when the
 * message would add a factory, machinetype or finished series beyond its
 * limit: nothing was added (the caller rejects it as fleet_full). */
#define VQ_FLEET_FULL (-2)

/* Default limits (vq_fleet_set_limits): about 20000 factories of 5
 * machinetypes, each with 10 finished series. */
#define VQ_FLEET_MAX_FACTORIES 20000
#define VQ_FLEET_MAX_MACHINETYPES 100000
#define VQ_FLEET_MAX_FINISHED 200000

/* Returns a new empty registry with the default limits, or NULL on
 * allocation failure. */
vq_fleet_t *vq_fleet_create(void);

/* Sets the most factories, machinetypes (factory and machinetype
 * identifiers) and finished-machine series the registry holds; 0 keeps a
 * limit as it is. Lowering a limit forgets nothing. */
void vq_fleet_set_limits(vq_fleet_t *f, size_t max_factories,
                         size_t max_machinetypes, size_t max_finished);

/* Frees the registry; NULL is allowed. */
void vq_fleet_destroy(vq_fleet_t *f);

/*
 * Records that the factory of m, identified by id, reported at now; for a
 * machinetype_status also its machinetype (id's type_instance). Returns 1
 * when it had been stale (the caller announces it is back), 0 otherwise,
 * VQ_FLEET_FULL when a new factory or machinetype would exceed its limit
 * (nothing recorded), or -1 on allocation failure.
 */
int vq_fleet_seen(vq_fleet_t *f, const vq_ident_t *id, const vq_message_t *m,
                  double now);

/* Adds one finished machine to the series id. Returns 0, VQ_FLEET_FULL
 * when a new series would exceed its limit (nothing added), or -1. */
int vq_fleet_add_finished(vq_fleet_t *f, const vq_ident_t *id,
                          const vq_finished_t *fin);

/*
 * Marks every fresh factory silent for more than timeout seconds as stale
 * and calls cb once for each of them. Returns the number of stale
 * factories after the check.
 */
size_t vq_fleet_check_stale(vq_fleet_t *f, double now, double timeout,
                            void (*cb)(void *ctx, const vq_factory_t *fac),
                            void *ctx);

/* Calls cb with every site's host slot, factory count and stale count.
 * Returns 0, or -1 on allocation failure. */
int vq_fleet_foreach_site(const vq_fleet_t *f,
                          void (*cb)(void *ctx, const char *host,
                                     size_t factories, size_t stale),
                          void *ctx);

/* Calls cb with every finished-machine series. */
void vq_fleet_foreach_finished(const vq_fleet_t *f,
                               void (*cb)(void *ctx,
                                          const vq_finished_total_t *t),
                               void *ctx);

/*
 * Forgets every factory silent for more than forget_after seconds at now,
 * with its machinetypes and finished series: they are no longer stale, no
 * longer passed to the callbacks, and their memory is freed (pointers to
 * them become invalid). Returns the number of factories forgotten, or
 * (size_t)-1 on allocation failure (then nothing is forgotten).
 */
size_t vq_fleet_forget(vq_fleet_t *f, double now, double forget_after);

/* Returns the number of factories, machinetypes and finished series. */
size_t vq_fleet_factories(const vq_fleet_t *f);
size_t vq_fleet_machinetypes(const vq_fleet_t *f);
size_t vq_fleet_finished_series(const vq_fleet_t *f);

#endif
