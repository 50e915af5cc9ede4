/* SPDX-License-Identifier: MIT */
/*
 * vq-bench: micro-benchmarks of the vacquery core, for bench/run-bench.sh.
 *
 *   vq-bench parse  N FILE...  run parse + normalise + map N times over
 *                              the messages in FILEs
 *   vq-bench jsonc  N FILE...  bare json-c: tokenise and free, N times
 *   vq-bench fleet  N          register N distinct factories and print
 *                              the resident memory it took
 *   vq-bench meta   0 FILE...  per message: value lists and meta entries
 *                              per list (what each dispatch clones)
 *   vq-bench churn  S [L [F]]  the registry alone under the soak's churn
 *                              (bench/soak.py): S simulated seconds of
 *                              1,000 factories (3 machinetypes, 1 finished
 *                              series each) whose names live L s (30),
 *                              forgotten after F s (20) of silence, one
 *                              forget round every 10 s; prints per minute
 *                              what it holds and what malloc holds
 *
 * Timings are printed for orientation only; the figures that count are
 * instruction counts from `valgrind --tool=callgrind' (run-bench.sh runs
 * each mode with N and with 0 iterations and divides the difference).
 */
#include "vacquery/vq_fleet.h"
#include "vacquery/vq_message.h"
#include "vacquery/vq_output.h"
#include "vacquery/vq_sample.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <json-c/json.h>

#include <malloc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  char *data;
  size_t len;
} vb_msg_t;

/* Reads the whole file into a new buffer owned by *m. Returns 0 or -1. */
static int vb_read(const char *path, vb_msg_t *m) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return -1;
  m->data = malloc(65536);
  m->len = fread(m->data, 1, 65536, f);
  fclose(f);
  while (m->len > 0 && m->data[m->len - 1] == '\n')
    m->len--;
  return 0;
}

/* Returns the resident set size of this process in bytes. */
static long vb_rss(void) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL)
    return -1;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
    rss = -1;
  fclose(f);
  return rss * 4096;
}

static double vb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The worker's per-message path: parse, normalise, and everything the
 * message becomes (vq_output_build: value lists with their meta,
 * notifications, fleet updates; the output reused as the worker does),
 * with the plugin's defaults and a source address. Returns 1 when the
 * message was accepted. */
static vq_output_t vb_out = VQ_OUTPUT_INIT;
static int vb_ours(vq_parser_t *p, const vb_msg_t *msg) {
  static const vq_output_conf_t conf = {.fizzle_seconds = 600,
                                        .finished_notifications = true};
  struct sockaddr_in from = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(0xc000020a)};
  vq_message_t m;
  if (vq_parse(p, msg->data, msg->len, &m) != VQ_OK)
    return 0;
  vq_reason_t r;
  int built =
      vq_output_build(&vb_out, &conf, &m, (struct sockaddr *)&from, &r) == 0;
  vq_message_clear(&m);
  return built && r == VQ_OK;
}

/* Bare json-c with a reused tokener: the floor any json-c parser pays. */
static int vb_jsonc(json_tokener *tok, const vb_msg_t *msg) {
  json_tokener_reset(tok);
  json_object *o = json_tokener_parse_ex(tok, msg->data, (int)msg->len);
  int ok = o != NULL;
  json_object_put(o);
  return ok;
}

static int vb_fleet(long n) {
  vq_fleet_t *f = vq_fleet_create();
  if (f != NULL) /* the registry alone, beyond the default MaxFactories */
    vq_fleet_set_limits(f, (size_t)n, (size_t)n, (size_t)n);
  long before = vb_rss();
  vq_message_t m;
  memset(&m, 0, sizeof(m));
  m.type = VQ_MSG_FACTORY;
  char site[64], space[96], factory[128];
  for (long i = 0; i < n; i++) {
    snprintf(site, sizeof(site), "UKI-SITE-%ld", i / 1000);
    snprintf(space, sizeof(space), "vac%02ld.site%ld.example.ac.uk", i % 10,
             i / 1000);
    snprintf(factory, sizeof(factory), "vac%ld-node%ld.site%ld.example.ac.uk",
             i % 10, i, i / 1000);
    m.str[VQ_S_SITE] = (vq_str_t){site, strlen(site)};
    m.str[VQ_S_SPACE] = (vq_str_t){space, strlen(space)};
    m.str[VQ_S_FACTORY] = (vq_str_t){factory, strlen(factory)};
    vq_ident_t id;
    if (vq_ident_from_message(&m, &id) != VQ_OK ||
        vq_fleet_seen(f, &id, &m, (double)i) < 0)
      return 1;
  }
  long after = vb_rss();
  printf("factories %zu rss_growth_bytes %ld bytes_per_factory %.0f\n",
         vq_fleet_factories(f), after - before,
         n > 0 ? (double)(after - before) / (double)n : 0.0);
  vq_fleet_destroy(f);
  return 0;
}

/* Registers one factory (generation gen of slot i), its 3 machinetypes
 * and one finished machine of each, as the soak's fleet does each cycle.
 * Returns 0, or -1 when the registry refused. */
static int vb_churn_one(vq_fleet_t *f, long i, long gen, double now) {
  vq_message_t m;
  memset(&m, 0, sizeof(m));
  vq_ident_t id;
  memset(&id, 0, sizeof(id));
  snprintf(id.host, sizeof(id.host), "site%02ld", i / 100);
  snprintf(id.plugin_instance, sizeof(id.plugin_instance),
           "space%ld_example_org.factory%ld-g%ld_example_org", (i / 20) % 5, i,
           gen);
  m.type = VQ_MSG_FACTORY;
  if (vq_fleet_seen(f, &id, &m, now) < 0)
    return -1;
  m.type = VQ_MSG_MACHINETYPE;
  static const char *const mts[3] = {"atlas.mt-atlas", "lhcb.mt-lhcb",
                                     "cms.mt-cms"};
  vq_finished_t fin = {.cpu_seconds = 3600, .wall_seconds = 3700};
  for (int k = 0; k < 3; k++) {
    snprintf(id.type_instance, sizeof(id.type_instance), "%s", mts[k]);
    if (vq_fleet_seen(f, &id, &m, now) < 0)
      return -1;
    snprintf(id.type_instance, sizeof(id.type_instance), "%s.200", mts[k]);
    if (vq_fleet_add_finished(f, &id, &fin) < 0)
      return -1;
  }
  return 0;
}

/* The churn mode (see the top of this file). Returns 0 or 1. */
static int vb_churn(long seconds, long life, long forget) {
  vq_fleet_t *f = vq_fleet_create();
  if (f == NULL || life <= 0)
    return 1;
  printf("second factories machinetypes finished malloc_in_use "
         "malloc_free rss\n");
  for (long t = 1; t <= seconds; t++) {
    /* Slot i's name changes every life s, staggered over the slots. */
    for (long i = 0; i < 1000; i++)
      if (vb_churn_one(f, i, (t + i) / life, (double)t) != 0)
        return 1;
    if (t % 10 == 0 &&
        vq_fleet_forget(f, (double)t, (double)forget) == (size_t)-1)
      return 1;
    if (t % 60 == 0) {
      struct mallinfo2 mi = mallinfo2();
      printf("%ld %zu %zu %zu %zu %zu %ld\n", t, vq_fleet_factories(f),
             vq_fleet_machinetypes(f), vq_fleet_finished_series(f), mi.uordblks,
             mi.fordblks, vb_rss());
    }
  }
  vq_fleet_destroy(f);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: vq-bench parse|jsonc N FILE... | fleet N | "
                    "churn S [L [F]]\n");
    return 2;
  }
  long n = atol(argv[2]);
  if (strcmp(argv[1], "fleet") == 0)
    return vb_fleet(n);
  if (strcmp(argv[1], "churn") == 0)
    return vb_churn(n, argc > 3 ? atol(argv[3]) : 30,
                    argc > 4 ? atol(argv[4]) : 20);
  int nmsg = argc - 3;
  vb_msg_t *msgs = calloc((size_t)(nmsg > 0 ? nmsg : 1), sizeof(*msgs));
  for (int i = 0; i < nmsg; i++)
    if (vb_read(argv[3 + i], &msgs[i]) != 0) {
      fprintf(stderr, "vq-bench: cannot read %s\n", argv[3 + i]);
      return 1;
    }
  vq_parser_t *p = vq_parser_create();
  json_tokener *tok = json_tokener_new();
  if (strcmp(argv[1], "meta") == 0) {
    for (int i = 0; i < nmsg; i++) {
      size_t meta = 0;
      vb_ours(p, &msgs[i]);
      for (size_t k = 0; k < vb_out.lists_num; k++)
        meta += vb_out.lists[k].meta.num;
      printf("%s lists %zu meta_per_list %.1f notifications %zu\n", argv[3 + i],
             vb_out.lists_num,
             vb_out.lists_num ? (double)meta / (double)vb_out.lists_num : 0.0,
             vb_out.notifs_num);
    }
    vq_parser_destroy(p);
    json_tokener_free(tok);
    return 0;
  }
  int ours = strcmp(argv[1], "parse") == 0;
  long ok = 0;
  double t0 = vb_now();
  for (long it = 0; it < n; it++)
    for (int i = 0; i < nmsg; i++)
      ok += ours ? vb_ours(p, &msgs[i]) : vb_jsonc(tok, &msgs[i]);
  double dt = vb_now() - t0;
  long total = n * nmsg;
  printf("mode %s messages %ld ok %ld seconds %.3f per_second %.0f\n", argv[1],
         total, ok, dt, dt > 0 ? (double)total / dt : 0.0);
  json_tokener_free(tok);
  vq_output_free(&vb_out);
  vq_parser_destroy(p);
  for (int i = 0; i < nmsg; i++)
    free(msgs[i].data);
  free(msgs);
  return 0;
}
