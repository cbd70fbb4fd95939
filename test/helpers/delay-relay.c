// SPDX-License-Identifier: MIT
/*
 * delay-relay: a fixed-delay line between two interfaces, for tests.
 *
 * Usage: delay-relay <if-a> <if-b> <one-way-delay-us>
 *
 * Algorithm: one thread per direction. Each reads every frame that arrives at
 * its input interface from an AF_PACKET socket, stamps it with the time the
 * kernel received it (SO_TIMESTAMPNS, moved onto CLOCK_MONOTONIC), appends it
 * to a FIFO, and writes each queued frame out on the other interface once
 * CLOCK_MONOTONIC reaches arrival + delay. Since every frame waits the same
 * delay the FIFO is ordered by deadline; the thread sleeps in ppoll() until
 * the head's deadline or the next arrival, whichever is first, so the hold is
 * computed from absolute times and never drifts with per-packet sleeps.
 *
 * Both sockets use PACKET_VNET_HDR: a frame is read with the virtio-net header
 * that describes its GSO and checksum-offload state (a TSO skb from a veth is
 * one 64 KB frame with a partial checksum) and written out with the same
 * header, so the kernel segments and checksums it as it would have. Without
 * it a partial checksum would reach the far end unfinished and be dropped.
 * PACKET_IGNORE_OUTGOING keeps each socket from reading the frames the other
 * direction writes on its interface.
 *
 * The threads ask for SCHED_FIFO (priority 10, under the kernel's RT throttling)
 * so a loaded machine does not make frames leave late; without the privilege
 * they run as ordinary threads and the report says "realtime":false.
 *
 * Prints "ready" once both sockets are bound; a JSON line of counters on
 * SIGUSR1; a last JSON line on SIGTERM or SIGINT, then exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Largest frame read: a GSO skb is at most 64 KB of payload plus headers (no BIG TCP on these veths). */
#define FRAME_MAX (256 * 1024)
/* Frames held at most per direction, in bytes: beyond it the relay drops and counts (never reached at test rates). */
#define QUEUE_BYTES_MAX (256L * 1024 * 1024)
#define SOCKET_BUFFER (64 * 1024 * 1024)
/* Frames read per wakeup before due frames are written again, so a flood cannot delay departures. */
#define READ_BURST 8

struct frame {
	struct frame *next;
	int64_t due_ns;
	int64_t arrived_ns;
	size_t len;
	unsigned char data[];
};

struct direction {
	const char *name;
	int in_fd, out_fd;
	int64_t delay_ns;
	struct frame *head, *tail;
	int64_t queued_bytes;
	/* Counters: written by the direction's thread only, read by the main thread for a report. */
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, tx_errors, queue_drops, truncated;
	int64_t max_queued_bytes, late_max_ns, late_sum_ns, hold_min_ns, hold_max_ns;
	uint64_t late_over_1ms;
	int last_tx_errno;
};

static int stop_fd;
static int realtime = 1;

static int64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "delay-relay: %s %s: %s\n", what, detail, strerror(errno));
	exit(1);
}

static int open_socket(const char *ifname)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		die("socket for", ifname);
	int one = 1, size = SOCKET_BUFFER;
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		die("PACKET_VNET_HDR on", ifname);
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
		die("PACKET_IGNORE_OUTGOING on", ifname);
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
		die("SO_TIMESTAMPNS on", ifname);
	/* FORCE variants ignore rmem_max/wmem_max (we run as root); fall back to what the limits allow. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	unsigned ifindex = if_nametoindex(ifname);
	if (ifindex == 0)
		die("no interface", ifname);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex };
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("bind to", ifname);
	/* Frames for the far end's MAC are PACKET_OTHERHOST here; promiscuous mode makes sure none is filtered. */
	struct packet_mreq mr = { .mr_ifindex = (int)ifindex, .mr_type = PACKET_MR_PROMISC };
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		die("promiscuous mode on", ifname);
	return fd;
}

/* Writes every frame due by now; returns the nanoseconds until the next one is due, or -1 if none waits. */
static int64_t send_due(struct direction *d)
{
	for (;;) {
		struct frame *f = d->head;
		if (!f)
			return -1;
		int64_t now = now_ns(CLOCK_MONOTONIC);
		if (f->due_ns > now)
			return f->due_ns - now;
		ssize_t n = send(d->out_fd, f->data, f->len, 0);
		if (n < 0) {
			d->tx_errors++;
			d->last_tx_errno = errno;
		} else {
			d->tx_frames++;
			d->tx_bytes += f->len - sizeof(struct virtio_net_hdr);
		}
		int64_t late = now - f->due_ns, hold = now - f->arrived_ns;
		d->late_sum_ns += late;
		if (late > d->late_max_ns)
			d->late_max_ns = late;
		if (late > 1000000)
			d->late_over_1ms++;
		if (d->hold_min_ns == 0 || hold < d->hold_min_ns)
			d->hold_min_ns = hold;
		if (hold > d->hold_max_ns)
			d->hold_max_ns = hold;
		d->head = f->next;
		if (!d->head)
			d->tail = NULL;
		d->queued_bytes -= (int64_t)f->len;
		free(f);
	}
}

/* Reads up to READ_BURST frames without blocking and queues them. */
static void receive_some(struct direction *d, unsigned char *buf)
{
	for (int i = 0; i < READ_BURST; i++) {
		char control[CMSG_SPACE(sizeof(struct timespec))];
		struct iovec iov = { .iov_base = buf, .iov_len = FRAME_MAX };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
		ssize_t n = recvmsg(d->in_fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0)
			return;
		int64_t mono = now_ns(CLOCK_MONOTONIC), arrived = mono;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
				struct timespec ts;
				memcpy(&ts, CMSG_DATA(c), sizeof(ts));
				/* The kernel stamps CLOCK_REALTIME; its age now is the same on CLOCK_MONOTONIC. */
				int64_t age = now_ns(CLOCK_REALTIME) - ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
				if (age > 0 && age < 1000000000)
					arrived = mono - age;
			}
		}
		if ((size_t)n > FRAME_MAX || (msg.msg_flags & MSG_TRUNC)) {
			d->truncated++;
			continue;
		}
		d->rx_frames++;
		d->rx_bytes += (size_t)n - sizeof(struct virtio_net_hdr);
		if (d->queued_bytes + n > QUEUE_BYTES_MAX) {
			d->queue_drops++;
			continue;
		}
		struct frame *f = malloc(sizeof(*f) + (size_t)n);
		if (!f) {
			d->queue_drops++;
			continue;
		}
		f->next = NULL;
		f->arrived_ns = arrived;
		f->due_ns = arrived + d->delay_ns;
		f->len = (size_t)n;
		memcpy(f->data, buf, (size_t)n);
		if (d->tail)
			d->tail->next = f;
		else
			d->head = f;
		d->tail = f;
		d->queued_bytes += n;
		if (d->queued_bytes > d->max_queued_bytes)
			d->max_queued_bytes = d->queued_bytes;
	}
}

static void *run_direction(void *arg)
{
	struct direction *d = arg;
	unsigned char *buf = malloc(FRAME_MAX);
	if (!buf)
		die("allocating a frame buffer for", d->name);
	/* Timer slack would add up to 50 us to every wakeup: the hold is the whole point here. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	struct sched_param param = { .sched_priority = 10 };
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) != 0)
		realtime = 0;
	for (;;) {
		int64_t wait = send_due(d);
		struct pollfd fds[2] = { { .fd = d->in_fd, .events = POLLIN }, { .fd = stop_fd, .events = POLLIN } };
		struct timespec timeout = { .tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000 };
		int r = ppoll(fds, 2, wait < 0 ? NULL : &timeout, NULL);
		if (r < 0 && errno != EINTR)
			die("ppoll on", d->name);
		if (fds[1].revents)
			break;
		if (r > 0 && (fds[0].revents & POLLIN))
			receive_some(d, buf);
	}
	free(buf);
	return NULL;
}

static void report(struct direction *dirs, int n, const char *event)
{
	printf("{\"event\":\"%s\",\"realtime\":%s,\"directions\":[", event, realtime ? "true" : "false");
	for (int i = 0; i < n; i++) {
		struct direction *d = &dirs[i];
		struct tpacket_stats st = { 0 };
		socklen_t len = sizeof(st);
		/* PACKET_STATISTICS reads and resets: frames the kernel dropped because our socket buffer was full. */
		getsockopt(d->in_fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
		uint64_t sent = d->tx_frames ? d->tx_frames : 1;
		printf("%s{\"name\":\"%s\",\"rxFrames\":%lu,\"rxBytes\":%lu,\"txFrames\":%lu,\"txBytes\":%lu,"
		       "\"txErrors\":%lu,\"lastTxErrno\":%d,\"queueDrops\":%lu,\"truncated\":%lu,\"socketDrops\":%u,"
		       "\"maxQueuedBytes\":%ld,\"lateMaxUs\":%.1f,\"lateMeanUs\":%.1f,\"lateOver1ms\":%lu,"
		       "\"holdMinUs\":%.1f,\"holdMaxUs\":%.1f}",
		       i ? "," : "", d->name, d->rx_frames, d->rx_bytes, d->tx_frames, d->tx_bytes, d->tx_errors,
		       d->last_tx_errno, d->queue_drops, d->truncated, st.tp_drops, d->max_queued_bytes,
		       d->late_max_ns / 1e3, (double)d->late_sum_ns / (double)sent / 1e3, d->late_over_1ms,
		       d->hold_min_ns / 1e3, d->hold_max_ns / 1e3);
	}
	printf("]}\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: delay-relay <if-a> <if-b> <one-way-delay-us>\n");
		return 2;
	}
	char *end;
	long delay_us = strtol(argv[3], &end, 10);
	if (*end || delay_us < 0 || delay_us > 10000000) {
		fprintf(stderr, "delay-relay: delay %s us must be >= 0 and <= 10000000\n", argv[3]);
		return 2;
	}
	/* Signals are taken by sigwait in this thread only. */
	sigset_t signals;
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGUSR1);
	sigaddset(&signals, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);

	stop_fd = eventfd(0, EFD_CLOEXEC);
	int fd_a = open_socket(argv[1]), fd_b = open_socket(argv[2]);
	struct direction dirs[2] = {
		{ .name = argv[1], .in_fd = fd_a, .out_fd = fd_b, .delay_ns = delay_us * 1000 },
		{ .name = argv[2], .in_fd = fd_b, .out_fd = fd_a, .delay_ns = delay_us * 1000 },
	};
	pthread_t threads[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&threads[i], NULL, run_direction, &dirs[i]) != 0)
			die("starting the thread for", dirs[i].name);
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		int sig = 0;
		sigwait(&signals, &sig);
		if (sig == SIGUSR1) {
			report(dirs, 2, "stats");
			continue;
		}
		if (sig == SIGPIPE)
			continue;
		break;
	}
	uint64_t one = 1;
	if (write(stop_fd, &one, sizeof(one)) < 0)
		die("stopping", "threads");
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	report(dirs, 2, "exit");
	return 0;
}
