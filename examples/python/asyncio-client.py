#!/usr/bin/python3
# asyncio-client.py: client.py with asyncio: connect to rabcd, send a
# message every INTERVAL milliseconds and print each reply
#
# librabc works on GLib's main context, so asyncio runs on gbulb's event
# loop (Debian: python3-gbulb), which runs that context.  The client is
# connected by `async with Rabc.Client.open(...)`, which closes it at the
# end of the block, and every request is an `await client.send(...)`;
# a failure is a Rabc.RabcError.
#
#   ./asyncio-client.py --socket /tmp/librabc --count 10 --interval 2000
#   ./asyncio-client.py --socket /tmp/librabc --count 100 --at-once
#
# With --at-once the --count messages are sent at once and awaited
# together with asyncio.gather(): the replies come in the order of the
# messages.
#
# Exits 0 after --count replies; 1 when the daemon cannot be reached, goes
# away or does not answer within --timeout; 2 for bad options; 130 when
# stopped by Ctrl-C, which cancels the request awaiting its reply.
#
# SPDX-License-Identifier: MIT

import argparse
import asyncio
import sys

import gi

gi.require_version('GLib', '2.0')
gi.require_version('Rabc', '1.0')
from gi.repository import GLib, Rabc  # noqa: E402

PROGRAM = 'asyncio-client.py'


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'{text} is not a positive number')
    return value


def milliseconds(text):
    value = int(text)
    if value < 0 or value > GLib.MAXUINT32:
        raise argparse.ArgumentTypeError(f'{text} is not a number of milliseconds')
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description='Connect to rabcd, send MESSAGE every INTERVAL milliseconds '
                    'and print each reply, with asyncio.')
    parser.add_argument('--socket', metavar='PATH',
                        help='the daemon\'s socket (default: $RABC_SOCKET_PATH, '
                             f'or {Rabc.DEFAULT_SOCKET_PATH})')
    parser.add_argument('--count', metavar='N', type=positive_int, default=10,
                        help='exit after N replies (default: 10)')
    parser.add_argument('--interval', metavar='MS', type=positive_int,
                        default=Rabc.DEFAULT_PING_INTERVAL,
                        help='milliseconds between messages '
                             f'(default: {Rabc.DEFAULT_PING_INTERVAL})')
    parser.add_argument('--message', metavar='TEXT', default='ping',
                        help='the message to send (default: ping)')
    parser.add_argument('--timeout', metavar='MS', type=milliseconds,
                        default=Rabc.DEFAULT_TIMEOUT,
                        help='how long to wait for each reply; 0 waits forever '
                             f'(default: {Rabc.DEFAULT_TIMEOUT})')
    parser.add_argument('--at-once', action='store_true',
                        help='send the N messages at once and print the replies in order')
    return parser.parse_args(argv)


async def run(args):
    # No automatic pings: this client sends its own messages.
    async with Rabc.Client.open(args.socket, ping_interval=0,
                                timeout=args.timeout) as client:
        if args.at_once:
            replies = await asyncio.gather(*(client.send(args.message)
                                             for _ in range(args.count)))
            for reply in replies:
                print(reply, flush=True)
            return

        for index in range(args.count):
            if index > 0:
                await asyncio.sleep(args.interval / 1000)
            print(await client.send(args.message), flush=True)


def main(argv=None):
    args = parse_args(argv)

    try:
        import gbulb
    except ImportError:
        print(f'{PROGRAM}: gbulb, the GLib event loop for asyncio, is not installed '
              '(Debian: python3-gbulb)', file=sys.stderr)
        return 1
    # Before the event loop is created: asyncio.run() then runs on GLib's
    # main context.
    gbulb.install()

    try:
        asyncio.run(run(args))
    except Rabc.RabcError as error:
        print(f'{PROGRAM}: {error.message}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
