/* SPDX-License-Identifier: MIT */
/*
 * vacquery_poll.h: the responder poller of the vacquery plugin (issue 12)
 * and the few functions of plugins/vacquery.c it uses. The poller has its
 * own UDP socket and thread; the receive path of pushed messages only calls
 * vqp_learn() and vqp_push_finish(), which take one short lock. Each
 * vacquery instance owns its poller (vq_plugin_t.poll).
 */
#ifndef VACQUERY_POLL_H
#define VACQUERY_POLL_H

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"

#include "vacquery/vq_message.h"
#include "vacquery/vq_output.h"

#include <stdbool.h>
#include <sys/socket.h>

/* One vacquery instance (plugins/vacquery.c). */
typedef struct vq_plugin vq_plugin_t;

/* ---- the poller (vacquery_poll.c) ---------------------------------------- */

/* The poller of one vacquery instance: its configuration, socket, thread,
 * factories and slot table. */
typedef struct vqp vqp_t;

/* Returns a new poller of instance owner with the default configuration
 * (Poll false), or NULL when out of memory. The caller owns it and frees it
 * with vqp_destroy(); owner must outlive it. */
vqp_t *vqp_create(vq_plugin_t *owner);

/* Handles one <Plugin vacquery> option c for p if it is a poll option.
 * Returns 1 when c is not one, 0 when taken, -1 on an error (logged,
 * naming it). */
int vqp_config(vqp_t *p, oconfig_item_t *c);

/* Starts p when Poll is true (resolves PollFactory hosts, opens the query
 * socket, starts the thread). Returns 0 or -1 (logged). */
int vqp_init(vqp_t *p);

/* Stops p's thread; the slot table still answers vqp_push_finish() (the
 * worker counts its waiting machines at shutdown). Safe when never
 * started. */
void vqp_stop(vqp_t *p);

/* Stops p's thread and frees p and everything it holds. Safe when never
 * started; p NULL does nothing. No other thread may use p then. */
void vqp_destroy(vqp_t *p);

/* Tells p of an accepted pushed factory_status m received from address
 * from (NULL: unknown, ignored): with PollLearn, a Vac factory is polled at
 * that address. */
void vqp_learn(vqp_t *p, const vq_message_t *m, const struct sockaddr *from);

/* For a pushed machine_status m about to be counted as a finished
 * machine: returns 1 when the push decides (count it; counted as
 * finished_source push) or 0 when p counted this machine's finish already
 * (do not count it again). Always 1 without polling. */
int vqp_push_finish(vqp_t *p, const vq_message_t *m);

/* Dispatches notification n at time t; when p polls and source ("push"
 * or "poll": who decided a finished machine) is set, with the meta pair
 * finish_source = source added. n stays the caller's. */
void vqp_dispatch_finished(vqp_t *p, const vq_out_notif_t *n,
                           const char *source, cdtime_t t);

/* Dispatches p's counters (vacquery_poll-*, vacquery_finished_source-*)
 * under collectd's host name. */
void vqp_read(vqp_t *p, cdtime_t now, cdtime_t interval);

/* ---- provided by vacquery.c -----------------------------------------------
 */

/* Reads the one-number option ci into *out when it is in [min, max].
 * Returns 0, or -1 after logging an error naming the option. */
int vq_config_number(oconfig_item_t *ci, double min, double max, double *out);

/* Dispatches one value list of instance vp (see vacquery.c); meta is
 * borrowed. */
void vq_dispatch(const vq_plugin_t *vp, const char *host,
                 const char *plugin_instance, const vq_type_t *type,
                 const char *type_instance, const double *values, cdtime_t time,
                 cdtime_t interval, meta_data_t *meta);

/* Dispatches one notification at time. */
void vq_dispatch_notif(const vq_out_notif_t *on, cdtime_t time);

/* Counts the polled finished machine m (a "Shut down" reply with its code)
 * in instance vp as a pushed machine_status is counted (its cookie is the
 * poll's, so no SiteCookie check), adds it to the finished-machine totals
 * and dispatches its notification with finish_source "poll". */
void vq_finished_polled(vq_plugin_t *vp, const vq_message_t *m,
                        const struct sockaddr *from, cdtime_t time);

#endif
