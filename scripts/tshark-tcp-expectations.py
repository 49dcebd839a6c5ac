#!/usr/bin/env python3
"""Write what tshark finds as TCP in every tcpdump test capture.

For each capture in CAPTURES (default ../shared/captures/tcpdump-tests,
relative to the module root) this runs

    tshark -r FILE -T fields -e frame.protocols -e ip.src -e ip.dst
           -e ipv6.src -e ipv6.dst -e tcp.srcport -e tcp.dstport -E occurrence=a

and keeps every frame whose innermost transport is TCP: the last "tcp" in
frame.protocols, not inside an ICMP/ICMPv6 error (those quote a header of
a segment that travelled elsewhere). The TCP segment's addresses are those
of the IP header nearest before that "tcp" (the innermost one of its
family), so a segment in a tunnel is named by its inner addresses.

Output (stdout; committed as decode/testdata/tshark-tcp.txt): one line per capture
with TCP, then one indented line per connection, endpoints sorted:

    FILE SEGMENTS
        A:PORT B:PORT SEGMENTS

decode/tshark_test.go reads it and requires socktrace to find the same
endpoint pairs with the same segment counts (or lists why not).
"""
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

FIELDS = ["frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport"]


def endpoint(addr, port):
    if ":" in addr:
        return "[%s]:%s" % (addr, port)
    return "%s:%s" % (addr, port)


def segments(path):
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "separator=\t"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, errors="replace").stdout
    pairs = Counter()
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) < 7:
            continue
        protos = cols[0].split(":")
        if "tcp" not in protos:
            continue
        t = len(protos) - 1 - protos[::-1].index("tcp")
        if any(p in ("icmp", "icmpv6") for p in protos[:t]):
            continue
        # Which IP headers come before that tcp, and how many of each family.
        ips = [p for p in protos[:t] if p in ("ip", "ipv6")]
        if not ips:
            continue
        fam = ips[-1]
        n = ips.count(fam)
        src = (cols[1] if fam == "ip" else cols[3]).split(",")
        dst = (cols[2] if fam == "ip" else cols[4]).split(",")
        sport = cols[5].split(",")
        dport = cols[6].split(",")
        # The tcp in question is the last one; its IP header is the n-th of its family.
        if len(src) < n or len(dst) < n or not sport[-1] or not dport[-1]:
            continue
        a = endpoint(src[n - 1], sport[-1])
        b = endpoint(dst[n - 1], dport[-1])
        pairs[" ".join(sorted((a, b)))] += 1
    return pairs


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    captures = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "captures", "tcpdump-tests")
    names = sorted(n for n in os.listdir(captures) if n.endswith((".pcap", ".pcapng")))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda n: segments(os.path.join(captures, n)), names))
    for name, pairs in zip(names, results):
        if not pairs:
            continue
        print("%s %d" % (name, sum(pairs.values())))
        for key in sorted(pairs):
            print("    %s %d" % (key, pairs[key]))


if __name__ == "__main__":
    main()
