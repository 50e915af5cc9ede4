/* SPDX-License-Identifier: MIT */
/*
 * malloc_probe.c: an LD_PRELOAD library for the soak (bench/soak.py) that
 * shows what glibc's malloc holds inside a running collectd. Not part of
 * the plugin and not built by make.
 *
 *   cc -shared -fPIC -O2 -o malloc_probe.so bench/malloc_probe.c -lpthread
 *   VQ_PROBE_FILE=/tmp/p.txt LD_PRELOAD=./malloc_probe.so collectd -f ...
 *
 * A thread of its own (never a signal handler, so malloc's locks are safe
 * to take) wakes every second. Every VQ_PROBE_INTERVAL seconds (default
 * 10) it appends one line to VQ_PROBE_FILE:
 *
 *   probe T in_use free_in_heap heap mmapped arenas max_in_use
 *
 * (bytes, from mallinfo2(), which sums every arena; arenas counted from
 * malloc_info()'s XML; max_in_use is the highest in_use of the once-a-
 * second readings since the previous line). When the file VQ_PROBE_FILE.trim
 * exists it removes it, calls malloc_trim(0) and appends "trim T
 * released_flag"; with VQ_PROBE_TRIM_EVERY=S it also does so every S seconds
 * (to see what RSS would be if freed memory were always returned).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Returns the number of "<heap nr=" elements in malloc_info()'s output,
 * i.e. the arenas glibc has created, or -1. */
static int probe_arenas(void) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  if (m == NULL)
    return -1;
  malloc_info(0, m);
  fclose(m);
  int n = 0;
  for (const char *p = buf; (p = strstr(p, "<heap nr=")) != NULL; p++)
    n++;
  free(buf);
  return n;
}

static size_t probe_max_in_use;

/* Appends one line of figures to path. */
static void probe_write(const char *path) {
  struct mallinfo2 mi = mallinfo2();
  if (mi.uordblks > probe_max_in_use)
    probe_max_in_use = mi.uordblks;
  int arenas = probe_arenas();
  FILE *f = fopen(path, "a");
  if (f == NULL)
    return;
  fprintf(f, "probe %ld %zu %zu %zu %zu %d %zu\n", (long)time(NULL),
          mi.uordblks, mi.fordblks, mi.arena, mi.hblkhd, arenas,
          probe_max_in_use);
  fclose(f);
  probe_max_in_use = 0;
}

/* The probe thread: never returns; path is owned by the environment. */
static void *probe_main(void *arg) {
  const char *path = arg;
  const char *iv = getenv("VQ_PROBE_INTERVAL");
  int interval = iv != NULL && atoi(iv) > 0 ? atoi(iv) : 10;
  const char *te = getenv("VQ_PROBE_TRIM_EVERY");
  int trim_every = te != NULL && atoi(te) > 0 ? atoi(te) : 0;
  char trig[4096];
  snprintf(trig, sizeof(trig), "%s.trim", path);
  for (long tick = 0;; tick++) {
    if (tick % interval == 0) {
      probe_write(path);
    } else {
      struct mallinfo2 mi = mallinfo2();
      if (mi.uordblks > probe_max_in_use)
        probe_max_in_use = mi.uordblks;
    }
    int due = trim_every > 0 && tick > 0 && tick % trim_every == trim_every / 2;
    if (due || access(trig, F_OK) == 0) {
      unlink(trig);
      int r = malloc_trim(0);
      FILE *f = fopen(path, "a");
      if (f != NULL) {
        fprintf(f, "trim %ld %d\n", (long)time(NULL), r);
        fclose(f);
      }
      probe_write(path);
    }
    sleep(1);
  }
  return NULL;
}

/* Starts the probe thread when VQ_PROBE_FILE is set. */
__attribute__((constructor)) static void probe_start(void) {
  char *path = getenv("VQ_PROBE_FILE");
  if (path == NULL || *path == '\0')
    return;
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_create(&t, &a, probe_main, path);
  pthread_attr_destroy(&a);
}
