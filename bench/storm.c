/*
 * The benchmark's fault storm: map MIB of anonymous memory, touch every page,
 * unmap; ROUNDS times, in THREADS threads. Prints one JSON line:
 *   {"pid":N,"faults":N,"seconds":F,"faults_per_second":F}
 * where faults counts pages touched. With "wait", it first reads a line on
 * stdin, so a tracer can be pointed at its pid before it starts. Transparent
 * huge pages are off for it (one fault per 4 KiB page, whatever the host's mode).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static size_t bytes;
static long rounds;

static void *storm(void *arg)
{
	(void)arg;
	for (long r = 0; r < rounds; r++) {
		volatile char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			exit(2);
		}
		for (size_t off = 0; off < bytes; off += PAGE)
			p[off] = 1;
		munmap((void *)p, bytes);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	pthread_t tids[64];
	int threads;

	if (argc < 4) {
		fprintf(stderr, "usage: storm MIB ROUNDS THREADS [wait]\n");
		return 2;
	}
	bytes = (size_t)atol(argv[1]) << 20;
	rounds = atol(argv[2]);
	threads = atoi(argv[3]);
	if (threads < 1 || threads > 64)
		return 2;
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)) {
		perror("prctl(PR_SET_THP_DISABLE)");
		return 2;
	}
	if (argc > 4 && !strcmp(argv[4], "wait")) {
		char line[16];
		if (!fgets(line, sizeof(line), stdin))
			return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < threads; i++)
		pthread_create(&tids[i], NULL, storm, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	long faults = (long)(bytes / PAGE) * rounds * threads;
	printf("{\"pid\":%d,\"faults\":%ld,\"seconds\":%.6f,\"faults_per_second\":%.1f}\n", getpid(), faults, secs, faults / secs);
	return 0;
}
