#!/usr/bin/python3
# client.py: connect to rabcd and print the replies to automatic pings
#
# The original Python client, which went through a hand-written ctypes
# wrapper, re-done with the Rabc typelib: the client pings the daemon on
# the GLib main loop and emits a signal for every reply.  The with block
# closes the client however the loop ends; a failure is a Rabc.RabcError.
# asyncio-client.py is the same client with asyncio, async and await.
#
#   ./client.py --socket /tmp/librabc --count 10 --interval 2000
#
# Exits 0 after --count replies, 1 when the daemon cannot be reached or the
# connection ends early.
#
# SPDX-License-Identifier: MIT

import argparse
import sys

import gi

gi.require_version('GLib', '2.0')
gi.require_version('Rabc', '1.0')
from gi.repository import GLib, Rabc  # noqa: E402

PROGRAM = 'client.py'


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'{text} is not a positive number')
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description='Connect to rabcd, send "ping" every INTERVAL milliseconds '
                    'and print each reply.')
    parser.add_argument('--socket', metavar='PATH',
                        help='the daemon\'s socket (default: $RABC_SOCKET_PATH, '
                             f'or {Rabc.DEFAULT_SOCKET_PATH})')
    parser.add_argument('--count', metavar='N', type=positive_int, default=10,
                        help='exit after N replies (default: 10)')
    parser.add_argument('--interval', metavar='MS', type=positive_int,
                        default=Rabc.DEFAULT_PING_INTERVAL,
                        help=f'milliseconds between pings (default: {Rabc.DEFAULT_PING_INTERVAL})')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    client = Rabc.Client(socket_path=args.socket, ping_interval=args.interval)
    try:
        client.init(None)
    except Rabc.RabcError as error:
        print(f'{PROGRAM}: {error.message}', file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    state = {'replies': 0, 'status': 0}

    def on_reply(client, reply):
        print(reply, flush=True)
        state['replies'] += 1
        if state['replies'] >= args.count:
            client.close()

    def on_closed(client, error):
        if error is not None:
            print(f'{PROGRAM}: {error.message}', file=sys.stderr)
            state['status'] = 1
        loop.quit()

    with client:
        client.connect('reply', on_reply)
        client.connect('closed', on_closed)
        loop.run()
    return state['status']


if __name__ == '__main__':
    sys.exit(main())
