# test_threads.py: one Rabc.Client shared by Python threads
#
# SPDX-License-Identifier: MIT
#
# The echo server answers every message with its own bytes, so a reply
# handed to the wrong thread shows as a wrong reply.  Every wait is for a
# condition; GUARD only bounds how long a broken client may hang a test.

import concurrent.futures
import threading

import pytest
from gi.repository import GLib, Rabc

from conftest import assert_rabc_error, encode_frame, read_frame

# How long a wait may take before the test fails, on a loaded machine.
GUARD = 30.0
GUARD_MS = int(GUARD * 1000)


class Worker(threading.Thread):
    """A thread that keeps what its target returned or raised, for the
    main thread to check."""

    def __init__(self, target, *args):
        super().__init__(daemon=True)
        self.target = target
        self.args = args
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self.target(*self.args)
        except BaseException as error:  # re-raised by join_all()
            self.error = error


def join_all(workers, timeout=GUARD):
    """Joins @workers; fails if one still runs after @timeout, or re-raises
    the first failure of one."""
    for worker in workers:
        worker.join(timeout)
        assert not worker.is_alive(), f'{worker.name} still runs after {timeout} s'
    for worker in workers:
        if worker.error is not None:
            raise worker.error
    return [worker.result for worker in workers]


def iterate_until(context, condition, timeout=GUARD):
    """Iterates @context, which the calling thread owns, until condition()
    is true."""
    timed_out = []
    guard = GLib.Timeout(int(timeout * 1000))
    guard.set_callback(lambda *args: timed_out.append(True) or GLib.SOURCE_REMOVE)
    guard.attach(context)
    try:
        while not condition() and not timed_out:
            context.iteration(True)
    finally:
        guard.destroy()
    assert condition(), f'not done after {timeout} s'


def new_client(path, **props):
    client = Rabc.Client(socket_path=path, timeout=GUARD_MS, **props)
    assert client.init(None)
    return client


def send_sync_many(client, index, count):
    for call in range(count):
        message = f't{index}-i{call}'
        reply = client.send_sync(message, None)
        assert reply == message, f'thread {index} sent {message!r}, got {reply!r}'
    return count


def test_threads_get_their_own_replies_while_pings_reply_in_the_main_thread(echo_server, loop):
    threads, calls = 8, 2000
    client = new_client(echo_server.path, ping_interval=10)
    pings = []
    client.connect('reply', lambda client, reply:
                   pings.append((reply, threading.current_thread() is threading.main_thread())))
    workers = [Worker(send_sync_many, client, index, calls) for index in range(threads)]

    def start():
        for worker in workers:
            worker.start()
        return GLib.SOURCE_REMOVE

    # Started from the running loop: the main thread holds the client's
    # context for as long as the workers run.
    GLib.idle_add(start)
    try:
        loop.run_until(lambda: all(worker.ident is not None and not worker.is_alive()
                                   for worker in workers) and pings,
                       timeout=GUARD)
    finally:
        client.close()

    assert sum(join_all(workers)) == threads * calls
    assert pings, 'no automatic ping was answered'
    assert {reply for reply, _ in pings} == {'ping'}
    assert all(in_main_thread for _, in_main_thread in pings), \
        '::reply was emitted in a worker thread'


def test_thread_pool_shares_one_client_without_a_main_loop(echo_server):
    client = new_client(echo_server.path, ping_interval=0)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=16)
    try:
        futures = {executor.submit(client.send_sync, f'task {task}', None): f'task {task}'
                   for task in range(5000)}
        done = 0
        for future in concurrent.futures.as_completed(futures, timeout=GUARD):
            assert future.result() == futures[future]
            done += 1
        assert done == len(futures)
    finally:
        # A hung call must not hang the shutdown: close fails it.
        client.close()
        executor.shutdown(wait=True, cancel_futures=True)


def test_send_async_callbacks_run_in_the_context_of_the_calling_thread(echo_server, loop):
    threads, rounds, batch = 8, 250, 4
    client = new_client(echo_server.path, ping_interval=0)

    def send_async_rounds(index):
        context = GLib.MainContext()
        context.push_thread_default()
        try:
            for round_ in range(rounds):
                messages = [f't{index}-r{round_}-m{m}' for m in range(batch)]
                results = []

                def on_reply(client, result, message):
                    results.append((message, client.send_finish(result), threading.current_thread()))

                for message in messages:
                    client.send_async(message, None, on_reply, message)
                assert results == [], 'a callback ran inside send_async'
                iterate_until(context, lambda: len(results) == batch)

                # In order, each its own reply, each in this thread.
                assert results == [(message, message, threading.current_thread())
                                   for message in messages]
        finally:
            context.pop_thread_default()
        return rounds * batch

    workers = [Worker(send_async_rounds, index) for index in range(threads)]
    for worker in workers:
        worker.start()
    try:
        # The client's context reads the replies; the workers run the callbacks.
        loop.run_until(lambda: not any(worker.is_alive() for worker in workers),
                       timeout=2 * GUARD)
    finally:
        client.close()

    assert sum(join_all(workers)) == threads * rounds * batch


def send_sync_until_closed(client, index, progress):
    """Sends until the client is closed; every reply must be the thread's
    own message, the failure CLOSED, and the next call CLOSED too.
    Returns how many replies came."""
    call = 0
    while True:
        message = f't{index}-i{call}'
        try:
            reply = client.send_sync(message, None)
        except GLib.Error as error:
            assert_rabc_error(error, Rabc.Error.CLOSED)
            break
        assert reply == message, f'thread {index} sent {message!r}, got {reply!r}'
        call += 1
        progress(index, call)

    with pytest.raises(GLib.Error) as excinfo:
        client.send_sync(f't{index}-after-close', None)
    assert_rabc_error(excinfo.value, Rabc.Error.CLOSED)
    return call


class Progress:
    """How many replies each thread has had, for the main thread to wait on."""

    def __init__(self, threads):
        self.counts = [0] * threads
        self.changed = threading.Condition()

    def __call__(self, index, count):
        with self.changed:
            self.counts[index] = count
            self.changed.notify_all()

    def wait_for_each(self, count):
        with self.changed:
            assert self.changed.wait_for(lambda: min(self.counts) >= count, GUARD), \
                f'replies per thread after {GUARD} s: {self.counts}'


def test_close_from_another_thread_while_threads_send(echo_server):
    threads = 6
    client = new_client(echo_server.path, ping_interval=0)
    progress = Progress(threads)
    workers = [Worker(send_sync_until_closed, client, index, progress)
               for index in range(threads)]
    for worker in workers:
        worker.start()
    try:
        progress.wait_for_each(20)
    finally:
        client.close()

    replies = join_all(workers)
    assert all(count >= 20 for count in replies), replies
    assert client.props.connected is False


class StallingEcho:
    """An echo handler that holds every frame it reads once stall is set,
    so that their senders stay blocked."""

    def __init__(self):
        self.stall = threading.Event()
        self.held = []
        self.changed = threading.Condition()

    def __call__(self, conn):
        while (payload := read_frame(conn)) is not None:
            if self.stall.is_set():
                with self.changed:
                    self.held.append(payload.decode())
                    self.changed.notify_all()
            else:
                conn.sendall(encode_frame(payload))

    def wait_for_held(self, count):
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.held) >= count, GUARD), \
                f'held after {GUARD} s: {self.held}'


def test_close_fails_send_sync_blocked_in_other_threads_with_closed(raw_server):
    threads = 6
    handler = StallingEcho()
    server = raw_server(handler)
    # No timeout: only the close may end the blocked calls.
    client = Rabc.Client(socket_path=server.path, ping_interval=0, timeout=0)
    assert client.init(None)
    progress = Progress(threads)
    workers = [Worker(send_sync_until_closed, client, index, progress)
               for index in range(threads)]
    for worker in workers:
        worker.start()
    try:
        progress.wait_for_each(10)
        handler.stall.set()
        # Each thread has one request in flight: once the server holds one
        # from every thread, every thread is blocked in send_sync.
        handler.wait_for_held(threads)
    finally:
        client.close()

    replies = join_all(workers)
    # The call that failed with CLOSED is the one the server held.
    assert sorted(handler.held) == sorted(f't{index}-i{count}'
                                          for index, count in enumerate(replies))


def test_send_bytes_sync_carries_nul_both_ways(echo_server):
    client = new_client(echo_server.path, ping_interval=0)

    reply = client.send_bytes_sync(GLib.Bytes(b'a\x00b'), None)

    assert isinstance(reply, GLib.Bytes)
    assert reply.get_data() == b'a\x00b'
    client.close()


def test_send_bytes_async_carries_nul_both_ways(echo_server, loop):
    client = new_client(echo_server.path, ping_interval=0)
    results = []

    def on_reply(client, result):
        results.append(client.send_bytes_finish(result))

    client.send_bytes_async(GLib.Bytes(b'a\x00b'), None, on_reply)
    loop.run_until(lambda: results)

    (reply,) = results
    assert reply.get_data() == b'a\x00b'
    client.close()


def test_send_bytes_to_rabcd_gets_pong(daemon, loop):
    client = new_client(daemon, ping_interval=0)
    results = []

    def on_reply(client, result):
        results.append(client.send_bytes_finish(result))

    assert client.send_bytes_sync(GLib.Bytes(b'a\x00b'), None).get_data() == b'pong'
    client.send_bytes_async(GLib.Bytes(b'a\x00b'), None, on_reply)
    loop.run_until(lambda: results)
    assert results[0].get_data() == b'pong'
    client.close()


def test_ping_message_none_means_the_default(echo_server, loop):
    # Runs with G_DEBUG=fatal-criticals: a critical would abort.
    client = Rabc.Client(socket_path=echo_server.path, ping_interval=10, ping_message=None)
    assert client.init(None)
    assert client.props.ping_message == 'ping'
    assert client.dup_ping_message() == 'ping'

    client.props.ping_message = 'hello'
    assert client.props.ping_message == 'hello'
    client.props.ping_message = None
    assert client.props.ping_message == 'ping'
    assert client.dup_ping_message() == 'ping'

    # And "ping" is what goes on the wire: the echo server sends it back.
    pings = []
    client.connect('reply', lambda client, reply: pings.append(reply))
    loop.run_until(lambda: pings)
    assert set(pings) == {'ping'}
    client.close()
