#!/usr/bin/python3
# server.py: a rabc daemon in a few lines of Python
#
# Rabc.Server does the work: it listens on the Unix socket and answers
# every message with its reply text on the GLib main loop.  This program
# only adds options and a clean stop on SIGINT or SIGTERM, which removes
# the socket file.
#
#   ./server.py --socket /tmp/librabc --reply pong
#
# SPDX-License-Identifier: MIT

import argparse
import signal
import sys

import gi

gi.require_version('GLib', '2.0')
gi.require_version('Rabc', '1.0')
from gi.repository import GLib, Rabc  # noqa: E402

PROGRAM = 'server.py'


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description='Listen on a Unix socket and answer every message.')
    parser.add_argument('--socket', metavar='PATH',
                        help='the socket to listen on (default: $RABC_SOCKET_PATH, '
                             f'or {Rabc.DEFAULT_SOCKET_PATH})')
    parser.add_argument('--reply', metavar='TEXT', default='pong',
                        help='the answer to every message (default: pong)')
    parser.add_argument('--verbose', action='store_true',
                        help='print clients that come and go')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    server = Rabc.Server.new(args.socket)
    server.props.reply = args.reply
    if args.verbose:
        server.connect('client-connected',
                       lambda server, peer: print(f'client connected (pid {peer.props.pid}, '
                                                  f'uid {peer.props.uid}), '
                                                  f'{server.props.n_clients} now', flush=True))
        server.connect('client-disconnected',
                       lambda server, peer: print(f'client gone (pid {peer.props.pid}), '
                                                  f'{server.props.n_clients} left', flush=True))

    loop = GLib.MainLoop()

    def on_signal():
        loop.quit()
        return GLib.SOURCE_CONTINUE

    # Before listening: a client may connect, and a supervisor may send
    # SIGTERM, as soon as the socket exists.
    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, on_signal)

    try:
        server.start()
    except GLib.Error as error:
        print(f'{PROGRAM}: {error.message}', file=sys.stderr)
        return 1

    print(f'listening on {server.props.socket_path}', flush=True)
    loop.run()
    server.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
