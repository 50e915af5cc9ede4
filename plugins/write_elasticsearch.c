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
 *     Format "collectd"             # or "vacmon": VacMon's documents
 *     IndexMode "daily"             # or "datastream"
 *     IndexPrefix "vacmon"          # Format vacmon: none
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
 *     Compress false                # gzip request bodies
 *     Flavour "elasticsearch"       # or "opensearch" (lifecycle settings)
 *     LifecyclePolicy "NAME"        # ILM / ISM policy in the templates
 *     DataRetention "30d"           # data streams, Elasticsearch 8.14+
 *     CACert, ClientCert, ClientKey, VerifyPeer, VerifyHost,
 *     User, Password, APIKey
 *   </Node>
 * </Plugin>
 *
 * Write and notification callbacks render a document
 * (src/elasticsearch/es_doc.c) and hand it to the node's sender
 * (src/elasticsearch/es_sender.c): the queue, _bulk delivery with splits,
 * retries and dead letters, the on-disk spool and its replay, in order,
 * before newer documents once the cluster answers again. This file keeps
 * libcurl (the sender's HTTP callback), the node's thread, which calls the
 * sender when a batch, a flush or FlushInterval is due and waits on a
 * monotonic clock, and collectd's callbacks.
 */

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/daemon/utils_cache.h"
#include "collectd/core/daemon/utils_complain.h"
#include "collectd/core/utils/common/common.h"

#include "common/cm_key.h"
#include "common/cm_option.h"
#include "elasticsearch/es_doc.h"
#include "elasticsearch/es_retry.h"
#include "elasticsearch/es_gzip.h"
#include "elasticsearch/es_sender.h"
#include "elasticsearch/es_vacmon.h"

#include <curl/curl.h>
#include <time.h>

#define ES_PLUGIN "write_elasticsearch"
#define ES_DEFAULT_SPOOL_BASE "/var/lib/collectd/write_elasticsearch"
#define ES_RESPONSE_MAX (64 * 1024 * 1024)

/* Counters dispatched as derive values, in this order. */
static const char *const es_counter_names[ES_C_COUNT] = {
    "queued",        "sent",    "stored", "retried",
    "dead_lettered", "spooled", "dropped"};

typedef struct {
  /* Configuration: read-only once the thread runs. */
  char *name;
  char **urls;
  size_t urls_num, urls_cap;
  es_mode_t mode;
  es_format_t format; /* Format */
  char *prefix;       /* IndexPrefix; "" for none (Format vacmon) */
  size_t batch_size;
  double flush_interval, timeout, connect_timeout;
  es_retry_t retry;
  char *spool_dir;
  uint64_t spool_max;
  char *dead_letter;
  bool install_templates, metrics, notifications, store_rates, compress;
  char *cacert, *client_cert, *client_key, *user, *password, *api_key;
  bool verify_peer, verify_host;
  uint64_t seed;
  char *policy, *retention; /* LifecyclePolicy, DataRetention */
  bool opensearch;          /* Flavour "opensearch" */

  /* The delivery engine: queue, spool, retries (src/elasticsearch). */
  es_sender_t *sender;
  es_vacmon_t *vacmon; /* Format vacmon: the mappings' field types */

  /* The thread and its wake-ups. */
  pthread_mutex_t lock;
  pthread_cond_t cond;            /* wakes the thread (monotonic clock) */
  pthread_cond_t done_cond;       /* wakes a waiting flush (monotonic) */
  uint64_t flush_req, flush_done; /* flush generations */
  bool stopping;
  double stop_deadline;
  pthread_t thread;
  bool thread_running;

  /* HTTP, only touched by the thread. */
  CURL *curl;
  struct curl_slist *hdr_bulk, *hdr_json;
  struct curl_slist *hdr_plain; /* bodiless requests: no Content-Encoding */
  char errbuf[CURL_ERROR_SIZE];
  cm_buf_t resp;
  cm_buf_t gz; /* the gzip'd body (Compress true) */
  size_t url_cur;

  c_complain_t complaint;     /* the cluster fails */
  c_complain_t doc_complaint; /* documents dead-lettered or dropped */
} es_node_t;

/* Every node, for the init and shutdown callbacks, which collectd calls
 * without user_data; each node's own state is its callbacks' user_data. */
static es_node_t **es_nodes;
static size_t es_nodes_num, es_nodes_cap;

/* ---- small helpers ---------------------------------------------------- */

/* Returns CLOCK_MONOTONIC in seconds. */
static double es_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns the CLOCK_MONOTONIC timespec `delay' seconds from now, for
 * pthread_cond_timedwait on the node's conditions (which use that clock). */
static struct timespec es_abstime(double delay) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
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

/* Initialises c to time its waits on CLOCK_MONOTONIC, so that a change of
 * the wall clock neither shortens nor stretches them. Returns 0 or an
 * errno value. */
static int es_cond_init(pthread_cond_t *c) {
  pthread_condattr_t attr;
  int rc = pthread_condattr_init(&attr);
  if (rc != 0)
    return rc;
  rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc == 0)
    rc = pthread_cond_init(c, &attr);
  pthread_condattr_destroy(&attr);
  return rc;
}

/* ---- the node's life cycle -------------------------------------------- */

/* Frees the node and everything it owns (the spool files stay). */
static void es_node_free(void *arg) {
  es_node_t *n = arg;
  if (n == NULL)
    return;
  es_sender_free(n->sender);
  es_vacmon_free(n->vacmon);
  if (n->curl != NULL)
    curl_easy_cleanup(n->curl);
  curl_slist_free_all(n->hdr_bulk);
  curl_slist_free_all(n->hdr_json);
  curl_slist_free_all(n->hdr_plain);
  cm_buf_free(&n->resp);
  cm_buf_free(&n->gz);
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
  free(n->policy);
  free(n->retention);
  pthread_mutex_destroy(&n->lock);
  pthread_cond_destroy(&n->cond);
  pthread_cond_destroy(&n->done_cond);
  free(n);
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
  n->hdr_plain = curl_slist_append(NULL, "Expect:");
  if (n->compress) {
    n->hdr_bulk = curl_slist_append(n->hdr_bulk, "Content-Encoding: gzip");
    n->hdr_json = curl_slist_append(n->hdr_json, "Content-Encoding: gzip");
  }
  if (n->api_key != NULL) {
    char auth[1024];
    ssnprintf(auth, sizeof(auth), "Authorization: ApiKey %s", n->api_key);
    n->hdr_bulk = curl_slist_append(n->hdr_bulk, auth);
    n->hdr_json = curl_slist_append(n->hdr_json, auth);
    n->hdr_plain = curl_slist_append(n->hdr_plain, auth);
  }
  if (n->hdr_bulk == NULL || n->hdr_json == NULL || n->hdr_plain == NULL)
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

/* Sends one request of body to <URL><path> (the sender's http callback),
 * trying the URLs in order from the last one that answered. Returns 0 when
 * a server answered (out->status; out->body is n->resp, valid until the
 * next call), -1 when none did (out->error says why). */
static int es_http(void *ctx, const char *method, const char *path,
                   const char *body, size_t len, es_http_result_t *out) {
  es_node_t *n = ctx;
  CURL *c = n->curl;
  if (n->compress && len > 0) {
    if (es_gzip(&n->gz, body, len) != 0) {
      sstrncpy(out->error, "cannot gzip the request body", sizeof(out->error));
      return -1;
    }
    body = n->gz.data;
    len = n->gz.len;
  }
  bool bulk = strcmp(path, "/_bulk") == 0;
  curl_easy_setopt(c, CURLOPT_HTTPHEADER,
                   len == 0 ? n->hdr_plain
                   : bulk   ? n->hdr_bulk
                            : n->hdr_json);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
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
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
      out->body = n->resp.data;
      out->len = n->resp.len;
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
  sstrncpy(out->error, n->errbuf, sizeof(out->error));
  return -1;
}

/* The sender's clock callback: CLOCK_MONOTONIC in seconds. */
static double es_clock(void *ctx) {
  (void)ctx;
  return es_now();
}

/* The sender's wait between retry rounds: up to delay seconds (less when
 * the node stops). Returns 0, or -1 when the node is stopping and the wait
 * would pass its deadline. */
static int es_sleep(void *ctx, double delay) {
  es_node_t *n = ctx;
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

/* The sender's log callback: repeated failures through c_complain (one
 * complaint for the cluster, one for documents), the rest as they come. */
static void es_log_cb(void *ctx, es_log_t channel, int severity,
                      const char *msg) {
  es_node_t *n = ctx;
  switch (channel) {
  case ES_LOG_CLUSTER:
    c_complain(severity, &n->complaint, ES_PLUGIN " plugin: %s", msg);
    break;
  case ES_LOG_UP:
    c_release(severity, &n->complaint, ES_PLUGIN " plugin: %s", msg);
    break;
  case ES_LOG_DOCS:
    c_complain(severity, &n->doc_complaint, ES_PLUGIN " plugin: %s", msg);
    break;
  default:
    plugin_log(severity, ES_PLUGIN " plugin: %s", msg);
  }
}

/* Marks the flush requests so far as done (lock held). */
static void es_flushed(es_node_t *n, uint64_t gen) {
  if (gen > n->flush_done) {
    n->flush_done = gen;
    pthread_cond_broadcast(&n->done_cond);
  }
}

/* The node's thread: asks the sender to work when a batch, a flush or the
 * FlushInterval is due, and waits (monotonic clock) in between. */
static void *es_thread(void *arg) {
  es_node_t *n = arg;
  es_sender_t *s = n->sender;
  es_sender_templates(s); /* at start; on failure before the next send */
  double next_flush = es_now() + n->flush_interval;
  pthread_mutex_lock(&n->lock);
  while (!n->stopping) {
    double now = es_now();
    uint64_t gen = n->flush_req;
    bool due = gen > n->flush_done || es_sender_queued(s) >= n->batch_size ||
               now >= next_flush;
    pthread_mutex_unlock(&n->lock);
    double wait_until = 0;
    es_step_t step = es_sender_step(s, due, &wait_until);
    pthread_mutex_lock(&n->lock);
    if (step == ES_STEP_WORKED)
      continue;
    if (due) {
      es_flushed(n, gen);
      next_flush = es_now() + n->flush_interval;
    }
    if (step == ES_STEP_BACKOFF) {
      struct timespec ts = es_abstime(wait_until - es_now());
      pthread_cond_timedwait(&n->cond, &n->lock, &ts);
    } else if (es_sender_queued(s) < n->batch_size &&
               n->flush_req <= n->flush_done) {
      struct timespec ts = es_abstime(next_flush - es_now());
      pthread_cond_timedwait(&n->cond, &n->lock, &ts);
    }
  }
  /* Shutting down: send what can be sent before the deadline, spool the
   * rest. */
  double deadline = n->stop_deadline;
  pthread_mutex_unlock(&n->lock);
  es_sender_stop(s, deadline);
  pthread_mutex_lock(&n->lock);
  es_flushed(n, n->flush_req);
  pthread_mutex_unlock(&n->lock);
  return NULL;
}

/* ---- callbacks -------------------------------------------------------- */

/* Hands a rendered document (NULL: could not be rendered) to the sender
 * and wakes the thread when a batch is full. Returns 0 or ENOMEM. */
static int es_enqueue_doc(es_node_t *n, char *pair, size_t len) {
  bool rendered = pair != NULL;
  if (es_sender_enqueue(n->sender, pair, len)) {
    pthread_mutex_lock(&n->lock);
    pthread_cond_signal(&n->cond);
    pthread_mutex_unlock(&n->lock);
  }
  return rendered ? 0 : ENOMEM;
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

static int es_write(const data_set_t *ds, const value_list_t *vl,
                    user_data_t *ud) {
  es_node_t *n = ud->data;
  if (!n->metrics || n->format == ES_FORMAT_VACMON)
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
  es_node_t *n = ud->data; /* registered only when Notifications is true */
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
  char *pair;
  if (n->format == ES_FORMAT_VACMON) {
    bool ignored = false;
    pair = es_vacmon_pair(n->vacmon, &e, n->mode, n->prefix, &len, &ignored);
    if (ignored) { /* not a vacquery message or finished machine */
      free(meta);
      return 0;
    }
  } else {
    pair = es_event_pair(&e, n->mode, n->prefix, &len);
  }
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
              (value_t){.derive = (derive_t)es_sender_counter(n->sender, c)});
  uint64_t bytes = es_sender_spool_bytes(n->sender);
  es_submit(n, "gauge", "spool_bytes", (value_t){.gauge = (gauge_t)bytes});
  double latency = 0;
  if (es_sender_latency(n->sender, &latency))
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
  if (cm_vec_reserve((void **)&n->urls, &n->urls_cap, n->urls_num + 1,
                     sizeof(*n->urls)) != 0 ||
      (n->urls[n->urls_num] = strdup(url)) == NULL)
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

/* Reads option c, one of the words first and second (any case). Returns 0
 * with *which 0 (first) or 1 (second); -1 after an error naming both (then
 * *which is 0). */
static int es_config_choice(const es_node_t *n, oconfig_item_t *c,
                            const char *first, const char *second, int *which) {
  char word[32];
  *which = 0;
  if (cf_util_get_string_buffer(c, word, sizeof(word)) != 0)
    return -1;
  int k = es_choice_parse(word, first, second);
  if (k < 0) {
    ERROR(ES_PLUGIN " plugin: node %s: %s must be \"%s\" or \"%s\", not "
                    "\"%s\".",
          n->name, c->key, first, second, word);
    return -1;
  }
  *which = k;
  return 0;
}

/* Handles one option of a <Node> block. Returns 0 or -1. */
static int es_config_option(es_node_t *n, oconfig_item_t *c) {
  double d = 0;
  int rc = 0, k = 0;
  if (strcasecmp("URL", c->key) == 0)
    rc = es_config_url(n, c);
  else if (strcasecmp("IndexMode", c->key) == 0) {
    rc = es_config_choice(n, c, "daily", "datastream", &k);
    n->mode = k == 1 ? ES_MODE_DATASTREAM : ES_MODE_DAILY;
  } else if (strcasecmp("Format", c->key) == 0) {
    rc = es_config_choice(n, c, "collectd", "vacmon", &k);
    n->format = k == 1 ? ES_FORMAT_VACMON : ES_FORMAT_COLLECTD;
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
  else if (strcasecmp("Compress", c->key) == 0)
    rc = cf_util_get_boolean(c, &n->compress);
  else if (strcasecmp("LifecyclePolicy", c->key) == 0)
    rc = cf_util_get_string(c, &n->policy);
  else if (strcasecmp("DataRetention", c->key) == 0)
    rc = cf_util_get_string(c, &n->retention);
  else if (strcasecmp("Flavour", c->key) == 0) {
    rc = es_config_choice(n, c, "elasticsearch", "opensearch", &k);
    n->opensearch = k == 1;
  } else if (strcasecmp("CACert", c->key) == 0)
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
  if (n->prefix == NULL &&
      (n->prefix = strdup(n->format == ES_FORMAT_VACMON ? "" : "vacmon")) ==
          NULL)
    return -1;
  if (n->format == ES_FORMAT_VACMON) {
    char verr[256];
    if (!n->notifications) {
      ERROR(ES_PLUGIN " plugin: node %s: Format \"vacmon\" writes "
                      "notifications only: Notifications false leaves it "
                      "nothing to write.",
            n->name);
      return -1;
    }
    n->vacmon = es_vacmon_new(verr, sizeof(verr));
    if (n->vacmon == NULL) {
      ERROR(ES_PLUGIN " plugin: node %s: %s", n->name, verr);
      return -1;
    }
  }
  if (n->retry.max < n->retry.initial) {
    ERROR(ES_PLUGIN " plugin: node %s: RetryMax (%g) is less than "
                    "RetryInitial (%g).",
          n->name, n->retry.max, n->retry.initial);
    return -1;
  }
  if (n->retention != NULL &&
      (n->mode != ES_MODE_DATASTREAM || n->opensearch)) {
    ERROR(ES_PLUGIN " plugin: node %s: DataRetention needs IndexMode "
                    "\"datastream\" on Elasticsearch (8.14+); use a "
                    "LifecyclePolicy otherwise.",
          n->name);
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
  char err[512];
  es_sender_config_t cfg = {
      .name = n->name,
      .batch_size = n->batch_size,
      .retry = n->retry,
      .seed = n->seed,
      .spool_dir = n->spool_dir,
      .spool_max = n->spool_max,
      .dead_letter = n->dead_letter,
      .install_templates = n->install_templates,
      .mode = n->mode,
      .format = n->format,
      .prefix = n->prefix,
      .lifecycle = {.policy = n->policy,
                    .opensearch = n->opensearch,
                    .retention = n->retention},
  };
  es_sender_io_t io = {.http = es_http,
                       .now = es_clock,
                       .sleep = es_sleep,
                       .log = es_log_cb,
                       .ctx = n};
  n->sender = es_sender_new(&cfg, &io, err, sizeof(err));
  if (n->sender == NULL) {
    ERROR(ES_PLUGIN " plugin: node %s: %s", n->name, err);
    return -1;
  }
  uint64_t bytes = es_sender_spool_bytes(n->sender);
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
  if (es_cond_init(&n->cond) != 0 || es_cond_init(&n->done_cond) != 0) {
    ERROR(ES_PLUGIN " plugin: cannot set up a monotonic condition variable.");
    free(n);
    return -1;
  }
  C_COMPLAIN_INIT(&n->complaint);
  C_COMPLAIN_INIT(&n->doc_complaint);
  n->name = strdup(ci->values[0].value.string);
  n->mode = ES_MODE_DAILY;
  n->format = ES_FORMAT_COLLECTD;
  n->batch_size = 1000;
  n->flush_interval = 2;
  n->timeout = 10;
  n->connect_timeout = 3;
  n->retry = (es_retry_t){.initial = 0.5, .max = 30, .max_retries = 0};
  n->spool_max = 1073741824;
  n->install_templates = n->metrics = n->notifications = true;
  n->verify_peer = n->verify_host = true;
  n->seed = (uint64_t)cdtime() ^ ((uint64_t)(uintptr_t)n << 16);
  int rc = n->name == NULL ? -1 : 0;
  for (int i = 0; rc == 0 && i < ci->children_num; i++)
    rc = es_config_option(n, &ci->children[i]);
  if (rc == 0)
    rc = es_node_finish(n);
  if (rc != 0 || cm_vec_reserve((void **)&es_nodes, &es_nodes_cap,
                                es_nodes_num + 1, sizeof(*es_nodes)) != 0) {
    es_node_free(n);
    return -1;
  }
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
  es_nodes_num = es_nodes_cap = 0;
  return 0;
}

void module_register(void) {
  plugin_register_complex_config(ES_PLUGIN, es_config);
  plugin_register_init(ES_PLUGIN, es_init);
  plugin_register_shutdown(ES_PLUGIN, es_shutdown);
}
