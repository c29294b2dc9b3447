# test_service.py: applications answering requests through
# Rabc.Server::handle-request, Rabc.Request and Rabc.Peer
#
# SPDX-License-Identifier: MIT
#
# Most servers here run on the default main context, with clients on the
# same GLib.MainLoop using the asynchronous calls (a send_sync would block
# the loop the server needs); ServerThread runs one on a context of its own
# for the blocking calls.  Every wait is for a condition; GUARD only bounds
# how long a broken server may hang a test.

import concurrent.futures
import gc
import json
import os
import pwd
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import threading

import pytest
from gi.repository import GLib, Rabc

import conftest
from conftest import assert_rabc_error, required_env

GUARD = 30.0
GUARD_MS = int(GUARD * 1000)
HERE = os.path.dirname(os.path.abspath(__file__))


def new_client(loop, path, **properties):
    """Connects a client without automatic pings, whose calls wait as long
    as the guard."""
    properties.setdefault('ping_interval', 0)
    properties.setdefault('timeout', GUARD_MS)
    return conftest.new_client(loop, path, wait=GUARD, **properties)


class Pipeline:
    """Sends messages with send_async without waiting for the replies;
    results holds (message, reply or GLib.Error) in the order the
    callbacks ran."""

    def __init__(self, client):
        self.client = client
        self.results = []

    def send(self, *messages):
        for message in messages:
            self.client.send_async(message, None, self._on_reply, message)

    def _on_reply(self, client, result, message):
        try:
            self.results.append((message, client.send_finish(result)))
        except GLib.Error as error:
            self.results.append((message, error))


def reply_to(message):
    return f'reply to {message}'


def answer(request):
    request.reply(reply_to(request.get_message()))


class Holder:
    """A ::handle-request handler that takes every request and keeps it."""

    def __init__(self, server):
        self.requests = []
        server.connect('handle-request', self)

    def __call__(self, server, request):
        self.requests.append(request)
        return True

    def messages(self):
        return [request.get_message() for request in self.requests]


def round_trip(loop, client, message='probe'):
    """One request on @client, the loop running until its reply comes: the
    server has had its turns in between."""
    pipeline = Pipeline(client)
    pipeline.send(message)
    loop.run_until(lambda: pipeline.results, timeout=GUARD)
    return pipeline.results[0][1]


def test_handler_answers_at_once(server, loop):
    seen = []
    received = []

    def on_handle_request(server, request):
        peer = request.get_peer()
        seen.append((request.get_message(), request.props.message,
                     request.props.peer is peer, peer.props.connected, list(received)))
        request.reply(request.get_message().upper())
        return True

    server.connect('message-received', lambda server, message: received.append(message))
    server.connect('handle-request', on_handle_request)
    client = new_client(loop, server.props.socket_path)

    assert round_trip(loop, client, 'hello \u2713') == 'HELLO \u2713'
    assert round_trip(loop, client, '') == ''
    # ::message-received comes first.
    assert seen == [('hello \u2713', 'hello \u2713', True, True, ['hello \u2713']),
                    ('', '', True, True, ['hello \u2713', ''])]
    client.close()


def test_handler_returning_false_gets_the_servers_reply(server, loop):
    declined = []
    server.connect('handle-request', lambda server, request: declined.append(request.get_message()) or False)
    client = new_client(loop, server.props.socket_path)

    assert round_trip(loop, client, 'one') == 'pong'
    server.props.reply = 'custom \u2713'
    assert round_trip(loop, client, 'two') == 'custom \u2713'
    assert declined == ['one', 'two']

    # A handler after one that declines still gets the request.
    server.connect('handle-request', lambda server, request: answer(request) or True)
    assert round_trip(loop, client, 'three') == reply_to('three')
    assert declined == ['one', 'two', 'three']
    client.close()


def test_the_first_handler_that_takes_a_request_answers_it(server, loop):
    later = []
    server.connect('handle-request', lambda server, request: answer(request) or True)
    server.connect('handle-request', lambda server, request: later.append(request) or True)
    client = new_client(loop, server.props.socket_path)

    assert round_trip(loop, client, 'one') == reply_to('one')
    assert later == []
    client.close()


@pytest.mark.parametrize('source', ['timeout', 'idle'])
def test_handler_answers_later_from_the_main_loop(server, loop, source):
    def on_handle_request(server, request):
        def later():
            answer(request)
            return GLib.SOURCE_REMOVE

        if source == 'timeout':
            GLib.timeout_add(20, later)
        else:
            GLib.idle_add(later)
        return True

    server.connect('handle-request', on_handle_request)
    client = new_client(loop, server.props.socket_path)
    pipeline = Pipeline(client)
    messages = [f'm{index}' for index in range(5)]

    pipeline.send(*messages)
    loop.run_until(lambda: len(pipeline.results) == len(messages), timeout=GUARD)

    assert pipeline.results == [(message, reply_to(message)) for message in messages]
    client.close()


def test_replies_go_out_in_request_order_when_answered_in_reverse(server, loop):
    holder = Holder(server)
    client = new_client(loop, server.props.socket_path)
    other = new_client(loop, server.props.socket_path)
    pipeline = Pipeline(client)
    messages = [f'm{index}' for index in range(10)]

    pipeline.send(*messages)
    loop.run_until(lambda: len(holder.requests) == len(messages), timeout=GUARD)
    assert holder.messages() == messages
    first, *rest = holder.requests
    holder.requests.clear()
    peer = first.get_peer()
    assert peer.props.n_pending == len(messages)

    for request in reversed(rest):
        answer(request)
    loop.run_until(lambda: peer.props.n_pending == 1, timeout=GUARD)
    # The other client is served meanwhile; this one's replies wait for the
    # first.
    probe = Pipeline(other)
    probe.send('probe')
    loop.run_until(lambda: holder.requests, timeout=GUARD)
    answer(holder.requests.pop())
    loop.run_until(lambda: probe.results, timeout=GUARD)
    assert probe.results == [('probe', reply_to('probe'))]
    assert pipeline.results == []

    answer(first)
    loop.run_until(lambda: len(pipeline.results) == len(messages), timeout=GUARD)

    # The client matches replies first in first out: each is its own.
    assert pipeline.results == [(message, reply_to(message)) for message in messages]
    assert peer.props.n_pending == 0
    client.close()
    other.close()


class ThreadAnswerer:
    """Takes every request and has another thread answer it, once all
    @count are taken, so that the threads answer in whatever order they
    run.  Records the thread of each answer and of each n-pending
    notification."""

    def __init__(self, server, count, how):
        self.count = count
        self.how = how
        self.taken = 0
        self.all_taken = threading.Event()
        self.answer_threads = []
        self.notify_threads = []
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=8) if how == 'pool' else None
        self.workers = []
        server.connect('client-connected', self.on_client_connected)
        server.connect('handle-request', self.on_handle_request)

    def on_client_connected(self, server, peer):
        peer.connect('notify::n-pending',
                     lambda peer, pspec: self.notify_threads.append(threading.current_thread()))

    def work(self, request):
        assert self.all_taken.wait(GUARD), 'not every request was taken'
        self.answer_threads.append(threading.current_thread())
        answer(request)

    def on_handle_request(self, server, request):
        if self.how == 'pool':
            self.workers.append(self.executor.submit(self.work, request))
        else:
            worker = threading.Thread(target=self.work, args=(request,), daemon=True)
            self.workers.append(worker)
            worker.start()
        self.taken += 1
        if self.taken == self.count:
            self.all_taken.set()
        return True

    def finish(self):
        self.all_taken.set()
        if self.executor is not None:
            for future in self.workers:
                future.result(GUARD)
            self.executor.shutdown(wait=True)
        else:
            for worker in self.workers:
                worker.join(GUARD)
                assert not worker.is_alive()


@pytest.mark.parametrize('how', ['thread', 'pool'])
def test_answers_from_other_threads(server, loop, how):
    count = 50
    answerer = ThreadAnswerer(server, count, how)
    client = new_client(loop, server.props.socket_path)
    pipeline = Pipeline(client)
    messages = [f'm{index}' for index in range(count)]
    try:
        pipeline.send(*messages)
        loop.run_until(lambda: len(pipeline.results) == count, timeout=GUARD)
    finally:
        answerer.finish()

    assert pipeline.results == [(message, reply_to(message)) for message in messages]
    main = threading.main_thread()
    assert len(answerer.answer_threads) == count
    assert main not in answerer.answer_threads
    # The replies are written in the server's context: so the peer's
    # notifications come there.
    assert answerer.notify_threads
    assert set(answerer.notify_threads) == {main}
    client.close()


def test_many_pipelined_requests_answered_in_mixed_ways_keep_their_order(server, loop):
    count = 500
    rng = random.Random(20240601)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    futures = []

    def later(request):
        answer(request)
        return GLib.SOURCE_REMOVE

    def on_handle_request(server, request):
        index = int(request.get_message()[1:])
        way = index % 5
        if way == 0:
            answer(request)
        elif way == 1:
            GLib.idle_add(later, request)
        elif way == 2:
            GLib.timeout_add(rng.randrange(0, 20), later, request)
        elif way == 3:
            futures.append(executor.submit(answer, request))
        else:
            return False
        return True

    server.connect('handle-request', on_handle_request)
    client = new_client(loop, server.props.socket_path)
    pipeline = Pipeline(client)
    messages = [f'm{index}' for index in range(count)]
    try:
        pipeline.send(*messages)
        loop.run_until(lambda: len(pipeline.results) == count, timeout=GUARD)
    finally:
        executor.shutdown(wait=True)

    for future in futures:
        future.result()
    assert pipeline.results == [(message, 'pong' if index % 5 == 4 else reply_to(message))
                                for index, message in enumerate(messages)]
    client.close()


def test_a_peer_that_disconnects_with_requests_taken(server, loop):
    holder = Holder(server)
    connected = []
    disconnected = []
    notified = []
    server.connect('client-connected', lambda server, peer: connected.append(peer))
    server.connect('client-disconnected',
                   lambda server, peer: disconnected.append((peer, peer.props.connected,
                                                             peer.props.n_pending)))
    client = new_client(loop, server.props.socket_path)
    loop.run_until(lambda: connected, timeout=GUARD)
    peer = connected[0]
    peer.connect('notify::connected', lambda peer, pspec: notified.append(peer.props.connected))
    pipeline = Pipeline(client)

    pipeline.send('a', 'b', 'c')
    loop.run_until(lambda: len(holder.requests) == 3, timeout=GUARD)
    assert all(request.get_peer() is peer for request in holder.requests)
    assert peer.props.n_pending == 3
    assert peer.props.connected is True

    client.close()
    loop.run_until(lambda: disconnected, timeout=GUARD)

    assert disconnected == [(peer, False, 0)]
    assert notified == [False]
    assert server.props.n_clients == 0
    assert server.get_peers() == []
    # The client's calls failed with the close.
    assert [message for message, _ in pipeline.results] == ['a', 'b', 'c']
    for _, error in pipeline.results:
        assert isinstance(error, GLib.Error), error
        assert_rabc_error(error, Rabc.Error.CLOSED)

    # Answering now does nothing, and is no error: a critical would abort
    # this process (G_DEBUG=fatal-criticals).
    holder.requests[0].reply('too late')
    holder.requests[1].reply_bytes(GLib.Bytes.new(b'too late'))
    holder.requests[2].reply(None)
    assert peer.props.n_pending == 0
    assert peer.props.connected is False

    # And the server serves the next client.
    holder.requests.clear()
    other = new_client(loop, server.props.socket_path)
    probe = Pipeline(other)
    probe.send('next')
    loop.run_until(lambda: holder.requests, timeout=GUARD)
    answer(holder.requests[0])
    loop.run_until(lambda: probe.results, timeout=GUARD)
    assert probe.results == [('next', reply_to('next'))]
    assert disconnected == [(peer, False, 0)]
    other.close()


def collected():
    """Collects garbage, in case a reference cycle holds a request."""
    gc.collect()
    return True


def test_a_request_released_unanswered_gets_the_servers_reply_and_a_warning(server, loop, capfd):
    def on_handle_request(server, request):
        if request.get_message() == 'dropped':
            # Taken, never answered: the last reference goes with this frame.
            return True
        answer(request)
        return True

    server.connect('handle-request', on_handle_request)
    client = new_client(loop, server.props.socket_path)
    pipeline = Pipeline(client)

    pipeline.send('before', 'dropped', 'after')
    loop.run_until(lambda: collected() and len(pipeline.results) == 3, timeout=GUARD)

    assert pipeline.results == [('before', reply_to('before')), ('dropped', 'pong'),
                                ('after', reply_to('after'))]
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if 'released without an answer' in line]
    assert len(warnings) == 1, err
    assert 'WARNING' in warnings[0], err
    assert f'pid {os.getpid()}' in warnings[0], err
    client.close()


# Runs in a process of its own, without G_DEBUG=fatal-criticals: the
# critical is the behaviour under test.
ANSWER_TWICE = r'''
import json, os, sys
import gi
gi.require_version('Rabc', '1.0')
from gi.repository import GLib, Rabc

path = sys.argv[1]
server = Rabc.Server.new(path)

def on_handle_request(server, request):
    if request.get_message() == 'twice':
        request.reply('first')
        request.reply('second')
        request.reply_bytes(GLib.Bytes.new(b'third'))
    else:
        request.reply('reply to ' + request.get_message())
    return True

server.connect('handle-request', on_handle_request)
server.start()
loop = GLib.MainLoop()
client = Rabc.Client(socket_path=path, ping_interval=0)
replies = []

def on_reply(client, result):
    replies.append(client.send_finish(result))
    if len(replies) == 2:
        loop.quit()

def on_init(client, result):
    client.init_finish(result)
    client.send_async('twice', None, on_reply)
    client.send_async('next', None, on_reply)

def on_guard():
    print(f'replies after 20 s: {replies}', file=sys.stderr)
    os._exit(3)

client.init_async(GLib.PRIORITY_DEFAULT, None, on_init)
GLib.timeout_add_seconds(20, on_guard)
loop.run()
client.close()
server.stop()
print(json.dumps(replies))
'''


def run_python(code, *args, env=None):
    return subprocess.run([sys.executable, '-c', code, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=env, timeout=GUARD)


def test_answering_twice_is_a_critical_and_ignored(server_path):
    env = dict(os.environ)
    env.pop('G_DEBUG', None)

    result = run_python(ANSWER_TWICE, server_path, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ['first', 'reply to next']
    criticals = [line for line in result.stderr.splitlines() if 'already answered' in line]
    assert len(criticals) == 2, result.stderr
    assert all('CRITICAL' in line for line in criticals), result.stderr
    assert 'rabc_request_reply:' in criticals[0], result.stderr
    assert 'rabc_request_reply_bytes:' in criticals[1], result.stderr


def test_peer_credentials_of_this_process(server, loop):
    connected = []
    peers = []
    server.connect('client-connected', lambda server, peer: connected.append(peer))
    server.connect('handle-request',
                   lambda server, request: peers.append(request.get_peer()) or answer(request) or True)
    client = new_client(loop, server.props.socket_path)

    assert round_trip(loop, client, 'who') == reply_to('who')

    (peer,) = connected
    assert peers == [peer]
    assert server.get_peers() == [peer]
    assert (peer.props.pid, peer.props.uid, peer.props.gid) == (os.getpid(), os.geteuid(), os.getegid())
    assert (peer.get_pid(), peer.get_uid(), peer.get_gid()) == (os.getpid(), os.geteuid(), os.getegid())
    assert peer.get_connected() is True
    assert peer.get_n_pending() == 0
    client.close()


OTHER_USER = 'rabc-test-peer'

PYTHON_CLIENT = r'''
import sys
import gi
gi.require_version('Rabc', '1.0')
from gi.repository import Rabc
client = Rabc.Client.new_sync(sys.argv[1], None)
print(client.send_sync('who am i', None))
client.close()
'''


@pytest.fixture
def other_user():
    """A system user to connect as: root only."""
    if os.geteuid() != 0:
        pytest.skip('connecting as another user needs root')
    if shutil.which('setpriv') is None:
        pytest.skip('setpriv is missing')
    try:
        return pwd.getpwnam(OTHER_USER)
    except KeyError:
        pass
    subprocess.run(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin',
                    OTHER_USER], check=True, capture_output=True, timeout=GUARD)
    return pwd.getpwnam(OTHER_USER)


@pytest.fixture
def shared_sock_dir():
    """A private directory that another user may traverse: sock_dir lies
    under pytest's base directory, which only its owner may enter."""
    path = tempfile.mkdtemp(prefix='rabc-test-')
    os.chmod(path, 0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.mark.parametrize('program', ['rabcc', 'python'])
def test_peer_credentials_of_another_user(other_user, shared_sock_dir, loop, program):
    path = os.path.join(shared_sock_dir, 'service.sock')
    server = Rabc.Server(socket_path=path, socket_mode=0o666)
    peers = []

    def on_handle_request(server, request):
        peer = request.get_peer()
        peers.append((peer.props.pid, peer.props.uid, peer.props.gid))
        request.reply(f'uid {peer.props.uid} gid {peer.props.gid}')
        return True

    server.connect('handle-request', on_handle_request)
    server.start()
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o666
    if program == 'rabcc':
        client_argv = [required_env('RABCC'), '--socket', path, '--count', '1',
                       '--message', 'who am i']
    else:
        client_argv = ['/usr/bin/python3', '-c', PYTHON_CLIENT, path]
    argv = ['setpriv', f'--reuid={OTHER_USER}', f'--regid={OTHER_USER}', '--clear-groups',
            *client_argv]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        loop.run_until(lambda: process.poll() is not None, timeout=GUARD)
    finally:
        if process.poll() is None:
            process.kill()
        stdout, stderr = process.communicate()
        server.stop()

    expected = f'uid {other_user.pw_uid} gid {other_user.pw_gid}'
    assert process.returncode == 0, stderr
    assert stdout == expected + '\n'
    # setpriv execs the client: the process is the one that connected.
    assert peers == [(process.pid, other_user.pw_uid, other_user.pw_gid)]
    assert other_user.pw_uid != os.geteuid()


def test_bytes_with_nul_both_ways_async(server, loop):
    payloads = []

    def on_handle_request(server, request):
        payload = request.get_payload()
        payloads.append((payload.get_data(), request.get_message()))
        request.reply_bytes(GLib.Bytes.new(b'\0' + payload.get_data() + b'\0'))
        return True

    server.connect('handle-request', on_handle_request)
    client = new_client(loop, server.props.socket_path)
    replies = []

    def on_reply(client, result):
        replies.append(client.send_bytes_finish(result))

    message = 'a\0b \u2713'.encode()
    client.send_bytes_async(GLib.Bytes.new(message), None, on_reply)
    client.send_bytes_async(GLib.Bytes.new(b''), None, on_reply)
    loop.run_until(lambda: len(replies) == 2, timeout=GUARD)

    # The message property stops at the first NUL; the payload does not.
    assert payloads == [(message, 'a'), (b'', '')]
    assert all(isinstance(reply, GLib.Bytes) for reply in replies)
    assert [reply.get_data() for reply in replies] == [b'\0' + message + b'\0', b'\0\0']
    client.close()


class ServerThread:
    """A Rabc.Server serving on a GLib.MainContext of its own thread, so that
    this thread may block in send_sync.  @setup(server) runs in that
    thread before the server starts."""

    def __init__(self, path, setup):
        self.path = path
        self.setup = setup
        self.ready = threading.Event()
        self.error = None
        self.server = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(GUARD), 'the server thread did not start'
        if self.error is not None:
            raise self.error

    def _run(self):
        self.context = GLib.MainContext()
        self.context.push_thread_default()
        try:
            self.server = Rabc.Server.new(self.path)
            self.setup(self.server)
            self.server.start()
            self.loop = GLib.MainLoop(self.context)
            self.ready.set()
            self.loop.run()
            self.server.stop()
        except BaseException as error:  # re-raised by the test's thread
            self.error = error
            self.ready.set()
        finally:
            self.context.pop_thread_default()

    def stop(self):
        source = GLib.Idle()
        source.set_callback(lambda *args: self.loop.quit() or GLib.SOURCE_REMOVE)
        source.attach(self.context)
        self.thread.join(GUARD)
        assert not self.thread.is_alive(), 'the server thread did not stop'
        if self.error is not None:
            raise self.error


def test_send_bytes_sync_to_a_server_in_its_own_thread(server_path):
    handled_in = []

    def on_handle_request(server, request):
        handled_in.append(threading.current_thread())
        request.reply_bytes(GLib.Bytes.new(request.get_payload().get_data()[::-1]))
        return True

    service = ServerThread(server_path, lambda server: server.connect('handle-request', on_handle_request))
    try:
        client = Rabc.Client(socket_path=server_path, ping_interval=0, timeout=GUARD_MS)
        assert client.init(None)
        reply = client.send_bytes_sync(GLib.Bytes.new(b'x\0y\0z!'), None)
        assert isinstance(reply, GLib.Bytes)
        assert reply.get_data() == b'!z\0y\0x'
        assert client.send_sync('abc', None) == 'cba'
        client.close()
    finally:
        service.stop()

    assert handled_in == [service.thread] * 2
    assert not os.path.exists(server_path)


@pytest.mark.parametrize('where', ['main', 'thread'])
def test_get_peers_and_close_a_peer(server, loop, where):
    holder = Holder(server)
    disconnected = []
    server.connect('client-disconnected', lambda server, peer: disconnected.append(peer))
    victim = new_client(loop, server.props.socket_path)
    survivor = new_client(loop, server.props.socket_path)
    closed = []
    victim.connect('closed', lambda client, error: closed.append(error))
    loop.run_until(lambda: server.props.n_clients == 2, timeout=GUARD)

    peers = server.get_peers()
    assert len(peers) == 2
    assert all(isinstance(peer, Rabc.Peer) for peer in peers)
    assert all(peer.props.pid == os.getpid() and peer.props.connected for peer in peers)

    # Which peer is which: the one that sends.
    pipeline = Pipeline(victim)
    pipeline.send('held')
    loop.run_until(lambda: holder.requests, timeout=GUARD)
    peer = holder.requests[0].get_peer()
    assert peer in peers
    assert peer.props.n_pending == 1

    if where == 'main':
        peer.close()
        # From the server's thread: gone before close() returns.
        assert peer.props.connected is False
    else:
        closer = threading.Thread(target=peer.close)
        closer.start()
        closer.join(GUARD)
        assert not closer.is_alive()
    loop.run_until(lambda: disconnected and closed and pipeline.results, timeout=GUARD)

    assert disconnected == [peer]
    assert peer.props.connected is False
    assert peer.props.n_pending == 0
    assert_rabc_error(closed[0], Rabc.Error.IPC_CONNECTION)
    assert isinstance(pipeline.results[0][1], GLib.Error)
    assert server.props.n_clients == 1
    (remaining,) = server.get_peers()
    assert remaining is not peer and remaining in peers
    # Closing it again does nothing.
    peer.close()
    holder.requests[0].reply('lost')

    probe = Pipeline(survivor)
    probe.send('still here')
    loop.run_until(lambda: len(holder.requests) == 2, timeout=GUARD)
    assert holder.requests[1].get_peer() is remaining
    answer(holder.requests[1])
    loop.run_until(lambda: probe.results, timeout=GUARD)
    assert probe.results == [('still here', reply_to('still here'))]
    assert disconnected == [peer]
    survivor.close()


def test_close_a_peer_from_client_connected(server, loop):
    refused = []

    def on_client_connected(server, peer):
        if len(refused) == 0:
            refused.append(peer)
            peer.close()
            assert peer.props.connected is False

    disconnected = []
    server.connect('client-connected', on_client_connected)
    server.connect('client-disconnected', lambda server, peer: disconnected.append(peer))
    client = Rabc.Client(socket_path=server.props.socket_path, ping_interval=0)
    closed = []
    client.connect('closed', lambda client, error: closed.append(error))
    client.init_async(GLib.PRIORITY_DEFAULT, None, lambda client, result: None)
    loop.run_until(lambda: closed, timeout=GUARD)

    assert disconnected == refused
    assert server.props.n_clients == 0
    other = new_client(loop, server.props.socket_path)
    assert round_trip(loop, other) == 'pong'
    other.close()


def served_meanwhile(loop, client, holder):
    """A round trip on another client, answered at once: the server has had
    its turns to read in between."""
    before = len(holder.requests)
    pipeline = Pipeline(client)
    pipeline.send('probe')
    loop.run_until(lambda: any(request.get_message() == 'probe'
                               for request in holder.requests[before:]), timeout=GUARD)
    request = next(request for request in holder.requests[before:]
                   if request.get_message() == 'probe')
    holder.requests.remove(request)
    answer(request)
    loop.run_until(lambda: pipeline.results, timeout=GUARD)
    assert pipeline.results == [('probe', reply_to('probe'))]


def test_max_pending_requests_holds_a_client_back(server, loop):
    assert server.props.max_pending_requests == Rabc.DEFAULT_MAX_PENDING_REQUESTS == 128
    server.props.max_pending_requests = 3
    assert server.get_max_pending_requests() == 3
    count, limit = 20, 3
    holder = Holder(server)
    n_pending = []

    def on_client_connected(server, peer):
        peer.connect('notify::n-pending', lambda peer, pspec: n_pending.append(peer.props.n_pending))

    server.connect('client-connected', on_client_connected)
    client = new_client(loop, server.props.socket_path)
    other = new_client(loop, server.props.socket_path)
    pipeline = Pipeline(client)
    messages = [f'm{index}' for index in range(count)]

    pipeline.send(*messages)
    answered = 0
    while answered < count:
        expected = min(answered + limit, count)
        loop.run_until(lambda: len(holder.requests) >= expected, timeout=GUARD)
        batch = holder.requests[answered:]
        peer = batch[0].get_peer()
        assert peer.props.n_pending == len(batch) == expected - answered
        # Answered out of order, all but the first: they wait behind it and
        # still count, so the client is not read.
        for request in reversed(batch[1:]):
            answer(request)
        served_meanwhile(loop, other, holder)
        assert len(holder.requests) == expected, holder.messages()
        assert peer.props.n_pending == 1
        answer(batch[0])
        answered = expected

    loop.run_until(lambda: len(pipeline.results) == count, timeout=GUARD)
    assert pipeline.results == [(message, reply_to(message)) for message in messages]
    assert holder.messages() == messages
    assert max(n_pending) == limit
    assert n_pending[-1] == 0
    client.close()
    other.close()


@pytest.mark.skipif(not os.environ.get('GJS'), reason='gjs not found')
def test_gjs_server_answers_from_a_timeout(sock_dir):
    script = os.path.join(HERE, 'gjs_service.js')
    result = subprocess.run([required_env('GJS'), script, str(sock_dir / 'gjs.sock')],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=GUARD)

    assert result.returncode == 0, result.stderr
    assert result.stdout == 'reply to one\nreply to two \u2713\n'
    assert result.stderr == ''
    assert not os.path.exists(sock_dir / 'gjs.sock')
