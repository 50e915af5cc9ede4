/* SPDX-License-Identifier: MIT */
/*
 * vq_join.h: finished Vac machines waiting for their outcome.
 *
 * Vac pushes a machine_status before it has read the machine's shutdown
 * message, so the message has no code. The code comes later, in a
 * machinetype_status of the same factory and machinetype whose
 * shutdown_machine names the machine (docs/protocol.md section 6). A
 * finished machine without a code therefore waits here, as the raw
 * datagram it came in, until that machinetype_status arrives (the caller
 * takes it out and counts it under the code's class) or until its
 * deadline passes (the caller counts it as none or fizzle, as without a
 * join). The table is bounded in count; the deadline bounds the time.
 *
 * Limit: a machinetype_status names only the most recently created
 * finished machine of its machinetype, so when two machines of one
 * machinetype finish in one Vac cycle only one of them gets its code; the
 * other waits out its deadline and counts as none or fizzle.
 *
 * Nothing here knows about collectd or threads: one thread owns a table.
 */
#ifndef VQ_JOIN_H
#define VQ_JOIN_H

#include "vq_message.h"

#include <stddef.h>
#include <stdint.h>

typedef struct vq_join vq_join_t;

/* A finished machine waiting for its outcome. One allocation: free() it. */
typedef struct vq_pending {
  double deadline;  /* seconds since the epoch */
  uint64_t time;    /* the caller's receive time, kept as given */
  size_t len;       /* bytes of the machine_status datagram at data */
  const char *data; /* the datagram, inside this allocation */
  /* private */
  struct vq_pending *next_hash, *prev_age, *next_age;
  uint64_t hash;
  size_t key_len;
  char key[]; /* key, then the datagram */
} vq_pending_t;

/* Returns an empty table for at most max_pending machines (at least 1),
 * or NULL on allocation failure. The caller destroys it. */
vq_join_t *vq_join_create(size_t max_pending);

/* Frees the table and every machine still waiting; NULL is allowed. */
void vq_join_destroy(vq_join_t *j);

/*
 * Returns 1 when the finished machine m (a machine_status) must wait for
 * its outcome: its shutdown_message has no code, it names its machine and
 * machinetype, and it does not come from Vcycle (whose daemon_version
 * starts with "Vcycle"; Vcycle sends the code in the machine_status
 * itself and no shutdown_machine). Returns 0 when it counts at once.
 */
int vq_join_needs_wait(const vq_message_t *m);

/*
 * Stores a copy of the len bytes of the datagram that m was parsed from,
 * to wait until deadline. time is stored as given. Returns 0 when stored,
 * 1 when the table is full (nothing stored: the caller counts the machine
 * at once) or -1 on allocation failure.
 */
int vq_join_add(vq_join_t *j, const vq_message_t *m, const void *data,
                size_t len, uint64_t time, double deadline);

/*
 * For a machinetype_status mt whose shutdown_machine names a waiting
 * machine of the same site, space, factory and machinetype: removes that
 * machine (the oldest if it waits twice) and returns it; the caller frees
 * it. Returns NULL when mt names no waiting machine.
 */
vq_pending_t *vq_join_take(vq_join_t *j, const vq_message_t *mt);

/* Removes and returns the oldest waiting machine whose deadline is at or
 * before now, or NULL; the caller frees it. Call until NULL. */
vq_pending_t *vq_join_expired(vq_join_t *j, double now);

/* Returns the number of machines waiting. */
size_t vq_join_count(const vq_join_t *j);

#endif
