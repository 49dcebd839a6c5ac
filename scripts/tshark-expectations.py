#!/usr/bin/env python3
"""Record tshark's per-stream TCP facts for every capture in a directory.

Usage: scripts/tshark-expectations.py [DIR] > testdata/tshark/tcpdump-tests.jsonl

DIR defaults to ../shared/captures/tcpdump-tests. For each capture tshark
dissects (tshark -r FILE -Y tcp -T fields), one JSON line is written:

  {"file": NAME, "tshark": VERSION, "streams": [STREAM, ...]}

STREAM holds tshark's own facts about one tcp.stream:
  a, b          the endpoints ("ip:port", "[v6]:port"), a = the first packet's source
  packets       segments tshark put in the stream
  irtt_us       tcp.analysis.initial_rtt in microseconds, or null
  completeness  tcp.completeness at the stream's last segment (1 SYN, 2 SYN-ACK,
                4 ACK, 8 data, 16 FIN, 32 RST)
  syn_from      "a" or "b": the sender of the first SYN without ACK, or null
  first_fin     "a", "b" or null; first_rst likewise
  seen_ab, seen_ba   payload bytes each way counted once by sequence-space coverage
                of the segments tshark dissected (seq_raw, len; a RST's data does not
                count, a SYN's data starts at seq+1)
  acked_ab, acked_ba the same, plus the bytes the receiver's ACKs cover (ack_raw)
                up to the sender's FIN: what the receiver is known to have got

The Go test TestTsharkDifferential (captures_tshark_test.go) replays every
capture through socktrace and compares with these facts; it lists where
and why the two disagree. The file is made once with the tshark installed
here and committed; rerun this script only when the captures change.
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

FIELDS = ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
          "frame.time_epoch", "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.flags",
          "tcp.analysis.initial_rtt", "tcp.completeness", "frame.protocols"]

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def last(v):
    # Tunnelled packets list every layer's value; the innermost is last.
    return v.split(",")[-1] if v else ""


def carrier(protocols):
    """Which IP layer carries the TCP segment, as ("ip"|"ipv6", k): the last
    IP layer before the first "tcp" in the frame's protocol list, and how
    many layers of its kind come before it. tshark lists a field's values
    layer by layer, so value k of ip.src (or ipv6.src) is that layer's.
    Taking the last value instead would be wrong both ways: IPv6 inside an
    IPv4 tunnel sets ip.src to the outer address only, and a segment whose
    payload quotes a packet (an OpenFlow packet-in) lists the quoted
    packet's addresses after its own."""
    layers = protocols.split(":")
    if "tcp" in layers:
        layers = layers[:layers.index("tcp")]
    for i in range(len(layers) - 1, -1, -1):
        if layers[i] in ("ip", "ipv6"):
            return layers[i], layers[:i].count(layers[i])
    return None, 0


def nth(v, k):
    vals = v.split(",") if v else []
    return vals[k] if k < len(vals) else last(v)


def endpoint(ip4, ip6, port, protocols):
    kind, k = carrier(protocols)
    port = last(port)
    if kind == "ipv6" or (kind is None and ip6 and not ip4):
        return "[%s]:%s" % (nth(ip6, k), port)
    return "%s:%s" % (nth(ip4, k) or last(ip6), port)


class Coverage:
    """Payload bytes of one direction, each counted once (unwrapped 64-bit)."""

    def __init__(self):
        self.ref = None
        self.spans = []
        self.fin = None
        self.max_ack = None
        self.first = None

    def unwrap(self, seq):
        if self.ref is None:
            self.ref = seq + (1 << 32)
            return self.ref
        d = (seq - self.ref) & 0xFFFFFFFF
        if d >= 1 << 31:
            d -= 1 << 32
        x = self.ref + d
        if x > self.ref:
            self.ref = x
        return x

    def add(self, start, n):
        x = self.unwrap(start)
        if self.first is None:
            self.first = x
        if n > 0:
            self.spans.append((x, x + n))

    def ack(self, a):
        x = self.unwrap(a)
        if self.first is None:
            self.first = x
        if self.max_ack is None or x > self.max_ack:
            self.max_ack = x

    def total(self, with_acks):
        spans = list(self.spans)
        if with_acks and self.max_ack is not None and self.first is not None:
            end = self.max_ack
            if self.fin is not None and end > self.fin:
                end = self.fin
            if end > self.first:
                spans.append((self.first, end))
        spans.sort()
        total, cur_s, cur_e = 0, None, None
        for s, e in spans:
            if cur_e is None or s > cur_e:
                if cur_e is not None:
                    total += cur_e - cur_s
                cur_s, cur_e = s, e
            elif e > cur_e:
                cur_e = e
        if cur_e is not None:
            total += cur_e - cur_s
        return total


def streams_of(path):
    cmd = ["tshark", "-n", "-r", path, "-Y", "tcp", "-T", "fields", "-E", "separator=|"]
    for f in FIELDS:
        cmd += ["-e", f]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    except subprocess.TimeoutExpired:
        return None
    streams = {}
    order = []
    for line in out.splitlines():
        v = line.split("|")
        if len(v) != len(FIELDS) or not v[0]:
            continue
        sid = int(last(v[0]))
        src = endpoint(v[1], v[2], v[3], v[14])
        dst = endpoint(v[4], v[5], v[6], v[14])
        try:
            seq, ack, n = int(last(v[8]) or 0), int(last(v[9]) or 0), int(last(v[10]) or 0)
            flags = int(last(v[11]) or "0", 16)
        except ValueError:
            continue
        st = streams.get(sid)
        if st is None:
            st = {"a": src, "b": dst, "packets": 0, "irtt_us": None, "completeness": 0,
                  "syn_from": None, "first_fin": None, "first_rst": None,
                  "cov": {"ab": Coverage(), "ba": Coverage()}}
            streams[sid] = st
            order.append(sid)
        d = "a" if src == st["a"] else "b"
        way, back = ("ab", "ba") if d == "a" else ("ba", "ab")
        st["packets"] += 1
        if last(v[12]):
            st["irtt_us"] = round(float(last(v[12])) * 1e6, 3)
        if last(v[13]):
            st["completeness"] = int(last(v[13]))
        if flags & SYN and not flags & ACK and st["syn_from"] is None:
            st["syn_from"] = d
        if flags & FIN and st["first_fin"] is None:
            st["first_fin"] = d
        if flags & RST and st["first_rst"] is None:
            st["first_rst"] = d
        cov = st["cov"][way]
        start = seq + 1 if flags & SYN else seq
        cov.add(start, 0 if flags & RST else n)
        if flags & FIN and cov.fin is None:
            cov.fin = cov.unwrap(start + n)
        if flags & ACK and not flags & RST:
            st["cov"][back].ack(ack)
    result = []
    for sid in order:
        st = streams[sid]
        cov = st.pop("cov")
        st["seen_ab"], st["seen_ba"] = cov["ab"].total(False), cov["ba"].total(False)
        st["acked_ab"], st["acked_ba"] = cov["ab"].total(True), cov["ba"].total(True)
        result.append(st)
    return result


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "shared", "captures", "tcpdump-tests")
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    names = sorted(n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, streams in zip(names, pool.map(lambda n: streams_of(os.path.join(d, n)), names)):
            if not streams:
                continue
            print(json.dumps({"file": name, "tshark": version, "streams": streams}, sort_keys=True))


if __name__ == "__main__":
    main()
