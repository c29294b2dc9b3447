#!/usr/bin/python3
# py-latency.py: round trips of Rabc.Client.send_sync through PyGObject
#
# SPDX-License-Identifier: MIT
#
# Run by rabc-bench, which needs GI_TYPELIB_PATH and LD_LIBRARY_PATH to
# point at the build tree:
#
#   py-latency.py --socket PATH --serve
#       connects, prints {"ready": true}, then for each line "warmup N" or
#       "run N" on stdin makes N round trips and prints one JSON line,
#       {"iterations": N, "samples_ns": [...]} for "run"; ends at EOF.
#
#   py-latency.py --socket PATH --iterations N [--warmup W]
#       one run; prints its percentiles and samples as one JSON object.

import argparse
import json
import sys
import time

import gi

gi.require_version("Rabc", "1.0")
from gi.repository import Rabc  # noqa: E402


def round_trips(client, n):
    send = client.send_sync
    clock = time.perf_counter_ns
    samples = [0] * n
    for i in range(n):
        start = clock()
        reply = send("ping", None)
        samples[i] = clock() - start
        if reply != "pong":
            raise RuntimeError("unexpected reply %r" % (reply,))
    return samples


def percentile(sorted_samples, p):
    rank = max(1, min(len(sorted_samples), -(-len(sorted_samples) * p // 100)))
    return sorted_samples[int(rank) - 1] / 1000.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=1000)
    args = parser.parse_args()

    client = Rabc.Client.new_sync(args.socket, None)
    # As in the C cases: no automatic pings in the request stream.
    client.set_ping_interval(0)

    if not args.serve:
        round_trips(client, args.warmup)
        samples = round_trips(client, args.iterations)
        ordered = sorted(samples)
        json.dump({"iterations": len(samples),
                   "p50_us": percentile(ordered, 50),
                   "p99_us": percentile(ordered, 99),
                   "samples_ns": samples}, sys.stdout)
        sys.stdout.write("\n")
        client.close()
        return 0

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) != 2 or words[0] not in ("warmup", "run"):
            print(json.dumps({"error": "bad command %r" % line}), flush=True)
            return 1
        samples = round_trips(client, int(words[1]))
        if words[0] == "warmup":
            samples = []
        print(json.dumps({"iterations": int(words[1]), "samples_ns": samples}),
              flush=True)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
