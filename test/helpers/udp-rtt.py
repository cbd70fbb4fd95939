#!/usr/bin/env python3
"""UDP round trips, for measuring a delay line where ping is not installed.

  udp-rtt.py echo <address> <port>                    echoes every datagram back (until killed)
  udp-rtt.py probe <address> <port> <count> <gap-ms>  sends <count> datagrams one at a time,
      each after the previous answer plus <gap-ms>, and prints {"rttMs": [...], "lost": n}

Times are CLOCK_MONOTONIC around sendto/recvfrom: the figure includes both
hosts' stacks and the scheduling of this process, as ping's does.
"""
import json
import socket
import sys
import time


def echo(address: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((address, port))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(2048)
        sock.sendto(data, peer)


def probe(address: str, port: int, count: int, gap_ms: float) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.connect((address, port))
    sock.settimeout(2.0)
    rtts, lost = [], 0
    for seq in range(count):
        payload = seq.to_bytes(4, "big") + bytes(60)
        start = time.monotonic_ns()
        sock.send(payload)
        try:
            while True:
                data = sock.recv(2048)
                if data[:4] == payload[:4]:
                    break
            rtts.append((time.monotonic_ns() - start) / 1e6)
        except socket.timeout:
            lost += 1
        time.sleep(gap_ms / 1000)
    print(json.dumps({"rttMs": rtts, "lost": lost}), flush=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "echo" and len(sys.argv) == 4:
        echo(sys.argv[2], int(sys.argv[3]))
    elif mode == "probe" and len(sys.argv) == 6:
        probe(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(__doc__)
