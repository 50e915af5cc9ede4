/* SPDX-License-Identifier: MIT */
/*
 * vq_sample.h: map a parsed message to what collectd is given.
 *
 * factory_status and machinetype_status become one sample each: the
 * identifier slots and, per type of vq_message_types(), the DS values (NaN
 * where the message had no value). machine_status becomes a finished-machine
 * record: its outcome and the CPU, wall and HS06 seconds that the accounting
 * counters add up.
 */
#ifndef VQ_SAMPLE_H
#define VQ_SAMPLE_H

#include "vq_message.h"
#include "vq_name.h"
#include "vq_types.h"

/* The values of one type. */
typedef struct {
  vq_type_id_t type;
  size_t values_num;
  double values[VQ_MAX_DS];
} vq_values_t;

typedef struct {
  vq_ident_t id; /* shared by every value list of the message */
  size_t lists_num;
  vq_values_t lists[VQ_MAX_MSG_TYPES]; /* lists[0] carries the meta */
} vq_sample_t;

/* How a machine finished: the class of its shutdown code, or none. */
typedef enum {
  VQ_OUT_100 = 0, /* 100..199: shut down as requested by the host */
  VQ_OUT_200,     /* success */
  VQ_OUT_300,     /* no more work */
  VQ_OUT_400,     /* banned or disabled */
  VQ_OUT_500,     /* site or VM environment problem */
  VQ_OUT_600,     /* grid-wide job agent or application problem */
  VQ_OUT_700,     /* job agent or application error in the VM */
  VQ_OUT_OTHER,   /* a 3-digit code outside 100..799 */
  VQ_OUT_NONE,    /* no coded message, ran at least FizzleSeconds */
  VQ_OUT_FIZZLE,  /* no coded message, ran less than FizzleSeconds */
  VQ_OUT_COUNT
} vq_outcome_t;

typedef struct {
  vq_outcome_t outcome;
  int code;            /* shutdown code, or -1 */
  double cpu_seconds;  /* 0 when unknown */
  double wall_seconds; /* heartbeat (else shutdown) minus started; 0 unknown */
  double hs06_seconds; /* hs06 x wall seconds; 0 when unknown */
} vq_finished_t;

/*
 * Fills *s for a factory_status or machinetype_status. Returns VQ_OK,
 * VQ_REJ_TOO_LONG when a name does not fit, or VQ_REJ_UNKNOWN_TYPE for a
 * machine_status (which has no sample).
 */
vq_reason_t vq_sample_from_message(const vq_message_t *m, vq_sample_t *s);

/*
 * Fills *f and *id for a machine_status: id->type_instance is
 * "<vo>.<machinetype>.<outcome>". fizzle_seconds is the run time under
 * which a machine without a coded shutdown message counts as a fizzle.
 * Returns VQ_OK or VQ_REJ_TOO_LONG.
 */
vq_reason_t vq_finished_from_message(const vq_message_t *m,
                                     double fizzle_seconds, vq_ident_t *id,
                                     vq_finished_t *f);

/* Returns the shutdown code of a message "NNN text" (the leading three
 * digits, followed by the end or a non-digit), or -1 when it has none. */
int vq_shutdown_code(vq_str_t msg);

/* Returns the static name of an outcome: "100" ... "700", "other", "none",
 * "fizzle". */
const char *vq_outcome_name(vq_outcome_t o);

#endif
