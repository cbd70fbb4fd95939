// SPDX-License-Identifier: Apache-2.0
/*
 * A UDP generator for many concurrent flows with exactly known per-flow
 * counts, from one thread.
 *
 * Flows: N destinations (address, port), flow i going to
 *   address = --dst + i / ports,  port = --first-port + i % ports
 * (ports = --ports, default min(N, 50000)), so 1M flows take 21 addresses.
 * All from one socket: one source address and port.
 *
 * Algorithm: datagram j of the run goes to flow j % N, where j counts only
 * datagrams the kernel accepted. Each sendmmsg() batch is filled from that
 * cursor; when the kernel takes fewer than the batch (a partial send, or an
 * interrupted one), the next batch starts again at the first flow not sent,
 * so no flow is skipped. The output is therefore exact: with S datagrams sent,
 * flow i got S / N datagrams, plus one when i < S % N.
 *
 * Stops after --seconds, after --count datagrams, or on SIGTERM/SIGINT; then
 * prints one JSON line (see the end of main) on stdout.
 *
 *   flow-flood --dst 198.19.0.1 --flows 100000 [--ports 50000] [--first-port 10000]
 *              [--payload 18] [--seconds 5] [--count 0] [--pps 0] [--batch 256]
 *              [--src-port 0]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_BATCH 1024 /* UIO_MAXIOV: the most sendmmsg() takes in one call */
#define MAX_PAYLOAD 65507

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s --dst <ipv4> --flows <n> [--ports <per address>] [--first-port <p>] [--payload <bytes>]\n"
		"          [--seconds <s>] [--count <datagrams>] [--pps <rate>] [--batch <1-1024>] [--src-port <p>]\n",
		argv0);
	exit(2);
}

/* A whole number option in [min, max], or exit 2 naming the value and the range. */
static unsigned long long number(const char *name, const char *text, unsigned long long min, unsigned long long max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end || end == text || v < min || v > max) {
		fprintf(stderr, "flow-flood: %s %s must be >= %llu and <= %llu\n", name, text, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *dst_text = NULL;
	unsigned long long flows = 0, ports = 0, first_port = 10000, payload = 18, count = 0, batch = 256, src_port = 0;
	double seconds = 5, pps = 0;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (i + 1 >= argc) usage(argv[0]);
		const char *val = argv[++i];
		if (!strcmp(opt, "--dst")) dst_text = val;
		else if (!strcmp(opt, "--flows")) flows = number(opt, val, 1, 1ULL << 32);
		else if (!strcmp(opt, "--ports")) ports = number(opt, val, 1, 65535);
		else if (!strcmp(opt, "--first-port")) first_port = number(opt, val, 1, 65535);
		else if (!strcmp(opt, "--payload")) payload = number(opt, val, 0, MAX_PAYLOAD);
		else if (!strcmp(opt, "--count")) count = number(opt, val, 0, ~0ULL);
		else if (!strcmp(opt, "--batch")) batch = number(opt, val, 1, MAX_BATCH);
		else if (!strcmp(opt, "--src-port")) src_port = number(opt, val, 0, 65535);
		else if (!strcmp(opt, "--seconds")) seconds = number(opt, val, 0, 1000000);
		else if (!strcmp(opt, "--pps")) pps = number(opt, val, 0, 1000000000);
		else usage(argv[0]);
	}
	struct in_addr dst;
	if (!dst_text || flows == 0 || inet_pton(AF_INET, dst_text, &dst) != 1) usage(argv[0]);
	if (ports == 0) ports = flows < 50000 ? flows : 50000;
	if (first_port + ports - 1 > 65535) {
		fprintf(stderr, "flow-flood: --first-port %llu + --ports %llu must end at or below port 65535\n", first_port, ports);
		return 2;
	}
	unsigned long long addresses = (flows + ports - 1) / ports;
	uint32_t first_addr = ntohl(dst.s_addr);
	if ((unsigned long long)first_addr + addresses - 1 > 0xffffffffULL) {
		fprintf(stderr, "flow-flood: %llu addresses from %s run past 255.255.255.255\n", addresses, dst_text);
		return 2;
	}

	/* No SA_RESTART: a signal interrupts a blocked sendmmsg() (EINTR, or a partial count). */
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) { perror("flow-flood: socket"); return 1; }
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(src_port)};
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) { perror("flow-flood: bind"); return 1; }
	socklen_t src_len = sizeof(src);
	getsockname(fd, (struct sockaddr *)&src, &src_len);

	static char data[MAX_PAYLOAD];
	memset(data, 0x61, payload);
	static struct sockaddr_in to[MAX_BATCH];
	static struct iovec iov[MAX_BATCH];
	static struct mmsghdr msgs[MAX_BATCH];
	for (unsigned i = 0; i < batch; i++) {
		to[i].sin_family = AF_INET;
		iov[i].iov_base = data;
		iov[i].iov_len = payload;
		msgs[i].msg_hdr.msg_name = &to[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(to[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	unsigned long long sent = 0, calls = 0, partial = 0, retried = 0;
	int failed = 0;
	const double start = now_s();
	double elapsed = 0;
	while (!stopping) {
		unsigned want = batch;
		if (count && count - sent < want) want = count - sent;
		if (want == 0) break;
		/* Fill the batch from the first flow not yet sent (one division a batch). */
		unsigned long long flow = sent % flows, port = flow % ports, addr = flow / ports;
		for (unsigned i = 0; i < want; i++) {
			to[i].sin_addr.s_addr = htonl(first_addr + (uint32_t)addr);
			to[i].sin_port = htons(first_port + port);
			if (++flow == flows) flow = port = addr = 0;
			else if (++port == ports) port = 0, addr++;
		}
		int n = sendmmsg(fd, msgs, want, 0);
		calls++;
		if (n < 0) {
			/* Nothing was sent: the same flows go first in the next batch. */
			if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) { retried++; continue; }
			fprintf(stderr, "flow-flood: sendmmsg: %s\n", strerror(errno));
			failed = 1;
			break;
		}
		sent += n;
		if ((unsigned)n < want) partial++;
		elapsed = now_s() - start;
		if (seconds > 0 && elapsed >= seconds) break;
		if (pps > 0) {
			double ahead = sent / pps - elapsed;
			if (ahead > 0) {
				struct timespec pause = {(time_t)ahead, (long)((ahead - (time_t)ahead) * 1e9)};
				nanosleep(&pause, NULL);
			}
		}
	}
	elapsed = now_s() - start;
	/* Per flow: base = sent / flows, and flows [0, sent % flows) got one more. */
	printf("{\"sent\":%llu,\"flows\":%llu,\"base\":%llu,\"extra\":%llu,\"dst\":\"%s\",\"addresses\":%llu,\"ports\":%llu,"
	       "\"firstPort\":%llu,\"srcPort\":%u,\"payload\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"calls\":%llu,\"partial\":%llu,"
	       "\"retried\":%llu}\n",
	       sent, flows, sent / flows, sent % flows, dst_text, addresses, ports, first_port, ntohs(src.sin_port), payload, elapsed,
	       elapsed > 0 ? sent / elapsed : 0, calls, partial, retried);
	return failed;
}
