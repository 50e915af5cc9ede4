/* SPDX-License-Identifier: MIT */
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

#include "vq_message.h"

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

/*
 * A factory_status becomes the five factory-level types and a
 * machinetype_status the three machinetype-level ones (vq_message_types()).
 * Each has at most 4 (factory) or 3 (machinetype) DS: collectd 5.12's
 * write_graphite formats a whole value list into one 1428-byte buffer and
 * drops it when the lines do not fit, which with 127-byte names allows no
 * more (test_types checks the worst case).
 */
typedef enum {
  VQ_TYPE_FACTORY = 0, /* vacquery_factory: running now, load */
  VQ_TYPE_CAPACITY,    /* vacquery_capacity: max_*, boot_time */
  VQ_TYPE_MEMORY,      /* vacquery_memory: memory and swap */
  VQ_TYPE_DISK,        /* vacquery_disk: root and daemon disk */
  VQ_TYPE_HEARTBEAT,   /* vacquery_heartbeat: the *_heartbeat_time */
  VQ_TYPE_MT,          /* vacquery_mt: running now, per machinetype */
  VQ_TYPE_MT_LIMITS,   /* vacquery_mt_limits: the machinetype's limits */
  VQ_TYPE_MT_INFO,     /* vacquery_mt_info: fizzles, machinetype count */
  VQ_TYPE_FINISHED,    /* vacquery_finished: finished machine counters */
  VQ_TYPE_SITE,        /* vacquery_site: factories known and stale */
  VQ_TYPE_STATS,       /* vacquery_stats: the receiver's own counters */
  VQ_TYPE_ACCEPTED,    /* vacquery_accepted-<message type> */
  VQ_TYPE_REJECTED,    /* vacquery_rejected-<reason> */
  VQ_TYPE_QUEUE,       /* vacquery_queue: hand-off queue length */
  VQ_TYPE_BAD_FIELD,   /* vacquery_bad_field-<field>: values dropped */
  VQ_TYPE_JOIN,        /* vacquery_join: Vac outcome join counters */
  /* Polled machine slots (issue 12): vacquery_machine (a slot's use),
   * vacquery_machine_state (its state and ages), vacquery_slots (slots per
   * state per machinetype), vacquery_poll-<counter> (the poller's
   * counters), vacquery_finished_source-<push|poll>. */
  VQ_TYPE_MACHINE,
  VQ_TYPE_MACHINE_STATE,
  VQ_TYPE_SLOTS,
  VQ_TYPE_POLL,
  VQ_TYPE_FINISHED_SOURCE,
  VQ_TYPE_QUEUE_BYTES, /* vacquery_queue_bytes: hand-off queue bytes */
  VQ_TYPE_COUNT
} vq_type_id_t;

/* Returns the type with the given id; never NULL for a valid id. */
const vq_type_t *vq_type(vq_type_id_t id);

/* Largest ds_num of any type. */
#define VQ_MAX_DS 5

/* Most types one message becomes. */
#define VQ_MAX_MSG_TYPES 5

/*
 * Returns the types a message of type mt becomes, in dispatch order, the
 * first being the one that carries all the message's meta data, and sets
 * *n to their number; returns NULL with *n = 0 for a machine_status (which
 * has counters instead). The array is static.
 */
const vq_type_id_t *vq_message_types(vq_msg_type_t mt, size_t *n);

/*
 * Writes the types.db text for all types (one line each, ending in '\n')
 * into buf. Returns the length it needs (excluding the NUL), like
 * snprintf; the text is complete only when that is less than size.
 */
size_t vq_types_format_db(char *buf, size_t size);

#endif
