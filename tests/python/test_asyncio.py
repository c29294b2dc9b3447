# test_asyncio.py: Rabc.Client.open(), send() and send_bytes() in asyncio
# programs, and the Rabc.RabcError they raise, as the generated calls do
#
# SPDX-License-Identifier: MIT
#
# The event loop is gbulb's, on GLib's default main context, where the
# clients and servers of the tests do their work: that context runs only
# while the loop does.

import asyncio
import inspect
import socket
import threading
import time

import gi
import pytest

gi.require_version('GLib', '2.0')
gi.require_version('Gio', '2.0')
gi.require_version('Rabc', '1.0')
from gi.module import get_introspection_module  # noqa: E402
from gi.repository import Gio, GLib, Rabc  # noqa: E402

import gbulb  # noqa: E402

from conftest import WAIT_TIMEOUT, Loop, assert_rabc_error, read_frame  # noqa: E402

GENERATED = get_introspection_module('Rabc')


@pytest.fixture
def glib_loop():
    """gbulb's asyncio event loop on GLib's default main context."""
    loop = gbulb.GLibEventLoop(context=GLib.MainContext.default())
    yield loop
    loop.close()


def run(loop, coroutine):
    """Runs @coroutine on @loop; a coroutine still waiting after
    WAIT_TIMEOUT fails the test."""
    return loop.run_until_complete(asyncio.wait_for(coroutine, WAIT_TIMEOUT))


async def wait_until(condition, what):
    """Lets the loop run until condition() is true."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'{what}: not within {WAIT_TIMEOUT} s')
        await asyncio.sleep(0.002)


@pytest.fixture
def held(server):
    """The requests @server takes and leaves unanswered, in order."""
    requests = []

    def on_handle_request(server, request):
        requests.append(request)
        return True

    server.connect('handle-request', on_handle_request)
    return requests


def text(request):
    return request.get_payload().get_data().decode()


@pytest.fixture
def echoing(server):
    """Makes @server answer every request with its payload, byte for byte."""
    def on_handle_request(server, request):
        request.reply_bytes(request.get_payload())
        return True

    server.connect('handle-request', on_handle_request)
    return server


# Rabc.Client.open() and async with

def test_open_returns_a_connected_client(server, server_path, glib_loop):
    async def main():
        client = await Rabc.Client.open(server_path, ping_interval=0)
        try:
            assert isinstance(client, Rabc.Client)
            assert client.props.connected
            assert client.props.socket_path == server_path
            # Keyword arguments set properties.
            assert client.props.ping_interval == 0
            return await client.send('ping')
        finally:
            client.close()

    assert run(glib_loop, main()) == 'pong'


def test_async_with_closes_the_client(server, server_path, glib_loop):
    async def main():
        async with Rabc.Client.open(server_path, ping_interval=0) as client:
            assert client.props.connected
            assert await client.send('ping') == 'pong'
        assert not client.props.connected

        # A client that is open already closes at the end of the block too.
        other = await Rabc.Client.open(server_path, ping_interval=0)
        async with other as entered:
            assert entered is other
        assert not other.props.connected

        with pytest.raises(Rabc.RabcError) as excinfo:
            await client.send('ping')
        return excinfo.value

    error = run(glib_loop, main())
    assert error.code == Rabc.Error.CLOSED


def test_async_with_closes_the_client_when_the_block_raises(server, server_path, glib_loop):
    clients = []

    async def main():
        async with Rabc.Client.open(server_path, ping_interval=0) as client:
            clients.append(client)
            raise KeyError('raised in the block')

    with pytest.raises(KeyError):
        run(glib_loop, main())
    assert len(clients) == 1
    assert not clients[0].props.connected


def test_open_without_a_server_raises_rabc_error(sock_dir, glib_loop):
    path = str(sock_dir / 'absent.sock')

    async def main():
        with pytest.raises(Rabc.RabcError) as excinfo:
            await Rabc.Client.open(path)
        with pytest.raises(Rabc.RabcError):
            async with Rabc.Client.open(path):
                raise AssertionError('the block ran without a client')
        return excinfo.value

    error = run(glib_loop, main())
    assert error.code == Rabc.Error.IPC_CONNECTION
    assert path in error.message


# send() and send_bytes()

def test_send_returns_the_reply(server, server_path, glib_loop):
    async def main():
        async with Rabc.Client.open(server_path, ping_interval=0) as client:
            future = client.send('ping')
            assert isinstance(future, asyncio.Future)
            reply = await future
            # The automatic pings' replies are matched as before.
            client.props.ping_interval = 1
            ping_replies = []
            client.connect('reply', lambda client, reply: ping_replies.append(reply))
            await wait_until(lambda: len(ping_replies) >= 3, 'three automatic pings')
            return reply, await client.send('again')

    assert run(glib_loop, main()) == ('pong', 'pong')


def test_send_bytes_carries_nul_both_ways(echoing, server_path, glib_loop):
    async def main():
        async with Rabc.Client.open(server_path, ping_interval=0) as client:
            replies = [await client.send_bytes(b'a\0b'),
                       await client.send_bytes(GLib.Bytes.new(b'\0\0')),
                       await client.send_bytes(bytearray(b'c\0')),
                       await client.send_bytes(memoryview(b'\0 \xe2\x9c\x93')),
                       await client.send_bytes(b'')]
            assert all(type(reply) is bytes for reply in replies)
            return replies

    assert run(glib_loop, main()) == [b'a\0b', b'\0\0', b'c\0', '\0 \u2713'.encode(), b'']


def test_send_refuses_nul_and_send_bytes_refuses_str(echoing, server_path, glib_loop):
    async def main():
        async with Rabc.Client.open(server_path, ping_interval=0) as client:
            with pytest.raises(ValueError, match=r'U\+0000.*send_bytes\(\)'):
                client.send('a\0b')
            with pytest.raises(TypeError, match=r'send\(\)'):
                client.send_bytes('text')
            with pytest.raises(TypeError):
                client.send_bytes(3)
            # Nothing was sent: the next reply is the next request's.
            return await client.send('next')

    assert run(glib_loop, main()) == 'next'


def test_concurrent_sends_get_their_own_replies(held, server_path, glib_loop):
    # Fewer than the server's max-pending-requests, 128, so that it takes
    # every request before answering any.
    count = 100
    messages = [f'message {index}' for index in range(count)]

    async def main():
        async with Rabc.Client.open(server_path, ping_interval=0) as client:
            replies = asyncio.gather(*(client.send(message) for message in messages),
                                     client.send_bytes(b'last\0'))
            await wait_until(lambda: len(held) == count + 1, 'every request reached the server')
            # Sent in the order of the calls.
            assert [request.get_payload().get_data() for request in held] == \
                [message.encode() for message in messages] + [b'last\0']
            # Answered last to first: the replies still leave in order.
            for request in reversed(held):
                request.reply_bytes(GLib.Bytes.new(b'reply to ' + request.get_payload().get_data()))
            return await replies

    assert run(glib_loop, main()) == [f'reply to {message}' for message in messages] + \
        [b'reply to last\0']


def test_sends_from_many_tasks_get_their_own_replies(echoing, server_path, glib_loop):
    async def worker(client, name):
        return [await client.send(f'{name} {index}') for index in range(20)]

    async def main():
        async with Rabc.Client.open(server_path, ping_interval=0) as client:
            return await asyncio.gather(*(worker(client, f'task {n}') for n in range(10)))

    assert run(glib_loop, main()) == [[f'task {n} {index}' for index in range(20)]
                                      for n in range(10)]


# Cancellation

def spy_on_send_async(client):
    """Records the cancellable of each send_async() of @client and whether
    its callback ran with an error, and when."""
    calls = []
    send_async = client.send_async

    def spy(message, cancellable, callback, *user_data):
        call = {'message': message, 'cancellable': cancellable, 'outcome': None}
        calls.append(call)

        def on_done(client, result, *user_data):
            call['outcome'] = 'error' if result.had_error() else 'reply'
            callback(client, result, *user_data)

        return send_async(message, cancellable, on_done, *user_data)

    client.send_async = spy
    return calls


def test_cancelling_the_task_cancels_the_request(held, server_path, glib_loop):
    async def main():
        async with Rabc.Client.open(server_path, ping_interval=0) as client:
            calls = spy_on_send_async(client)
            async def awaiting():
                return await client.send('first')

            task = asyncio.ensure_future(awaiting())
            await wait_until(lambda: len(held) == 1, 'the request reached the server')
            assert not task.done() and not calls[0]['cancellable'].is_cancelled()

            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The cancellable given to librabc is cancelled, and librabc
            # fails the request at once, with no reply from the server.
            assert calls[0]['cancellable'].is_cancelled()
            await wait_until(lambda: calls[0]['outcome'] is not None, 'the callback')
            assert calls[0]['outcome'] == 'error'

            # The reply to the cancelled request is dropped; the client
            # stays usable, and the next request gets its own reply.
            second = client.send('second')
            await wait_until(lambda: len(held) == 2, 'the second request reached the server')
            held[0].reply('reply to first')
            held[1].reply('reply to second')
            reply = await second
            assert not calls[1]['cancellable'].is_cancelled()
            assert client.props.connected
            return reply, [text(request) for request in held]

    reply, received = run(glib_loop, main())
    assert reply == 'reply to second'
    assert received == ['first', 'second']


def test_cancelled_open_closes_its_client(server, server_path, glib_loop, monkeypatch):
    opened = []
    init_async = Rabc.Client.init_async

    def spy(client, io_priority, cancellable, callback, *user_data):
        call = {'client': client, 'called back': False}
        opened.append(call)

        def on_done(*args):
            callback(*args)
            call['called back'] = True

        return init_async(client, io_priority, cancellable, on_done, *user_data)

    monkeypatch.setattr(Rabc.Client, 'init_async', spy)

    async def main():
        opening = Rabc.Client.open(server_path, ping_interval=0)
        assert isinstance(opening, asyncio.Future)
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        await wait_until(lambda: opened[0]['called back'], 'the callback of init_async')
        # librabc connects at once: the client it made is closed, as if
        # the open had not been.
        assert not opened[0]['client'].props.connected
        await wait_until(lambda: server.props.n_clients == 0, 'the server lost its client')

    run(glib_loop, main())


# Failures

def test_timed_out_send_raises_rabc_error(held, server_path, glib_loop):
    async def main():
        async with Rabc.Client.open(server_path, ping_interval=0, timeout=50) as client:
            with pytest.raises(Rabc.RabcError) as excinfo:
                await client.send('never answered')
            return excinfo.value

    error = run(glib_loop, main())
    assert isinstance(error, GLib.Error)
    assert error.code == Rabc.Error.TIMED_OUT
    assert isinstance(error.code, Rabc.Error)
    assert_rabc_error(error, Rabc.Error.TIMED_OUT)


def test_send_on_a_closing_client_raises_rabc_error(held, server_path, glib_loop):
    async def main():
        client = await Rabc.Client.open(server_path, ping_interval=0)
        pending = client.send_bytes(b'held')
        await wait_until(lambda: held, 'the request reached the server')
        client.close()
        with pytest.raises(Rabc.RabcError) as excinfo:
            await pending
        return excinfo.value

    assert run(glib_loop, main()).code == Rabc.Error.CLOSED


def test_send_when_the_server_goes_away_raises_rabc_error(raw_server, glib_loop):
    def hang_up(conn):
        if read_frame(conn) is not None:
            conn.shutdown(socket.SHUT_RDWR)

    path = raw_server(hang_up).path

    async def main():
        async with Rabc.Client.open(path, ping_interval=0) as client:
            with pytest.raises(Rabc.RabcError) as excinfo:
                await client.send('hello')
            return excinfo.value

    assert run(glib_loop, main()).code == Rabc.Error.IPC_CONNECTION


# Event loops that do not run GLib's main context

@pytest.mark.parametrize('make_loop', [asyncio.SelectorEventLoop, gbulb.GLibEventLoop],
                         ids=['asyncio', 'gbulb-private-context'])
def test_loop_without_glib_context_raises_runtime_error(echo_server, make_loop):
    client = Rabc.Client.new_sync(echo_server.path, None)

    async def main():
        for call in (lambda: client.send('refused'),
                     lambda: client.send_bytes(b'refused'),
                     lambda: Rabc.Client.open(echo_server.path)):
            with pytest.raises(RuntimeError, match=r'gbulb\.install\(\)') as excinfo:
                call()
            assert "GLib's main context" in str(excinfo.value)

    loop = make_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), WAIT_TIMEOUT))
    finally:
        loop.close()
    # Nothing was sent: the echo of this request is the first reply.
    assert client.send_sync('sync', None) == 'sync'
    client.close()


def test_calls_outside_an_event_loop_raise_runtime_error(echo_server):
    client = Rabc.Client.new_sync(echo_server.path, None)

    for call in (lambda: client.send('refused'),
                 lambda: client.send_bytes(b'refused'),
                 lambda: Rabc.Client.open(echo_server.path)):
        with pytest.raises(RuntimeError, match='no running event loop'):
            call()

    assert client.send_sync('sync', None) == 'sync'
    client.close()


def test_asyncio_loop_with_glib_main_loop_in_another_thread(echo_server):
    loop = Loop()
    outcome = {}

    async def main():
        async with Rabc.Client.open(echo_server.path, ping_interval=0) as client:
            return await asyncio.gather(client.send('one'), client.send_bytes(b'two\0'))

    def in_thread():
        try:
            outcome['replies'] = asyncio.run(asyncio.wait_for(main(), WAIT_TIMEOUT))
        except BaseException as error:
            outcome['error'] = error

    worker = threading.Thread(target=in_thread)

    def start():
        # Started from the running GLib.MainLoop, which owns the context.
        worker.start()
        return GLib.SOURCE_REMOVE

    GLib.idle_add(start)
    loop.run_until(lambda: worker.ident is not None and not worker.is_alive())
    worker.join()
    assert 'error' not in outcome, outcome
    assert outcome['replies'] == ['one', b'two\0']


# Rabc.RabcError from the generated calls: the same arguments, the same
# return values, RabcError instead of GLib.Error

def test_rabc_error_is_a_glib_error():
    error = Rabc.RabcError('went wrong', code=Rabc.Error.CLOSED)

    assert isinstance(error, GLib.Error)
    assert error.matches(Rabc.Error.quark(), Rabc.Error.CLOSED)
    assert error.code == Rabc.Error.CLOSED and isinstance(error.code, Rabc.Error)
    assert error.domain == 'rabc-error-quark'
    assert str(error) == 'rabc-error-quark: went wrong (5)'
    assert repr(error) == "Rabc.RabcError('went wrong', 'rabc-error-quark', Rabc.Error.CLOSED)"
    copy = error.copy()
    assert type(copy) is Rabc.RabcError and copy.code == error.code
    # Rabc.Error stays the enumeration of codes.
    assert Rabc.Error.CLOSED == 5 and Rabc.Error.quark() == Rabc.error_quark()


def test_generated_calls_keep_their_documentation():
    for name in ('new_sync', 'new_finish', 'init', 'init_finish', 'send_finish',
                 'send_bytes_sync', 'send_bytes_finish'):
        assert getattr(Rabc.Client, name).__doc__ == getattr(GENERATED.Client, name).__doc__, name
    for name in ('start', 'start_with_socket_fd'):
        assert getattr(Rabc.Server, name).__doc__ == getattr(GENERATED.Server, name).__doc__, name
    for name in ('new_sync', 'new_finish'):
        assert isinstance(inspect.getattr_static(Rabc.Client, name), staticmethod), name


def test_sync_calls_return_what_they_did(echoing, server_path):
    loop = Loop()
    results = []

    def in_thread():
        client = Rabc.Client.new_sync(server_path, None)
        client2 = Rabc.Client.new_sync(server_path)
        other = Rabc.Client(socket_path=server_path, ping_interval=0)
        results.extend([type(client), type(client2), other.init(None),
                        client.send_sync('text', None), client.send_sync('text'),
                        client.send_bytes_sync(GLib.Bytes.new(b'a\0b'), None)])
        for each in (client, client2, other):
            each.close()

    thread = threading.Thread(target=in_thread)
    thread.start()
    loop.run_until(lambda: not thread.is_alive())
    thread.join()

    assert results[:5] == [Rabc.Client, Rabc.Client, True, 'text', 'text']
    assert isinstance(results[5], GLib.Bytes) and results[5].get_data() == b'a\0b'


def test_async_calls_return_what_they_did(echoing, server_path):
    loop = Loop()
    results = []

    def finish(call):
        def on_done(source, result):
            results.append(call(source, result))
        return on_done

    Rabc.Client.new_async(server_path, None,
                          finish(lambda _, result: Rabc.Client.new_finish(result)))
    loop.run_until(lambda: results)
    client = results.pop()
    assert type(client) is Rabc.Client

    client.send_async('text', None, finish(lambda c, result: ('text', c.send_finish(result))))
    client.send_bytes_async(GLib.Bytes.new(b'\0'), None, finish(
        lambda c, result: ('bytes', c.send_bytes_finish(result))))
    other = Rabc.Client(socket_path=server_path, ping_interval=0)
    other.init_async(GLib.PRIORITY_DEFAULT, None,
                     finish(lambda c, result: ('init', c.init_finish(result))))
    loop.run_until(lambda: len(results) == 3)
    results = dict(results)
    assert results['text'] == 'text'
    assert isinstance(results['bytes'], GLib.Bytes) and results['bytes'].get_data() == b'\0'
    assert results['init'] is True
    client.close()
    other.close()


def absent_path(sock_dir):
    return str(sock_dir / 'absent.sock')


def test_sync_calls_raise_rabc_error(sock_dir, echo_server):
    path = absent_path(sock_dir)
    errors = []
    for call in (lambda: Rabc.Client.new_sync(path, None),
                 lambda: Rabc.Client(socket_path=path).init(None)):
        with pytest.raises(Rabc.RabcError) as excinfo:
            call()
        errors.append(excinfo.value)

    client = Rabc.Client.new_sync(echo_server.path, None)
    client.close()
    for call in (lambda: client.send_sync('ping', None),
                 lambda: client.send_bytes_sync(GLib.Bytes.new(b'ping'), None)):
        with pytest.raises(Rabc.RabcError) as excinfo:
            call()
        errors.append(excinfo.value)

    assert [error.code for error in errors] == [Rabc.Error.IPC_CONNECTION] * 2 + \
        [Rabc.Error.CLOSED] * 2
    assert all(path in error.message for error in errors[:2])


def test_async_calls_raise_rabc_error(sock_dir, echo_server):
    path = absent_path(sock_dir)
    loop = Loop()
    errors = []

    def failing(call):
        def on_done(source, result):
            try:
                call(source, result)
            except GLib.Error as error:
                errors.append(error)
        return on_done

    Rabc.Client.new_async(path, None, failing(lambda _, result: Rabc.Client.new_finish(result)))
    Rabc.Client(socket_path=path).init_async(
        GLib.PRIORITY_DEFAULT, None, failing(lambda c, result: c.init_finish(result)))
    client = Rabc.Client.new_sync(echo_server.path, None)
    client.close()
    client.send_async('ping', None, failing(lambda c, result: c.send_finish(result)))
    client.send_bytes_async(GLib.Bytes.new(b'ping'), None,
                            failing(lambda c, result: c.send_bytes_finish(result)))
    loop.run_until(lambda: len(errors) == 4)

    assert all(type(error) is Rabc.RabcError for error in errors), errors
    assert sorted(error.code for error in errors) == \
        [Rabc.Error.IPC_CONNECTION] * 2 + [Rabc.Error.CLOSED] * 2


def test_server_calls_raise_rabc_error(server, server_path):
    with pytest.raises(Rabc.RabcError) as busy:
        Rabc.Server.new(server_path).start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unbound:
        with pytest.raises(Rabc.RabcError) as not_listening:
            Rabc.Server.new(server_path).start_with_socket_fd(unbound.fileno())

    assert busy.value.code == Rabc.Error.ADDRESS_IN_USE
    assert not_listening.value.code == Rabc.Error.INVALID_ARGUMENT
    # The first server still serves.
    client = Rabc.Client.new_sync(server_path, None)
    loop = Loop()
    replies = []
    client.send_async('ping', None, lambda c, result: replies.append(c.send_finish(result)))
    loop.run_until(lambda: replies)
    assert replies == ['pong']
    client.close()


def test_errors_of_other_domains_stay_glib_errors(echo_server):
    client = Rabc.Client.new_sync(echo_server.path, None)
    cancellable = Gio.Cancellable()
    cancellable.cancel()

    with pytest.raises(GLib.Error) as excinfo:
        client.send_sync('ping', cancellable)
    client.close()

    assert type(excinfo.value) is GLib.Error
    assert excinfo.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED)
