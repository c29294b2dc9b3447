# test_client.py: Rabc.Client from Python, against a rabcd process
#
# SPDX-License-Identifier: MIT

import signal
import time

import pytest
from gi.repository import GLib, Rabc

from conftest import assert_rabc_error, echo_handler


def test_defaults_match_the_protocol(daemon):
    client = Rabc.Client(socket_path=daemon)

    assert Rabc.DEFAULT_SOCKET_PATH == '/tmp/librabc'
    assert Rabc.DEFAULT_PING_INTERVAL == 2000
    assert Rabc.DEFAULT_TIMEOUT == 5000
    assert Rabc.DEFAULT_MAX_MESSAGE_SIZE == 1048576
    assert client.props.socket_path == daemon
    assert client.props.ping_interval == Rabc.DEFAULT_PING_INTERVAL
    assert client.props.ping_message == 'ping'
    assert client.props.timeout == Rabc.DEFAULT_TIMEOUT
    assert client.props.max_message_size == Rabc.DEFAULT_MAX_MESSAGE_SIZE
    assert client.props.round_trip_time == 0
    assert client.props.connected is False


def test_runtime_version_matches_typelib():
    assert (Rabc.get_major_version(), Rabc.get_minor_version(), Rabc.get_micro_version()) \
        == (Rabc.MAJOR_VERSION, Rabc.MINOR_VERSION, Rabc.MICRO_VERSION)
    # The namespace version Rabc-1.0 carries the major version.
    assert Rabc.MAJOR_VERSION == 1


def test_new_sync_connects_and_sends(daemon):
    client = Rabc.Client.new_sync(daemon, None)

    assert isinstance(client, Rabc.Client)
    assert client.props.connected is True
    assert client.get_connected() is True
    assert client.props.socket_path == daemon
    assert client.send_sync('ping', None) == 'pong'
    assert client.send_sync('ping', None) == 'pong'
    client.close()


@pytest.mark.parametrize('message', [
    '',
    'h\u00e9llo w\u00f6rld \u2713 \U0001f40d',
    'x' * 200_000,
], ids=['empty', 'non-ascii', 'large'])
def test_send_sync_any_valid_message(daemon, message):
    client = Rabc.Client.new_sync(daemon, None)

    assert client.send_sync(message, None) == 'pong'
    client.close()


def test_default_socket_path_from_environment(daemon, monkeypatch):
    monkeypatch.setenv('RABC_SOCKET_PATH', daemon)

    assert Rabc.get_default_socket_path() == daemon
    client = Rabc.Client.new_sync(None, None)
    assert client.props.socket_path == daemon
    assert client.send_sync('ping', None) == 'pong'
    client.close()


def test_new_async(daemon, loop):
    results = []

    def on_new(source, result):
        try:
            results.append(Rabc.Client.new_finish(result))
        except GLib.Error as error:
            results.append(error)
        loop.quit()

    Rabc.Client.new_async(daemon, None, on_new)
    assert results == [], 'the callback ran before the main loop did'
    loop.run()

    (client,) = results
    assert isinstance(client, Rabc.Client), client
    assert client.props.connected is True
    assert client.props.socket_path == daemon
    client.close()


def test_send_async_replies_in_order(daemon, loop):
    client = Rabc.Client.new_sync(daemon, None)
    completed = []

    def on_reply(client, result, index):
        completed.append((index, client.send_finish(result)))
        if len(completed) == 5:
            loop.quit()

    for index in range(5):
        client.send_async(f'message {index}', None, on_reply, index)
    assert completed == [], 'a callback ran before the main loop did'
    loop.run()

    assert completed == [(index, 'pong') for index in range(5)]
    client.close()


def test_replies_are_matched_to_requests_first_in_first_out(raw_server, loop):
    # An echo server tells which request each reply answers.
    server = raw_server(echo_handler)
    client = Rabc.Client(socket_path=server.path, ping_interval=0)
    client.init(None)
    answers = {}

    def on_reply(client, result, message):
        answers[message] = client.send_finish(result)

    messages = [f'request {index}' for index in range(20)]
    for message in messages:
        client.send_async(message, None, on_reply, message)
    loop.run_until(lambda: len(answers) == len(messages))
    assert client.send_sync('last', None) == 'last'

    assert answers == {message: message for message in messages}
    client.close()


def test_initable_with_properties(daemon):
    client = Rabc.Client(socket_path=daemon, ping_interval=0, ping_message='hello',
                         timeout=1000, max_message_size=64)
    assert client.props.connected is False

    assert client.init(None) is True
    assert client.props.connected is True
    assert client.props.ping_interval == 0
    assert client.props.ping_message == 'hello'
    assert client.props.timeout == 1000
    assert client.props.max_message_size == 64
    assert client.send_sync('ping', None) == 'pong'
    client.close()


def test_async_initable(daemon, loop):
    client = Rabc.Client(socket_path=daemon, ping_interval=0)
    results = []

    def on_init(client, result):
        results.append(client.init_finish(result))
        loop.quit()

    client.init_async(GLib.PRIORITY_DEFAULT, None, on_init)
    loop.run()

    assert results == [True]
    assert client.props.connected is True
    client.close()


def test_automatic_pings_emit_reply(daemon, loop):
    client = Rabc.Client(socket_path=daemon, ping_interval=50)
    client.init(None)
    replies = []
    round_trip_times = []

    def on_reply(client, reply):
        replies.append(reply)
        if len(replies) == 3:
            loop.quit()

    client.connect('reply', on_reply)
    client.connect('notify::round-trip-time',
                   lambda client, pspec: round_trip_times.append(client.props.round_trip_time))
    start = time.monotonic()
    loop.run()
    elapsed = time.monotonic() - start

    assert replies == ['pong'] * 3
    # Three pings, one interval apart.
    assert elapsed >= 3 * 0.050 - 0.010, elapsed
    assert len(round_trip_times) == 3
    assert all(0 < rtt < 1_000_000 for rtt in round_trip_times), round_trip_times
    assert client.props.round_trip_time == round_trip_times[-1]
    client.close()


def test_ping_interval_zero_turns_pings_off(daemon, loop):
    client = Rabc.Client(socket_path=daemon, ping_interval=0)
    client.init(None)
    replies = []
    client.connect('reply', lambda client, reply: replies.append(reply))

    loop.run_for(0.3)
    assert replies == []

    # Turning them on while connected starts the timer.
    client.props.ping_interval = 50
    loop.run_until(lambda: len(replies) >= 2)
    assert replies[:2] == ['pong', 'pong']

    client.props.ping_interval = 0
    loop.run_for(0.2)
    count = len(replies)
    loop.run_for(0.3)
    assert len(replies) == count
    client.close()


def test_replies_to_requests_do_not_emit_reply(daemon, loop):
    client = Rabc.Client(socket_path=daemon, ping_interval=0)
    client.init(None)
    signalled = []
    answers = []
    client.connect('reply', lambda client, reply: signalled.append(reply))

    def on_reply(client, result):
        answers.append(client.send_finish(result))

    client.send_async('ping', None, on_reply)
    client.send_async('ping', None, on_reply)
    loop.run_until(lambda: len(answers) == 2)
    assert client.send_sync('ping', None) == 'pong'
    loop.run_for(0.05)

    assert answers == ['pong', 'pong']
    assert signalled == []
    client.close()


def test_close_notifies_and_emits_closed_with_none(daemon, loop):
    client = Rabc.Client.new_sync(daemon, None)
    notified = []
    closed = []
    client.connect('notify::connected', lambda client, pspec: notified.append(client.props.connected))
    client.connect('closed', lambda client, error: closed.append(error))

    client.close()

    assert closed == [None]
    assert notified == [False]
    assert client.props.connected is False

    # Closing a closed client does nothing.
    client.close()
    loop.run_for(0.05)
    assert closed == [None]
    assert notified == [False]


@pytest.mark.parametrize('signum', [signal.SIGKILL, signal.SIGTERM], ids=['SIGKILL', 'SIGTERM'])
def test_closed_with_ipc_connection_when_the_daemon_dies(daemon_process, loop, signum):
    client = Rabc.Client(socket_path=daemon_process.path, ping_interval=0)
    client.init(None)
    notified = []
    closed = []
    client.connect('notify::connected', lambda client, pspec: notified.append(client.props.connected))
    client.connect('closed', lambda client, error: closed.append(error))

    status = daemon_process.kill(signum)
    assert status == (0 if signum == signal.SIGTERM else -signal.SIGKILL)
    loop.run_until(lambda: closed)

    (error,) = closed
    assert isinstance(error, GLib.Error)
    assert_rabc_error(error, Rabc.Error.IPC_CONNECTION)
    assert daemon_process.path in error.message
    assert notified == [False]
    assert client.props.connected is False


def test_closed_is_emitted_once_with_pings_running(daemon_process, loop):
    client = Rabc.Client(socket_path=daemon_process.path, ping_interval=20)
    client.init(None)
    closed = []
    client.connect('closed', lambda client, error: closed.append(error))

    daemon_process.kill()
    loop.run_until(lambda: closed)
    loop.run_for(0.2)

    assert len(closed) == 1
    assert_rabc_error(closed[0], Rabc.Error.IPC_CONNECTION)


def test_server_uid_defaults_to_root_and_accepts_the_own_user(daemon):
    # The daemon runs as this test's user, which the client always accepts.
    client = Rabc.Client.new_sync(daemon, None)
    assert client.props.server_uid == 0
    assert client.send_sync('ping', None) == 'pong'

    client.props.server_uid = Rabc.SERVER_UID_ANY
    assert client.get_server_uid() == Rabc.SERVER_UID_ANY == 2 ** 32 - 1
    client.close()

    any_client = Rabc.Client(socket_path=daemon, server_uid=Rabc.SERVER_UID_ANY)
    assert any_client.init(None)
    assert any_client.send_sync('ping', None) == 'pong'
    any_client.close()
    assert Rabc.Error.UNTRUSTED_SERVER.value_nick == 'untrusted-server'
