/*
 * vq_types.h: the collectd types (data sets) that vacquery dispatches.
 *
 * One table serves three uses: the plugin registers each type with
 * plugin_register_data_set(), the mapper takes DS values from the message
 * fields named here, and vq_types_format_db() writes the types.db lines
 * shipped as etc/collectd.d/vacquery_types.db (a unit test keeps the two
 * equal).
 */
#ifndef VQ_TYPES_H
#define VQ_TYPES_H

#include <stddef.h>

typedef enum { VQ_DS_GAUGE, VQ_DS_DERIVE } vq_ds_kind_t;

typedef struct {
  const char *name; /* DS name: the VacQuery field name where there is one */
  vq_ds_kind_t kind;
  double min, max; /* NAN: unbounded ("U") */
  int field;       /* vq_num_id_t the value comes from, or -1 */
} vq_ds_t;

typedef struct {
  const char *name;
  size_t ds_num;
  const vq_ds_t *ds;
} vq_type_t;

typedef enum {
  VQ_TYPE_FACTORY = 0, /* vacquery_factory: one per factory_status */
  VQ_TYPE_MT,          /* vacquery_mt: one per machinetype_status */
  VQ_TYPE_FINISHED,    /* vacquery_finished: finished machine counters */
  VQ_TYPE_SITE,        /* vacquery_site: factories known and stale */
  VQ_TYPE_STATS,       /* vacquery_stats: the receiver's own counters */
  VQ_TYPE_ACCEPTED,    /* vacquery_accepted-<message type> */
  VQ_TYPE_REJECTED,    /* vacquery_rejected-<reason> */
  VQ_TYPE_QUEUE,       /* vacquery_queue: hand-off queue length */
  VQ_TYPE_COUNT
} vq_type_id_t;

/* Returns the type with the given id; never NULL for a valid id. */
const vq_type_t *vq_type(vq_type_id_t id);

/* Largest ds_num of any type. */
#define VQ_MAX_DS 24

/*
 * Writes the types.db text for all types (one line each, ending in '\n')
 * into buf. Returns the length it needs (excluding the NUL), like
 * snprintf; the text is complete only when that is less than size.
 */
size_t vq_types_format_db(char *buf, size_t size);

#endif
