#!/usr/bin/python3
# service.py: a small service over librabc, a key-value store and system facts
#
# Rabc.Server hands every message to the ::handle-request handler below as
# a Rabc.Request, which is answered with request.reply(): at once for most
# commands, from a GLib timeout for "sleep", and from a worker thread for
# "primes".  Replies go out in the order of the requests on each
# connection however they are answered, so a client may send many commands
# before reading the answers.
#
#   ./service.py --socket /tmp/service.sock &
#   ./service-client.py --socket /tmp/service.sock 'set greeting hello world' \
#       'get greeting' 'primes 1000000' whoami
#
# Commands, one per message; words are separated by one space:
#
#   get KEY          the value of KEY
#   set KEY VALUE    sets KEY to VALUE, the rest of the message as it is: ok
#   del KEY          removes KEY: ok
#   keys             the keys, sorted, separated by spaces (empty when none)
#   hostname         the host's name
#   uptime           seconds since the system booted
#   load             the load averages over 1, 5 and 15 minutes
#   whoami           the pid, uid and gid of the client, from its socket
#   sleep MS         "slept MS ms", MS milliseconds later (0 to 60000)
#   primes N         how many primes are at most N (0 to 10000000),
#                    counted in a worker thread
#   help             the list of commands
#   ping             left to the server, which answers "pong"
#
# A command that fails is answered with a reply starting with "error: ",
# such as 'error: unknown command "x"': the handler takes every message but
# "ping" (whatever follows it), which it leaves to the server's own reply,
# so that rabcc and the automatic pings of Rabc.Client get the answer rabcd
# would give.
#
# The store lives in memory, shared by all clients, for as long as the
# service runs: at most 1000 keys and 16 MiB of keys and values.
#
# On SIGINT or SIGTERM the service answers the "sleep" commands still
# waiting with an error, lets the counts in progress finish and be
# answered, answers any command arriving meanwhile with an error, then
# stops and removes its socket file.  Nothing is printed but errors, and
# with --verbose the clients that come and go.
#
# SPDX-License-Identifier: MIT

import argparse
import concurrent.futures
import os
import signal
import sys
import time

import gi

gi.require_version('GLib', '2.0')
gi.require_version('Rabc', '1.0')
from gi.repository import GLib, Rabc  # noqa: E402

PROGRAM = 'service.py'

MAX_KEYS = 1000
MAX_STORE_BYTES = 16 * 1024 * 1024
MAX_SLEEP_MS = 60000
MAX_PRIMES_N = 10000000
# Counting runs in at most this many threads; further counts wait their turn.
WORKER_THREADS = 4
# Text from a client is quoted in errors up to this many characters, so
# that an error about a long message stays short.
MAX_QUOTED = 64

COMMANDS = ('get KEY, set KEY VALUE, del KEY, keys, hostname, uptime, load, whoami, '
            'sleep MS, primes N, help, ping')


class ArgumentParser(argparse.ArgumentParser):
    """Reports a bad option on one line."""

    def error(self, message):
        self.exit(2, f'{self.prog}: {message}\n')


def parse_args(argv):
    parser = ArgumentParser(
        prog=PROGRAM,
        description='Serve a key-value store and system facts on a Unix socket.')
    parser.add_argument('--socket', metavar='PATH',
                        help='the socket to listen on (default: $RABC_SOCKET_PATH, '
                             f'or {Rabc.DEFAULT_SOCKET_PATH})')
    parser.add_argument('-v', '--verbose', action='store_true',
                        help='log the clients that come and go on standard error')
    return parser.parse_args(argv)


def quote(text):
    if len(text) > MAX_QUOTED:
        text = text[:MAX_QUOTED] + '…'
    return f'"{text}"'


def count_primes(n):
    """The number of primes at most @n, by the sieve of Eratosthenes."""
    if n < 2:
        return 0
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, n + 1, i)))
    return sum(sieve)


def parse_number(text, maximum):
    """@text as a number from 0 to @maximum, or None."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None


class Service:
    def __init__(self, server, loop):
        self.server = server
        self.loop = loop
        self.store = {}
        self.store_bytes = 0
        # The "sleep" requests waiting, by the id of their timeout.
        self.sleeping = {}
        self.workers = concurrent.futures.ThreadPoolExecutor(max_workers=WORKER_THREADS)
        # Counts submitted and not yet answered; only the main thread
        # touches it.
        self.working = 0
        self.stopping = False
        self.handlers = {
            'get': self.get, 'set': self.set, 'del': self.delete, 'keys': self.keys,
            'hostname': self.hostname, 'uptime': self.uptime, 'load': self.load,
            'whoami': self.whoami, 'sleep': self.sleep, 'primes': self.primes,
            'help': self.help,
        }

    # Each handler answers @request with its reply, or returns the text of
    # an error; @args is the rest of the message after the command and its
    # space, None when there is none.

    def on_handle_request(self, server, request):
        payload = request.get_payload().get_data()
        try:
            text = payload.decode('utf-8')
        except UnicodeDecodeError:   # the server lets only valid UTF-8 through
            text = None

        if text is None or '\0' in text:
            request.reply('error: the message holds U+0000')
            return True
        if self.stopping:
            request.reply('error: the service is stopping')
            return True

        command, space, args = text.partition(' ')
        if command == 'ping':
            return False
        handler = self.handlers.get(command)
        if handler is None:
            request.reply(f'error: unknown command {quote(command)}')
            return True

        error = handler(request, args if space else None)
        if error is not None:
            request.reply(f'error: {error}')
        return True

    def get(self, request, args):
        if not args or ' ' in args:
            return 'usage: get KEY'
        if args not in self.store:
            return f'no key {quote(args)}'
        request.reply(self.store[args])

    def set(self, request, args):
        key, space, value = (args or '').partition(' ')
        if not key or not space:
            return 'usage: set KEY VALUE'
        size = len(key.encode()) + len(value.encode())
        old = self.store.get(key)
        old_size = 0 if old is None else len(key.encode()) + len(old.encode())
        if old is None and len(self.store) >= MAX_KEYS:
            return f'the store is full: it holds {MAX_KEYS} keys'
        if self.store_bytes - old_size + size > MAX_STORE_BYTES:
            return f'the store is full: it holds {MAX_STORE_BYTES} bytes'
        self.store[key] = value
        self.store_bytes += size - old_size
        request.reply('ok')

    def delete(self, request, args):
        if not args or ' ' in args:
            return 'usage: del KEY'
        if args not in self.store:
            return f'no key {quote(args)}'
        value = self.store.pop(args)
        self.store_bytes -= len(args.encode()) + len(value.encode())
        request.reply('ok')

    def keys(self, request, args):
        if args is not None:
            return 'usage: keys'
        request.reply(' '.join(sorted(self.store)))

    def hostname(self, request, args):
        if args is not None:
            return 'usage: hostname'
        request.reply(GLib.get_host_name())

    def uptime(self, request, args):
        if args is not None:
            return 'usage: uptime'
        request.reply(str(int(time.clock_gettime(time.CLOCK_BOOTTIME))))

    def load(self, request, args):
        if args is not None:
            return 'usage: load'
        request.reply(' '.join(f'{value:.2f}' for value in os.getloadavg()))

    def whoami(self, request, args):
        if args is not None:
            return 'usage: whoami'
        peer = request.get_peer()
        request.reply(f'pid {peer.props.pid} uid {peer.props.uid} gid {peer.props.gid}')

    def sleep(self, request, args):
        ms = parse_number(args or '', MAX_SLEEP_MS)
        if ms is None:
            return f'usage: sleep MS, with MS from 0 to {MAX_SLEEP_MS}'

        def on_timeout():
            del self.sleeping[source_id]
            request.reply(f'slept {ms} ms')
            return GLib.SOURCE_REMOVE

        source_id = GLib.timeout_add(ms, on_timeout)
        self.sleeping[source_id] = request

    def primes(self, request, args):
        n = parse_number(args or '', MAX_PRIMES_N)
        if n is None:
            return f'usage: primes N, with N from 0 to {MAX_PRIMES_N}'

        def count():
            # In a worker thread: the reply is written in the main context.
            try:
                request.reply(str(count_primes(n)))
            except MemoryError:
                request.reply('error: out of memory')

        def on_done(future):
            # Also in the worker thread: account for it in the main one.
            GLib.idle_add(self.on_counted)

        self.working += 1
        self.workers.submit(count).add_done_callback(on_done)

    def help(self, request, args):
        if args is not None:
            return 'usage: help'
        request.reply(f'commands: {COMMANDS}')

    def on_counted(self):
        self.working -= 1
        if self.stopping and self.working == 0:
            self.loop.quit()
        return GLib.SOURCE_REMOVE

    def stop(self):
        """Answers what waits for a timeout and quits once the counts in
        progress are answered."""
        if self.stopping:
            return
        self.stopping = True
        for source_id, request in self.sleeping.items():
            GLib.source_remove(source_id)
            request.reply('error: the service is stopping')
        self.sleeping.clear()
        if self.working == 0:
            self.loop.quit()


def log(text):
    print(f'{PROGRAM}: {text}', file=sys.stderr, flush=True)


def main(argv=None):
    args = parse_args(argv)

    server = Rabc.Server.new(args.socket)
    loop = GLib.MainLoop()
    service = Service(server, loop)
    server.connect('handle-request', service.on_handle_request)
    if args.verbose:
        server.connect('client-connected',
                       lambda server, peer: log(f'client connected: pid {peer.props.pid}, '
                                                f'uid {peer.props.uid}'))
        server.connect('client-disconnected',
                       lambda server, peer: log(f'client gone: pid {peer.props.pid}, '
                                                f'uid {peer.props.uid}'))

    def on_signal():
        service.stop()
        return GLib.SOURCE_CONTINUE

    # Before listening: a supervisor may send SIGTERM as soon as the socket
    # exists.
    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, on_signal)

    try:
        server.start()
    except GLib.Error as error:
        log(error.message)
        return 1

    loop.run()
    server.stop()
    service.workers.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
