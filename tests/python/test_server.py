# test_server.py: Rabc.Server in the test process, with Rabc.Client and
# rabcc as its clients
#
# The server serves on the default main context, so everything here runs on
# a GLib.MainLoop and the clients use the asynchronous calls (a send_sync
# would block the very loop the server needs).
#
# SPDX-License-Identifier: MIT

import os
import socket
import stat
import subprocess

import pytest
from gi.repository import GLib, Rabc

from conftest import (assert_rabc_error, encode_frame, new_client, required_env,
                      send_async_and_wait)


def test_start_listens_and_stop_removes_the_socket(server_path):
    server = Rabc.Server.new(server_path)
    notified = []
    server.connect('notify::listening', lambda server, pspec: notified.append(server.props.listening))

    assert server.props.socket_path == server_path
    assert server.props.reply == 'pong'
    assert server.props.max_message_size == Rabc.DEFAULT_MAX_MESSAGE_SIZE
    assert server.props.listening is False
    assert server.props.n_clients == 0

    assert server.start() is True
    assert server.props.listening is True
    assert stat.S_ISSOCK(os.lstat(server_path).st_mode)

    server.stop()
    assert server.props.listening is False
    assert not os.path.exists(server_path)
    assert notified == [True, False]

    # Stopping a stopped server does nothing.
    server.stop()
    assert notified == [True, False]


def test_client_round_trip(server, loop):
    connected = []
    disconnected = []
    received = []
    n_clients = []
    server.connect('client-connected', lambda server, peer: connected.append(server.props.n_clients))
    server.connect('client-disconnected', lambda server, peer: disconnected.append(server.props.n_clients))
    server.connect('message-received', lambda server, message: received.append(message))
    server.connect('notify::n-clients', lambda server, pspec: n_clients.append(server.props.n_clients))

    client = new_client(loop, server.props.socket_path, ping_interval=0)
    assert send_async_and_wait(loop, client, 'hello \u2713') == 'pong'

    assert connected == [1]
    assert received == ['hello \u2713']
    assert server.props.n_clients == 1

    client.close()
    loop.run_until(lambda: disconnected)
    assert disconnected == [0]
    assert server.props.n_clients == 0
    assert n_clients == [1, 0]


def test_custom_reply(server, loop):
    server.props.reply = 'custom reply \u2713'
    client = new_client(loop, server.props.socket_path, ping_interval=0)

    assert send_async_and_wait(loop, client, 'ping') == 'custom reply \u2713'
    assert send_async_and_wait(loop, client, '') == 'custom reply \u2713'
    client.close()


def test_reply_none_is_the_default(loop, server_path):
    server = Rabc.Server(socket_path=server_path, reply=None)
    assert server.props.reply == 'pong'
    server.start()
    client = new_client(loop, server_path, ping_interval=0)
    assert send_async_and_wait(loop, client, 'ping') == 'pong'

    server.props.reply = 'custom'
    assert send_async_and_wait(loop, client, 'ping') == 'custom'
    server.props.reply = None
    assert server.props.reply == 'pong'
    assert send_async_and_wait(loop, client, 'ping') == 'pong'
    server.set_reply(None)
    assert server.get_reply() == 'pong'
    client.close()
    server.stop()


def test_automatic_pings_reach_the_server(server, loop):
    received = []
    replies = []
    server.props.reply = 'I am here'
    server.connect('message-received', lambda server, message: received.append(message))

    client = new_client(loop, server.props.socket_path,
                        ping_interval=30, ping_message='are you there?')
    client.connect('reply', lambda client, reply: replies.append(reply))
    loop.run_until(lambda: len(replies) >= 3)
    client.close()

    assert replies[:3] == ['I am here'] * 3
    assert received[:3] == ['are you there?'] * 3


def test_many_clients(server, loop):
    clients = [new_client(loop, server.props.socket_path, ping_interval=0) for _ in range(5)]
    loop.run_until(lambda: server.props.n_clients == 5)

    for client in clients:
        assert send_async_and_wait(loop, client, 'ping') == 'pong'

    for client in clients[:2]:
        client.close()
    loop.run_until(lambda: server.props.n_clients == 3)
    for client in clients[2:]:
        client.close()
    loop.run_until(lambda: server.props.n_clients == 0)


def test_stop_disconnects_clients(server_path, loop):
    server = Rabc.Server.new(server_path)
    server.start()
    disconnected = []
    server.connect('client-disconnected', lambda server, peer: disconnected.append(True))
    client = new_client(loop, server_path, ping_interval=0)
    closed = []
    client.connect('closed', lambda client, error: closed.append(error))
    loop.run_until(lambda: server.props.n_clients == 1)

    server.stop()
    assert server.props.n_clients == 0
    assert disconnected == [True]
    assert not os.path.exists(server_path)

    loop.run_until(lambda: closed)
    assert_rabc_error(closed[0], Rabc.Error.IPC_CONNECTION)
    assert client.props.connected is False


def test_stop_from_a_signal_handler(server_path, loop):
    server = Rabc.Server.new(server_path)
    server.start()
    server.connect('message-received', lambda server, message: server.stop())
    client = new_client(loop, server_path, ping_interval=0)

    error = send_async_and_wait(loop, client, 'stop, please')

    assert isinstance(error, GLib.Error), error
    assert_rabc_error(error, Rabc.Error.IPC_CONNECTION)
    assert server.props.listening is False
    assert not os.path.exists(server_path)


def test_start_twice(server):
    with pytest.raises(GLib.Error) as excinfo:
        server.start()
    assert_rabc_error(excinfo.value, Rabc.Error.INVALID_ARGUMENT)
    assert server.props.listening is True


def test_restart_after_stop(server_path, loop):
    server = Rabc.Server.new(server_path)
    server.start()
    server.stop()
    server.start()

    client = new_client(loop, server_path, ping_interval=0)
    assert send_async_and_wait(loop, client, 'ping') == 'pong'
    client.close()
    server.stop()


def test_start_replaces_a_stale_socket(server_path, loop):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(server_path)
    server = Rabc.Server.new(server_path)

    assert server.start() is True
    client = new_client(loop, server_path, ping_interval=0)
    assert send_async_and_wait(loop, client, 'ping') == 'pong'
    client.close()
    server.stop()


def test_reply_must_be_shorter_than_the_maximum(server_path):
    server = Rabc.Server.new(server_path)
    server.props.max_message_size = 4

    with pytest.raises(GLib.Error) as excinfo:
        server.start()
    assert_rabc_error(excinfo.value, Rabc.Error.INVALID_ARGUMENT)
    assert not os.path.exists(server_path)

    server.props.max_message_size = 5
    assert server.start() is True
    server.stop()


def test_a_client_over_the_limit_is_disconnected_and_others_are_served(server_path, loop):
    server = Rabc.Server.new(server_path)
    server.props.max_message_size = 16
    server.start()
    polite = new_client(loop, server_path, ping_interval=0)
    rude = new_client(loop, server_path, ping_interval=0)
    closed = []
    rude.connect('closed', lambda client, error: closed.append(error))

    # The client's own limit is larger: the server is the one to refuse.
    error = send_async_and_wait(loop, rude, 'x' * 16)

    assert isinstance(error, GLib.Error), error
    assert_rabc_error(error, Rabc.Error.IPC_CONNECTION)
    loop.run_until(lambda: closed)
    assert_rabc_error(closed[0], Rabc.Error.IPC_CONNECTION)
    assert send_async_and_wait(loop, polite, 'x' * 15) == 'pong'
    assert server.props.n_clients == 1
    polite.close()
    server.stop()


def test_a_client_sending_bad_utf8_is_disconnected_and_others_are_served(server, loop):
    polite = new_client(loop, server.props.socket_path, ping_interval=0)
    received = []
    server.connect('message-received', lambda server, message: received.append(message))

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as rude:
        rude.connect(server.props.socket_path)
        loop.run_until(lambda: server.props.n_clients == 2)
        rude.sendall(encode_frame(b'\xff\xfe'))
        loop.run_until(lambda: server.props.n_clients == 1)
        rude.settimeout(1.0)
        assert rude.recv(64) == b'', 'the server answered a message that is not UTF-8'

    assert received == []
    assert send_async_and_wait(loop, polite, 'ping') == 'pong'
    polite.close()


def test_rabcc_talks_to_a_python_server(server, loop):
    server.props.reply = 'hello from Python'
    rabcc = subprocess.Popen([required_env('RABCC'), '--socket', server.props.socket_path,
                              '--count', '2', '--interval', '20'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        loop.run_until(lambda: rabcc.poll() is not None)
    finally:
        if rabcc.poll() is None:
            rabcc.kill()
    stdout, stderr = rabcc.communicate()

    assert rabcc.returncode == 0, stderr
    assert stdout == 'hello from Python\n' * 2


def test_socket_mode_from_python(loop, server_path):
    server = Rabc.Server(socket_path=server_path, socket_mode=0o640)
    assert server.props.socket_mode == 0o640
    server.start()
    try:
        assert stat.S_IMODE(os.lstat(server_path).st_mode) == 0o640
        assert Rabc.Server.new(server_path + '2').props.socket_mode == 0o600
    finally:
        server.stop()


def test_allowed_uids_from_python(loop, server_path):
    server = Rabc.Server.new(server_path)
    server.add_allowed_uid(os.getuid() + 1)
    server.start()
    try:
        # The server hangs up on this process's user as soon as it accepts.
        client = new_client(loop, server_path, ping_interval=0)
        closed = []
        client.connect('closed', lambda c, error: closed.append(error))
        client.send_async('ping', None, None)
        loop.run_until(lambda: not client.props.connected)
        if closed:
            assert_rabc_error(closed[0], Rabc.Error.IPC_CONNECTION)
        assert server.props.n_clients == 0

        server.add_allowed_uid(os.getuid())
        client = new_client(loop, server_path, ping_interval=0)
        assert send_async_and_wait(loop, client, 'ping') == 'pong'
    finally:
        server.stop()


def test_start_with_socket_fd_from_python(loop, server_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(server_path)
    listener.listen()
    inode = os.lstat(server_path).st_ino

    server = Rabc.Server.new(None)
    with pytest.raises(GLib.Error) as raised:
        with open(os.devnull) as not_a_socket:
            server.start_with_socket_fd(not_a_socket.fileno())
    assert_rabc_error(raised.value, Rabc.Error.INVALID_ARGUMENT)

    # The server takes the descriptor: Python lets go of it.
    server.start_with_socket_fd(listener.detach())
    assert server.props.socket_path == server_path
    client = new_client(loop, server_path, ping_interval=0)
    assert send_async_and_wait(loop, client, 'ping') == 'pong'
    server.stop()
    # The socket file belongs to whoever made it.
    assert os.lstat(server_path).st_ino == inode
    os.unlink(server_path)


def test_auto_reconnect_from_python(loop, server_path):
    server = Rabc.Server.new(server_path)
    server.start()
    client = new_client(loop, server_path, ping_interval=20, auto_reconnect=True)
    assert client.props.auto_reconnect
    transitions = []
    client.connect('notify::connected', lambda c, _: transitions.append(c.props.connected))
    closed = []
    client.connect('closed', lambda c, error: closed.append(error))
    replies = []
    client.connect('reply', lambda c, reply: replies.append(reply))

    loop.run_until(lambda: len(replies) >= 1)
    server.stop()
    loop.run_until(lambda: closed)
    assert_rabc_error(closed[0], Rabc.Error.IPC_CONNECTION)

    server = Rabc.Server.new(server_path)
    server.start()
    loop.run_until(lambda: client.props.connected)
    count = len(replies)
    loop.run_until(lambda: len(replies) >= count + 2)
    assert transitions == [False, True]

    client.close()
    server.stop()


def test_limits_are_properties_with_their_defaults(server_path):
    server = Rabc.Server.new(server_path)
    assert server.props.max_clients == Rabc.DEFAULT_MAX_CLIENTS == 2048
    assert server.props.max_clients_per_uid == Rabc.DEFAULT_MAX_CLIENTS_PER_UID == 256
    assert server.props.max_buffered_bytes == Rabc.DEFAULT_MAX_BUFFERED_BYTES == 64 * 1024 * 1024
    assert server.props.frame_timeout == Rabc.DEFAULT_FRAME_TIMEOUT == 5000

    notified = []
    server.connect('notify', lambda server, pspec: notified.append(pspec.name))
    server.props.max_clients = 10
    server.props.max_clients_per_uid = 2
    server.props.max_buffered_bytes = 2 ** 40
    server.props.frame_timeout = 0
    server.props.frame_timeout = 0
    assert notified == ['max-clients', 'max-clients-per-uid', 'max-buffered-bytes', 'frame-timeout']
    assert server.get_max_buffered_bytes() == 2 ** 40


def test_max_clients_per_uid_refuses_the_next_connection(loop, server_path):
    server = Rabc.Server.new(server_path)
    server.props.max_clients_per_uid = 2
    assert server.start()
    try:
        clients = [new_client(loop, server_path, ping_interval=0) for _ in range(2)]
        # Connected, then closed at once: listen before connecting.
        third = Rabc.Client(socket_path=server_path, ping_interval=0)
        closed = []
        third.connect('closed', lambda client, error: closed.append(error))
        third.init_async(GLib.PRIORITY_DEFAULT, None, lambda client, result: None)
        loop.run_until(lambda: closed)
        assert_rabc_error(closed[0], Rabc.Error.IPC_CONNECTION)
        assert server.props.n_clients == 2
        assert send_async_and_wait(loop, clients[0], 'ping') == 'pong'
    finally:
        server.stop()
