/* SPDX-License-Identifier: MIT */
/**
 * collectd-vacmon - plugins/write_elasticsearch.c
 *
 * A collectd write plugin that stores value lists and notifications as
 * documents in Elasticsearch (7.10+, 8.x) or OpenSearch 2.x with _bulk,
 * without losing any through outages.
 *
 * <Plugin write_elasticsearch>
 *   <Node "NAME">
 *     URL "http://127.0.0.1:9200"   # repeatable: next one on connect failure
 *     IndexMode "daily"             # or "datastream"
 *     IndexPrefix "vacmon"
 *     BatchSize 1000                # documents per _bulk request
 *     FlushInterval 2               # seconds
 *     Timeout 10                    # seconds per request
 *     ConnectTimeout 3
 *     RetryInitial 0.5              # backoff: full jitter, doubling
 *     RetryMax 30
 *     MaxRetries 0                  # 0: forever
 *     SpoolDir "/var/lib/collectd/write_elasticsearch/NAME"
 *     SpoolMaxSize 1073741824
 *     DeadLetterFile "<SpoolDir>/dead-letter.ndjson"
 *     InstallTemplates true
 *     Metrics true
 *     Notifications true
 *     StoreRates false
 *     CACert, ClientCert, ClientKey, VerifyPeer, VerifyHost,
 *     User, Password, APIKey
 *   </Node>
 * </Plugin>
 *
 * Write and notification callbacks render a document
 * (src/elasticsearch/es_doc.c) and append it to the node's queue under the
 * node's lock. One thread per node sends batches (src/elasticsearch/es_bulk.c),
 * backs off (src/elasticsearch/es_retry.c), and while the cluster does not
 * answer, or the queue passes 4 x BatchSize, moves documents to the on-disk
 * spool (src/elasticsearch/es_spool.c), which it replays, in order, before
 * newer documents once the cluster answers again.
 */

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/daemon/utils_cache.h"
#include "collectd/core/daemon/utils_complain.h"
#include "collectd/core/utils/common/common.h"

#include "common/cm_option.h"
#include "elasticsearch/es_bulk.h"
#include "elasticsearch/es_doc.h"
#include "elasticsearch/es_retry.h"
#include "elasticsearch/es_spool.h"
#include "elasticsearch/es_template.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <time.h>

#define ES_PLUGIN "write_elasticsearch"
#define ES_DEFAULT_SPOOL_BASE "/var/lib/collectd/write_elasticsearch"
#define ES_RESPONSE_MAX (64 * 1024 * 1024)

/* Counters dispatched as derive values, in this order. */
enum {
  ES_C_QUEUED,
  ES_C_SENT,
  ES_C_STORED,
  ES_C_RETRIED,
  ES_C_DEAD,
  ES_C_SPOOLED,
  ES_C_DROPPED,
  ES_C_COUNT
};
static const char *const es_counter_names[ES_C_COUNT] = {
    "queued",        "sent",    "stored", "retried",
    "dead_lettered", "spooled", "dropped"};

typedef struct {
  /* Configuration: read-only once the thread runs. */
  char *name;
  char **urls;
  size_t urls_num;
  es_mode_t mode;
  char *prefix;
  size_t batch_size;
  double flush_interval, timeout, connect_timeout;
  es_retry_t retry;
  char *spool_dir;
  uint64_t spool_max;
  char *dead_letter;
  bool install_templates, metrics, notifications, store_rates;
  char *cacert, *client_cert, *client_key, *user, *password, *api_key;
  bool verify_peer, verify_host;

  /* The queue, shared by the callbacks and the thread. */
  pthread_mutex_t lock;
  pthread_cond_t cond;      /* wakes the thread */
  pthread_cond_t done_cond; /* wakes a waiting flush callback */
  es_item_t *q;             /* ring buffer */
  size_t q_head, q_len, q_cap;
  uint64_t flush_req, flush_done; /* flush generations */
  bool stopping;
  double stop_deadline;
  pthread_t thread;
  bool thread_running;

  /* The spool: the thread and overflowing callbacks use it. */
  pthread_mutex_t spool_lock;
  es_spool_t *spool;
  pthread_mutex_t dead_lock;

  /* Sender state, only touched by the thread. */
  CURL *curl;
  struct curl_slist *hdr_bulk, *hdr_json;
  char errbuf[CURL_ERROR_SIZE];
  cm_buf_t resp;
  size_t url_cur;
  bool down;
  unsigned down_attempts;
  double retry_at;
  bool templates_ok;
  uint64_t rng;
  es_item_t *replay; /* the spool segment being replayed */
  size_t replay_n, replay_pos;
  uint64_t replay_seq;
  bool replay_loaded;

  /* Statistics. */
  atomic_uint_fast64_t counters[ES_C_COUNT];
  pthread_mutex_t stats_lock;
  double latency_sum, latency_last;
  uint64_t latency_num;
  c_complain_t complaint;
} es_node_t;

static es_node_t **es_nodes;
static size_t es_nodes_num;

/* ---- small helpers ---------------------------------------------------- */

/* Returns CLOCK_MONOTONIC in seconds. */
static double es_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns the timespec of CLOCK_REALTIME in `delay' seconds (for
 * pthread_cond_timedwait). */
static struct timespec es_abstime(double delay) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (delay < 0)
    delay = 0;
  if (delay > 86400)
    delay = 86400;
  double ns = (double)ts.tv_nsec + delay * 1e9;
  ts.tv_sec += (time_t)(ns / 1e9);
  ts.tv_nsec = (long)(ns - (double)(time_t)(ns / 1e9) * 1e9);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

static void es_count(es_node_t *n, int c, uint64_t v) {
  atomic_fetch_add(&n->counters[c], v);
}

/* ---- the node's life cycle -------------------------------------------- */

static void es_node_free(void *arg) {
  es_node_t *n = arg;
  if (n == NULL)
    return;
  for (size_t i = 0; i < n->q_len; i++)
    free(n->q[(n->q_head + i) % n->q_cap].pair);
  free(n->q);
  if (n->replay != NULL) {
    es_items_clear(n->replay, n->replay_n);
    free(n->replay);
  }
  es_spool_close(n->spool);
  if (n->curl != NULL)
    curl_easy_cleanup(n->curl);
  curl_slist_free_all(n->hdr_bulk);
  curl_slist_free_all(n->hdr_json);
  cm_buf_free(&n->resp);
  for (size_t i = 0; i < n->urls_num; i++)
    free(n->urls[i]);
  free(n->urls);
  free(n->name);
  free(n->prefix);
  free(n->spool_dir);
  free(n->dead_letter);
  free(n->cacert);
  free(n->client_cert);
  free(n->client_key);
  free(n->user);
  free(n->password);
  free(n->api_key);
  pthread_mutex_destroy(&n->lock);
  pthread_mutex_destroy(&n->spool_lock);
  pthread_mutex_destroy(&n->dead_lock);
  pthread_mutex_destroy(&n->stats_lock);
  pthread_cond_destroy(&n->cond);
  pthread_cond_destroy(&n->done_cond);
  free(n);
}

/* ---- spool and dead letters ------------------------------------------- */

/* Writes items[0..num) that are not done to the spool in chunks of
 * BatchSize and frees every item's pair. Counts spooled or dropped. */
static void es_spill(es_node_t *n, es_item_t *items, size_t num) {
  cm_buf_t chunk = CM_BUF_INIT;
  size_t i = 0;
  while (i < num) {
    size_t docs = 0;
    cm_buf_reset(&chunk);
    for (; i < num && docs < n->batch_size; i++) {
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
      pthread_mutex_lock(&n->spool_lock);
      rc = es_spool_append(n->spool, chunk.data, chunk.len, docs, &dropped);
      pthread_mutex_unlock(&n->spool_lock);
    }
    if (rc != 0) {
      c_complain(LOG_ERR, &n->complaint,
                 ES_PLUGIN " plugin: node %s: cannot write to spool %s: %s; "
                           "%zu documents dropped.",
                 n->name, n->spool_dir, STRERROR(-rc), docs);
      es_count(n, ES_C_DROPPED, docs);
      continue;
    }
    if (dropped > 0) {
      c_complain(LOG_WARNING, &n->complaint,
                 ES_PLUGIN " plugin: node %s: spool full (SpoolMaxSize %" PRIu64
                           "): dropped %" PRIu64 " oldest documents.",
                 n->name, n->spool_max, dropped);
      es_count(n, ES_C_DROPPED, dropped);
    }
    es_count(n, ES_C_SPOOLED, docs);
  }
  cm_buf_free(&chunk);
  es_items_clear(items, num);
}

/* Returns true when the spool holds documents. */
static bool es_spool_pending(es_node_t *n) {
  pthread_mutex_lock(&n->spool_lock);
  bool pending = es_spool_bytes(n->spool) > 0;
  pthread_mutex_unlock(&n->spool_lock);
  return pending;
}

/* Appends the dead-letter line for it and marks it done. */
static void es_dead(es_node_t *n, es_item_t *it, const char *reason,
                    int status) {
  cm_buf_t line = CM_BUF_INIT;
  it->done = 1;
  es_count(n, ES_C_DEAD, 1);
  if (es_dead_letter(&line, it, reason, status) == 0) {
    pthread_mutex_lock(&n->dead_lock);
    FILE *fh = fopen(n->dead_letter, "a");
    if (fh != NULL) {
      fwrite(line.data, 1, line.len, fh);
      fclose(fh);
    }
    pthread_mutex_unlock(&n->dead_lock);
    if (fh == NULL)
      c_complain(LOG_ERR, &n->complaint,
                 ES_PLUGIN " plugin: node %s: cannot append to DeadLetterFile "
                           "%s: %s",
                 n->name, n->dead_letter, STRERRNO);
  }
  cm_buf_free(&line);
  WARNING(ES_PLUGIN " plugin: node %s: document rejected (status %d): %s",
          n->name, status, reason);
}

/* ---- HTTP ------------------------------------------------------------- */

static size_t es_curl_write(char *ptr, size_t size, size_t nmemb, void *ud) {
  cm_buf_t *b = ud;
  size_t len = size * nmemb;
  if (b->len + len > ES_RESPONSE_MAX || cm_buf_add(b, ptr, len) != 0)
    return 0;
  return len;
}

/* Sets up the curl handle and headers. Returns 0 or -1. */
static int es_curl_setup(es_node_t *n) {
  n->curl = curl_easy_init();
  if (n->curl == NULL)
    return -1;
  const char *ct_bulk = "Content-Type: application/x-ndjson";
  const char *ct_json = "Content-Type: application/json";
  n->hdr_bulk = curl_slist_append(NULL, ct_bulk);
  n->hdr_json = curl_slist_append(NULL, ct_json);
  n->hdr_bulk = curl_slist_append(n->hdr_bulk, "Expect:");
  n->hdr_json = curl_slist_append(n->hdr_json, "Expect:");
  if (n->api_key != NULL) {
    char auth[1024];
    ssnprintf(auth, sizeof(auth), "Authorization: ApiKey %s", n->api_key);
    n->hdr_bulk = curl_slist_append(n->hdr_bulk, auth);
    n->hdr_json = curl_slist_append(n->hdr_json, auth);
  }
  if (n->hdr_bulk == NULL || n->hdr_json == NULL)
    return -1;
  CURL *c = n->curl;
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, n->errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, es_curl_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &n->resp);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "collectd-vacmon write_elasticsearch");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(n->timeout * 1000));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)(n->connect_timeout * 1000));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, n->verify_peer ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, n->verify_host ? 2L : 0L);
  if (n->cacert != NULL)
    curl_easy_setopt(c, CURLOPT_CAINFO, n->cacert);
  if (n->client_cert != NULL)
    curl_easy_setopt(c, CURLOPT_SSLCERT, n->client_cert);
  if (n->client_key != NULL)
    curl_easy_setopt(c, CURLOPT_SSLKEY, n->client_key);
  if (n->user != NULL) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, n->user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, n->password ? n->password : "");
  }
  return 0;
}

/* Sends one request (PUT when put, else POST) of body to <URL><path>,
 * trying the URLs in order from the last one that answered. Stores the
 * HTTP status in *status and the answer in n->resp. Returns 0 when a server
 * answered, -1 when none did (n->errbuf says why). */
static int es_http(es_node_t *n, bool put, const char *path, const char *body,
                   size_t len, long *status) {
  CURL *c = n->curl;
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, put ? n->hdr_json : n->hdr_bulk);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, put ? "PUT" : "POST");
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  for (size_t k = 0; k < n->urls_num; k++) {
    size_t u = (n->url_cur + k) % n->urls_num;
    char url[4096];
    const char *base = n->urls[u];
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
      blen--;
    ssnprintf(url, sizeof(url), "%.*s%s", (int)blen, base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    cm_buf_reset(&n->resp);
    n->errbuf[0] = '\0';
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
      if (u != n->url_cur)
        NOTICE(ES_PLUGIN " plugin: node %s: now sending to %s (%s did not "
                         "answer).",
               n->name, n->urls[u], n->urls[n->url_cur]);
      n->url_cur = u;
      return 0;
    }
    if (n->errbuf[0] == '\0')
      sstrncpy(n->errbuf, curl_easy_strerror(rc), sizeof(n->errbuf));
  }
  return -1;
}

/* Marks the cluster as failing: the next attempt waits for the backoff. */
static void es_fail(es_node_t *n, const char *what) {
  double delay =
      es_retry_delay(&n->retry, n->down_attempts, es_retry_random(&n->rng));
  if (n->down_attempts < 64)
    n->down_attempts++;
  n->retry_at = es_now() + delay;
  if (!n->down)
    n->templates_ok = false; /* install them again when it is back */
  n->down = true;
  c_complain(LOG_ERR, &n->complaint,
             ES_PLUGIN " plugin: node %s: %s; documents go to the spool, "
                       "retrying in %.1f s.",
             n->name, what, delay);
}

/* Marks the cluster as answering. */
static void es_up(es_node_t *n) {
  if (n->down)
    c_release(LOG_INFO, &n->complaint,
              ES_PLUGIN " plugin: node %s: the cluster answers again.",
              n->name);
  n->down = false;
  n->down_attempts = 0;
  n->retry_at = 0;
}

/* Installs the two index templates. Returns 0 when done (or given up on
 * for good after an error the cluster will repeat), -1 when the cluster did
 * not answer or answered 429/5xx. */
static int es_install_templates(es_node_t *n) {
  static const es_kind_t kinds[] = {ES_KIND_METRICS, ES_KIND_EVENTS};
  for (size_t i = 0; i < 2; i++) {
    char name[300], path[320], err[256];
    es_template_name(name, sizeof(name), n->prefix, kinds[i]);
    ssnprintf(path, sizeof(path), "/_index_template/%s", name);
    char *body = es_template_body(
        i == 0 ? es_template_metrics_json : es_template_events_json, kinds[i],
        n->mode, n->prefix, err, sizeof(err));
    if (body == NULL) {
      ERROR(ES_PLUGIN " plugin: node %s: template %s: %s", n->name, name, err);
      continue;
    }
    long status = 0;
    int rc = es_http(n, true, path, body, strlen(body), &status);
    free(body);
    if (rc != 0) {
      char what[CURL_ERROR_SIZE + 64];
      ssnprintf(what, sizeof(what), "cannot install template %s: %s", name,
                n->errbuf);
      es_fail(n, what);
      return -1;
    }
    if (status == 429 || status >= 500) {
      char what[128];
      ssnprintf(what, sizeof(what), "template %s: HTTP %ld", name, status);
      es_fail(n, what);
      return -1;
    }
    if (status < 200 || status >= 300)
      ERROR(ES_PLUGIN " plugin: node %s: PUT _index_template/%s answered HTTP "
                      "%ld: %.300s",
            n->name, name, status, n->resp.data ? n->resp.data : "");
    else
      INFO(ES_PLUGIN " plugin: node %s: installed index template %s.", n->name,
           name);
  }
  n->templates_ok = true;
  return 0;
}

/* Records the latency of one _bulk request. */
static void es_latency(es_node_t *n, double seconds) {
  pthread_mutex_lock(&n->stats_lock);
  n->latency_sum += seconds;
  n->latency_num++;
  n->latency_last = seconds;
  pthread_mutex_unlock(&n->stats_lock);
}

/* Waits up to delay seconds (less when stopping). Returns 0, or -1 when
 * the node is stopping and the wait would pass its deadline. */
static int es_sleep(es_node_t *n, double delay) {
  pthread_mutex_lock(&n->lock);
  double until = es_now() + delay;
  int rc = 0;
  while (es_now() < until) {
    if (n->stopping && until > n->stop_deadline) {
      rc = -1;
      break;
    }
    struct timespec ts = es_abstime(until - es_now());
    pthread_cond_timedwait(&n->cond, &n->lock, &ts);
  }
  pthread_mutex_unlock(&n->lock);
  return rc;
}

/* POSTs v[0..m) as one _bulk request and handles the answer: stored and
 * dead items are marked done, items to retry are resent after a backoff,
 * a 413 (or 400) splits the batch. Returns 0 when every item is done, -1
 * when the cluster failed (the items not done are still to be sent). */
static int es_deliver(es_node_t *n, es_item_t **v, size_t m) {
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
    if (n->install_templates && !n->templates_ok &&
        es_install_templates(n) != 0)
      break;
    cm_buf_reset(&body);
    for (size_t i = 0; i < m; i++)
      cm_buf_add(&body, v[i]->pair, v[i]->len);
    free(res);
    res = calloc(m, sizeof(*res));
    if (!cm_buf_ok(&body) || res == NULL) {
      es_fail(n, "out of memory");
      break;
    }
    long status = 0;
    double t0 = es_now();
    int http = es_http(n, false, "/_bulk", body.data, body.len, &status);
    es_count(n, ES_C_SENT, m);
    if (http == 0)
      es_latency(n, es_now() - t0);
    es_req_t what = es_bulk_classify(status, http);
    if (what == ES_REQ_OK &&
        es_bulk_parse(n->resp.data, n->resp.len, m, res) != 0) {
      what = ES_REQ_RETRY;
      ssnprintf(n->errbuf, sizeof(n->errbuf), "unreadable _bulk response");
    }
    if (what == ES_REQ_RETRY) {
      char msg[CURL_ERROR_SIZE + 64];
      if (http != 0)
        ssnprintf(msg, sizeof(msg), "_bulk failed: %s", n->errbuf);
      else if (status >= 200 && status < 300)
        ssnprintf(msg, sizeof(msg), "_bulk: %s", n->errbuf);
      else
        ssnprintf(msg, sizeof(msg), "_bulk answered HTTP %ld: %.200s", status,
                  n->resp.data ? n->resp.data : "");
      es_count(n, ES_C_RETRIED, m);
      es_fail(n, msg);
      break;
    }
    es_up(n);
    if (what == ES_REQ_SPLIT || what == ES_REQ_REJECT) {
      if (m == 1) {
        char reason[512];
        ssnprintf(reason, sizeof(reason),
                  "_bulk request refused: HTTP %ld %.400s", status,
                  n->resp.data ? n->resp.data : "");
        es_dead(n, v[0], reason, (int)status);
        continue;
      }
      size_t h = m / 2;
      rc = (es_deliver(n, v, h) == 0 && es_deliver(n, v + h, m - h) == 0) ? 0
                                                                          : -1;
      break;
    }
    size_t retry = 0;
    for (size_t i = 0; i < m; i++) {
      es_result_t *r = &res[i];
      if (r->outcome == ES_ITEM_STORED || r->outcome == ES_ITEM_DUPLICATE) {
        v[i]->done = 1;
        es_count(n, ES_C_STORED, 1);
      } else if (r->outcome == ES_ITEM_DEAD) {
        es_dead(n, v[i], r->reason[0] ? r->reason : "rejected", r->status);
      } else if (es_retry_give_up(&n->retry, ++v[i]->attempts)) {
        char reason[300];
        ssnprintf(reason, sizeof(reason), "gave up after %u retries: %s",
                  v[i]->attempts, r->reason);
        es_dead(n, v[i], reason, r->status);
      } else {
        retry++;
      }
    }
    if (retry == 0) {
      rc = 0;
      break;
    }
    es_count(n, ES_C_RETRIED, retry);
    double delay = es_retry_delay(&n->retry, round++, es_retry_random(&n->rng));
    if (es_sleep(n, delay) != 0)
      break;
  }
  free(res);
  cm_buf_free(&body);
  return rc;
}

/* Delivers items[0..num) in batches of BatchSize. Returns 0 when all are
 * done, -1 when the cluster failed. */
static int es_deliver_all(es_node_t *n, es_item_t *items, size_t num) {
  es_item_t **v = calloc(n->batch_size, sizeof(*v));
  if (v == NULL)
    return -1;
  int rc = 0;
  for (size_t i = 0; i < num && rc == 0;) {
    size_t m = 0;
    for (; i < num && m < n->batch_size; i++)
      if (!items[i].done)
        v[m++] = &items[i];
    if (m > 0)
      rc = es_deliver(n, v, m);
  }
  free(v);
  return rc;
}

/* Sends the next batch of the spool (loading its oldest segment first).
 * Returns 0 on progress, -1 when the cluster failed. */
static int es_replay_step(es_node_t *n) {
  if (!n->replay_loaded) {
    char *data = NULL;
    size_t len = 0, bad = 0;
    uint64_t seq = 0;
    pthread_mutex_lock(&n->spool_lock);
    int rc = es_spool_oldest(n->spool, &data, &len, &seq);
    pthread_mutex_unlock(&n->spool_lock);
    if (rc < 0) {
      char what[256];
      ssnprintf(what, sizeof(what), "cannot read the spool %s: %s",
                n->spool_dir, STRERROR(-rc));
      es_fail(n, what);
      return -1;
    }
    if (rc == 0)
      return 0;
    n->replay_n = 0;
    if (es_items_from_ndjson(data, len, &n->replay, &n->replay_n, &bad) < 0)
      bad++;
    free(data);
    if (bad > 0) {
      WARNING(ES_PLUGIN " plugin: node %s: %zu damaged lines in spool "
                        "segment %" PRIu64 " skipped.",
              n->name, bad, seq);
      es_count(n, ES_C_DROPPED, bad / 2 + bad % 2);
    }
    n->replay_seq = seq;
    n->replay_pos = 0;
    n->replay_loaded = true;
  }
  size_t end = n->replay_pos + n->batch_size;
  if (end > n->replay_n)
    end = n->replay_n;
  if (es_deliver_all(n, n->replay + n->replay_pos, end - n->replay_pos) != 0)
    return -1;
  n->replay_pos = end;
  if (n->replay_pos >= n->replay_n) {
    pthread_mutex_lock(&n->spool_lock);
    int rc = es_spool_remove(n->spool, n->replay_seq);
    pthread_mutex_unlock(&n->spool_lock);
    if (rc != 0)
      c_complain(LOG_ERR, &n->complaint,
                 ES_PLUGIN " plugin: node %s: cannot delete a replayed spool "
                           "segment in %s: %s",
                 n->name, n->spool_dir, STRERROR(-rc));
    es_items_clear(n->replay, n->replay_n);
    n->replay_n = n->replay_pos = 0;
    n->replay_loaded = false;
  }
  return 0;
}

/* Removes up to max items from the head of the queue into out. Call with
 * the lock held. Returns the number taken. */
static size_t es_take(es_node_t *n, es_item_t *out, size_t max) {
  size_t k = 0;
  while (k < max && n->q_len > 0) {
    out[k++] = n->q[n->q_head];
    n->q_head = (n->q_head + 1) % n->q_cap;
    n->q_len--;
  }
  return k;
}

/* Takes the whole queue (lock held) and spools it (lock released while
 * writing). Returns with the lock held. */
static void es_spill_queue(es_node_t *n) {
  size_t num = n->q_len;
  if (num == 0)
    return;
  es_item_t *items = malloc(num * sizeof(*items));
  if (items == NULL)
    return;
  es_take(n, items, num);
  pthread_mutex_unlock(&n->lock);
  es_spill(n, items, num);
  free(items);
  pthread_mutex_lock(&n->lock);
}

/* Sends one batch from the queue; failed items go to the spool. Called and
 * returns with the lock held. */
static void es_send_queue(es_node_t *n, es_item_t *batch) {
  size_t num = es_take(n, batch, n->batch_size);
  pthread_mutex_unlock(&n->lock);
  if (es_deliver_all(n, batch, num) != 0)
    es_spill(n, batch, num);
  else
    es_items_clear(batch, num);
  pthread_mutex_lock(&n->lock);
}

/* Marks the flush requests so far as done (lock held). */
static void es_flushed(es_node_t *n, uint64_t gen) {
  if (gen > n->flush_done) {
    n->flush_done = gen;
    pthread_cond_broadcast(&n->done_cond);
  }
}

static void *es_thread(void *arg) {
  es_node_t *n = arg;
  es_item_t *batch = calloc(n->batch_size, sizeof(*batch));
  if (batch == NULL)
    return NULL;
  if (n->install_templates)
    es_install_templates(n); /* at start; on failure before the next send */
  double next_flush = es_now() + n->flush_interval;
  pthread_mutex_lock(&n->lock);
  while (!n->stopping) {
    double now = es_now();
    uint64_t gen = n->flush_req;
    bool due =
        gen > n->flush_done || n->q_len >= n->batch_size || now >= next_flush;
    if (now < n->retry_at) {
      /* Backing off: what is due waits in the spool, not in memory. */
      if (due && n->q_len > 0)
        es_spill_queue(n);
      if (due) {
        es_flushed(n, gen);
        next_flush = now + n->flush_interval;
      }
      struct timespec ts = es_abstime(n->retry_at - es_now());
      pthread_cond_timedwait(&n->cond, &n->lock, &ts);
      continue;
    }
    pthread_mutex_unlock(&n->lock);
    bool spooled = n->replay_loaded || es_spool_pending(n);
    if (spooled)
      es_replay_step(n); /* older documents first */
    pthread_mutex_lock(&n->lock);
    if (spooled)
      continue;
    if (due && n->q_len > 0) {
      es_send_queue(n, batch);
      continue;
    }
    if (due) {
      es_flushed(n, gen);
      next_flush = es_now() + n->flush_interval;
    }
    if (n->q_len < n->batch_size && n->flush_req <= n->flush_done) {
      struct timespec ts = es_abstime(next_flush - es_now());
      pthread_cond_timedwait(&n->cond, &n->lock, &ts);
    }
  }
  /* Shutting down: send what can be sent before the deadline, spool the
   * rest. The segment being replayed stays in the spool. */
  while (n->q_len > 0) {
    if (n->down || es_now() >= n->stop_deadline) {
      es_spill_queue(n);
      break;
    }
    es_send_queue(n, batch);
  }
  es_flushed(n, n->flush_req);
  pthread_mutex_unlock(&n->lock);
  free(batch);
  return NULL;
}

/* ---- callbacks -------------------------------------------------------- */

/* Appends an item to the queue; past 4 x BatchSize the queue goes to the
 * spool. Takes ownership of pair. */
static void es_enqueue(es_node_t *n, char *pair, size_t len) {
  pthread_mutex_lock(&n->lock);
  if (n->q_len == n->q_cap) {
    size_t cap = n->q_cap ? 2 * n->q_cap : 1024;
    es_item_t *q = malloc(cap * sizeof(*q));
    if (q == NULL) {
      pthread_mutex_unlock(&n->lock);
      free(pair);
      es_count(n, ES_C_DROPPED, 1);
      return;
    }
    for (size_t i = 0; i < n->q_len; i++)
      q[i] = n->q[(n->q_head + i) % n->q_cap];
    free(n->q);
    n->q = q;
    n->q_head = 0;
    n->q_cap = cap;
  }
  n->q[(n->q_head + n->q_len) % n->q_cap] =
      (es_item_t){.pair = pair, .len = len};
  n->q_len++;
  es_count(n, ES_C_QUEUED, 1);
  if (n->q_len > 4 * n->batch_size)
    es_spill_queue(n);
  if (n->q_len >= n->batch_size)
    pthread_cond_signal(&n->cond);
  pthread_mutex_unlock(&n->lock);
}

/* Converts the meta data md to fields for a document. *keys gets the
 * table of contents of md (*keys_num entries) that the field keys point
 * into; free both with es_meta_free. Returns the number of fields. */
static size_t es_meta_fields(meta_data_t *md, es_field_t **fields, char ***keys,
                             size_t *keys_num) {
  *fields = NULL;
  *keys = NULL;
  *keys_num = 0;
  if (md == NULL)
    return 0;
  int num = meta_data_toc(md, keys);
  if (num <= 0)
    return 0;
  *keys_num = (size_t)num;
  es_field_t *f = calloc((size_t)num, sizeof(*f));
  if (f == NULL)
    return 0;
  size_t k = 0;
  for (int i = 0; i < num; i++) {
    const char *key = (*keys)[i];
    es_field_t *x = &f[k];
    x->key = key;
    int rc = -1;
    switch (meta_data_type(md, key)) {
    case MD_TYPE_STRING: {
      char *str = NULL;
      rc = meta_data_get_string(md, key, &str);
      x->kind = ES_VAL_STRING;
      x->v.s = str;
      break;
    }
    case MD_TYPE_SIGNED_INT:
      x->kind = ES_VAL_INT;
      rc = meta_data_get_signed_int(md, key, &x->v.i);
      break;
    case MD_TYPE_UNSIGNED_INT:
      x->kind = ES_VAL_UINT;
      rc = meta_data_get_unsigned_int(md, key, &x->v.u);
      break;
    case MD_TYPE_DOUBLE:
      x->kind = ES_VAL_DOUBLE;
      rc = meta_data_get_double(md, key, &x->v.d);
      break;
    case MD_TYPE_BOOLEAN:
      x->kind = ES_VAL_BOOL;
      rc = meta_data_get_boolean(md, key, &x->v.b);
      break;
    }
    if (rc == 0)
      k++;
  }
  *fields = f;
  return k;
}

/* Frees what es_meta_fields returned. */
static void es_meta_free(es_field_t *fields, size_t num, char **keys,
                         size_t keys_num) {
  for (size_t i = 0; i < num; i++)
    if (fields[i].kind == ES_VAL_STRING)
      free((char *)fields[i].v.s);
  free(fields);
  for (size_t i = 0; i < keys_num; i++)
    free(keys[i]);
  free(keys);
}

/* Renders and enqueues, or counts a document that cannot be rendered. */
static int es_enqueue_doc(es_node_t *n, char *pair, size_t len) {
  if (pair == NULL) {
    es_count(n, ES_C_DROPPED, 1);
    c_complain(LOG_ERR, &n->complaint,
               ES_PLUGIN " plugin: node %s: cannot render a document.",
               n->name);
    return ENOMEM;
  }
  es_enqueue(n, pair, len);
  return 0;
}

static int es_write(const data_set_t *ds, const value_list_t *vl,
                    user_data_t *ud) {
  es_node_t *n = ud->data;
  if (!n->metrics)
    return 0;
  if (ds->ds_num != vl->values_len)
    return EINVAL;
  es_field_t *values = calloc(ds->ds_num, sizeof(*values));
  if (values == NULL)
    return ENOMEM;
  gauge_t *rates = n->store_rates ? uc_get_rate(ds, vl) : NULL;
  for (size_t i = 0; i < ds->ds_num; i++) {
    es_field_t *f = &values[i];
    f->key = ds->ds[i].name;
    if (ds->ds[i].type == DS_TYPE_GAUGE) {
      f->kind = ES_VAL_DOUBLE;
      f->v.d = vl->values[i].gauge;
    } else if (rates != NULL) {
      f->kind = ES_VAL_DOUBLE;
      f->v.d = rates[i];
    } else if (ds->ds[i].type == DS_TYPE_DERIVE) {
      f->kind = ES_VAL_INT;
      f->v.i = vl->values[i].derive;
    } else if (ds->ds[i].type == DS_TYPE_COUNTER) {
      f->kind = ES_VAL_UINT;
      f->v.u = vl->values[i].counter;
    } else {
      f->kind = ES_VAL_UINT;
      f->v.u = vl->values[i].absolute;
    }
  }
  es_field_t *meta;
  char **keys;
  size_t keys_num;
  size_t meta_num = es_meta_fields(vl->meta, &meta, &keys, &keys_num);
  es_metric_t m = {
      .id = {vl->host, vl->plugin, vl->plugin_instance, vl->type,
             vl->type_instance},
      .time_ns = CDTIME_T_TO_NS(vl->time),
      .interval = CDTIME_T_TO_DOUBLE(vl->interval),
      .values = values,
      .values_num = ds->ds_num,
      .meta = meta,
      .meta_num = meta_num,
  };
  size_t len = 0;
  char *pair = es_metric_pair(&m, n->mode, n->prefix, &len);
  es_meta_free(meta, meta_num, keys, keys_num);
  free(values);
  free(rates);
  return es_enqueue_doc(n, pair, len);
}

static int es_notify(const notification_t *notif, user_data_t *ud) {
  es_node_t *n = ud->data;
  if (!n->notifications)
    return 0;
  size_t num = 0;
  for (notification_meta_t *m = notif->meta; m != NULL; m = m->next)
    num++;
  es_field_t *meta = calloc(num + 1, sizeof(*meta));
  if (meta == NULL)
    return ENOMEM;
  size_t k = 0;
  for (notification_meta_t *m = notif->meta; m != NULL; m = m->next) {
    es_field_t *f = &meta[k++];
    f->key = m->name;
    switch (m->type) {
    case NM_TYPE_STRING:
      f->kind = ES_VAL_STRING;
      f->v.s = m->nm_value.nm_string;
      break;
    case NM_TYPE_SIGNED_INT:
      f->kind = ES_VAL_INT;
      f->v.i = m->nm_value.nm_signed_int;
      break;
    case NM_TYPE_UNSIGNED_INT:
      f->kind = ES_VAL_UINT;
      f->v.u = m->nm_value.nm_unsigned_int;
      break;
    case NM_TYPE_DOUBLE:
      f->kind = ES_VAL_DOUBLE;
      f->v.d = m->nm_value.nm_double;
      break;
    case NM_TYPE_BOOLEAN:
      f->kind = ES_VAL_BOOL;
      f->v.b = m->nm_value.nm_boolean;
      break;
    default:
      k--;
    }
  }
  cdtime_t t = notif->time ? notif->time : cdtime();
  es_event_t e = {
      .id = {notif->host[0] ? notif->host : hostname_g, notif->plugin,
             notif->plugin_instance, notif->type, notif->type_instance},
      .time_ns = CDTIME_T_TO_NS(t),
      .severity = notif->severity,
      .message = notif->message,
      .meta = meta,
      .meta_num = k,
  };
  size_t len = 0;
  char *pair = es_event_pair(&e, n->mode, n->prefix, &len);
  free(meta);
  return es_enqueue_doc(n, pair, len);
}

/* Asks the thread to send everything queued and waits until it did (or
 * spooled it), at most Timeout seconds. */
static int es_flush(cdtime_t timeout, const char *identifier, user_data_t *ud) {
  (void)timeout;
  (void)identifier;
  es_node_t *n = ud->data;
  pthread_mutex_lock(&n->lock);
  uint64_t gen = ++n->flush_req;
  pthread_cond_signal(&n->cond);
  double until = es_now() + n->timeout;
  while (n->thread_running && n->flush_done < gen && es_now() < until) {
    struct timespec ts = es_abstime(until - es_now());
    pthread_cond_timedwait(&n->done_cond, &n->lock, &ts);
  }
  pthread_mutex_unlock(&n->lock);
  return 0;
}

/* Dispatches one counter value of the node. */
static void es_submit(es_node_t *n, const char *type, const char *ti,
                      value_t v) {
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = &v;
  vl.values_len = 1;
  sstrncpy(vl.plugin, ES_PLUGIN, sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, n->name, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  sstrncpy(vl.type_instance, ti, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

static int es_read(user_data_t *ud) {
  es_node_t *n = ud->data;
  for (int c = 0; c < ES_C_COUNT; c++)
    es_submit(n, "derive", es_counter_names[c],
              (value_t){.derive = (derive_t)atomic_load(&n->counters[c])});
  pthread_mutex_lock(&n->spool_lock);
  uint64_t bytes = es_spool_bytes(n->spool);
  pthread_mutex_unlock(&n->spool_lock);
  es_submit(n, "gauge", "spool_bytes", (value_t){.gauge = (gauge_t)bytes});
  pthread_mutex_lock(&n->stats_lock);
  double latency = n->latency_num > 0 ? n->latency_sum / (double)n->latency_num
                                      : n->latency_last;
  bool any = n->latency_num > 0 || n->latency_last > 0;
  n->latency_sum = 0;
  n->latency_num = 0;
  pthread_mutex_unlock(&n->stats_lock);
  if (any)
    es_submit(n, "response_time", "bulk", (value_t){.gauge = latency});
  return 0;
}

/* ---- configuration ---------------------------------------------------- */

/* Reads a number option in [min, max]. Returns 0, or -1 after an error
 * naming the option. */
static int es_config_number(const es_node_t *n, oconfig_item_t *ci, double min,
                            double max, double *out) {
  double v;
  char err[256];
  if (cf_util_get_double(ci, &v) != 0)
    return -1;
  if (cm_option_range(ci->key, v, min, max, err, sizeof(err)) != 0) {
    ERROR(ES_PLUGIN " plugin: node %s: %s", n->name, err);
    return -1;
  }
  *out = v;
  return 0;
}

/* Appends a copy of url to the node's URLs after checking its scheme.
 * Returns 0 or -1. */
static int es_add_url(es_node_t *n, const char *url) {
  if (strncasecmp(url, "http://", 7) != 0 &&
      strncasecmp(url, "https://", 8) != 0) {
    ERROR(ES_PLUGIN " plugin: node %s: URL \"%s\" must start with http:// "
                    "or https://.",
          n->name, url);
    return -1;
  }
  char **urls = realloc(n->urls, (n->urls_num + 1) * sizeof(*urls));
  if (urls == NULL)
    return -1;
  n->urls = urls;
  if ((urls[n->urls_num] = strdup(url)) == NULL)
    return -1;
  n->urls_num++;
  return 0;
}

/* Handles URL "u". Returns 0 or -1. */
static int es_config_url(es_node_t *n, oconfig_item_t *ci) {
  char url[4096];
  if (cf_util_get_string_buffer(ci, url, sizeof(url)) != 0)
    return -1;
  return es_add_url(n, url);
}

/* Handles one option of a <Node> block. Returns 0 or -1. */
static int es_config_option(es_node_t *n, oconfig_item_t *c) {
  double d = 0;
  int rc = 0;
  if (strcasecmp("URL", c->key) == 0)
    rc = es_config_url(n, c);
  else if (strcasecmp("IndexMode", c->key) == 0) {
    char mode[32];
    rc = cf_util_get_string_buffer(c, mode, sizeof(mode));
    if (rc == 0 && es_mode_parse(mode, &n->mode) != 0) {
      ERROR(ES_PLUGIN " plugin: node %s: IndexMode must be \"daily\" or "
                      "\"datastream\", not \"%s\".",
            n->name, mode);
      rc = -1;
    }
  } else if (strcasecmp("IndexPrefix", c->key) == 0) {
    rc = cf_util_get_string(c, &n->prefix);
    if (rc == 0 &&
        (n->prefix[0] == '\0' || strlen(n->prefix) > 200 ||
         strpbrk(n->prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZ \"*\\<|,>/?#:") !=
             NULL ||
         n->prefix[0] == '_' || n->prefix[0] == '-' || n->prefix[0] == '+')) {
      ERROR(ES_PLUGIN " plugin: node %s: IndexPrefix \"%s\" is not a valid "
                      "index name (lowercase, no spaces or \\/*?\"<>|,#:, "
                      "not starting with _ - +).",
            n->name, n->prefix);
      rc = -1;
    }
  } else if (strcasecmp("BatchSize", c->key) == 0) {
    rc = es_config_number(n, c, 1, 100000, &d);
    n->batch_size = (size_t)d;
  } else if (strcasecmp("FlushInterval", c->key) == 0)
    rc = es_config_number(n, c, 0.01, 86400, &n->flush_interval);
  else if (strcasecmp("Timeout", c->key) == 0)
    rc = es_config_number(n, c, 0.1, 3600, &n->timeout);
  else if (strcasecmp("ConnectTimeout", c->key) == 0)
    rc = es_config_number(n, c, 0.1, 3600, &n->connect_timeout);
  else if (strcasecmp("RetryInitial", c->key) == 0)
    rc = es_config_number(n, c, 0.001, 3600, &n->retry.initial);
  else if (strcasecmp("RetryMax", c->key) == 0)
    rc = es_config_number(n, c, 0.001, 86400, &n->retry.max);
  else if (strcasecmp("MaxRetries", c->key) == 0) {
    rc = es_config_number(n, c, 0, 1000000, &d);
    n->retry.max_retries = (unsigned)d;
  } else if (strcasecmp("SpoolDir", c->key) == 0)
    rc = cf_util_get_string(c, &n->spool_dir);
  else if (strcasecmp("SpoolMaxSize", c->key) == 0) {
    rc = es_config_number(n, c, 4096, 1e15, &d);
    n->spool_max = (uint64_t)d;
  } else if (strcasecmp("DeadLetterFile", c->key) == 0)
    rc = cf_util_get_string(c, &n->dead_letter);
  else if (strcasecmp("InstallTemplates", c->key) == 0)
    rc = cf_util_get_boolean(c, &n->install_templates);
  else if (strcasecmp("Metrics", c->key) == 0)
    rc = cf_util_get_boolean(c, &n->metrics);
  else if (strcasecmp("Notifications", c->key) == 0)
    rc = cf_util_get_boolean(c, &n->notifications);
  else if (strcasecmp("StoreRates", c->key) == 0)
    rc = cf_util_get_boolean(c, &n->store_rates);
  else if (strcasecmp("CACert", c->key) == 0)
    rc = cf_util_get_string(c, &n->cacert);
  else if (strcasecmp("ClientCert", c->key) == 0)
    rc = cf_util_get_string(c, &n->client_cert);
  else if (strcasecmp("ClientKey", c->key) == 0)
    rc = cf_util_get_string(c, &n->client_key);
  else if (strcasecmp("VerifyPeer", c->key) == 0)
    rc = cf_util_get_boolean(c, &n->verify_peer);
  else if (strcasecmp("VerifyHost", c->key) == 0)
    rc = cf_util_get_boolean(c, &n->verify_host);
  else if (strcasecmp("User", c->key) == 0)
    rc = cf_util_get_string(c, &n->user);
  else if (strcasecmp("Password", c->key) == 0)
    rc = cf_util_get_string(c, &n->password);
  else if (strcasecmp("APIKey", c->key) == 0)
    rc = cf_util_get_string(c, &n->api_key);
  else {
    ERROR(ES_PLUGIN " plugin: node %s: unknown option \"%s\".", n->name,
          c->key);
    rc = -1;
  }
  return rc;
}

/* Fills in defaults, checks the node and opens its spool. Returns 0/-1. */
static int es_node_finish(es_node_t *n) {
  if (n->urls_num == 0 && es_add_url(n, "http://127.0.0.1:9200") != 0)
    return -1;
  if (n->prefix == NULL && (n->prefix = strdup("vacmon")) == NULL)
    return -1;
  if (n->retry.max < n->retry.initial) {
    ERROR(ES_PLUGIN " plugin: node %s: RetryMax (%g) is less than "
                    "RetryInitial (%g).",
          n->name, n->retry.max, n->retry.initial);
    return -1;
  }
  if (n->user == NULL && n->password != NULL) {
    ERROR(ES_PLUGIN " plugin: node %s: Password needs User.", n->name);
    return -1;
  }
  if (n->spool_dir == NULL) {
    char dir[4096];
    ssnprintf(dir, sizeof(dir), ES_DEFAULT_SPOOL_BASE "/%s", n->name);
    n->spool_dir = strdup(dir);
  }
  if (n->dead_letter == NULL && n->spool_dir != NULL) {
    char path[4096];
    ssnprintf(path, sizeof(path), "%s/dead-letter.ndjson", n->spool_dir);
    n->dead_letter = strdup(path);
  }
  if (n->spool_dir == NULL || n->dead_letter == NULL)
    return -1;
  uint64_t seg = n->spool_max / 16;
  if (seg > 16 * 1024 * 1024)
    seg = 16 * 1024 * 1024;
  char err[512];
  n->spool = es_spool_open(n->spool_dir, n->spool_max, seg, err, sizeof(err));
  if (n->spool == NULL) {
    ERROR(ES_PLUGIN " plugin: node %s: SpoolDir: %s", n->name, err);
    return -1;
  }
  pthread_mutex_lock(&n->spool_lock);
  uint64_t bytes = es_spool_bytes(n->spool);
  pthread_mutex_unlock(&n->spool_lock);
  if (bytes > 0)
    INFO(ES_PLUGIN " plugin: node %s: %" PRIu64 " bytes in the spool from an "
                   "earlier run will be sent first.",
         n->name, bytes);
  return 0;
}

/* Handles one <Node "name"> block: parses, checks, registers. */
static int es_config_node(oconfig_item_t *ci) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING ||
      ci->values[0].value.string[0] == '\0' ||
      strchr(ci->values[0].value.string, '/') != NULL) {
    ERROR(ES_PLUGIN " plugin: <Node> needs one non-empty name without '/', "
                    "e.g. <Node \"es\">.");
    return -1;
  }
  es_node_t *n = calloc(1, sizeof(*n));
  if (n == NULL)
    return -1;
  pthread_mutex_init(&n->lock, NULL);
  pthread_mutex_init(&n->spool_lock, NULL);
  pthread_mutex_init(&n->dead_lock, NULL);
  pthread_mutex_init(&n->stats_lock, NULL);
  pthread_cond_init(&n->cond, NULL);
  pthread_cond_init(&n->done_cond, NULL);
  C_COMPLAIN_INIT(&n->complaint);
  n->name = strdup(ci->values[0].value.string);
  n->mode = ES_MODE_DAILY;
  n->batch_size = 1000;
  n->flush_interval = 2;
  n->timeout = 10;
  n->connect_timeout = 3;
  n->retry = (es_retry_t){.initial = 0.5, .max = 30, .max_retries = 0};
  n->spool_max = 1073741824;
  n->install_templates = n->metrics = n->notifications = true;
  n->verify_peer = n->verify_host = true;
  n->rng = (uint64_t)cdtime() ^ ((uint64_t)(uintptr_t)n << 16);
  int rc = n->name == NULL ? -1 : 0;
  for (int i = 0; rc == 0 && i < ci->children_num; i++)
    rc = es_config_option(n, &ci->children[i]);
  if (rc == 0)
    rc = es_node_finish(n);
  es_node_t **nodes =
      rc == 0 ? realloc(es_nodes, (es_nodes_num + 1) * sizeof(*nodes)) : NULL;
  if (nodes == NULL) {
    es_node_free(n);
    return -1;
  }
  es_nodes = nodes;
  es_nodes[es_nodes_num++] = n;

  char cb_name[DATA_MAX_NAME_LEN];
  ssnprintf(cb_name, sizeof(cb_name), ES_PLUGIN "/%s", n->name);
  /* The write callback owns the node and frees it; the others borrow. */
  plugin_register_write(cb_name, es_write,
                        &(user_data_t){.data = n, .free_func = es_node_free});
  plugin_register_flush(cb_name, es_flush, &(user_data_t){.data = n});
  if (n->notifications)
    plugin_register_notification(cb_name, es_notify, &(user_data_t){.data = n});
  plugin_register_complex_read(NULL, cb_name, es_read, 0,
                               &(user_data_t){.data = n});
  return 0;
}

static int es_config(oconfig_item_t *ci) {
  for (int i = 0; i < ci->children_num; i++) {
    oconfig_item_t *c = &ci->children[i];
    if (strcasecmp("Node", c->key) != 0) {
      ERROR(ES_PLUGIN " plugin: unknown option \"%s\" (options go inside a "
                      "<Node \"name\"> block).",
            c->key);
      return -1;
    }
    if (es_config_node(c) != 0)
      return -1;
  }
  return 0;
}

static int es_init(void) {
  static bool curl_ready;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_SSL) != 0) {
      ERROR(ES_PLUGIN " plugin: curl_global_init failed.");
      return -1;
    }
    curl_ready = true;
  }
  for (size_t i = 0; i < es_nodes_num; i++) {
    es_node_t *n = es_nodes[i];
    if (n->thread_running)
      continue;
    if (es_curl_setup(n) != 0) {
      ERROR(ES_PLUGIN " plugin: node %s: cannot set up libcurl.", n->name);
      return -1;
    }
    char tname[16]; /* collectd warns about longer thread names */
    ssnprintf(tname, sizeof(tname), "es %s", n->name);
    if (plugin_thread_create(&n->thread, es_thread, n, tname) != 0) {
      ERROR(ES_PLUGIN " plugin: node %s: cannot start its thread.", n->name);
      return -1;
    }
    n->thread_running = true;
  }
  return 0;
}

static int es_shutdown(void) {
  for (size_t i = 0; i < es_nodes_num; i++) {
    es_node_t *n = es_nodes[i];
    pthread_mutex_lock(&n->lock);
    n->stopping = true;
    n->stop_deadline = es_now() + n->timeout;
    pthread_cond_broadcast(&n->cond);
    bool running = n->thread_running;
    pthread_mutex_unlock(&n->lock);
    if (running)
      pthread_join(n->thread, NULL);
    pthread_mutex_lock(&n->lock);
    n->thread_running = false;
    pthread_mutex_unlock(&n->lock);
  }
  free(es_nodes);
  es_nodes = NULL;
  es_nodes_num = 0;
  return 0;
}

void module_register(void) {
  plugin_register_complex_config(ES_PLUGIN, es_config);
  plugin_register_init(ES_PLUGIN, es_init);
  plugin_register_shutdown(ES_PLUGIN, es_shutdown);
}
