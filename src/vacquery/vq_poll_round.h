/* SPDX-License-Identifier: MIT */
/*
 * vq_poll_round.h: when a query round of one factory is complete. A Vac
 * responder answers a machines_query with one machine_status per machine
 * slot, each carrying num_machines, the number of slots on the factory
 * (docs/protocol.md section 6). A round is complete when as many distinct
 * slots (machine names) answered as the latest num_machines says;
 * collectd-vacquery(5), PollTimeout and "Machine level (polling)". The
 * round also keeps the factory's site, named by its replies. Pure C11.
 */
#ifndef VQ_POLL_ROUND_H
#define VQ_POLL_ROUND_H

#include "vq_message.h"
#include "vq_name.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct vq_poll_round vq_poll_round_t;

/* Returns an empty round (nothing seen, num_machines unknown, no site), or
 * NULL when out of memory. The caller frees it with vq_poll_round_destroy. */
vq_poll_round_t *vq_poll_round_create(void);

/* Frees r (NULL: nothing). */
void vq_poll_round_destroy(vq_poll_round_t *r);

/* Starts a new round: nothing seen, num_machines unknown. The site stays. */
void vq_poll_round_reset(vq_poll_round_t *r);

/*
 * Records the accepted reply m (a machine_status with a machine name).
 * A machine seen before in this round changes nothing. A new one counts,
 * its num_machines (when a number >= 0; fractions are cut) becomes the
 * factory's, and its site (when it fits) the round's. Returns 1 for a new
 * machine, 0 for one seen before, -1 when m has no machine name or memory
 * runs out (nothing recorded).
 */
int vq_poll_round_add(vq_poll_round_t *r, const vq_message_t *m);

/* Returns true when num_machines is known and at least that many distinct
 * machines answered in this round. */
bool vq_poll_round_complete(const vq_poll_round_t *r);

/* Returns the number of distinct machines seen in this round. */
size_t vq_poll_round_seen(const vq_poll_round_t *r);

/* Sets the site to the slice s when it is set and fits (shorter than
 * VQ_NAME_MAX). Returns 0, or -1 when it was left as it was. */
int vq_poll_round_set_site(vq_poll_round_t *r, vq_str_t s);

/* Returns the site ("" before one is known; owned by r, valid until the
 * next call that changes it). */
const char *vq_poll_round_site(const vq_poll_round_t *r);

#endif
