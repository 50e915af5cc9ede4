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

/* Returns a new empty registry, or NULL on allocation failure. */
vq_fleet_t *vq_fleet_create(void);

/* Frees the registry; NULL is allowed. */
void vq_fleet_destroy(vq_fleet_t *f);

/*
 * Records that the factory of m, identified by id, reported at now.
 * Returns 1 when it had been stale (the caller announces it is back),
 * 0 otherwise, or -1 on allocation failure.
 */
int vq_fleet_seen(vq_fleet_t *f, const vq_ident_t *id, const vq_message_t *m,
                  double now);

/* Adds one finished machine to the series id. Returns 0 or -1. */
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

/* Returns the number of factories known. */
size_t vq_fleet_factories(const vq_fleet_t *f);

#endif
