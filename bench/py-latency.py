#!/usr/bin/python3
# py-latency.py: round trips of Rabc.Client.send_sync through PyGObject,
# or of Gio.DBusConnection.call_sync to rabc-bench's GDBus server (--gdbus)
#
# SPDX-License-Identifier: MIT
#
# Run by rabc-bench, which needs GI_TYPELIB_PATH and LD_LIBRARY_PATH to
# point at the build tree:
#
#   py-latency.py --socket PATH --serve
#       connects, prints {"ready": true}, then for each line "warmup N" or
#       "run N", optionally followed by a request size in bytes (default 4),
#       on stdin makes N round trips and prints one JSON line,
#       {"iterations": N, "samples_ns": [...]} for "run"; ends at EOF.
#
#   py-latency.py --socket PATH --iterations N [--warmup W] [--size S]
#       one run; prints its percentiles and samples as one JSON object.
#
# The request of S bytes is "ping" followed by "x" up to S; the reply is
# "pong".

import argparse
import json
import sys
import time

import gi

from gi.repository import Gio, GLib  # noqa: E402

GDBUS_PATH = "/org/librabc/Bench"
GDBUS_INTERFACE = "org.librabc.Bench"


def request(size):
    return "ping" + "x" * (size - 4)


class RabcPeer:
    def __init__(self, path):
        gi.require_version("Rabc", "1.0")
        from gi.repository import Rabc
        self.client = Rabc.Client.new_sync(path, None)
        # As in the C cases: no automatic pings in the request stream.
        self.client.set_ping_interval(0)

    def round_trips(self, n, size):
        send = self.client.send_sync
        message = request(size)
        clock = time.perf_counter_ns
        samples = [0] * n
        for i in range(n):
            start = clock()
            reply = send(message, None)
            samples[i] = clock() - start
            if reply != "pong":
                raise RuntimeError("unexpected reply %r" % (reply,))
        return samples

    def close(self):
        self.client.close()


class GdbusPeer:
    def __init__(self, path):
        address = "unix:path=" + Gio.dbus_address_escape_value(path)
        self.connection = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT, None, None)

    def round_trips(self, n, size):
        call = self.connection.call_sync
        parameters = GLib.Variant("(s)", (request(size),))
        reply_type = GLib.VariantType.new("(s)")
        flags = Gio.DBusCallFlags.NONE
        clock = time.perf_counter_ns
        samples = [0] * n
        for i in range(n):
            start = clock()
            reply = call(None, GDBUS_PATH, GDBUS_INTERFACE, "Ping", parameters,
                         reply_type, flags, -1, None)
            samples[i] = clock() - start
            if reply.unpack()[0] != "pong":
                raise RuntimeError("unexpected reply %r" % (reply,))
        return samples

    def close(self):
        self.connection.close_sync(None)


def percentile(sorted_samples, p):
    rank = max(1, min(len(sorted_samples), -(-len(sorted_samples) * p // 100)))
    return sorted_samples[int(rank) - 1] / 1000.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--gdbus", action="store_true",
                        help="call Ping on rabc-bench's GDBus server instead")
    args = parser.parse_args()

    client = GdbusPeer(args.socket) if args.gdbus else RabcPeer(args.socket)

    if not args.serve:
        client.round_trips(args.warmup, args.size)
        samples = client.round_trips(args.iterations, args.size)
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
        if len(words) not in (2, 3) or words[0] not in ("warmup", "run"):
            print(json.dumps({"error": "bad command %r" % line}), flush=True)
            return 1
        size = int(words[2]) if len(words) == 3 else 4
        samples = client.round_trips(int(words[1]), size)
        if words[0] == "warmup":
            samples = []
        print(json.dumps({"iterations": int(words[1]), "samples_ns": samples}),
              flush=True)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
