# test_errors.py: every Rabc.Error a Python program can meet, and cancellation
#
# SPDX-License-Identifier: MIT

import os
import socket
import threading
import time

import pytest
from gi.repository import Gio, GLib, Rabc

from conftest import (MAX_SOCKET_PATH, WAIT_TIMEOUT, assert_rabc_error, echo_handler,
                      encode_frame, read_frame, reply_handler, silent_handler,
                      send_async_and_wait, send_sync_or_async)


def assert_cancelled(error):
    assert error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), \
        f'expected G_IO_ERROR_CANCELLED, got {error.domain} {error.code}: {error.message}'


def socket_path_of_length(directory, length):
    prefix = f'{directory}/'
    path = prefix + 'a' * (length - len(prefix) - len('.sock')) + '.sock'
    assert len(path.encode()) == length
    return path


def test_error_enum_is_registered():
    assert GLib.quark_to_string(Rabc.error_quark()) == 'rabc-error-quark'
    assert [int(code) for code in (Rabc.Error.IPC_CONNECTION,
                                   Rabc.Error.EXCEEDED_IPC_MAX_SIZE,
                                   Rabc.Error.INVALID_ARGUMENT,
                                   Rabc.Error.INVALID_DATA,
                                   Rabc.Error.TIMED_OUT,
                                   Rabc.Error.CLOSED,
                                   Rabc.Error.BUG,
                                   Rabc.Error.ADDRESS_IN_USE)] == list(range(8))


# IPC_CONNECTION

def test_ipc_connection_without_socket_file(sock_dir):
    path = str(sock_dir / 'absent.sock')

    with pytest.raises(GLib.Error) as excinfo:
        Rabc.Client.new_sync(path, None)
    assert_rabc_error(excinfo.value, Rabc.Error.IPC_CONNECTION)
    assert path in excinfo.value.message


def test_ipc_connection_when_nobody_listens(sock_dir):
    path = str(sock_dir / 'stale.sock')
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(path)

    with pytest.raises(GLib.Error) as excinfo:
        Rabc.Client.new_sync(path, None)
    assert_rabc_error(excinfo.value, Rabc.Error.IPC_CONNECTION)


def test_ipc_connection_async(sock_dir, loop):
    results = []

    def on_new(source, result):
        try:
            results.append(Rabc.Client.new_finish(result))
        except GLib.Error as error:
            results.append(error)

    Rabc.Client.new_async(str(sock_dir / 'absent.sock'), None, on_new)
    loop.run_until(lambda: results)

    assert isinstance(results[0], GLib.Error), results
    assert_rabc_error(results[0], Rabc.Error.IPC_CONNECTION)


@pytest.mark.parametrize('mode', ['sync', 'async'])
def test_ipc_connection_for_pending_request_when_the_daemon_goes(raw_server, loop, mode):
    def read_then_hang_up(conn):
        read_frame(conn)
        conn.shutdown(socket.SHUT_RDWR)

    server = raw_server(read_then_hang_up)
    client = Rabc.Client(socket_path=server.path, ping_interval=0)
    client.init(None)
    closed = []
    client.connect('closed', lambda client, error: closed.append(error))

    error = send_sync_or_async(loop, client, 'ping', mode)
    assert_rabc_error(error, Rabc.Error.IPC_CONNECTION)
    loop.run_until(lambda: closed)
    assert_rabc_error(closed[0], Rabc.Error.IPC_CONNECTION)
    assert client.props.connected is False


# EXCEEDED_IPC_MAX_SIZE

def test_exceeded_max_size_on_send(daemon, loop):
    client = Rabc.Client(socket_path=daemon, ping_interval=0, max_message_size=8)
    client.init(None)

    with pytest.raises(GLib.Error) as excinfo:
        client.send_sync('x' * 8, None)
    assert_rabc_error(excinfo.value, Rabc.Error.EXCEEDED_IPC_MAX_SIZE)

    error = send_async_and_wait(loop, client, 'y' * 9)
    assert isinstance(error, GLib.Error), error
    assert_rabc_error(error, Rabc.Error.EXCEEDED_IPC_MAX_SIZE)

    # A refused message does not harm the connection.
    assert client.props.connected is True
    assert client.send_sync('x' * 7, None) == 'pong'
    client.close()


def test_default_max_message_size_is_exclusive_and_counts_bytes(daemon):
    client = Rabc.Client.new_sync(daemon, None)
    limit = Rabc.DEFAULT_MAX_MESSAGE_SIZE

    assert client.send_sync('x' * (limit - 1), None) == 'pong'
    with pytest.raises(GLib.Error) as excinfo:
        client.send_sync('x' * limit, None)
    assert_rabc_error(excinfo.value, Rabc.Error.EXCEEDED_IPC_MAX_SIZE)

    # The limit is in bytes, not characters: 'é' is two bytes of UTF-8.
    with pytest.raises(GLib.Error) as excinfo:
        client.send_sync('\u00e9' * (limit // 2), None)
    assert_rabc_error(excinfo.value, Rabc.Error.EXCEEDED_IPC_MAX_SIZE)

    assert client.send_sync('ping', None) == 'pong'
    client.close()


def test_exceeded_max_size_on_receive(raw_server, loop):
    server = raw_server(reply_handler(encode_frame(b'r' * 100)))
    client = Rabc.Client(socket_path=server.path, ping_interval=0, max_message_size=50)
    client.init(None)
    closed = []
    client.connect('closed', lambda client, error: closed.append(error))

    error = send_async_and_wait(loop, client, 'ping')

    assert isinstance(error, GLib.Error), error
    assert_rabc_error(error, Rabc.Error.EXCEEDED_IPC_MAX_SIZE)
    loop.run_until(lambda: closed)
    assert_rabc_error(closed[0], Rabc.Error.EXCEEDED_IPC_MAX_SIZE)
    assert client.props.connected is False


# INVALID_ARGUMENT

def test_invalid_argument_for_a_socket_path_too_long(sock_dir):
    path = socket_path_of_length(sock_dir, MAX_SOCKET_PATH + 1)

    with pytest.raises(GLib.Error) as excinfo:
        Rabc.Client.new_sync(path, None)
    assert_rabc_error(excinfo.value, Rabc.Error.INVALID_ARGUMENT)
    assert 'too long' in excinfo.value.message

    with pytest.raises(GLib.Error) as excinfo:
        Rabc.Server.new(path).start()
    assert_rabc_error(excinfo.value, Rabc.Error.INVALID_ARGUMENT)
    assert not os.path.exists(path)


def test_longest_socket_path_works(sock_dir, spawn_daemon):
    path = socket_path_of_length(sock_dir, MAX_SOCKET_PATH)
    daemon = spawn_daemon(name=os.path.basename(path))
    assert daemon.path == path

    client = Rabc.Client.new_sync(path, None)
    assert client.send_sync('ping', None) == 'pong'
    client.close()


def test_invalid_argument_for_an_empty_socket_path():
    with pytest.raises(GLib.Error) as excinfo:
        Rabc.Client.new_sync('', None)
    assert_rabc_error(excinfo.value, Rabc.Error.INVALID_ARGUMENT)


def test_invalid_argument_when_the_server_path_is_a_regular_file(sock_dir):
    path = sock_dir / 'precious.txt'
    path.write_text('do not remove me\n')
    server = Rabc.Server.new(str(path))

    with pytest.raises(GLib.Error) as excinfo:
        server.start()
    assert_rabc_error(excinfo.value, Rabc.Error.INVALID_ARGUMENT)
    assert server.props.listening is False
    assert path.read_text() == 'do not remove me\n'


# INVALID_DATA

@pytest.mark.parametrize('mode', ['sync', 'async'])
def test_invalid_data_for_a_reply_that_is_not_utf8(raw_server, loop, mode):
    server = raw_server(reply_handler(encode_frame(b'\xff\xfe')))
    client = Rabc.Client(socket_path=server.path, ping_interval=0)
    client.init(None)
    closed = []
    client.connect('closed', lambda client, error: closed.append(error))

    error = send_sync_or_async(loop, client, 'ping', mode)
    assert_rabc_error(error, Rabc.Error.INVALID_DATA)
    assert 'UTF-8' in error.message
    loop.run_until(lambda: closed)
    assert_rabc_error(closed[0], Rabc.Error.INVALID_DATA)
    assert client.props.connected is False


def test_invalid_data_for_a_reply_with_nul(raw_server):
    server = raw_server(reply_handler(encode_frame(b'po\x00ng')))
    client = Rabc.Client(socket_path=server.path, ping_interval=0)
    client.init(None)

    with pytest.raises(GLib.Error) as excinfo:
        client.send_sync('ping', None)
    assert_rabc_error(excinfo.value, Rabc.Error.INVALID_DATA)
    client.close()


def test_invalid_data_for_an_unsolicited_message(raw_server, loop):
    server = raw_server(lambda conn: conn.sendall(encode_frame(b'pong')))
    client = Rabc.Client(socket_path=server.path, ping_interval=0)
    client.init(None)
    closed = []
    client.connect('closed', lambda client, error: closed.append(error))

    loop.run_until(lambda: closed)

    assert_rabc_error(closed[0], Rabc.Error.INVALID_DATA)
    assert client.props.connected is False


# TIMED_OUT

def test_timed_out_sync(raw_server):
    server = raw_server(silent_handler)
    client = Rabc.Client(socket_path=server.path, ping_interval=0, timeout=200)
    client.init(None)

    start = time.monotonic()
    with pytest.raises(GLib.Error) as excinfo:
        client.send_sync('ping', None)
    elapsed = time.monotonic() - start

    assert_rabc_error(excinfo.value, Rabc.Error.TIMED_OUT)
    assert 0.19 <= elapsed < 2.0, elapsed
    client.close()


def test_timed_out_async(raw_server, loop):
    server = raw_server(silent_handler)
    client = Rabc.Client(socket_path=server.path, ping_interval=0, timeout=200)
    client.init(None)

    start = time.monotonic()
    error = send_async_and_wait(loop, client, 'ping')
    elapsed = time.monotonic() - start

    assert isinstance(error, GLib.Error), error
    assert_rabc_error(error, Rabc.Error.TIMED_OUT)
    assert 0.19 <= elapsed < 2.0, elapsed
    # A request that timed out leaves the connection open.
    assert client.props.connected is True
    client.close()


def test_timed_out_automatic_ping_closes_the_connection(raw_server, loop):
    server = raw_server(silent_handler)
    client = Rabc.Client(socket_path=server.path, ping_interval=50, timeout=200)
    client.init(None)
    closed = []
    replies = []
    client.connect('closed', lambda client, error: closed.append(error))
    client.connect('reply', lambda client, reply: replies.append(reply))

    start = time.monotonic()
    loop.run_until(lambda: closed)
    elapsed = time.monotonic() - start

    assert_rabc_error(closed[0], Rabc.Error.TIMED_OUT)
    assert 0.24 <= elapsed < 2.0, elapsed
    assert replies == []
    assert client.props.connected is False


# CLOSED

def test_closed_when_sending_after_close(daemon, loop):
    client = Rabc.Client.new_sync(daemon, None)
    client.close()

    with pytest.raises(GLib.Error) as excinfo:
        client.send_sync('ping', None)
    assert_rabc_error(excinfo.value, Rabc.Error.CLOSED)

    error = send_async_and_wait(loop, client, 'ping')
    assert isinstance(error, GLib.Error), error
    assert_rabc_error(error, Rabc.Error.CLOSED)


def test_closed_for_pending_requests_at_close(daemon, loop):
    client = Rabc.Client(socket_path=daemon, ping_interval=0)
    client.init(None)
    results = []
    events = []

    def on_reply(client, result):
        try:
            results.append(client.send_finish(result))
        except GLib.Error as error:
            results.append(error)

    client.connect('closed', lambda client, error: events.append(('closed', error)))
    client.send_async('one', None, on_reply)
    client.send_async('two', None, on_reply)
    client.close()
    loop.run_until(lambda: len(results) == 2)

    for error in results:
        assert isinstance(error, GLib.Error), error
        assert_rabc_error(error, Rabc.Error.CLOSED)
    assert events == [('closed', None)]


# ADDRESS_IN_USE

def test_address_in_use(daemon):
    server = Rabc.Server.new(daemon)

    with pytest.raises(GLib.Error) as excinfo:
        server.start()
    assert_rabc_error(excinfo.value, Rabc.Error.ADDRESS_IN_USE)
    assert server.props.listening is False

    # The refused server left the daemon's socket alone.
    del server
    client = Rabc.Client.new_sync(daemon, None)
    assert client.send_sync('ping', None) == 'pong'
    client.close()


# Cancellation

def test_send_sync_with_a_cancelled_cancellable(daemon):
    client = Rabc.Client.new_sync(daemon, None)
    cancellable = Gio.Cancellable()
    cancellable.cancel()

    with pytest.raises(GLib.Error) as excinfo:
        client.send_sync('ping', cancellable)
    assert_cancelled(excinfo.value)
    assert client.send_sync('ping', None) == 'pong'
    client.close()


def test_send_sync_cancelled_from_another_thread(raw_server):
    server = raw_server(silent_handler)
    client = Rabc.Client(socket_path=server.path, ping_interval=0)
    client.init(None)
    cancellable = Gio.Cancellable()
    timer = threading.Timer(0.1, cancellable.cancel)

    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(GLib.Error) as excinfo:
            client.send_sync('ping', cancellable)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - start

    assert_cancelled(excinfo.value)
    # Well before the default timeout of 5 s.
    assert elapsed < 2.0, elapsed
    client.close()


def test_send_async_cancelled(raw_server, loop):
    # An echo server that holds its replies until the cancellation has been
    # reported: the reply to the cancelled request then comes first and must
    # be dropped, not handed to the next request.
    answer = threading.Event()

    def held_echo(conn):
        answer.wait(WAIT_TIMEOUT)
        echo_handler(conn)

    server = raw_server(held_echo)
    client = Rabc.Client(socket_path=server.path, ping_interval=0)
    client.init(None)
    cancellable = Gio.Cancellable()
    results = []

    def on_reply(client, result, name):
        try:
            results.append((name, client.send_finish(result)))
        except GLib.Error as error:
            results.append((name, error))

    client.send_async('first', cancellable, on_reply, 'first')
    cancellable.cancel()
    loop.run_until(lambda: results)
    answer.set()
    client.send_async('second', None, on_reply, 'second')
    loop.run_until(lambda: len(results) == 2)

    (first, error), second = results
    assert first == 'first'
    assert isinstance(error, GLib.Error), error
    assert_cancelled(error)
    assert second == ('second', 'second')
    assert client.props.connected is True
    client.close()


def test_send_async_with_a_cancelled_cancellable(daemon, loop):
    client = Rabc.Client.new_sync(daemon, None)
    cancellable = Gio.Cancellable()
    cancellable.cancel()

    error = send_async_and_wait(loop, client, 'ping', cancellable)

    assert isinstance(error, GLib.Error), error
    assert_cancelled(error)
    assert client.send_sync('ping', None) == 'pong'
    client.close()


def test_new_async_with_a_cancelled_cancellable(daemon, loop):
    cancellable = Gio.Cancellable()
    cancellable.cancel()
    results = []

    def on_new(source, result):
        try:
            results.append(Rabc.Client.new_finish(result))
        except GLib.Error as error:
            results.append(error)

    Rabc.Client.new_async(daemon, cancellable, on_new)
    loop.run_until(lambda: results)

    assert isinstance(results[0], GLib.Error), results
    assert_cancelled(results[0])
