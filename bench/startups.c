// SPDX-License-Identifier: Apache-2.0
/*
 * The start-up workload: run a command COUNT times, one after another, each
 * a fresh process that maps its interpreter's libraries, and report the
 * whole loop's time and the faults the children took (wait4 rusage):
 *
 *   startups COUNT [wait] -- COMMAND [ARGS...]
 *   {"pid":N,"faults":N,"seconds":S,"faults_per_second":R}
 *
 * With "wait", it first reads a line on stdin, so a tracer can attach to a
 * process that already exists.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long count, faults = 0;
	int cmd = 2;
	struct timespec t0, t1;
	char line[16];

	if (argc < 4)
		goto usage;
	count = atol(argv[1]);
	if (count < 1)
		goto usage;
	if (!strcmp(argv[cmd], "wait")) {
		if (!fgets(line, sizeof(line), stdin))
			return 1;
		cmd++;
	}
	if (cmd >= argc || strcmp(argv[cmd], "--") || cmd + 1 >= argc)
		goto usage;
	cmd++;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++) {
		struct rusage ru;
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0) {
				dup2(null, 1);
				dup2(null, 2);
			}
			execvp(argv[cmd], argv + cmd);
			_exit(127);
		}
		if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "startups: %s failed\n", argv[cmd]);
			return 1;
		}
		faults += ru.ru_minflt + ru.ru_majflt;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("{\"pid\":%d,\"faults\":%ld,\"seconds\":%.6f,\"faults_per_second\":%.1f}\n", getpid(), faults, secs, faults / secs);
	return 0;
usage:
	fprintf(stderr, "usage: startups COUNT [wait] -- COMMAND [ARGS...]\n");
	return 2;
}
