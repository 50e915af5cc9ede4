/* SPDX-License-Identifier: MIT */
/*
 * vq_poll.h: polling a Vac factory's responder (UDP 995) for its machine
 * slots, as docs/protocol.md section 12 (queries, cookies, rounds) says.
 *
 * A query round has a salt (base64 of 32 random bytes); each factory gets a
 * machines_query whose cookie is SHA-256(salt || factory) in lowercase hex.
 * A reply is accepted only when it is a machine_status of the queried space
 * and its cookie is SHA-256(salt || reply.factory). The slot table keeps
 * every machine slot seen and turns each change of state into an event:
 * the L&B view of a VM. Pure C11; the plugin owns sockets and timers.
 */
#ifndef VQ_POLL_H
#define VQ_POLL_H

#include "vq_message.h"

#include <stddef.h>
#include <stdint.h>

/* Length of a salt (base64 of 32 bytes) and of a cookie (64 hex). */
#define VQ_POLL_SALT_LEN 44
#define VQ_POLL_COOKIE_LEN 64

/* Writes the salt for the 32 random bytes rnd (base64, 44 characters) and a
 * NUL into salt. */
void vq_poll_salt(const uint8_t rnd[32], char salt[VQ_POLL_SALT_LEN + 1]);

/* Writes SHA-256(salt || factory) in lowercase hex and a NUL into cookie. */
void vq_poll_cookie(const char *salt, const char *factory, size_t factory_len,
                    char cookie[VQ_POLL_COOKIE_LEN + 1]);

/*
 * Writes the machines_query for space with cookie into buf (size bytes,
 * NUL-terminated): a JSON object with message_type "machines_query", the
 * legacy method "machines", vacquery_version, space and cookie. Returns the
 * length, or -1 when it does not fit.
 */
long vq_poll_query(char *buf, size_t size, const char *space,
                   const char *cookie);

/* Why a reply is not taken. */
typedef enum {
  VQ_POLL_OK = 0,
  VQ_POLL_NOT_MACHINE, /* not a machine_status */
  VQ_POLL_NO_SLOT,     /* no factory or machine name */
  VQ_POLL_BAD_SPACE,   /* another space than the one queried */
  VQ_POLL_BAD_COOKIE,  /* not SHA-256(salt || factory) */
  VQ_POLL_VERDICT_COUNT
} vq_poll_verdict_t;

/* Returns the counter name of v ("ok", "not_machine", ...; static). */
const char *vq_poll_verdict_name(vq_poll_verdict_t v);

/* Checks a parsed reply m against the round's salt and the queried space.
 * Returns VQ_POLL_OK or why m is not taken. */
vq_poll_verdict_t vq_poll_check(const vq_message_t *m, const char *salt,
                                const char *space);

/* The states of a slot: the responder's, plus VQ_SLOT_GONE for a slot that
 * a complete reply no longer lists. */
typedef enum {
  VQ_SLOT_NONE = 0, /* not seen before */
  VQ_SLOT_STARTING,
  VQ_SLOT_RUNNING,
  VQ_SLOT_SHUT_DOWN,
  VQ_SLOT_PAUSED,
  VQ_SLOT_ZOMBIE,
  VQ_SLOT_UNKNOWN, /* "Unknown", or a state this code does not know */
  VQ_SLOT_GONE,
  VQ_SLOT_STATE_COUNT
} vq_slot_state_t;

/* Returns the responder's name of s ("Running", "Shut down", ...; static;
 * "none" and "gone" for the two of ours). */
const char *vq_slot_state_name(vq_slot_state_t s);

/* Returns the state named by the len bytes at s (VQ_SLOT_UNKNOWN when it
 * is none of the responder's names). */
vq_slot_state_t vq_slot_state_parse(const char *s, size_t len);

/* What the table knows of one slot (strings NUL-terminated, owned by the
 * table). */
typedef struct {
  const char *factory, *machine;
  char machinetype[128], vo[128], uuid[80];
  vq_slot_state_t state;
  double processors, cpu_percentage, cpu_seconds, hs06;
  double created_time, started_time, heartbeat_time;
  double first_seen, last_seen; /* the table's clock */
  uint64_t round;               /* the last round that listed it */
  int finish_counted;           /* its finish was counted (either source) */
} vq_slot_t;

/* A change of state of one slot. */
typedef struct {
  const vq_slot_t *slot; /* after the change; valid until the next call */
  vq_slot_state_t old_state, new_state;
} vq_slot_event_t;

typedef struct vq_slots vq_slots_t;

/* Returns an empty table holding at most max_slots slots, or NULL. */
vq_slots_t *vq_slots_create(size_t max_slots);

/* Frees the table. */
void vq_slots_destroy(vq_slots_t *t);

/* Returns the number of slots. */
size_t vq_slots_count(const vq_slots_t *t);

/*
 * Records reply m (already checked) of query round `round' at time now and
 * fills *ev (ev->slot is the slot, its old and new state). Returns 1 when
 * the slot is new or its state changed, 0 when the state did not change,
 * -1 when the table is full or memory runs out (the reply is then not
 * recorded and *ev is untouched).
 */
int vq_slots_observe(vq_slots_t *t, const vq_message_t *m, uint64_t round,
                     double now, vq_slot_event_t *ev);

/*
 * Ends round `round' of factory: every slot of it that the round did not
 * list becomes VQ_SLOT_GONE (fn is called with the event) and is removed.
 * Call only after a complete reply (all num_machines slots). Returns the
 * number of slots gone.
 */
size_t vq_slots_end_round(vq_slots_t *t, const char *factory, uint64_t round,
                          void (*fn)(const vq_slot_event_t *, void *),
                          void *arg);

/*
 * Counts the finish of the machine of message m (a pushed machine_status,
 * or a polled one in state "Shut down") once: returns 1 the first time for
 * that machine's life (its slot and uuid, or created_time when it has no
 * uuid), 0 when the other source counted it already, -1 when the table is
 * full. The pushed message and the polled state are two sources for one
 * event; a slot that starts a new machine (another uuid) counts again.
 */
int vq_slots_count_finish(vq_slots_t *t, const vq_message_t *m, double now);

#endif
