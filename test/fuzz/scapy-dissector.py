#!/usr/bin/env python3
"""A second reference for the parser fuzz, to check the first
(test/fuzz/reference-dissector.ts) on a sample: the same contract, written
again in another language, with every field position, header length and
"could this field be read" answered by scapy's layer classes.

Reads one frame per line (hex) on stdin and writes one JSON object per line
with the fields the TypeScript reference returns. The contract's choices
and limits are those the TS reference's header comment states:
- dispatch by EtherType / next header, whatever the version nibble;
- length fields (IPv4 total length, IPv6 payload length) never end a
  header: only the frame does;
- a header fits when scapy reads every field the flow takes from it (FIELDS)
  out of the frame's real bytes; then its extent (where the next header
  starts) is what scapy consumes of it, the frame padded with zeros;
- at most 2 VLAN tags, 6 IPv6 extension headers, and an extension chain
  of at most 1024 bytes.

Where scapy's classes do not follow the RFC, the RFC wins, said here:
- IPv6ExtHdrRouting parses type 0 addresses whatever the routing type and
  fails on an odd length: the generic layout (RFC 8200 4.4: next header,
  length in 8-octet units not counting the first 8) is used instead;
- MIP6MH_Generic takes 8 * len bytes, RFC 6275 6.1.1 says (len + 1) * 8:
  the generic layout again;
- AH with payload length 0 gives scapy a negative ICV length: RFC 4302 2.2,
  (len + 2) * 4 bytes.
"""
import json
import logging
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    ICMPv6Unknown, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH  # noqa: E402
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.layers.sctp import SCTP  # noqa: E402
from scapy.utils import inet_pton  # noqa: E402
import socket  # noqa: E402

MAX_VLAN_TAGS = 2
MAX_IPV6_EXT_HEADERS = 6
MAX_HEADER_OFFSET = 1024
FRAGMENT, TRUNCATED = 1, 2

# The fields the flow takes from each header: what it records, and what finds the next header.
FIELDS = {
    Ether: ("dst", "src", "type"),
    Dot1Q: ("vlan", "type"),
    Dot1AD: ("vlan", "type"),
    IP: ("ihl", "tos", "frag", "proto", "src", "dst"),
    IPv6: ("tc", "nh", "src", "dst"),
    IPv6ExtHdrHopByHop: ("nh", "len"),
    IPv6ExtHdrRouting: ("nh", "len"),
    IPv6ExtHdrDestOpt: ("nh", "len"),
    IPv6ExtHdrFragment: ("nh", "offset"),
    AH: ("nh", "payloadlen"),
    TCP: ("sport", "dport", "flags"),
    UDP: ("sport", "dport"),
    SCTP: ("sport", "dport"),
    ICMP: ("type", "code"),
    ICMPv6Unknown: ("type", "code"),
}
TAGS = {0x8100: Dot1Q, 0x88A8: Dot1AD}
EXTENSIONS = {0: IPv6ExtHdrHopByHop, 43: IPv6ExtHdrRouting, 44: IPv6ExtHdrFragment, 51: AH, 60: IPv6ExtHdrDestOpt,
              135: IPv6ExtHdrDestOpt}  # mobility: the generic layout, see above
# UDP-Lite (RFC 3828) has UDP's ports; scapy has no class of its own.
TRANSPORTS = {6: TCP, 17: UDP, 136: UDP, 132: SCTP, 1: ICMP, 58: ICMPv6Unknown}


def read(cls, frame, at):
    """The fields scapy reads of a `cls` header at `at` from the real bytes, or None if one the flow takes is missing."""
    layer = cls()
    try:
        layer.do_dissect(frame[at:])
    except Exception:  # a field cut in the middle: scapy stops with what it read
        pass
    if any(name not in layer.fields for name in FIELDS[cls]):
        return None
    return layer.fields


def extent(cls, frame, at):
    """Bytes scapy consumes of a `cls` header at `at`: where the next header starts."""
    data = frame[at:] + bytes(4096)
    try:
        return len(data) - len(cls().do_dissect(data))
    except Exception:
        if cls is IPv6ExtHdrRouting:
            return extent(IPv6ExtHdrDestOpt, frame, at)
        raise


def dissect(frame):
    out = {"ethType": 0, "protocol": 0, "srcAddr": bytes(16), "dstAddr": bytes(16), "srcPort": 0, "dstPort": 0,
           "tcpFlags": 0, "flags": 0, "dscp": 0, "icmpType": 0, "icmpCode": 0, "l2HeaderLen": 0, "vlanId": 0}
    eth = read(Ether, frame, 0)
    out["dstMac"], out["srcMac"] = frame[0:6], frame[6:12]
    kind, at = eth["type"], 14
    for tag in range(MAX_VLAN_TAGS):
        if kind not in TAGS:
            break
        cls = TAGS[kind]
        fields = read(cls, frame, at)
        if fields is None:
            out["ethType"] = kind
            out["flags"] |= TRUNCATED
            return out
        if tag == 0:
            out["vlanId"] = fields["vlan"]
        kind = fields["type"]
        at += extent(cls, frame, at)
    out["ethType"], out["l2HeaderLen"] = kind, at

    if kind == 0x0800:
        ip = read(IP, frame, at)
        if ip is None or ip["ihl"] < 5:
            out["flags"] |= TRUNCATED
            return out
        out["dscp"], out["protocol"] = ip["tos"] >> 2, ip["proto"]
        out["srcAddr"] = bytes(10) + b"\xff\xff" + inet_pton(socket.AF_INET, ip["src"])
        out["dstAddr"] = bytes(10) + b"\xff\xff" + inet_pton(socket.AF_INET, ip["dst"])
        if ip["frag"] != 0:
            out["flags"] |= FRAGMENT
            return out
        l4 = at + extent(IP, frame, at)
    elif kind == 0x86DD:
        ip = read(IPv6, frame, at)
        if ip is None:
            out["flags"] |= TRUNCATED
            return out
        out["dscp"] = ip["tc"] >> 2
        out["srcAddr"] = inet_pton(socket.AF_INET6, ip["src"])
        out["dstAddr"] = inet_pton(socket.AF_INET6, ip["dst"])
        nh, start = ip["nh"], at + extent(IPv6, frame, at)
        offset = start
        for _ in range(MAX_IPV6_EXT_HEADERS):
            if nh not in EXTENSIONS:
                break
            cls = EXTENSIONS[nh]
            ext = read(cls, frame, offset)
            if ext is None:
                out["protocol"] = nh
                out["flags"] |= TRUNCATED
                return out
            if cls is IPv6ExtHdrFragment and ext["offset"] != 0:
                out["protocol"] = ext["nh"]
                out["flags"] |= FRAGMENT
                return out
            if cls is AH and ext["payloadlen"] == 0:
                offset += 8
            else:
                offset += extent(cls, frame, offset)
            nh = ext["nh"]
            if offset - start > MAX_HEADER_OFFSET:
                out["protocol"] = nh
                out["flags"] |= TRUNCATED
                return out
        out["protocol"], l4 = nh, offset
    else:
        return out

    cls = TRANSPORTS.get(out["protocol"])
    if cls is None:
        return out
    l4fields = read(cls, frame, l4) if l4 <= len(frame) else None
    if l4fields is None:
        out["flags"] |= TRUNCATED
        return out
    if cls in (ICMP, ICMPv6Unknown):
        out["icmpType"], out["icmpCode"] = l4fields["type"], l4fields["code"]
    else:
        out["srcPort"], out["dstPort"] = l4fields["sport"], l4fields["dport"]
        if cls is TCP:
            out["tcpFlags"] = int(l4fields["flags"])  # 9 bits: FIN ... CWR, NS (scapy's "N")
    return out


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        fields = dissect(bytes.fromhex(line))
        print(json.dumps({k: (v.hex() if isinstance(v, bytes) else v) for k, v in fields.items()}), flush=False)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
