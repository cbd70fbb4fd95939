// SPDX-License-Identifier: Apache-2.0
/*
 * A UDP packet generator for the benchmark: sendmmsg() in batches of 64,
 * destination ports cycling over `flows` values, for `seconds`, from one
 * thread, at most `pps` datagrams a second when given. Prints the datagrams sent.
 *   udp-flood <dst-ipv4> <first-port> <flows> <payload-bytes> <seconds> [pps]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64

int main(int argc, char **argv)
{
	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: %s <dst-ipv4> <first-port> <flows> <payload-bytes> <seconds> [pps]\n", argv[0]);
		return 2;
	}
	int first = atoi(argv[2]), flows = atoi(argv[3]), size = atoi(argv[4]);
	double seconds = atof(argv[5]);
	double pps = argc == 7 ? atof(argv[6]) : 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) { perror("socket"); return 1; }
	static char payload[1500];
	struct sockaddr_in to[BATCH];
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		to[i].sin_family = AF_INET;
		inet_pton(AF_INET, argv[1], &to[i].sin_addr);
		iov[i].iov_base = payload;
		iov[i].iov_len = size;
		msgs[i].msg_hdr.msg_name = &to[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(to[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	unsigned long long sent = 0, next = 0;
	for (;;) {
		for (int i = 0; i < BATCH; i++)
			to[i].sin_port = htons(first + (next++ % flows));
		int n = sendmmsg(fd, msgs, BATCH, 0);
		if (n > 0) sent += n;
		if (pps > 0 || (sent & 0x3fff) < BATCH) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			double elapsed = (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
			if (elapsed >= seconds) break;
			double ahead = sent / pps - elapsed;
			if (pps > 0 && ahead > 0) {
				struct timespec pause = {(time_t)ahead, (long)((ahead - (time_t)ahead) * 1e9)};
				nanosleep(&pause, NULL);
			}
		}
	}
	printf("%llu\n", sent);
	return 0;
}
