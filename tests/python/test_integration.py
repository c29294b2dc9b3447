# test_integration.py: the original Python integration test, ported
#
# The original started the daemon, retried connecting until it accepted,
# then polled the client through its ctypes wrapper for five replies.  Here
# the daemon is rabcd, the client is Rabc.Client from the typelib, and the
# replies come as signals on a GLib.MainLoop.
#
# SPDX-License-Identifier: MIT

import os
import signal
import subprocess
import time

from gi.repository import GLib, Rabc

from conftest import assert_rabc_error, required_env, wait_for_signal_handler, wait_for_socket

CONNECT_TIMEOUT = 5.0
PING_INTERVAL_MS = 100
REPLIES = 5
LOOP_TIMEOUT_S = 10
EARLY_SIGTERM_ROUNDS = 20


def connect_with_retry(path):
    """Connects as soon as the daemon accepts, for up to CONNECT_TIMEOUT."""
    deadline = time.monotonic() + CONNECT_TIMEOUT
    attempts = 0
    while True:
        attempts += 1
        try:
            return Rabc.Client.new_sync(path, None), attempts
        except GLib.Error as error:
            assert_rabc_error(error, Rabc.Error.IPC_CONNECTION)
            if time.monotonic() > deadline:
                raise AssertionError(f'rabcd did not accept a connection within '
                                     f'{CONNECT_TIMEOUT} s: {error.message}') from None
            time.sleep(0.01)


def test_five_automatic_ping_replies(sock_dir):
    path = str(sock_dir / 'rabc.sock')
    daemon = subprocess.Popen([required_env('RABCD'), '--socket', path],
                              stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client, attempts = connect_with_retry(path)
        client.props.ping_interval = PING_INTERVAL_MS

        loop = GLib.MainLoop()
        replies = []
        closed = []
        timed_out = []

        def on_reply(client, reply):
            replies.append(reply)
            if len(replies) == REPLIES:
                loop.quit()

        def on_closed(client, error):
            closed.append(error)
            loop.quit()

        def on_timeout():
            timed_out.append(True)
            loop.quit()
            return GLib.SOURCE_REMOVE

        client.connect('reply', on_reply)
        client.connect('closed', on_closed)
        timeout_id = GLib.timeout_add_seconds(LOOP_TIMEOUT_S, on_timeout)
        start = time.monotonic()
        loop.run()
        elapsed = time.monotonic() - start
        if not timed_out:
            GLib.source_remove(timeout_id)

        assert not timed_out, f'only {len(replies)} replies in {LOOP_TIMEOUT_S} s'
        assert closed == [], f'the connection ended: {closed[0]}'
        assert replies == ['pong'] * REPLIES
        assert elapsed >= REPLIES * PING_INTERVAL_MS / 1000 - 0.02, elapsed
        assert client.props.round_trip_time > 0
        print(f'connected after {attempts} attempt(s); {REPLIES} replies in {elapsed:.2f} s, '
              f'last round trip {client.props.round_trip_time} µs')

        client.close()
        assert closed == [None]
        wait_for_signal_handler(daemon)
    finally:
        if daemon.poll() is None:
            os.kill(daemon.pid, signal.SIGTERM)
        try:
            status = daemon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
            raise
        stderr = daemon.stderr.read().decode(errors='replace')
        daemon.stderr.close()

    assert status == 0, stderr
    assert not os.path.exists(path)


def test_rabcd_stops_cleanly_on_sigterm_as_soon_as_it_listens(sock_dir):
    # A supervisor may stop the daemon the moment its socket answers.  A
    # daemon that listened before handling SIGTERM died of the signal, in
    # about a third of the rounds, and left its socket file behind.
    path = str(sock_dir / 'rabc.sock')
    for round_ in range(EARLY_SIGTERM_ROUNDS):
        daemon = subprocess.Popen([required_env('RABCD'), '--socket', path],
                                  stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_socket(path, daemon)
            os.kill(daemon.pid, signal.SIGTERM)
            status = daemon.wait(timeout=5)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
            stderr = daemon.stderr.read().decode(errors='replace')
            daemon.stderr.close()

        assert status == 0, f'round {round_}: rabcd exited with status {status}: {stderr}'
        assert not os.path.exists(path), f'round {round_}: rabcd left its socket behind'
