/* SPDX-License-Identifier: MIT */
/*
 * vq_poll_output.h: what a polled machine slot becomes (issue 12).
 *
 * One call per accepted responder reply (or per slot gone) returns the
 * value lists of the slot (vacquery_machine, vacquery_machine_state) and,
 * when its state changed, the lifecycle notification; the plugin only
 * copies the result into collectd's structs and dispatches it, as for
 * pushed messages (vq_output.h). A tally turns the replies of one complete
 * round into the per-factory vacquery_slots lists. Pure C11; no collectd.
 */
#ifndef VQ_POLL_OUTPUT_H
#define VQ_POLL_OUTPUT_H

#include "vq_output.h"
#include "vq_poll.h"

#include <stdbool.h>
#include <stddef.h>

/* Type of the lifecycle notifications. */
#define VQ_POLL_STATE_TYPE "vacquery_machine_state"
/* Most bytes of host, plugin_instance and type_instance together of a
 * machine-level value list: collectd 5.12's write_graphite formats a whole
 * list into one 1428-byte buffer and drops it when its lines do not fit;
 * with this bound the four lines of vacquery_machine fit (test_types). */
#define VQ_POLL_NAMES_MAX 256
/* Most meta pairs of one lifecycle notification. */
#define VQ_POLL_META_MAX 20

/* Returns the state code of s as the vacquery_machine_state DS `state'
 * carries it: 1 Starting, 2 Running, 3 Shut down, 4 Paused, 5 Zombie,
 * 6 Unknown; NaN for "none" and "gone". */
double vq_poll_state_code(vq_slot_state_t s);

/* Returns the type-instance name of s in vacquery_slots ("starting",
 * "running", "shut_down", "paused", "zombie", "unknown"; static), or NULL
 * for "none" and "gone". */
const char *vq_poll_state_key(vq_slot_state_t s);

/* Where a slot belongs and what caused the output: raw names. */
typedef struct {
  const char *site, *space; /* the factory's, raw */
  const char *source;       /* the reply's source address, or NULL */
  const vq_message_t *m;    /* the reply; NULL for a slot gone */
} vq_poll_ctx_t;

/* Everything a slot becomes. All pointers point into the struct itself
 * (no heap): valid while it is neither changed nor moved. */
typedef struct {
  size_t lists_num; /* 0 or 2: vacquery_machine, vacquery_machine_state */
  vq_out_values_t lists[2];
  size_t notifs_num; /* 0 or 1 */
  vq_out_notif_t notif;
  /* private */
  vq_meta_t meta_[VQ_POLL_META_MAX];
  size_t meta_num_;
  char text_[VQ_POLL_META_MAX][VQ_OUT_META_STR_MAX];
} vq_poll_out_t;

/*
 * Fills the identifier of machine slot s: host the sanitised site,
 * plugin_instance "<space>.<factory>", type_instance
 * "<vo>.<machinetype>.<machine>" ("none" for no VO or machinetype).
 * Returns 0, or -1 when a name is longer than collectd allows or the three
 * together are longer than VQ_POLL_NAMES_MAX.
 */
int vq_poll_ident(vq_ident_t *id, const char *site, const char *space,
                  const vq_slot_t *s);

/*
 * Fills *o with what slot s (after a reply at time now, in seconds)
 * becomes: its two value lists unless its state is "gone", and the
 * lifecycle notification of ev (NULL: no change). A slot known only from a
 * pushed message ("none") that goes gives no notification. Returns 0, or
 * -1 when its names do not fit (o then holds nothing).
 */
int vq_poll_output(vq_poll_out_t *o, const vq_slot_t *s,
                   const vq_slot_event_t *ev, const vq_poll_ctx_t *ctx,
                   double now);

/* Returns true when reply m is a finished slot with its outcome: state
 * "Shut down" and a shutdown_message starting with a three-digit code. */
bool vq_poll_finish_ready(const vq_message_t *m);

/*
 * Copies the meta pairs of in into out (cap items) and appends key=value
 * (a string, borrowed). Returns the number of pairs in out (in->num + 1),
 * or in->num when out has no room for the extra pair (then only copied).
 */
size_t vq_poll_meta_with(const vq_meta_list_t *in, const char *key,
                         const char *value, vq_meta_t *out, size_t cap);

/* The slots of one factory by VO, machinetype and state (one round). */
typedef struct vq_poll_tally vq_poll_tally_t;

/* Returns an empty tally, or NULL when out of memory. */
vq_poll_tally_t *vq_poll_tally_create(void);

/* Frees t (NULL allowed). */
void vq_poll_tally_destroy(vq_poll_tally_t *t);

/* Empties t, keeping its memory. */
void vq_poll_tally_reset(vq_poll_tally_t *t);

/* Counts one slot of s's VO, machinetype and state ("none" and "gone" are
 * not counted). Returns 0, or -1 when out of memory. */
int vq_poll_tally_add(vq_poll_tally_t *t, const vq_slot_t *s);

/*
 * Returns the vacquery_slots value lists of the tally for the factory
 * (raw site, space, factory): for every VO and machinetype counted, one
 * list per state (type_instance "<vo>.<machinetype>.<state>", DS machines,
 * 0 where none), in the order first counted; sets *n. The array is the
 * caller's (free()); NULL with *n = 0 when empty, names too long or out of
 * memory.
 */
vq_out_values_t *vq_poll_tally_lists(const vq_poll_tally_t *t, const char *site,
                                     const char *space, const char *factory,
                                     size_t *n);

#endif
