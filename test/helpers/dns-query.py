#!/usr/bin/env python3
"""dns-query.py SERVER NAME ID: one DNS query over UDP (A, IN, RD), timed from
just before sendto to just after recvfrom with the precise monotonic clock
(dig's Query time moves in steps of the kernel tick). Prints JSON:
{"id": ID, "rcode": n, "ms": elapsed}."""
import json, socket, struct, sys, time

server, name, qid = sys.argv[1], sys.argv[2], int(sys.argv[3])
question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
message = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((server, 53))
start = time.perf_counter_ns()
s.send(message)
reply = s.recv(4096)
elapsed = time.perf_counter_ns() - start
rid, flags = struct.unpack("!HH", reply[:4])
assert rid == qid, (rid, qid)
print(json.dumps({"id": rid, "rcode": flags & 0xF, "ms": elapsed / 1e6}))
