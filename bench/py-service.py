#!/usr/bin/python3
# py-service.py: a Rabc.Server whose handle-request handler, in Python
# through PyGObject, answers every message at once with "pong"
#
# SPDX-License-Identifier: MIT
#
# Run by rabc-bench, which needs GI_TYPELIB_PATH and LD_LIBRARY_PATH to
# point at the build tree:
#
#   py-service.py --socket PATH
#       serves PATH until SIGTERM or SIGINT, then stops the server (which
#       removes the socket file) and exits 0.

import argparse
import resource
import signal
import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Rabc", "1.0")
from gi.repository import GLib, Rabc  # noqa: E402

# Every connection of the benchmark is one user's.
MAX_CLIENTS = 20000


def on_handle_request(server, request):
    request.reply("pong")
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    loop = GLib.MainLoop()

    def on_signal():
        loop.quit()
        return GLib.SOURCE_CONTINUE

    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, on_signal)

    server = Rabc.Server(socket_path=args.socket, reply="pong",
                         max_clients=MAX_CLIENTS, max_clients_per_uid=MAX_CLIENTS)
    server.connect("handle-request", on_handle_request)
    try:
        server.start()
    except GLib.Error as error:
        print("py-service.py: %s" % error.message, file=sys.stderr)
        return 1

    loop.run()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
