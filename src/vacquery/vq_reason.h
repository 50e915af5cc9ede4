/* SPDX-License-Identifier: MIT */
/*
 * vq_reason.h: why a datagram was not turned into values.
 *
 * Every datagram that the vacquery plugin receives is either accepted or
 * rejected for exactly one of these reasons, and each reason has its own
 * counter. The names are the type instances of the `vacquery_rejected'
 * values and appear in log lines.
 */
#ifndef VQ_REASON_H
#define VQ_REASON_H

typedef enum {
  VQ_OK = 0,
  VQ_REJ_OVERSIZE,     /* larger than MaxDatagramSize (or truncated) */
  VQ_REJ_ACL,          /* source address not in any AllowFrom */
  VQ_REJ_RATE_LIMIT,   /* source over its RateLimit */
  VQ_REJ_NOT_JSON,     /* empty, truncated or malformed JSON, or too deep */
  VQ_REJ_NOT_OBJECT,   /* valid JSON, but not an object */
  VQ_REJ_NO_TYPE,      /* no message_type key (VacQuery 0.1/0.2) */
  VQ_REJ_QUERY,        /* a *_query message: peer query, not status */
  VQ_REJ_UNKNOWN_TYPE, /* some other message_type */
  VQ_REJ_MISSING,      /* a required field is absent, null or empty */
  VQ_REJ_BAD_TYPE,     /* wrong JSON type, infinity, saturated int */
  VQ_REJ_TOO_LONG,     /* a name does not fit a collectd identifier */
  VQ_REJ_COOKIE,       /* site has a Cookie and the message lacks it */
  VQ_REJ_FLEET_FULL,   /* would add a factory, machinetype or finished
                          series beyond MaxFactories and its kin */
  VQ_REASON_COUNT
} vq_reason_t;

/* Returns the static, lower-case name of a reason ("not_json", ...); never
 * NULL. */
const char *vq_reason_name(vq_reason_t r);

#endif
