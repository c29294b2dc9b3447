#!/usr/bin/python3
# service-client.py: send commands to service.py (or rabc-service) and print
# the replies
#
# Each COMMAND argument is one message.  By default all of them are sent at
# once with send_async and the replies printed as they come, which is in
# the order of the commands: a slow command delays the printing of those
# after it, not their work.  With --sequential each is sent with send_sync
# once the previous one is answered.
#
#   ./service-client.py --socket /tmp/service.sock 'set colour blue' 'get colour' keys
#
# Prints one reply a line.  Exits 0 when every command succeeded; 1 when
# the service cannot be reached, goes away or does not answer within the
# timeout (one line on standard error says why); 2 for bad options; 3 when
# the service answered a command with an error (the reply, which starts
# with "error: ", is printed with the others, and one line on standard
# error counts them).
#
# SPDX-License-Identifier: MIT

import argparse
import sys

import gi

gi.require_version('GLib', '2.0')
gi.require_version('Rabc', '1.0')
from gi.repository import GLib, Rabc  # noqa: E402

PROGRAM = 'service-client.py'


class ArgumentParser(argparse.ArgumentParser):
    """Reports a bad option on one line."""

    def error(self, message):
        self.exit(2, f'{self.prog}: {message}\n')


def milliseconds(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0 or value > GLib.MAXUINT32:
        raise argparse.ArgumentTypeError(f'"{text}" is not a number of milliseconds')
    return value


def parse_args(argv):
    parser = ArgumentParser(
        prog=PROGRAM,
        description='Send each COMMAND to the service as one message and print the replies.')
    parser.add_argument('--socket', metavar='PATH',
                        help='the service\'s socket (default: $RABC_SOCKET_PATH, '
                             f'or {Rabc.DEFAULT_SOCKET_PATH})')
    parser.add_argument('--timeout', metavar='MS', type=milliseconds,
                        default=Rabc.DEFAULT_TIMEOUT,
                        help='how long to wait for each reply; 0 waits forever '
                             f'(default: {Rabc.DEFAULT_TIMEOUT})')
    parser.add_argument('--sequential', action='store_true',
                        help='send each command once the previous one is answered')
    parser.add_argument('commands', metavar='COMMAND', nargs='+',
                        help='a command, such as "get KEY" (quote it as one argument)')
    return parser.parse_args(argv)


def send_pipelined(client, commands):
    """Sends every command at once; returns the replies, or raises the
    GLib.Error of the first that failed."""
    loop = GLib.MainLoop()
    results = [None] * len(commands)
    state = {'printed': 0}

    def on_reply(client, result, index):
        try:
            results[index] = client.send_finish(result)
        except GLib.Error as error:
            results[index] = error
        # Replies come in order; print each as soon as those before it are.
        while state['printed'] < len(results) and results[state['printed']] is not None:
            reply = results[state['printed']]
            if isinstance(reply, GLib.Error):
                loop.quit()
                return
            print(reply, flush=True)
            state['printed'] += 1
        if state['printed'] == len(results):
            loop.quit()

    for index, command in enumerate(commands):
        client.send_async(command, None, on_reply, index)
    loop.run()

    for result in results:
        if isinstance(result, GLib.Error):
            raise result
    return results


def send_sequential(client, commands):
    replies = []
    for command in commands:
        reply = client.send_sync(command, None)
        print(reply, flush=True)
        replies.append(reply)
    return replies


def main(argv=None):
    args = parse_args(argv)

    # No automatic pings: the commands are the whole conversation.
    client = Rabc.Client(socket_path=args.socket, ping_interval=0, timeout=args.timeout)
    try:
        client.init(None)
        if args.sequential:
            replies = send_sequential(client, args.commands)
        else:
            replies = send_pipelined(client, args.commands)
    except GLib.Error as error:
        print(f'{PROGRAM}: {error.message}', file=sys.stderr)
        return 1
    finally:
        client.close()

    failed = sum(1 for reply in replies if reply.startswith('error: '))
    if failed:
        print(f'{PROGRAM}: the service refused {failed} of {len(replies)} commands',
              file=sys.stderr)
        return 3
    return 0


if __name__ == '__main__':
    sys.exit(main())
