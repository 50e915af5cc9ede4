/* SPDX-License-Identifier: MIT */
/*
 * vacquery-send: send VacQuery status messages as UDP datagrams.
 *
 * File mode sends files (or stdin lines) verbatim, one datagram each.
 * Fleet mode simulates a deterministic fleet of Vac 3.1 and Vcycle
 * factories (field sets as in docs/protocol.md sections 3-6, serialised
 * byte for byte like Python's json.dumps) and prints a summary of what it
 * sent, for tests to compare with what collectd stored. With --respond each
 * simulated Vac factory also answers machines_query on its own 127/8
 * address as Vac's responder does (docs/protocol.md). libc, json-c and
 * src/common/ (libcmcommon) only.
 */
#include "common/cm_buf.h"
#include "common/cm_key.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VS_BATCH 64        /* datagrams per sendmmsg call */
#define VS_BUF 65536       /* bytes per message buffer */
#define VS_DGRAM_MAX 65507 /* largest UDP payload over IPv4 */
#define VS_NVOS 6
#define VS_VAC "Vac 03.01.00 vacd-factory"
#define VS_VCYCLE "Vcycle 03.00+pre06 vcycled"
#define VS_RESPONDER "Vac 03.01.00 vacd-responder"
/* A cookie no salt gives: the forged replies' (--forge). */
#define VS_BAD_COOKIE                                                          \
  "\"0000000000000000000000000000000000000000000000000000000000000000\""

static const char *const vs_vos[VS_NVOS] = {
    "lhcb", "atlas", "cms", "gridpp", "vo.northgrid.ac.uk", "dune"};

static const char vs_usage[] =
    "NAME\n"
    "  vacquery-send - send VacQuery status messages as UDP datagrams\n"
    "SYNOPSIS\n"
    "  vacquery-send [options] FILE...\n"
    "  vacquery-send --fleet [options] [fleet options]\n"
    "  vacquery-send --fleet --respond [options] [fleet/responder options]\n"
    "DESCRIPTION\n"
    "  Sends one JSON object per UDP datagram, as Vac and Vcycle do. Each\n"
    "  FILE is one datagram (one trailing newline stripped); '-' sends each\n"
    "  non-empty stdin line. --fleet simulates Vac 3.1 and Vcycle factories:\n"
    "  each cycle, per factory, a factory_status, a machinetype_status per\n"
    "  machinetype, then machine_status messages of finished machines, with\n"
    "  values that depend on the options only, never on the cycle.\n"
    "OPTIONS\n"
    "  -H, --host HOST      destination name or address (default 127.0.0.1)\n"
    "  -p, --port PORT      destination UDP port (default 8884)\n"
    "  --rate N             messages per second, 0 = unpaced (default 0)\n"
    "  --quiet              no summary on stdout\n"
    "  --summary-file PATH  also write the summary to PATH\n"
    "  -h, --help           this text\n"
    "FLEET OPTIONS\n"
    "  --cycles N           reporting cycles (default 1; unlimited when\n"
    "                       --duration is given without --cycles)\n"
    "  --duration SECONDS   repeat cycles until SECONDS have passed\n"
    "  --sites N            sites (default 2): odd ones UKI-SIM-SITE-<n>,\n"
    "                       even ones sim<n>.example.ac.uk\n"
    "  --spaces N           spaces per site (default 2)\n"
    "  --factories N        factories per space (default 3)\n"
    "  --machinetypes N     per factory, 1-6 (default 3), of the VOs lhcb\n"
    "                       atlas cms gridpp vo.northgrid.ac.uk dune\n"
    "  --finished N         machine_status per factory per cycle (default 1)\n"
    "  --vcycle-every K     every K-th space is Vcycle (default 2, 0 = none);\n"
    "                       every other Vcycle space has max_processors null\n"
    "  --churn L            a factory's name lives L cycles (staggered, so\n"
    "                       each cycle about 1/L of the factories are new\n"
    "                       and as many fall silent); default 0: for ever\n"
    "  --seed N             varies uuids, names, load, memory, disk; never\n"
    "                       the summary (default 1)\n"
    "  --cookie STRING      the cookie field (default \"0\")\n"
    "RESPONDER OPTIONS (with --fleet)\n"
    "  --respond            each Vac factory i binds 127.0.0.0+2+i and "
    "answers\n"
    "                       machines_query as Vac's responder (space and\n"
    "                       cookie checked; one machine_status per slot, in\n"
    "                       every state); factories push from their address;\n"
    "                       runs until --duration or SIGINT/SIGTERM\n"
    "  --respond-port PORT  the port Vac factories answer on (default 995)\n"
    "  --finish-after S     after S seconds slot 01 of every Vac factory\n"
    "                       shuts down (200 Success) and is pushed once\n"
    "  --forge              test aid: 3 forged replies per answered query\n"
    "                       (wrong cookie, wrong space, another address)\n"
    "SUMMARY\n"
    "  sent_messages, sent_factory_status, sent_machinetype_status and\n"
    "  sent_machine_status N; sorted lines 'site SITE', 'vo VO', 'site_vo\n"
    "  SITE VO', 'machinetype MT', 'space SITE SPACE', each followed by\n"
    "  'running_processors N running_machines N' (last values reported),\n"
    "  'finished SITE VO MT machines N wall_seconds N' (all machine_status);\n"
    "  with --respond 'slots SITE STATE machines N', 'finished_polled SITE VO\n"
    "  MT machines N wall_seconds N' (seen by polling only), responder_*;\n"
    "  then send_errors N, elapsed_seconds F, rate_achieved F. VO 'none'\n"
    "  means no fqan (last machinetype of every 3rd factory, all Vcycle\n"
    "  machines). File mode prints sent_messages and send_errors only.\n"
    "EXIT STATUS\n"
    "  0 all sent, 1 send or file errors, 2 usage error.\n";

/* Command line options; strings point into argv, except cookie_json. */
typedef struct {
  const char *host, *port, *cookie, *summary_file;
  char *cookie_json;     /* cookie as a JSON string, owned by main */
  double rate, duration; /* duration < 0: not given */
  long cycles;           /* < 0: not given */
  long sites, spaces, factories, machinetypes, finished, vcycle_every, seed;
  long churn; /* cycles a factory name lives; 0: for ever */
  int fleet, quiet;
  int respond, forge;  /* --respond, --forge */
  long respond_port;   /* --respond-port */
  double finish_after; /* < 0: not given */
} vs_opts_t;

/* One factory of the simulated fleet; all strings are inline. */
typedef struct {
  long fidx, site, gspace; /* 0-based global factory, site, space */
  int vcycle, nolimit;
  char site_name[64], domain[64], space_name[128], host[32], name[128];
} vs_fac_t;

/* One machinetype of a factory; vo points to a static string. */
typedef struct {
  const char *vo;
  int fqan; /* 0: the message has no fqan key, VO "none" */
  char name[40];
  long ppm, machines, processors;
} vs_mt_t;

/* Fleet generator state, owned by main. */
typedef struct {
  const vs_opts_t *o;
  long per_factory;         /* messages per factory per cycle */
  long long per_cycle, pos; /* messages per cycle, next position */
  long long cycle, seq;     /* cycles started, messages generated */
  long long count[3];       /* factory, machinetype, machine status */
} vs_fleet_t;

/* File-mode source state, owned by main. */
typedef struct {
  char **files;
  int nfiles, idx, errors;
  char *line; /* getline buffer, owned, freed by main */
  size_t linecap;
} vs_files_t;

/* Append-only output buffer; full is set once anything was cut. */
typedef struct {
  char *p;
  size_t cap, len;
  int full;
} vs_buf_t;

/* Returns a well-mixed 64-bit hash of a and b (splitmix64 finaliser). */
static uint64_t vs_mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Appends printf-formatted text to b. Returns nothing; sets b->full. */
__attribute__((format(printf, 2, 3))) static void vs_put(vs_buf_t *b,
                                                         const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= b->cap - b->len)
    b->full = 1;
  else
    b->len += (size_t)n;
}

/* Formats into tmp when present, else writes null. Returns tmp. */
__attribute__((format(printf, 4, 5))) static const char *
vs_opt(char *tmp, size_t size, int present, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (present)
    vsnprintf(tmp, size, fmt, ap);
  else
    snprintf(tmp, size, "null");
  va_end(ap);
  return tmp;
}

/* Fills f with the names and flags of global factory fidx in cycle
 * cycle. With --churn L the factory's host name carries a generation that
 * changes every L cycles, staggered by factory, so that each cycle about
 * 1/L of the factories are new and as many old ones fall silent. Returns
 * nothing; f owns its strings. */
static void vs_fac(const vs_opts_t *o, long fidx, long long cycle,
                   vs_fac_t *f) {
  long per_site = o->spaces * o->factories;
  long local = fidx % per_site, j = local / o->factories;
  f->fidx = fidx;
  f->site = fidx / per_site;
  f->gspace = f->site * o->spaces + j;
  long n = f->gspace + 1, s = f->site + 1;
  f->vcycle = o->vcycle_every > 0 && n % o->vcycle_every == 0;
  f->nolimit = f->vcycle && (n / o->vcycle_every) % 2 == 0;
  snprintf(f->domain, sizeof(f->domain), "%s%ld.example.ac.uk",
           s % 2 ? "site" : "sim", s);
  if (s % 2 == 1)
    snprintf(f->site_name, sizeof(f->site_name), "UKI-SIM-SITE-%ld", s);
  else
    snprintf(f->site_name, sizeof(f->site_name), "%s", f->domain);
  const char *kind = f->vcycle ? "vcycle" : "vac";
  snprintf(f->space_name, sizeof(f->space_name), "%s%02ld.%s%s", kind, j + 1,
           f->vcycle ? "cloud." : "", f->domain);
  if (o->churn > 0)
    snprintf(f->host, sizeof(f->host), "%s%ld-g%lld", kind, local + 1,
             (cycle + local) / o->churn);
  else
    snprintf(f->host, sizeof(f->host), "%s%ld", kind, local + 1);
  snprintf(f->name, sizeof(f->name), "%s.%s", f->host, f->domain);
}

/* Fills t with machinetype m of factory f. Returns nothing. */
static void vs_mt(const vs_opts_t *o, const vs_fac_t *f, long m, vs_mt_t *t) {
  size_t i = 0;
  t->vo = vs_vos[m % VS_NVOS];
  t->fqan = !((f->fidx + 1) % 3 == 0 && m == o->machinetypes - 1);
  for (; t->vo[i] != '\0'; i++)
    t->name[i] = t->vo[i] == '.' ? '-' : t->vo[i];
  snprintf(t->name + i, sizeof(t->name) - i, "-prod");
  t->ppm = m % VS_NVOS < 2 ? 8 : 1;
  t->machines = 1 + (f->fidx + m) % 4;
  t->processors = t->machines * t->ppm;
}

/* Returns the serial number q of finished machine i of factory f, and
 * sets *m to its machinetype and *wall to heartbeat_time - started_time.
 * Every 4th machine fizzles (wall < 600 s). */
static long vs_fin(const vs_opts_t *o, const vs_fac_t *f, long i, long *m,
                   long *wall) {
  long q = f->fidx * o->finished + i;
  *m = q % o->machinetypes;
  *wall = q % 4 == 3 ? 60 * (2 + q % 5) : 3600 * (1 + q % 5);
  return q;
}

/* Appends "{" and the envelope keys up to factory, in the flavour's order.
 * Returns nothing. */
static void vs_head(vs_buf_t *b, const char *type, const vs_fac_t *f,
                    const vs_opts_t *o) {
  if (f->vcycle)
    vs_put(b,
           "{\"message_type\": \"%s\", \"daemon_version\": \"%s\", "
           "\"vacquery_version\": \"VacQuery 01.02\", \"cookie\": %s, "
           "\"space\": \"%s\", \"site\": \"%s\", \"factory\": \"%s\"",
           type, VS_VCYCLE, o->cookie_json, f->space_name, f->site_name,
           f->name);
  else
    vs_put(b,
           "{\"message_type\": \"%s\", \"vac_version\": \"%s\", "
           "\"daemon_version\": \"%s\", "
           "\"vacquery_version\": \"VacQuery 01.03\", \"cookie\": %s, "
           "\"space\": \"%s\", \"factory\": \"%s\"",
           type, VS_VAC, VS_VAC, o->cookie_json, f->space_name, f->name);
}

/* Writes the factory_status of f into b. Returns nothing. */
static void vs_msg_factory(vs_buf_t *b, const vs_opts_t *o, const vs_fac_t *f,
                           long long now) {
  long rp = 0, rm = 0;
  for (long m = 0; m < o->machinetypes; m++) {
    vs_mt_t t;
    vs_mt(o, f, m, &t);
    rp += t.processors;
    rm += t.machines;
  }
  long mx = f->nolimit ? -1 : rp > 64 ? 96 : 64;
  long long r = (long long)(vs_mix((uint64_t)o->seed, (uint64_t)f->fidx) >> 2);
  long long rkb = 30000000 + r % 9000 * 1000, rino = 2400000 + r % 2000 * 100;
  long long disk = 400000000 + r % 1000 * 1000000, ino = 26000000 + r % 977;
  long long memt = f->vcycle ? 7990252 : 65690748, swap = r % 4096;
  long long memu = memt * (50 + r % 45) / 100, mjf = now - r % 300;
  long long boot = now - 86400 * (1 + r % 60);
  double load = (double)(r % (f->vcycle ? 20 : 400)) / 10.0;
  const char *kernel = "3.10.0-957.1.3.el7.x86_64";
  vs_head(b, "factory_status", f, o);
  if (f->vcycle) {
    char mxs[24];
    vs_opt(mxs, sizeof(mxs), mx >= 0, "%ld", mx);
    vs_put(b,
           ", \"time_sent\": %lld, \"running_processors\": %ld, "
           "\"running_machines\": %ld, \"max_processors\": %s, "
           "\"max_machines\": %s, \"root_disk_avail_kb\": %lld, "
           "\"root_disk_avail_inodes\": %lld, \"daemon_disk_avail_kb\": %lld, "
           "\"daemon_disk_avail_inodes\": %lld, \"load_average\": %.1f, "
           "\"kernel_version\": \"%s\", \"os_issue\": \"\\\\S\", "
           "\"boot_time\": %lld, \"factory_heartbeat_time\": %lld, "
           "\"mjf_heartbeat_time\": %lld, \"metadata_heartbeat_time\": %lld, "
           "\"swap_used_kb\": %lld, \"swap_free_kb\": %lld, "
           "\"mem_used_kb\": %lld, \"mem_total_kb\": %lld, "
           "\"max_hs06\": 0.0, \"running_hs06\": 0.0}",
           now, rp, rm, mxs, mxs, rkb, rino, disk, ino, load, kernel, boot, now,
           mjf, mjf, swap, 8388604 - swap, memu, memt);
    return;
  }
  vs_put(b,
         ", \"time_sent\": %lld, \"running_cpus\": %ld, "
         "\"running_processors\": %ld, \"running_machines\": %ld, "
         "\"running_hs06\": %.1f, \"max_cpus\": %ld, \"max_processors\": %ld, "
         "\"max_machines\": %ld, \"max_hs06\": %.1f, \"total_cpus\": %ld, "
         "\"total_machines\": %ld, \"total_hs06\": %.1f, "
         "\"root_disk_avail_kb\": %lld, \"root_disk_avail_inodes\": %lld, "
         "\"vac_disk_avail_kb\": %lld, \"daemon_disk_avail_kb\": %lld, "
         "\"vac_disk_avail_inodes\": %lld, "
         "\"daemon_disk_avail_inodes\": %lld, \"load_average\": %.1f, "
         "\"kernel_version\": \"%s\", \"os_issue\": \"%s\", "
         "\"boot_time\": %lld, \"factory_heartbeat_time\": %lld, "
         "\"responder_heartbeat_time\": %lld, \"mjf_heartbeat_time\": %lld, "
         "\"metadata_heartbeat_time\": %lld, \"swap_used_kb\": %lld, "
         "\"swap_free_kb\": %lld, \"mem_used_kb\": %lld, "
         "\"mem_total_kb\": %lld, \"site\": \"%s\"}",
         now, rp, rp, rm, rp * 10.0, mx, mx, mx, mx * 10.0, mx, mx, mx * 10.0,
         rkb, rino, disk, disk, ino, ino, load, kernel,
         "CentOS Linux release 7.6.1810 (Core)", boot, now - r % 90,
         now - r % 60, mjf, now - r % 1800, swap, 8388604 - swap, memu, memt,
         f->site_name);
}

/* Writes the machinetype_status of machinetype m of f into b. Returns
 * nothing. */
static void vs_msg_machinetype(vs_buf_t *b, const vs_opts_t *o,
                               const vs_fac_t *f, long m, long long now) {
  static const char *const msgs[3] = {"\"200 Success\"",
                                      "\"300 Nothing to do\"", "null"};
  vs_mt_t t;
  vs_mt(o, f, m, &t);
  long q = f->fidx * o->machinetypes + m;
  vs_head(b, "machinetype_status", f, o);
  vs_put(b,
         ", \"num_machinetypes\": %ld, \"time_sent\": %lld, "
         "\"machinetype\": \"%s\", \"bytes_per_processor\": 2147483648",
         o->machinetypes, now, t.name);
  if (f->vcycle) {
    vs_put(b, ", \"running_machines\": %ld, \"running_processors\": %ld",
           t.machines, t.processors);
  } else {
    char st[24], sm[200];
    vs_opt(st, sizeof(st), q % 3 != 2, "%lld", now - 600 - (q % 50) * 10);
    vs_opt(sm, sizeof(sm), q % 6 != 5, "\"%s-%02ld.%s\"", f->host, 1 + q % 32,
           f->domain);
    vs_put(b,
           ", \"running_hs06\": %.1f, \"running_machines\": %ld, "
           "\"running_cpus\": %.1f, \"running_processors\": %.1f, "
           "\"num_before_fizzle\": %ld, \"shutdown_message\": %s, "
           "\"shutdown_time\": %s, \"shutdown_machine\": %s, \"site\": \"%s\"",
           t.processors * 10.0, t.machines, (double)t.processors,
           (double)t.processors, q % 2, msgs[q % 3], st, sm, f->site_name);
  }
  if (t.fqan)
    vs_put(b, ", \"fqan\": \"/%s/Role=NULL/Capability=NULL\"", t.vo);
  if (f->vcycle)
    vs_put(b, ", \"running_hs06\": 0.0");
  vs_put(b, ", \"max_wallclock_seconds\": %d, \"max_processors\": %ld}",
         t.ppm == 8 ? 172800 : 86400, t.ppm);
}

static long vs_slot_count(const vs_opts_t *o, const vs_fac_t *f);

/* Writes finished machine i of f into b; seq (the message number) makes
 * the uuid and the machine name unique. Returns nothing. */
static void vs_msg_machine(vs_buf_t *b, const vs_opts_t *o, const vs_fac_t *f,
                           long i, long long seq, long long now) {
  static const char *const models[3] = {"cernvm4", "cernvm3", "docker"};
  static const char *const msgs[3] = {
      "200 Success", "700 Heartbeat file not updated", "300 Nothing to do"};
  long m, wall, q = vs_fin(o, f, i, &m, &wall);
  vs_mt_t t;
  vs_mt(o, f, m, &t);
  uint64_t h = vs_mix((uint64_t)o->seed ^ 0x5EED, (uint64_t)seq);
  char uuid[64], sfx[11];
  snprintf(uuid, sizeof(uuid), "%08" PRIx32 "-%04x-4%03x-%x%03x-%012llx",
           (uint32_t)(h >> 32), (unsigned)(h >> 16) & 0xFFFF,
           (unsigned)h & 0xFFF, 8 + (unsigned)(h >> 62),
           (unsigned)(h >> 20) & 0xFFF,
           (unsigned long long)seq & 0xFFFFFFFFFFFFULL);
  long long hb = now - 60 - (q % 5) * 10, start = hb - wall;
  long long stop = hb + 20 + q % 60, created = start - 12 - q % 30;
  vs_head(b, "machine_status", f, o);
  if (f->vcycle) {
    /* 10 base-36 digits, a bijection of seq modulo 36^10 */
    uint64_t v =
        ((uint64_t)seq * 1000003ULL + (uint64_t)o->seed) % 3656158440062976ULL;
    for (int k = 9; k >= 0; k--, v /= 36)
      sfx[k] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
    sfx[10] = '\0';
    vs_put(b,
           ", \"num_machines\": 1, \"time_sent\": %lld, "
           "\"machine\": \"vcycle-%s-%s\", \"state\": \"Shut down\", "
           "\"uuid\": \"%s\", \"created_time\": %lld, \"started_time\": %lld, "
           "\"heartbeat_time\": %lld, \"num_processors\": %ld, "
           "\"cpu_seconds\": %lld, \"cpu_percentage\": 100.0, "
           "\"machinetype\": \"%s\", \"hs06\": %.1f, "
           "\"shutdown_message\": \"%s\", \"shutdown_time\": %lld}",
           now, t.name, sfx, uuid, created, start, hb, t.ppm, stop - start,
           t.name, t.ppm * 10.0, msgs[q % 3], stop);
    return;
  }
  vs_put(b,
         ", \"num_machines\": 64, \"time_sent\": %lld, "
         "\"machine\": \"%s-%02ld.%s\", \"state\": \"Running\", "
         "\"machine_model\": \"%s\", \"uuid\": \"%s\", \"created_time\": %lld, "
         "\"started_time\": %lld, \"heartbeat_time\": %lld, "
         "\"num_cpus\": %ld, \"num_processors\": %ld, \"cpu_seconds\": %ld, "
         "\"cpu_percentage\": %.1f, \"hs06\": %.1f, \"machinetype\": \"%s\", "
         "\"shutdown_message\": null, \"shutdown_time\": null, "
         "\"site\": \"%s\"",
         now, f->host,
         o->respond ? vs_slot_count(o, f) + 1 + q % 32 : 1 + q % 64, f->domain,
         models[q % 3], uuid, created, start, hb, t.ppm, t.ppm,
         wall * t.ppm * (80 + (long)(h % 20)) / 100, (double)(h % 1000) / 10.0,
         t.ppm * 10.0, t.name, f->site_name);
  if (t.fqan)
    vs_put(b, ", \"fqan\": \"/%s/Role=NULL/Capability=NULL\"", t.vo);
  vs_put(b, "}");
}

/* The states a responder reports, in the order of their codes 1..6, and
 * their keys in the summary (and in the plugin's vacquery_slots names). */
static const char *const vs_states[6] = {"Starting", "Running", "Shut down",
                                         "Paused",   "Zombie",  "Unknown"};
static const char *const vs_state_keys[6] = {"starting", "running", "shut_down",
                                             "paused",   "zombie",  "unknown"};
enum {
  VS_STARTING,
  VS_RUNNING,
  VS_SHUT_DOWN,
  VS_PAUSED,
  VS_ZOMBIE,
  VS_UNKNOWN
};
#define VS_HEARTBEAT 10 /* seconds between heartbeats of a running slot */

/* One machine slot of a simulated Vac factory at a given time; strings
 * inline or static. Times < 0 are null. */
typedef struct {
  int state, empty; /* empty: no machine, machinetype null */
  vs_mt_t t;
  long long created, started, heartbeat, shutdown_time, cpu_seconds;
  double cpu_percentage;
  const char *shutdown_message; /* NULL: null */
  char machine[160], uuid[64];
} vs_slot_t;

/* Responder mode (--respond) state, owned by main. */
typedef struct {
  long nfac;
  int *fd;             /* per factory, bound to 127.0.0.0 + 2 + index */
  int forge_fd;        /* bound to the next address; -1 without --forge */
  long long t0;        /* wall clock at the start, seconds */
  long long finish_at; /* when --finish-after passed (wall clock), or -1 */
  struct sockaddr_storage dest; /* where pushed messages go */
  socklen_t destlen;
  long long queries, answered, refused, ignored, replies, forged, pushed;
} vs_resp_t;

/* Returns the number of machine slots of Vac factory f: one per running
 * machine of each machinetype, then Starting, Shut down, Paused (even
 * factories) or an empty Unknown slot (odd ones), Zombie (every third
 * factory) and one empty Shut down slot. */
static long vs_slot_count(const vs_opts_t *o, const vs_fac_t *f) {
  long n = 0;
  for (long m = 0; m < o->machinetypes; m++) {
    vs_mt_t t;
    vs_mt(o, f, m, &t);
    n += t.machines;
  }
  return n + 4 + (f->fidx % 3 == 0);
}

/* Fills s with slot k (0-based) of Vac factory f at wall-clock time now;
 * t0 is the start of the run and finish_at the time the first slot's
 * machine shut down (< 0: not yet). Returns nothing. */
static void vs_slot(const vs_opts_t *o, const vs_fac_t *f, long k,
                    long long now, long long t0, long long finish_at,
                    vs_slot_t *s) {
  static const char *const msgs[3] = {"200 Success", "300 Nothing to do",
                                      "700 Heartbeat file not updated"};
  long m = 0, r = 0, mts = o->machinetypes, e;
  memset(s, 0, sizeof(*s));
  for (; m < mts; m++, r += s->t.machines) {
    vs_mt(o, f, m, &s->t);
    if (k < r + s->t.machines)
      break;
  }
  e = k - r; /* < 0: a running slot; else which of the other slots */
  int paused = f->fidx % 2 == 0, zombie = f->fidx % 3 == 0;
  int role = m < mts            ? VS_RUNNING
             : e == 0           ? VS_STARTING
             : e == 1           ? VS_SHUT_DOWN
             : e == 2 && paused ? VS_PAUSED
             : e == 2           ? VS_UNKNOWN
             : e == 3 && zombie ? VS_ZOMBIE
                                : -1; /* the empty Shut down slot */
  long mi = role == VS_STARTING    ? f->fidx % mts
            : role == VS_SHUT_DOWN ? (f->fidx + 1) % mts
            : role == VS_ZOMBIE    ? (f->fidx + 2) % mts
                                   : 0;
  if (role != VS_RUNNING)
    vs_mt(o, f, mi, &s->t);
  snprintf(s->machine, sizeof(s->machine), "%s-%02ld.%s", f->host, k + 1,
           f->domain);
  s->created = s->started = s->heartbeat = s->shutdown_time = -1;
  s->empty = role < 0 || role == VS_UNKNOWN;
  s->state = role < 0 ? VS_SHUT_DOWN : role;
  if (s->empty)
    return;
  uint64_t h = vs_mix((uint64_t)o->seed ^ 0x510751ULL,
                      (uint64_t)f->fidx * 100000ULL + (uint64_t)k);
  snprintf(s->uuid, sizeof(s->uuid), "%08" PRIx32 "-%04x-4%03x-%x%03x-%012llx",
           (uint32_t)(h >> 32), (unsigned)(h >> 16) & 0xFFFF,
           (unsigned)h & 0xFFF, 8 + (unsigned)(h >> 62),
           (unsigned)(h >> 20) & 0xFFF,
           (unsigned long long)(h * 31 + (uint64_t)k) & 0xFFFFFFFFFFFFULL);
  long long age = 3600 + (long long)(h % 40000), l10 = 500 + (h >> 8) % 500;
  s->created = role == VS_STARTING ? t0 - 20 - (long long)(h % 40) : t0 - age;
  if (role == VS_STARTING)
    return;
  s->started = s->created + 10 + (long long)(h % 30);
  long long end = now; /* the last heartbeat is at or before end */
  if (role == VS_RUNNING && k == 0 && finish_at >= 0) {
    s->state = VS_SHUT_DOWN; /* --finish-after: the first machine ended */
    end = finish_at;
    s->shutdown_message = msgs[0];
    s->shutdown_time = finish_at;
  } else if (role == VS_SHUT_DOWN) {
    end = s->started + (t0 - s->started) / 2;
    s->shutdown_message = msgs[f->fidx % 3];
    s->shutdown_time = end + 20 + (long long)(h % 60);
  } else if (role == VS_PAUSED) {
    end = s->started + (t0 - s->started) / 3;
  } else if (role == VS_ZOMBIE) {
    end = s->started + 600;
  }
  s->heartbeat = end - (end - s->started) % VS_HEARTBEAT;
  s->cpu_seconds = (s->heartbeat - s->started) * s->t.ppm * l10 / 1000;
  s->cpu_percentage = role == VS_RUNNING ? (double)(s->t.ppm * l10) / 10.0 : 0;
}

/* Appends "null" or the decimal v (v < 0: null) to b. Returns nothing. */
static void vs_put_time(vs_buf_t *b, const char *key, long long v) {
  if (v < 0)
    vs_put(b, ", \"%s\": null", key);
  else
    vs_put(b, ", \"%s\": %lld", key, v);
}

/* Writes the machine_status of slot s of factory f into b: a responder's
 * reply (cookie_json and space_json are JSON strings), or with push set the
 * message Vac pushes to VacMon for a finished machine (vacd-factory, state
 * "Running", shutdown fields null: the quirk of docs/protocol.md). Returns
 * nothing. */
static void vs_msg_slot(vs_buf_t *b, const vs_fac_t *f, const vs_slot_t *s,
                        long nslots, long long now, const char *cookie_json,
                        const char *space_json, int push) {
  const char *ver = push ? VS_VAC : VS_RESPONDER;
  vs_put(b,
         "{\"message_type\": \"machine_status\", \"vac_version\": \"%s\", "
         "\"daemon_version\": \"%s\", \"vacquery_version\": "
         "\"VacQuery 01.03\", \"cookie\": %s, \"space\": %s, "
         "\"factory\": \"%s\", \"num_machines\": %ld, \"time_sent\": %lld, "
         "\"machine\": \"%s\", \"state\": \"%s\", \"machine_model\": %s",
         ver, ver, cookie_json, space_json, f->name, nslots, now, s->machine,
         push ? "Running" : vs_states[s->state],
         s->empty ? "null" : "\"cernvm4\"");
  if (s->empty)
    vs_put(b, ", \"uuid\": null");
  else
    vs_put(b, ", \"uuid\": \"%s\"", s->uuid);
  vs_put_time(b, "created_time", s->created);
  vs_put_time(b, "started_time", s->started);
  vs_put_time(b, "heartbeat_time", s->heartbeat);
  long p = s->empty ? 0 : s->t.ppm;
  vs_put(b,
         ", \"num_cpus\": %ld, \"num_processors\": %ld, \"cpu_seconds\": %lld, "
         "\"cpu_percentage\": %.1f, \"hs06\": %.1f",
         p, p, s->cpu_seconds, s->cpu_percentage, p * 10.0);
  if (s->empty)
    vs_put(b, ", \"machinetype\": null");
  else
    vs_put(b, ", \"machinetype\": \"%s\"", s->t.name);
  if (s->shutdown_message != NULL && !push)
    vs_put(b, ", \"shutdown_message\": \"%s\"", s->shutdown_message);
  else
    vs_put(b, ", \"shutdown_message\": null");
  vs_put_time(b, "shutdown_time", push ? -1 : s->shutdown_time);
  vs_put(b, ", \"site\": \"%s\"", f->site_name);
  if (!s->empty && s->t.fqan)
    vs_put(b, ", \"fqan\": \"/%s/Role=NULL/Capability=NULL\"", s->t.vo);
  vs_put(b, "}");
}

/* Message source for fleet mode: writes the next message into buf.
 * Returns 1 with *len set, or 0 when the cycles are done. */
static int vs_fleet_next(void *ctx, char *buf, size_t cap, size_t *len) {
  vs_fleet_t *g = ctx;
  const vs_opts_t *o = g->o;
  if (o->cycles >= 0 && g->cycle >= o->cycles)
    return 0;
  vs_buf_t b = {buf, cap, 0, 0};
  vs_fac_t f;
  long sub = (long)(g->pos % g->per_factory);
  long long now = (long long)time(NULL);
  vs_fac(o, (long)(g->pos / g->per_factory), g->cycle, &f);
  if (sub == 0)
    vs_msg_factory(&b, o, &f, now);
  else if (sub <= o->machinetypes)
    vs_msg_machinetype(&b, o, &f, sub - 1, now);
  else
    vs_msg_machine(&b, o, &f, sub - 1 - o->machinetypes, g->seq, now);
  g->count[sub == 0 ? 0 : sub <= o->machinetypes ? 1 : 2]++;
  if (b.full || b.len > VS_DGRAM_MAX) { /* only a huge cookie gets here */
    fprintf(stderr, "vacquery-send: message too long\n");
    exit(2);
  }
  g->seq++;
  if (++g->pos == g->per_cycle) {
    g->pos = 0;
    g->cycle++;
  }
  *len = b.len;
  return 1;
}

/* Message source for file mode: reads the next file or stdin line into
 * buf. Returns 1 with *len set, 0 at the end, -1 for a skipped input. */
static int vs_files_next(void *ctx, char *buf, size_t cap, size_t *len) {
  vs_files_t *s = ctx;
  while (s->idx < s->nfiles) {
    const char *name = s->files[s->idx], *why = NULL;
    size_t n = 0;
    if (strcmp(name, "-") == 0) {
      ssize_t got = getline(&s->line, &s->linecap, stdin);
      if (got < 0) { /* end of stdin: on to the next FILE */
        s->idx++;
        continue;
      }
      n = (size_t)got - (s->line[got - 1] == '\n');
      if (n == 0)
        continue;
      memcpy(buf, s->line, n < cap ? n : cap);
    } else {
      FILE *fp = fopen(name, "rb");
      s->idx++;
      if (fp == NULL) {
        why = strerror(errno);
      } else {
        n = fread(buf, 1, cap, fp);
        why = ferror(fp) ? "read error" : NULL;
        fclose(fp);
        n -= n > 0 && buf[n - 1] == '\n';
      }
    }
    if (why == NULL && n > VS_DGRAM_MAX)
      why = "too long for a datagram";
    if (why != NULL) {
      fprintf(stderr, "vacquery-send: %s: %s\n", name, why);
      s->errors++;
      return -1;
    }
    *len = n;
    return 1;
  }
  return 0;
}

/* Returns the seconds elapsed since t0 on CLOCK_MONOTONIC. */
static double vs_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Sends the messages of next() on the connected socket fd in sendmmsg
 * batches, paced to rate (0 = unpaced) and stopped after duration (< 0 =
 * no limit). bufs holds VS_BATCH buffers of VS_BUF bytes, owned by the
 * caller. Returns nothing; fills *sent, *errors and *elapsed. */
static void vs_run(int fd, double rate, double duration,
                   int (*next)(void *, char *, size_t, size_t *), void *ctx,
                   char *bufs, long long *sent, long long *errors,
                   double *elapsed) {
  struct mmsghdr msgs[VS_BATCH];
  struct iovec iov[VS_BATCH];
  struct timespec t0;
  double per_ms = rate / 1000.0; /* rate > 0: about one batch a millisecond */
  int batch = rate <= 0 || per_ms >= VS_BATCH ? VS_BATCH
              : per_ms < 1                    ? 1
                                              : (int)per_ms;
  int end = 0;
  long long n = 0;
  *sent = *errors = 0;
  memset(msgs, 0, sizeof(msgs));
  for (int k = 0; k < VS_BATCH; k++) {
    iov[k].iov_base = bufs + (size_t)k * VS_BUF;
    msgs[k].msg_hdr.msg_iov = &iov[k];
    msgs[k].msg_hdr.msg_iovlen = 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!end) {
    if (rate > 0) {
      double due = (double)n / rate;
      if (duration >= 0 && due >= duration)
        break;
      long long ns = (long long)(due * 1e9) + t0.tv_nsec;
      struct timespec t = {t0.tv_sec + (time_t)(ns / 1000000000LL),
                           (long)(ns % 1000000000LL)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
    }
    if (duration >= 0 && vs_since(&t0) >= duration)
      break;
    int k = 0, r;
    while (k < batch &&
           (r = next(ctx, iov[k].iov_base, VS_BUF, &iov[k].iov_len)) != 0)
      k += r > 0; /* r < 0: input skipped */
    end = k < batch;
    for (int done = 0; done < k;) {
      r = sendmmsg(fd, msgs + done, (unsigned)(k - done), 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0) { /* the first datagram failed: count it, go on */
        (*errors)++;
        done++;
      } else {
        *sent += r;
        done += r;
      }
    }
    n += k;
  }
  *elapsed = vs_since(&t0);
}

/* One summary contribution; key (the line's start) is owned, malloc'd. */
typedef struct {
  int kind; /* 0 site, 1 vo, 2 site_vo, 3 machinetype, 4 space, 5 finished,
               6 slots, 7 finished_polled */
  char *key;
  long long a, b;
} vs_ent_t;

/* Growable list of summary contributions, owned by main. */
typedef struct {
  vs_ent_t *v;
  size_t n, cap;
} vs_agg_t;

/* Adds (a, b) to the entry of kind and the formatted key, merging with the
 * previous entry when equal. Returns 0, or -1 on allocation failure. */
__attribute__((format(printf, 5, 6))) static int
vs_agg_add(vs_agg_t *g, int kind, long long a, long long b, const char *fmt,
           ...) {
  char key[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(key, sizeof(key), fmt, ap);
  va_end(ap);
  vs_ent_t *last = g->n > 0 ? &g->v[g->n - 1] : NULL;
  if (last != NULL && last->kind == kind && strcmp(last->key, key) == 0) {
    last->a += a;
    last->b += b;
    return 0;
  }
  if (cm_vec_reserve((void **)&g->v, &g->cap, g->n + 1, sizeof(*g->v)) != 0)
    return -1;
  char *k = strdup(key);
  if (k == NULL)
    return -1;
  g->v[g->n++] = (vs_ent_t){kind, k, a, b};
  return 0;
}

/* qsort comparator: by kind, then bytewise by key. Returns <0, 0, >0. */
static int vs_ent_cmp(const void *pa, const void *pb) {
  const vs_ent_t *a = pa, *b = pb;
  if (a->kind != b->kind)
    return a->kind < b->kind ? -1 : 1;
  return strcmp(a->key, b->key);
}

/* Collects the summary lines of what generator g produced: position p of
 * the cycle went out (full cycles + (p < rest)) times. Returns 0, or -1 on
 * allocation failure. */
static int vs_fleet_agg(const vs_fleet_t *g, vs_agg_t *agg) {
  const vs_opts_t *o = g->o;
  long long full = g->seq / g->per_cycle, rest = g->seq % g->per_cycle;
  int rc = 0;
  for (long fi = 0; fi < g->per_cycle / g->per_factory; fi++) {
    long long base = (long long)fi * g->per_factory;
    long rp = 0, rm = 0, m, wall;
    vs_fac_t f;
    vs_mt_t t;
    vs_fac(o, fi, 0, &f);
    for (m = 0; m < o->machinetypes; m++) {
      vs_mt(o, &f, m, &t);
      rp += t.processors;
      rm += t.machines;
      if (full + (base + 1 + m < rest) == 0)
        continue;
      const char *vo = t.fqan ? t.vo : "none", *s = f.site_name;
      rc |= vs_agg_add(agg, 1, t.processors, t.machines, "vo %s", vo);
      rc |=
          vs_agg_add(agg, 2, t.processors, t.machines, "site_vo %s %s", s, vo);
      rc |= vs_agg_add(agg, 3, t.processors, t.machines, "machinetype %s",
                       t.name);
    }
    if (full + (base < rest) > 0) {
      rc |= vs_agg_add(agg, 0, rp, rm, "site %s", f.site_name);
      rc |=
          vs_agg_add(agg, 4, rp, rm, "space %s %s", f.site_name, f.space_name);
    }
    for (long i = 0; i < o->finished; i++) {
      long long k = full + (base + 1 + o->machinetypes + i < rest);
      vs_fin(o, &f, i, &m, &wall);
      vs_mt(o, &f, m, &t);
      if (k > 0)
        rc |= vs_agg_add(agg, 5, k, k * wall, "finished %s %s %s", f.site_name,
                         t.fqan && !f.vcycle ? t.vo : "none", t.name);
    }
  }
  return rc;
}

/* Prints the fleet summary (agg sorted; r NULL without --respond) to out.
 * Returns nothing. */
static void vs_print_fleet(FILE *out, const vs_fleet_t *g, const vs_agg_t *agg,
                           const vs_resp_t *r, long long sent, long long errors,
                           double elapsed) {
  fprintf(out,
          "sent_messages %lld\nsent_factory_status %lld\n"
          "sent_machinetype_status %lld\nsent_machine_status %lld\n",
          sent, g->count[0], g->count[1], g->count[2]);
  for (size_t i = 0; i < agg->n;) {
    const vs_ent_t *e = &agg->v[i];
    long long a = 0, b = 0;
    for (; i < agg->n && vs_ent_cmp(e, &agg->v[i]) == 0; i++) {
      a += agg->v[i].a;
      b += agg->v[i].b;
    }
    if (e->kind == 5 || e->kind == 7)
      fprintf(out, "%s machines %lld wall_seconds %lld\n", e->key, a, b);
    else if (e->kind == 6)
      fprintf(out, "%s machines %lld\n", e->key, a);
    else
      fprintf(out, "%s running_processors %lld running_machines %lld\n", e->key,
              a, b);
  }
  if (r != NULL)
    fprintf(out,
            "responder_queries %lld\nresponder_answered %lld\n"
            "responder_refused %lld\nresponder_ignored %lld\n"
            "responder_replies %lld\nforged_replies %lld\n"
            "pushed_finished %lld\n",
            r->queries, r->answered, r->refused, r->ignored, r->replies,
            r->forged, r->pushed);
  fprintf(out, "send_errors %lld\nelapsed_seconds %.3f\nrate_achieved %.1f\n",
          errors, elapsed, elapsed > 0 ? sent / elapsed : 0.0);
}

/* Set by SIGINT and SIGTERM in responder mode: end the run, print the
 * summary. */
static volatile sig_atomic_t vs_stop;

/* Signal handler: asks the responder loop to stop. */
static void vs_on_signal(int sig) {
  (void)sig;
  vs_stop = 1;
}

/* Returns the 127/8 address (network order) of factory slot i: 127.0.0.2
 * for the first, then on through 127/8. */
static uint32_t vs_loop_addr(long i) {
  return htonl(0x7F000000U + (uint32_t)(i + 2));
}

/* Returns a UDP socket bound to the 127/8 address addr and port (0: any),
 * or -1 after printing why not. */
static int vs_bind(uint32_t addr, int port) {
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = addr;
  sa.sin_port = htons((uint16_t)port);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
    return fd;
  char a[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &sa.sin_addr, a, sizeof(a));
  fprintf(stderr, "vacquery-send: bind %s port %d: %s\n", a, port,
          strerror(errno));
  if (fd >= 0)
    close(fd);
  return -1;
}

/* Opens the sockets of responder mode into r: one per factory (Vac ones on
 * the respond port, Vcycle ones, which only push, on any port) and the
 * forger's. Returns 0, or -1 after printing why not. */
static int vs_resp_open(vs_resp_t *r, const vs_opts_t *o) {
  struct addrinfo hints = {0}, *res;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(o->host, o->port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "vacquery-send: %s port %s (IPv4 with --respond): %s\n",
            o->host, o->port, gai_strerror(rc));
    return -1;
  }
  memcpy(&r->dest, res->ai_addr, res->ai_addrlen);
  r->destlen = res->ai_addrlen;
  freeaddrinfo(res);
  r->nfac = o->sites * o->spaces * o->factories;
  r->fd = malloc(sizeof(int) * (size_t)r->nfac);
  if (r->fd == NULL)
    return -1;
  for (long i = 0; i < r->nfac; i++) {
    vs_fac_t f;
    vs_fac(o, i, 0, &f);
    r->fd[i] = vs_bind(vs_loop_addr(i), f.vcycle ? 0 : o->respond_port);
    if (r->fd[i] < 0)
      return -1;
  }
  r->forge_fd = -1;
  if (o->forge && (r->forge_fd = vs_bind(vs_loop_addr(r->nfac), 0)) < 0)
    return -1;
  return 0;
}

/* Returns the string member key of object q, or NULL. */
static const char *vs_jstr(json_object *q, const char *key) {
  json_object *v;
  if (!json_object_object_get_ex(q, key, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

/* Sends the len bytes of msg from socket fd to to. Returns 1 when sent,
 * else 0. */
static int vs_sendto(int fd, const char *msg, size_t len,
                     const struct sockaddr *to, socklen_t tolen) {
  return sendto(fd, msg, len, 0, to, tolen) == (ssize_t)len;
}

/* Answers the datagram q (len bytes, NUL-terminated) that factory i got
 * from `from' as Vac's responder does: a machines_query (message_type, or
 * the legacy method "machines") with a cookie and this factory's space
 * gets one machine_status per slot, all with one time_sent, the cookie
 * echoed; anything else gets nothing. With --forge, three forged replies
 * follow (wrong cookie, wrong space, from the forger's address). Returns
 * nothing; counts in r. */
static void vs_answer(vs_resp_t *r, const vs_opts_t *o, long i, const char *q,
                      size_t len, const struct sockaddr *from,
                      socklen_t fromlen) {
  vs_fac_t f;
  vs_fac(o, i, 0, &f);
  r->queries++;
  json_tokener *tok = json_tokener_new();
  json_object *j = tok ? json_tokener_parse_ex(tok, q, (int)len) : NULL;
  if (tok != NULL)
    json_tokener_free(tok);
  const char *type = NULL, *method = NULL, *space = NULL, *cookie = NULL;
  if (j != NULL && json_object_is_type(j, json_type_object)) {
    type = vs_jstr(j, "message_type");
    method = vs_jstr(j, "method");
    space = vs_jstr(j, "space");
    cookie = vs_jstr(j, "cookie");
  }
  int machines = (type != NULL && strcmp(type, "machines_query") == 0) ||
                 (method != NULL && strcmp(method, "machines") == 0);
  if (!machines || f.vcycle) {
    r->ignored++;
  } else if (space == NULL || cookie == NULL ||
             strcmp(space, f.space_name) != 0) {
    r->refused++;
  } else {
    cm_buf_t cj = CM_BUF_INIT, sj = CM_BUF_INIT, fj = CM_BUF_INIT;
    cm_buf_json_str_ascii(&cj, cookie);
    cm_buf_json_str_ascii(&sj, f.space_name);
    cm_buf_adds(&fj, "\"forged.");
    cm_buf_adds(&fj, f.space_name);
    cm_buf_adds(&fj, "\"");
    char msg[8192];
    long long now = (long long)time(NULL);
    long n = vs_slot_count(o, &f);
    r->answered++;
    for (long k = 0; k < n && cm_buf_ok(&cj) && cm_buf_ok(&fj); k++) {
      vs_slot_t s;
      vs_buf_t b = {msg, sizeof(msg), 0, 0};
      vs_slot(o, &f, k, now, r->t0, r->finish_at, &s);
      vs_msg_slot(&b, &f, &s, n, now, cj.data, sj.data, 0);
      r->replies += !b.full && vs_sendto(r->fd[i], msg, b.len, from, fromlen);
      if (k > 0 || !o->forge)
        continue;
      /* The forgeries: another cookie ... */
      b.len = 0;
      vs_msg_slot(&b, &f, &s, n, now, VS_BAD_COOKIE, sj.data, 0);
      r->forged += vs_sendto(r->fd[i], msg, b.len, from, fromlen);
      /* ... another space ... */
      b.len = 0;
      vs_msg_slot(&b, &f, &s, n, now, cj.data, fj.data, 0);
      r->forged += vs_sendto(r->fd[i], msg, b.len, from, fromlen);
      /* ... and a true reply from another address. */
      b.len = 0;
      vs_msg_slot(&b, &f, &s, n, now, cj.data, sj.data, 0);
      r->forged += vs_sendto(r->forge_fd, msg, b.len, from, fromlen);
    }
    cm_buf_free(&cj);
    cm_buf_free(&sj);
    cm_buf_free(&fj);
  }
  if (j != NULL)
    json_object_put(j);
}

/* Reads every datagram waiting on the sockets that pf marks readable and
 * answers it. Returns nothing. */
static void vs_resp_read(vs_resp_t *r, const vs_opts_t *o,
                         const struct pollfd *pf, char *buf) {
  for (long i = 0; i <= r->nfac; i++) {
    if (!(pf[i].revents & POLLIN))
      continue;
    for (;;) {
      struct sockaddr_storage from;
      socklen_t fl = sizeof(from);
      ssize_t got = recvfrom(pf[i].fd, buf, VS_BUF - 1, MSG_DONTWAIT,
                             (struct sockaddr *)&from, &fl);
      if (got < 0)
        break;
      buf[got] = '\0';
      if (i < r->nfac) /* the forger's socket reads and drops */
        vs_answer(r, o, i, buf, (size_t)got, (struct sockaddr *)&from, fl);
    }
  }
}

/* Pushes the finished machine of every Vac factory (slot 1, shut down at
 * --finish-after) to the destination as Vac does, and adds it to the
 * summary's finished machines. Returns nothing. */
static void vs_resp_finish(vs_resp_t *r, const vs_opts_t *o, vs_fleet_t *g,
                           vs_agg_t *agg, long long *sent, long long *errors) {
  long long now = (long long)time(NULL);
  r->finish_at = now;
  for (long i = 0; i < r->nfac; i++) {
    vs_fac_t f;
    vs_slot_t s;
    char msg[8192], sj[300];
    vs_fac(o, i, 0, &f);
    if (f.vcycle)
      continue;
    vs_buf_t b = {msg, sizeof(msg), 0, 0};
    snprintf(sj, sizeof(sj), "\"%s\"", f.space_name);
    vs_slot(o, &f, 0, now, r->t0, now, &s);
    vs_msg_slot(&b, &f, &s, vs_slot_count(o, &f), now, o->cookie_json, sj, 1);
    int ok = vs_sendto(r->fd[i], msg, b.len, (struct sockaddr *)&r->dest,
                       r->destlen);
    *sent += ok;
    *errors += !ok;
    r->pushed++;
    g->count[2]++;
    vs_agg_add(agg, 5, 1, s.heartbeat - s.started, "finished %s %s %s",
               f.site_name, s.t.fqan ? s.t.vo : "none", s.t.name);
  }
}

/* Responder mode's loop: sends the fleet's messages (paced as vs_run, each
 * from its factory's socket) while answering queries, pushes the finished
 * machines at --finish-after, and ends after --duration or at SIGINT or
 * SIGTERM (or, with neither, never). buf holds VS_BUF bytes. Returns
 * nothing; fills *sent, *errors and *elapsed. */
static void vs_respond_run(vs_resp_t *r, const vs_opts_t *o, vs_fleet_t *g,
                           vs_agg_t *agg, char *buf, long long *sent,
                           long long *errors, double *elapsed) {
  struct pollfd *pf = calloc((size_t)r->nfac + 1, sizeof(*pf));
  struct timespec t0;
  long long n = 0;
  int gen_done = 0;
  *sent = *errors = 0;
  if (pf == NULL) {
    fprintf(stderr, "vacquery-send: out of memory\n");
    exit(1);
  }
  for (long i = 0; i <= r->nfac; i++) {
    pf[i].fd = i < r->nfac ? r->fd[i] : r->forge_fd; /* -1: ignored */
    pf[i].events = POLLIN;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!vs_stop) {
    double el = vs_since(&t0), wait = 1.0;
    if (o->duration >= 0 && el >= o->duration)
      break;
    if (o->finish_after >= 0 && r->finish_at < 0 && el >= o->finish_after)
      vs_resp_finish(r, o, g, agg, sent, errors);
    if (!gen_done && (o->rate <= 0 || n / o->rate <= el)) {
      long fi = (long)(g->pos / g->per_factory);
      size_t len;
      if (vs_fleet_next(g, buf, VS_BUF, &len) == 0) {
        gen_done = 1;
      } else {
        int ok = vs_sendto(r->fd[fi], buf, len, (struct sockaddr *)&r->dest,
                           r->destlen);
        *sent += ok;
        *errors += !ok;
        if (++n % 64 != 0) /* answer queries at least every 64 messages */
          continue;
      }
    }
    if (!gen_done)
      wait = o->rate > 0 ? n / o->rate - el : 0;
    if (o->finish_after >= 0 && r->finish_at < 0 && o->finish_after - el < wait)
      wait = o->finish_after - el;
    if (o->duration >= 0 && o->duration - el < wait)
      wait = o->duration - el;
    int ms = wait > 0 ? (int)(wait * 1000) + 1 : 0;
    if (poll(pf, (nfds_t)r->nfac + 1, ms) > 0)
      vs_resp_read(r, o, pf, buf);
  }
  *elapsed = vs_since(&t0);
  free(pf);
}

/* Adds the slots of every Vac factory at time now, by site and state, and
 * its finished machines that only polling shows (the Shut down slots with a
 * machinetype that were never pushed) to the summary. Returns nothing. */
static void vs_resp_agg(const vs_resp_t *r, const vs_opts_t *o, vs_agg_t *agg) {
  long long now = (long long)time(NULL);
  for (long i = 0; i < r->nfac; i++) {
    vs_fac_t f;
    vs_fac(o, i, 0, &f);
    long n = f.vcycle ? 0 : vs_slot_count(o, &f);
    for (long k = 0; k < n; k++) {
      vs_slot_t s;
      vs_slot(o, &f, k, now, r->t0, r->finish_at, &s);
      vs_agg_add(agg, 6, 1, 0, "slots %s %s", f.site_name,
                 vs_state_keys[s.state]);
      if (s.state == VS_SHUT_DOWN && !s.empty && k > 0) /* never pushed */
        vs_agg_add(agg, 7, 1, s.heartbeat - s.started,
                   "finished_polled %s %s %s", f.site_name,
                   s.t.fqan ? s.t.vo : "none", s.t.name);
    }
  }
}

/* Parses s as a number in [min, max], integral if asked, into *out.
 * Returns 0 or -1. */
static int vs_num(const char *s, double min, double max, int integral,
                  double *out) {
  char *end;
  errno = 0;
  *out = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(*out >= min && *out <= max))
    return -1;
  return integral && *out != (double)(long)*out ? -1 : 0;
}

/* Parses argv into o. Returns the index of the first operand, or -1 after
 * printing a usage error. Exits 0 after --help. */
static int vs_parse(int argc, char **argv, vs_opts_t *o) {
  /* val 0..8 index nums[] below; the rest are letters */
  static const struct option lo[] = {{"cycles", 1, NULL, 0},
                                     {"sites", 1, NULL, 1},
                                     {"spaces", 1, NULL, 2},
                                     {"factories", 1, NULL, 3},
                                     {"machinetypes", 1, NULL, 4},
                                     {"finished", 1, NULL, 5},
                                     {"vcycle-every", 1, NULL, 6},
                                     {"seed", 1, NULL, 7},
                                     {"churn", 1, NULL, 8},
                                     {"host", 1, NULL, 'H'},
                                     {"port", 1, NULL, 'p'},
                                     {"help", 0, NULL, 'h'},
                                     {"rate", 1, NULL, 'r'},
                                     {"duration", 1, NULL, 'd'},
                                     {"cookie", 1, NULL, 'c'},
                                     {"quiet", 0, NULL, 'q'},
                                     {"summary-file", 1, NULL, 's'},
                                     {"fleet", 0, NULL, 'f'},
                                     {"respond", 0, NULL, 'R'},
                                     {"respond-port", 1, NULL, 'P'},
                                     {"finish-after", 1, NULL, 'F'},
                                     {"forge", 0, NULL, 'G'},
                                     {NULL, 0, NULL, 0}};
  const struct {
    long *dst, min, max;
  } nums[9] = {{&o->cycles, 0, 1000000000L},    {&o->sites, 1, 100000},
               {&o->spaces, 1, 1000},           {&o->factories, 1, 100000},
               {&o->machinetypes, 1, VS_NVOS},  {&o->finished, 0, 100000},
               {&o->vcycle_every, 0, 1000000L}, {&o->seed, 0, 0x7FFFFFFFL},
               {&o->churn, 0, 1000000L}};
  int c, li = -1, bad = 0, fleet_only = 0;
  double v;
  while (!bad && (c = getopt_long(argc, argv, "H:p:h", lo, &li)) != -1) {
    fleet_only |= c < 9 || c == 'd' || c == 'c' || c == 'R';
    if (c >= 0 && c < 9) {
      bad = vs_num(optarg, nums[c].min, nums[c].max, 1, &v);
      *nums[c].dst = bad ? 0 : (long)v;
    } else if (c == 'H')
      o->host = optarg;
    else if (c == 'p')
      bad = vs_num(o->port = optarg, 1, 65535, 1, &v);
    else if (c == 'h')
      fputs(vs_usage, stdout), exit(0);
    else if (c == 'r' || c == 'd')
      bad = vs_num(optarg, 0, 1e9, 0, c == 'r' ? &o->rate : &o->duration);
    else if (c == 'c')
      o->cookie = optarg;
    else if (c == 'q' || c == 'f')
      *(c == 'q' ? &o->quiet : &o->fleet) = 1;
    else if (c == 's')
      o->summary_file = optarg;
    else if (c == 'R' || c == 'G')
      *(c == 'R' ? &o->respond : &o->forge) = 1;
    else if (c == 'P')
      o->respond_port = (bad = vs_num(optarg, 1, 65535, 1, &v)) ? 0 : (long)v;
    else if (c == 'F')
      bad = vs_num(optarg, 0, 1e9, 0, &o->finish_after);
    else
      bad = 1;
    if (bad && c != '?')
      fprintf(stderr, "vacquery-send: bad value '%s' for %s%s\n", optarg,
              li >= 0 ? "--" : "-", li >= 0 ? lo[li].name : "p");
    li = -1;
  }
  const char *why =
      bad                           ? NULL
      : o->fleet && optind < argc   ? "--fleet takes no FILE"
      : !o->fleet && fleet_only     ? "fleet options need --fleet"
      : !o->fleet && optind >= argc ? "no FILE given"
      : !o->respond &&
              (o->forge || o->finish_after >= 0 || o->respond_port != 995)
          ? "--respond-port, --finish-after and --forge need "
            "--respond"
      : o->respond && o->churn > 0 ? "--churn with --respond"
      : o->respond && (double)o->sites * o->spaces * o->factories > 65000
          ? "--respond: more than 65000 factories"
      : strlen(o->cookie) > 4096                          ? "cookie too long"
      : (double)o->sites * o->spaces * o->factories > 1e9 ? "fleet too large"
                                                          : NULL;
  if (why != NULL)
    fprintf(stderr, "vacquery-send: %s\n", why);
  if (bad || why != NULL) {
    fprintf(stderr, "Try 'vacquery-send --help'.\n");
    return -1;
  }
  if (o->cycles < 0)
    o->cycles = o->duration >= 0 ? -1 : 1;
  return optind;
}

/* Returns a UDP socket connected to host:port (owned by the caller), or
 * -1 after printing why not. */
static int vs_connect(const char *host, const char *port) {
  struct addrinfo hints = {0}, *res, *ai;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(host, port, &hints, &res), fd = -1, err = 0;
  if (rc != 0) {
    fprintf(stderr, "vacquery-send: %s port %s: %s\n", host, port,
            gai_strerror(rc));
    return -1;
  }
  for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    } else if (fd < 0) {
      err = errno;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    fprintf(stderr, "vacquery-send: %s port %s: %s\n", host, port,
            strerror(err));
    return -1;
  }
  int sndbuf = 4 << 20; /* best effort */
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  return fd;
}

int main(int argc, char **argv) {
  vs_opts_t o = {.host = "127.0.0.1",
                 .port = "8884",
                 .cookie = "0",
                 .duration = -1,
                 .cycles = -1,
                 .sites = 2,
                 .spaces = 2,
                 .factories = 3,
                 .machinetypes = 3,
                 .finished = 1,
                 .vcycle_every = 2,
                 .seed = 1,
                 .respond_port = 995,
                 .finish_after = -1};
  int first = vs_parse(argc, argv, &o), status = 0;
  if (first < 0)
    return 2;
  cm_buf_t cj = CM_BUF_INIT;
  char *bufs = malloc((size_t)VS_BATCH * VS_BUF);
  cm_buf_json_str_ascii(&cj, o.cookie);
  if (!cm_buf_ok(&cj) || bufs == NULL) {
    fprintf(stderr, "vacquery-send: out of memory\n");
    return 1;
  }
  o.cookie_json = cj.data;
  FILE *sf = NULL;
  if (o.summary_file != NULL && (sf = fopen(o.summary_file, "w")) == NULL) {
    fprintf(stderr, "vacquery-send: %s: %s\n", o.summary_file, strerror(errno));
    return 1;
  }
  vs_resp_t r = {.forge_fd = -1, .finish_at = -1};
  int fd = o.respond ? -1 : vs_connect(o.host, o.port);
  if (o.respond ? vs_resp_open(&r, &o) != 0 : fd < 0)
    return 1;
  long long sent, errors;
  double elapsed;
  if (o.fleet) {
    vs_fleet_t g = {&o, 1 + o.machinetypes + o.finished, 0, 0, 0, 0, {0}};
    vs_agg_t agg = {NULL, 0, 0};
    g.per_cycle = (long long)o.sites * o.spaces * o.factories * g.per_factory;
    if (o.respond) {
      struct sigaction sa = {0};
      sa.sa_handler = vs_on_signal;
      sigaction(SIGINT, &sa, NULL);
      sigaction(SIGTERM, &sa, NULL);
      r.t0 = (long long)time(NULL);
      vs_respond_run(&r, &o, &g, &agg, bufs, &sent, &errors, &elapsed);
      vs_resp_agg(&r, &o, &agg);
    } else {
      vs_run(fd, o.rate, o.duration, vs_fleet_next, &g, bufs, &sent, &errors,
             &elapsed);
    }
    if (vs_fleet_agg(&g, &agg) != 0) {
      fprintf(stderr, "vacquery-send: out of memory\n");
      return 1;
    }
    qsort(agg.v, agg.n, sizeof(*agg.v), vs_ent_cmp);
    if (!o.quiet)
      vs_print_fleet(stdout, &g, &agg, o.respond ? &r : NULL, sent, errors,
                     elapsed);
    if (sf != NULL)
      vs_print_fleet(sf, &g, &agg, o.respond ? &r : NULL, sent, errors,
                     elapsed);
    for (size_t i = 0; i < agg.n; i++)
      free(agg.v[i].key);
    free(agg.v);
  } else {
    vs_files_t s = {argv + first, argc - first, 0, 0, NULL, 0};
    vs_run(fd, o.rate, -1, vs_files_next, &s, bufs, &sent, &errors, &elapsed);
    free(s.line);
    status = s.errors > 0;
    if (!o.quiet)
      printf("sent_messages %lld\nsend_errors %lld\n", sent, errors);
    if (sf != NULL)
      fprintf(sf, "sent_messages %lld\nsend_errors %lld\n", sent, errors);
  }
  if (sf != NULL && fclose(sf) != 0) {
    fprintf(stderr, "vacquery-send: %s: write error\n", o.summary_file);
    status = 1;
  }
  free(bufs);
  cm_buf_free(&cj);
  if (fd >= 0)
    close(fd);
  for (long i = 0; i < r.nfac; i++)
    close(r.fd[i]);
  if (r.forge_fd >= 0)
    close(r.forge_fd);
  free(r.fd);
  return status || errors > 0;
}
