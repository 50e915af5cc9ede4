/* SPDX-License-Identifier: MIT */
/*
 * es_sender.c: queue, delivery, retries, spool and replay of the
 * Elasticsearch writer (see es_sender.h).
 */
#include "es_sender.h"

#include "es_bulk.h"
#include "es_spool.h"
#include "es_template.h"

#include "common/cm_ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct es_sender {
  es_sender_io_t io;
  char *name, *spool_dir, *dead_letter, *prefix;
  size_t batch_size;
  es_retry_t retry;
  uint64_t spool_max;
  bool install_templates;
  es_mode_t mode;
  es_format_t format;
  es_lifecycle_t lifecycle; /* its strings owned by the sender */

  /* The queue (of es_item_t, at most 4 x BatchSize + 1: past 4 x
   * BatchSize it goes to the spool), shared with the callbacks. */
  pthread_mutex_t q_lock;
  cm_ring_t q;

  /* The spool: the thread and overflowing callbacks use it. */
  pthread_mutex_t spool_lock;
  es_spool_t *spool;

  /* Only touched by the sender thread. */
  es_item_t *batch; /* batch_size items */
  es_item_t **view; /* batch_size pointers */
  bool down;
  unsigned down_attempts;
  double retry_at;
  bool templates_ok;
  uint64_t rng;
  es_item_t *replay; /* the spool segment being replayed */
  size_t replay_n, replay_pos;
  uint64_t replay_seq;
  bool replay_loaded;

  atomic_uint_fast64_t counters[ES_C_COUNT];
  pthread_mutex_t stats_lock;
  double latency_sum, latency_last;
  uint64_t latency_num;
};

/* Formats a message and hands it to the log callback. */
static void es_log(es_sender_t *s, es_log_t ch, int sev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void es_log(es_sender_t *s, es_log_t ch, int sev, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (s->io.log != NULL)
    s->io.log(s->io.ctx, ch, sev, msg);
}

static void es_count(es_sender_t *s, es_counter_t c, uint64_t v) {
  atomic_fetch_add(&s->counters[c], v);
}

static double es_now(es_sender_t *s) {
  return s->io.now(s->io.ctx);
}

/* Returns a malloc'd copy of str, or NULL for NULL (and when out of
 * memory: *ok is then cleared). */
static char *es_dup(const char *str, bool *ok) {
  if (str == NULL)
    return NULL;
  char *d = strdup(str);
  if (d == NULL)
    *ok = false;
  return d;
}

es_sender_t *es_sender_new(const es_sender_config_t *cfg,
                           const es_sender_io_t *io, char *err, size_t errlen) {
  if (cfg->batch_size == 0 || io->http == NULL || io->now == NULL ||
      io->sleep == NULL) {
    snprintf(err, errlen, "invalid sender configuration");
    return NULL;
  }
  es_sender_t *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->io = *io;
  pthread_mutex_init(&s->q_lock, NULL);
  pthread_mutex_init(&s->spool_lock, NULL);
  pthread_mutex_init(&s->stats_lock, NULL);
  bool ok = true;
  s->name = es_dup(cfg->name ? cfg->name : "", &ok);
  s->spool_dir = es_dup(cfg->spool_dir, &ok);
  s->dead_letter = es_dup(cfg->dead_letter, &ok);
  s->prefix = es_dup(cfg->prefix ? cfg->prefix : "vacmon", &ok);
  s->lifecycle.opensearch = cfg->lifecycle.opensearch;
  s->lifecycle.policy = es_dup(cfg->lifecycle.policy, &ok);
  s->lifecycle.retention = es_dup(cfg->lifecycle.retention, &ok);
  s->batch_size = cfg->batch_size;
  s->retry = cfg->retry;
  s->rng = cfg->seed;
  s->spool_max = cfg->spool_max;
  s->install_templates = cfg->install_templates;
  s->mode = cfg->mode;
  s->format = cfg->format;
  /* A BatchSize whose arrays cannot be sized is out of memory too (and
   * never reaches calloc, which sanitizers would stop on). */
  bool fits = cfg->batch_size <= SIZE_MAX / sizeof(*s->batch) &&
              cfg->batch_size <= SIZE_MAX / sizeof(*s->view);
  s->batch = fits ? calloc(cfg->batch_size, sizeof(*s->batch)) : NULL;
  s->view = fits ? calloc(cfg->batch_size, sizeof(*s->view)) : NULL;
  size_t q_max = cfg->batch_size <= (SIZE_MAX - 1) / 4 ? 4 * cfg->batch_size + 1
                                                       : SIZE_MAX;
  if (fits && cm_ring_init(&s->q, sizeof(es_item_t), q_max, 1024) != 0)
    ok = false;
  if (!ok || s->batch == NULL || s->view == NULL || s->spool_dir == NULL ||
      s->dead_letter == NULL) {
    snprintf(err, errlen,
             s->spool_dir == NULL || s->dead_letter == NULL
                 ? "no spool directory or dead-letter file"
                 : "out of memory (BatchSize %zu)",
             cfg->batch_size);
    es_sender_free(s);
    return NULL;
  }
  uint64_t seg = s->spool_max / 16;
  if (seg > 16 * 1024 * 1024)
    seg = 16 * 1024 * 1024;
  char why[512];
  s->spool = es_spool_open(s->spool_dir, s->spool_max, seg, why, sizeof(why));
  if (s->spool == NULL) {
    snprintf(err, errlen, "SpoolDir: %s", why);
    es_sender_free(s);
    return NULL;
  }
  return s;
}

void es_sender_free(es_sender_t *s) {
  if (s == NULL)
    return;
  es_item_t it;
  while (cm_ring_pop(&s->q, &it, 1) == 1)
    free(it.pair);
  cm_ring_free(&s->q);
  if (s->replay != NULL) {
    es_items_clear(s->replay, s->replay_n);
    free(s->replay);
  }
  es_spool_close(s->spool);
  free(s->batch);
  free(s->view);
  free(s->name);
  free(s->spool_dir);
  free(s->dead_letter);
  free(s->prefix);
  free((char *)s->lifecycle.policy);
  free((char *)s->lifecycle.retention);
  pthread_mutex_destroy(&s->q_lock);
  pthread_mutex_destroy(&s->spool_lock);
  pthread_mutex_destroy(&s->stats_lock);
  free(s);
}

/* ---- spool and dead letters ------------------------------------------- */

/* Writes items[0..num) that are not done to the spool in chunks of
 * BatchSize and frees every item's pair. Counts spooled or dropped. */
static void es_spill(es_sender_t *s, es_item_t *items, size_t num) {
  cm_buf_t chunk = CM_BUF_INIT;
  size_t i = 0;
  while (i < num) {
    size_t docs = 0;
    cm_buf_reset(&chunk);
    for (; i < num && docs < s->batch_size; i++) {
      if (items[i].done)
        continue;
      cm_buf_add(&chunk, items[i].pair, items[i].len);
      docs++;
    }
    if (docs == 0)
      break;
    uint64_t dropped = 0;
    int rc = -ENOMEM;
    if (cm_buf_ok(&chunk)) {
      pthread_mutex_lock(&s->spool_lock);
      rc = es_spool_append(s->spool, chunk.data, chunk.len, docs, &dropped);
      pthread_mutex_unlock(&s->spool_lock);
    }
    if (rc != 0) {
      es_log(s, ES_LOG_DOCS, ES_SEV_ERR,
             "node %s: cannot write to spool %s: %s; %zu documents dropped.",
             s->name, s->spool_dir, strerror(-rc), docs);
      es_count(s, ES_C_DROPPED, docs);
      continue;
    }
    if (dropped > 0) {
      es_log(s, ES_LOG_DOCS, ES_SEV_WARNING,
             "node %s: spool full (SpoolMaxSize %llu): dropped %llu oldest "
             "documents.",
             s->name, (unsigned long long)s->spool_max,
             (unsigned long long)dropped);
      es_count(s, ES_C_DROPPED, dropped);
    }
    es_count(s, ES_C_SPOOLED, docs);
  }
  cm_buf_free(&chunk);
  es_items_clear(items, num);
}

uint64_t es_sender_spool_bytes(es_sender_t *s) {
  pthread_mutex_lock(&s->spool_lock);
  uint64_t bytes = es_spool_bytes(s->spool);
  pthread_mutex_unlock(&s->spool_lock);
  return bytes;
}

/* Appends the dead-letter line for it and marks it done. */
static void es_dead(es_sender_t *s, es_item_t *it, const char *reason,
                    int status) {
  cm_buf_t line = CM_BUF_INIT;
  it->done = 1;
  es_count(s, ES_C_DEAD, 1);
  if (es_dead_letter(&line, it, reason, status) == 0) {
    FILE *fh = fopen(s->dead_letter, "a");
    if (fh != NULL) {
      fwrite(line.data, 1, line.len, fh);
      fclose(fh);
    } else {
      es_log(s, ES_LOG_DOCS, ES_SEV_ERR,
             "node %s: cannot append to DeadLetterFile %s: %s", s->name,
             s->dead_letter, strerror(errno));
    }
  }
  cm_buf_free(&line);
  es_log(s, ES_LOG_DOCS, ES_SEV_WARNING,
         "node %s: document rejected (status %d): %s; see %s", s->name, status,
         reason, s->dead_letter);
}

/* ---- the cluster's state ---------------------------------------------- */

/* Marks the cluster as failing: the next attempt waits for the backoff. */
static void es_fail(es_sender_t *s, const char *what) {
  double delay =
      es_retry_delay(&s->retry, s->down_attempts, es_retry_random(&s->rng));
  if (s->down_attempts < 64)
    s->down_attempts++;
  s->retry_at = es_now(s) + delay;
  if (!s->down)
    s->templates_ok = false; /* install them again when it is back */
  s->down = true;
  es_log(s, ES_LOG_CLUSTER, ES_SEV_ERR,
         "node %s: %s; documents go to the spool, retrying in %.1f s.", s->name,
         what, delay);
}

/* Marks the cluster as answering. */
static void es_up(es_sender_t *s) {
  if (s->down)
    es_log(s, ES_LOG_UP, ES_SEV_INFO, "node %s: the cluster answers again.",
           s->name);
  s->down = false;
  s->down_attempts = 0;
  s->retry_at = 0;
}

bool es_sender_down(es_sender_t *s) {
  return s->down;
}

/* Returns a printable prefix of an HTTP answer. */
static const char *es_body(const es_http_result_t *r) {
  return r->body != NULL ? r->body : "";
}

/* Sends one template request r (GET first for a component that must not
 * be overwritten). Returns 0, or -1 after es_fail when the cluster failed. */
static int es_template_send(es_sender_t *s, const es_tpl_req_t *r) {
  es_http_result_t res = {0};
  const char *what = "PUT";
  int rc = 0;
  if (r->if_missing) {
    what = "GET";
    rc = s->io.http(s->io.ctx, "GET", r->path, "", 0, &res);
    if (rc == 0 && res.status == 200) {
      es_log(s, ES_LOG_PLAIN, ES_SEV_INFO,
             "node %s: component template %s exists: kept as it is.", s->name,
             r->name);
      return 0;
    }
    if (rc == 0 && res.status == 404) {
      what = "PUT";
      res = (es_http_result_t){0};
      rc =
          s->io.http(s->io.ctx, "PUT", r->path, r->body, strlen(r->body), &res);
    }
  } else {
    rc = s->io.http(s->io.ctx, "PUT", r->path, r->body, strlen(r->body), &res);
  }
  if (rc != 0 || res.status == 429 || res.status >= 500) {
    char msg[800];
    if (rc != 0)
      snprintf(msg, sizeof(msg), "cannot install template %s: %s", r->name,
               res.error);
    else
      snprintf(msg, sizeof(msg), "template %s: HTTP %ld", r->name, res.status);
    es_fail(s, msg);
    return -1;
  }
  if (res.status < 200 || res.status >= 300)
    es_log(s, ES_LOG_PLAIN, ES_SEV_ERR,
           "node %s: %s %s answered HTTP %ld: %.300s", s->name, what, r->path,
           res.status, es_body(&res));
  else
    es_log(s, ES_LOG_PLAIN, ES_SEV_INFO, "node %s: installed %s %s.", s->name,
           r->if_missing ? "component template" : "index template", r->name);
  return 0;
}

int es_sender_templates(es_sender_t *s) {
  if (!s->install_templates || s->templates_ok)
    return 0;
  es_tpl_plan_t plan;
  char err[256];
  if (es_template_plan(&plan, s->format, s->mode, s->prefix, &s->lifecycle, err,
                       sizeof(err)) != 0) {
    es_log(s, ES_LOG_PLAIN, ES_SEV_ERR, "node %s: templates: %s", s->name, err);
    s->templates_ok = true; /* the same error again on every step */
    return 0;
  }
  for (size_t i = 0; i < plan.num; i++)
    if (es_template_send(s, &plan.reqs[i]) != 0) {
      es_template_plan_free(&plan);
      return -1;
    }
  es_template_plan_free(&plan);
  s->templates_ok = true;
  return 0;
}

/* ---- delivery ----------------------------------------------------------- */

/* Records the latency of one _bulk request. */
static void es_latency(es_sender_t *s, double seconds) {
  pthread_mutex_lock(&s->stats_lock);
  s->latency_sum += seconds;
  s->latency_num++;
  s->latency_last = seconds;
  pthread_mutex_unlock(&s->stats_lock);
}

bool es_sender_latency(es_sender_t *s, double *seconds) {
  pthread_mutex_lock(&s->stats_lock);
  *seconds = s->latency_num > 0 ? s->latency_sum / (double)s->latency_num
                                : s->latency_last;
  bool any = s->latency_num > 0 || s->latency_last > 0;
  s->latency_sum = 0;
  s->latency_num = 0;
  pthread_mutex_unlock(&s->stats_lock);
  return any;
}

/* Copies the items v[0..m) points to into a contiguous array for
 * es_bulk_body. Returns the array (the caller frees it, not the pairs). */
static es_item_t *es_gather(es_item_t **v, size_t m) {
  es_item_t *flat = malloc(m * sizeof(*flat));
  if (flat != NULL)
    for (size_t i = 0; i < m; i++)
      flat[i] = *v[i];
  return flat;
}

/* POSTs v[0..m) as one _bulk request and handles the answer: stored and
 * dead items are marked done, items to retry are resent after a backoff,
 * a 413 (or 400) splits the batch. Returns 0 when every item is done, -1
 * when the cluster failed (the items not done are still to be sent). */
static int es_deliver(es_sender_t *s, es_item_t **v, size_t m) {
  unsigned round = 0;
  cm_buf_t body = CM_BUF_INIT;
  es_result_t *res = NULL;
  int rc = -1;
  for (;;) {
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
      if (!v[i]->done)
        v[k++] = v[i];
    m = k;
    if (m == 0) {
      rc = 0;
      break;
    }
    if (es_sender_templates(s) != 0)
      break;
    cm_buf_reset(&body);
    es_item_t *flat = es_gather(v, m);
    int body_rc = flat != NULL ? es_bulk_body(&body, flat, m) : -1;
    free(flat);
    free(res);
    res = calloc(m, sizeof(*res));
    if (body_rc != 0 || res == NULL) {
      es_fail(s, "out of memory");
      break;
    }
    es_http_result_t r = {0};
    double t0 = es_now(s);
    int http = s->io.http(s->io.ctx, "POST", "/_bulk", body.data, body.len, &r);
    es_count(s, ES_C_SENT, m);
    if (http == 0)
      es_latency(s, es_now(s) - t0);
    es_req_t what = es_bulk_classify(r.status, http);
    if (what == ES_REQ_OK && es_bulk_parse(r.body, r.len, m, res) != 0) {
      what = ES_REQ_RETRY;
      snprintf(r.error, sizeof(r.error), "unreadable _bulk response");
    }
    if (what == ES_REQ_RETRY) {
      char msg[512];
      if (http != 0 || (r.status >= 200 && r.status < 300))
        snprintf(msg, sizeof(msg), "_bulk%s: %s", http != 0 ? " failed" : "",
                 r.error);
      else
        snprintf(msg, sizeof(msg), "_bulk answered HTTP %ld: %.200s", r.status,
                 es_body(&r));
      es_count(s, ES_C_RETRIED, m);
      es_fail(s, msg);
      break;
    }
    es_up(s);
    if (what == ES_REQ_SPLIT || what == ES_REQ_REJECT) {
      if (m == 1) {
        char reason[512];
        snprintf(reason, sizeof(reason),
                 "_bulk request refused: HTTP %ld %.400s", r.status,
                 es_body(&r));
        es_dead(s, v[0], reason, (int)r.status);
        continue;
      }
      size_t h = m / 2;
      rc = (es_deliver(s, v, h) == 0 && es_deliver(s, v + h, m - h) == 0) ? 0
                                                                          : -1;
      break;
    }
    size_t retry = 0;
    for (size_t i = 0; i < m; i++) {
      es_result_t *x = &res[i];
      if (x->outcome == ES_ITEM_STORED || x->outcome == ES_ITEM_DUPLICATE) {
        v[i]->done = 1;
        es_count(s, ES_C_STORED, 1);
      } else if (x->outcome == ES_ITEM_DEAD) {
        es_dead(s, v[i], x->reason[0] ? x->reason : "rejected", x->status);
      } else if (es_retry_give_up(&s->retry, ++v[i]->attempts)) {
        char reason[300];
        snprintf(reason, sizeof(reason), "gave up after %u retries: %.200s",
                 v[i]->attempts, x->reason);
        es_dead(s, v[i], reason, x->status);
      } else {
        retry++;
      }
    }
    if (retry == 0) {
      rc = 0;
      break;
    }
    es_count(s, ES_C_RETRIED, retry);
    double delay = es_retry_delay(&s->retry, round++, es_retry_random(&s->rng));
    if (s->io.sleep(s->io.ctx, delay) != 0)
      break;
  }
  free(res);
  cm_buf_free(&body);
  return rc;
}

/* Delivers items[0..num) in batches of BatchSize. Returns 0 when all are
 * done, -1 when the cluster failed. */
static int es_deliver_all(es_sender_t *s, es_item_t *items, size_t num) {
  int rc = 0;
  for (size_t i = 0; i < num && rc == 0;) {
    size_t m = 0;
    for (; i < num && m < s->batch_size; i++)
      if (!items[i].done)
        s->view[m++] = &items[i];
    if (m > 0)
      rc = es_deliver(s, s->view, m);
  }
  return rc;
}

/* Sends the next batch of the spool (loading its oldest segment first).
 * Returns 0 on progress, -1 when the cluster failed. */
static int es_replay_step(es_sender_t *s) {
  if (!s->replay_loaded) {
    char *data = NULL;
    size_t len = 0, bad = 0;
    uint64_t seq = 0;
    pthread_mutex_lock(&s->spool_lock);
    int rc = es_spool_oldest(s->spool, &data, &len, &seq);
    pthread_mutex_unlock(&s->spool_lock);
    if (rc < 0) {
      char what[512];
      snprintf(what, sizeof(what), "cannot read the spool %s: %s", s->spool_dir,
               strerror(-rc));
      es_fail(s, what);
      return -1;
    }
    if (rc == 0)
      return 0;
    s->replay_n = 0;
    if (es_items_from_ndjson(data, len, &s->replay, &s->replay_n, &bad) < 0)
      bad++;
    free(data);
    if (bad > 0) {
      es_log(s, ES_LOG_DOCS, ES_SEV_WARNING,
             "node %s: %zu damaged lines in spool segment %llu skipped.",
             s->name, bad, (unsigned long long)seq);
      es_count(s, ES_C_DROPPED, bad / 2 + bad % 2);
    }
    s->replay_seq = seq;
    s->replay_pos = 0;
    s->replay_loaded = true;
  }
  size_t end = s->replay_pos + s->batch_size;
  if (end > s->replay_n)
    end = s->replay_n;
  if (es_deliver_all(s, s->replay + s->replay_pos, end - s->replay_pos) != 0)
    return -1;
  s->replay_pos = end;
  if (s->replay_pos >= s->replay_n) {
    pthread_mutex_lock(&s->spool_lock);
    int rc = es_spool_remove(s->spool, s->replay_seq);
    pthread_mutex_unlock(&s->spool_lock);
    if (rc != 0)
      es_log(s, ES_LOG_DOCS, ES_SEV_ERR,
             "node %s: cannot delete a replayed spool segment in %s: %s",
             s->name, s->spool_dir, strerror(-rc));
    es_items_clear(s->replay, s->replay_n);
    s->replay_n = s->replay_pos = 0;
    s->replay_loaded = false;
  }
  return 0;
}

/* ---- the queue ---------------------------------------------------------- */

/* Takes the whole queue (q_lock held) and spools it (q_lock released while
 * writing). Returns with q_lock held. */
static void es_spill_queue(es_sender_t *s) {
  size_t num = cm_ring_len(&s->q);
  if (num == 0)
    return;
  es_item_t *items = malloc(num * sizeof(*items));
  if (items == NULL)
    return;
  cm_ring_pop(&s->q, items, num);
  pthread_mutex_unlock(&s->q_lock);
  es_spill(s, items, num);
  free(items);
  pthread_mutex_lock(&s->q_lock);
}

bool es_sender_enqueue(es_sender_t *s, char *pair, size_t len) {
  if (pair == NULL) {
    es_count(s, ES_C_DROPPED, 1);
    es_log(s, ES_LOG_DOCS, ES_SEV_ERR, "node %s: cannot render a document.",
           s->name);
    return false;
  }
  pthread_mutex_lock(&s->q_lock);
  es_item_t item = {.pair = pair, .len = len};
  if (cm_ring_push(&s->q, &item, 1) != 1) {
    /* Out of memory, or full because the spill could not allocate. */
    pthread_mutex_unlock(&s->q_lock);
    free(pair);
    es_count(s, ES_C_DROPPED, 1);
    return false;
  }
  es_count(s, ES_C_QUEUED, 1);
  if (cm_ring_len(&s->q) > 4 * s->batch_size)
    es_spill_queue(s);
  bool full = cm_ring_len(&s->q) >= s->batch_size;
  pthread_mutex_unlock(&s->q_lock);
  return full;
}

size_t es_sender_queued(es_sender_t *s) {
  pthread_mutex_lock(&s->q_lock);
  size_t n = cm_ring_len(&s->q);
  pthread_mutex_unlock(&s->q_lock);
  return n;
}

/* Sends one batch from the queue; failed items go to the spool. */
static void es_send_queue(es_sender_t *s) {
  pthread_mutex_lock(&s->q_lock);
  size_t num = cm_ring_pop(&s->q, s->batch, s->batch_size);
  pthread_mutex_unlock(&s->q_lock);
  if (es_deliver_all(s, s->batch, num) != 0)
    es_spill(s, s->batch, num);
  else
    es_items_clear(s->batch, num);
}

es_step_t es_sender_step(es_sender_t *s, bool due, double *wait_until) {
  if (es_now(s) < s->retry_at) {
    /* Backing off: what is due waits in the spool, not in memory. */
    if (due) {
      pthread_mutex_lock(&s->q_lock);
      es_spill_queue(s);
      pthread_mutex_unlock(&s->q_lock);
    }
    *wait_until = s->retry_at;
    return ES_STEP_BACKOFF;
  }
  if (s->replay_loaded || es_sender_spool_bytes(s) > 0) {
    es_replay_step(s); /* older documents first */
    return ES_STEP_WORKED;
  }
  if (due && es_sender_queued(s) > 0) {
    es_send_queue(s);
    return ES_STEP_WORKED;
  }
  return ES_STEP_IDLE;
}

void es_sender_stop(es_sender_t *s, double deadline) {
  /* The segment being replayed stays in the spool. */
  while (es_sender_queued(s) > 0) {
    if (s->down || es_now(s) >= deadline) {
      pthread_mutex_lock(&s->q_lock);
      es_spill_queue(s);
      pthread_mutex_unlock(&s->q_lock);
      break;
    }
    es_send_queue(s);
  }
}

uint64_t es_sender_counter(es_sender_t *s, es_counter_t c) {
  return (uint64_t)atomic_load(&s->counters[c]);
}
