/* SPDX-License-Identifier: MIT */
/*
 * vq_sources.h: per-source-address state: a token bucket for the rate
 * limit and the time a rejection from that source was last logged.
 *
 * The table holds at most max_sources addresses; when it is full it is
 * emptied (every source starts again with a full bucket), so a flood of
 * spoofed addresses costs bounded memory. Not thread-safe: each thread
 * keeps its own table.
 */
#ifndef VQ_SOURCES_H
#define VQ_SOURCES_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct vq_sources vq_sources_t;

/* Returns a new table, or NULL. rate is tokens per second (0: unlimited),
 * burst the bucket size. */
vq_sources_t *vq_sources_create(size_t max_sources, double rate, double burst);

/* Frees the table; NULL is allowed. */
void vq_sources_destroy(vq_sources_t *s);

/* Takes a token for sa at time now. Returns 1 when the datagram is within
 * the rate, 0 when over it. With rate 0 always returns 1. */
int vq_sources_allow(vq_sources_t *s, const struct sockaddr *sa, double now);

/* Returns 1 at most once per interval seconds per source: whether a
 * rejection from sa may be logged now. */
int vq_sources_may_log(vq_sources_t *s, const struct sockaddr *sa, double now,
                       double interval);

/* Returns how many times the table was emptied because it was full. */
size_t vq_sources_resets(const vq_sources_t *s);

#endif
