/* SPDX-License-Identifier: MIT */
/*
 * es_sender.h: the delivery engine of the Elasticsearch writer.
 *
 * The ring queue (with its overflow to the spool past 4 x BatchSize), the
 * _bulk delivery (split on 413/400, retry rounds with backoff, give-up
 * after MaxRetries, dead letters), the cluster's up/down state, the spool
 * and its replay (oldest first, also after a restart) and the index
 * templates. Pure code behind callbacks for HTTP, the clock, the waits
 * between retry rounds and logging, so that unit tests drive it with a
 * fake transport and a fake clock. The plugin keeps libcurl, the thread
 * and collectd's calls.
 *
 * Threads: es_sender_enqueue, es_sender_queued, es_sender_counter,
 * es_sender_spool_bytes and es_sender_latency may be called from any
 * thread; es_sender_step and es_sender_stop only from one (the sender
 * thread).
 */
#ifndef ES_SENDER_H
#define ES_SENDER_H

#include "es_doc.h"
#include "es_retry.h"
#include "es_template.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The answer to one HTTP request, filled in by the transport. */
typedef struct {
  long status;      /* HTTP status, when a server answered */
  const char *body; /* the answer, owned by the transport (valid until its
                       next call), may be NULL */
  size_t len;
  char error[256]; /* why no server answered */
} es_http_result_t;

/* Log channels: how the plugin should report a message. */
typedef enum {
  ES_LOG_PLAIN,   /* once, as it is */
  ES_LOG_CLUSTER, /* the cluster fails: rate-limited (c_complain) */
  ES_LOG_UP,      /* the cluster answers again (c_release) */
  ES_LOG_DOCS,    /* documents dead-lettered, dropped, spool errors:
                     rate-limited on their own (c_complain) */
} es_log_t;

/* Severities (syslog's numbers, as collectd's LOG_*). */
enum { ES_SEV_ERR = 3, ES_SEV_WARNING = 4, ES_SEV_NOTICE = 5, ES_SEV_INFO = 6 };

typedef struct {
  /* Sends body (len bytes) with method ("POST", "PUT") to path ("/_bulk",
   * "/_index_template/x"). Returns 0 when a server answered (out->status
   * and out->body set), -1 when none did (out->error says why). */
  int (*http)(void *ctx, const char *method, const char *path, const char *body,
              size_t len, es_http_result_t *out);
  /* Returns a monotonic clock in seconds. */
  double (*now)(void *ctx);
  /* Waits up to seconds between retry rounds. Returns 0, or -1 when the
   * writer is stopping and the wait would pass its deadline (the round is
   * then abandoned and its documents spooled). */
  int (*sleep)(void *ctx, double seconds);
  /* Reports msg (NUL-terminated) on channel with severity. */
  void (*log)(void *ctx, es_log_t channel, int severity, const char *msg);
  void *ctx;
} es_sender_io_t;

typedef struct {
  const char *name; /* node name for messages (copied) */
  size_t batch_size;
  es_retry_t retry;
  uint64_t seed; /* of the backoff jitter */
  const char *spool_dir;
  uint64_t spool_max;
  const char *dead_letter; /* file the dead letters are appended to */
  bool install_templates;
  es_mode_t mode;
  const char *prefix;
  es_lifecycle_t lifecycle; /* added to the templates (strings copied) */
  es_format_t format;       /* which templates (es_template_plan) */
} es_sender_config_t;

/* Counters, in the order the plugin dispatches them. */
typedef enum {
  ES_C_QUEUED,
  ES_C_SENT,
  ES_C_STORED,
  ES_C_RETRIED,
  ES_C_DEAD,
  ES_C_SPOOLED,
  ES_C_DROPPED,
  ES_C_COUNT
} es_counter_t;

/* What one es_sender_step did. */
typedef enum {
  ES_STEP_IDLE,    /* nothing to do now */
  ES_STEP_WORKED,  /* sent (or tried to send) something: step again */
  ES_STEP_BACKOFF, /* the cluster failed: wait until *wait_until */
} es_step_t;

typedef struct es_sender es_sender_t;

/* Makes a sender (copies cfg's strings; io is copied) and opens its spool.
 * Everything the sender thread needs is allocated here, so the thread
 * itself cannot fail to start. Returns NULL with a message in err. */
es_sender_t *es_sender_new(const es_sender_config_t *cfg,
                           const es_sender_io_t *io, char *err, size_t errlen);

/* Frees the sender and the documents still queued (call es_sender_stop
 * first to keep them). The spool files stay. NULL is ignored. */
void es_sender_free(es_sender_t *s);

/* Appends a bulk pair (taking ownership of pair, which may be NULL: then
 * it is counted as dropped). Past 4 x BatchSize the whole queue goes to the
 * spool. Returns true when the queue holds a full batch (wake the thread). */
bool es_sender_enqueue(es_sender_t *s, char *pair, size_t len);

/* Returns the number of queued documents. */
size_t es_sender_queued(es_sender_t *s);

/* Installs the templates when they are due (at start, after an outage):
 * each component template of es_template_plan only when a GET answers 404
 * (a site's own is never overwritten), then PUTs the index templates.
 * Returns 0, or -1 when the cluster failed (the sender backs off). */
int es_sender_templates(es_sender_t *s);

/* Does one piece of work: while backing off, spools the queue when due;
 * else replays one batch of the spool (older documents first), or, when
 * due, sends one batch of the queue (what fails goes to the spool).
 * *wait_until gets the clock time the backoff ends (BACKOFF). */
es_step_t es_sender_step(es_sender_t *s, bool due, double *wait_until);

/* At shutdown: sends the queue until deadline (clock time) while the
 * cluster answers, spools the rest. */
void es_sender_stop(es_sender_t *s, double deadline);

/* Returns counter c. */
uint64_t es_sender_counter(es_sender_t *s, es_counter_t c);

/* Returns the bytes in the spool. */
uint64_t es_sender_spool_bytes(es_sender_t *s);

/* Returns true while the cluster is taken as down. */
bool es_sender_down(es_sender_t *s);

/* Sets *seconds to the mean _bulk latency since the last call (or the
 * last one measured) and resets the mean. Returns false before any. */
bool es_sender_latency(es_sender_t *s, double *seconds);

#endif
