# test_examples.py: the Python and GJS examples run against a private daemon
#
# SPDX-License-Identifier: MIT

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from gi.repository import GLib, Rabc

from conftest import (WAIT_TIMEOUT, Loop, caught_signals, required_env, wait_for_signal_handler,
                      wait_for_socket)

RUN_TIMEOUT = 20


def example(relative_path):
    path = os.path.join(required_env('RABC_EXAMPLES_DIR'), relative_path)
    assert os.path.isfile(path), f'{path} is missing'
    return path


def python_example(name):
    return [sys.executable, example(f'python/{name}')]


def gjs_client():
    return [required_env('GJS'), example('gjs/client.js')]


def run(argv):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)


def assert_one_line_error(stderr, program, path):
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f'{program}: '), stderr
    assert path in lines[0], stderr


@pytest.mark.parametrize('name', ['python/client.py', 'python/asyncio-client.py',
                                  'python/server.py', 'python/service.py',
                                  'python/service-client.py', 'gjs/client.js'])
def test_examples_are_executable_scripts(name):
    path = example(name)
    interpreter = '/usr/bin/gjs' if name.endswith('.js') else '/usr/bin/python3'

    with open(path) as script:
        assert script.readline() == f'#!{interpreter}\n'
    assert os.access(path, os.X_OK), f'{path} is not executable'


def test_python_client(daemon):
    result = run(python_example('client.py') + ['--socket', daemon, '--count', '3',
                                                '--interval', '100'])

    assert result.returncode == 0, result.stderr
    assert result.stdout == 'pong\n' * 3
    assert result.stderr == ''


def test_python_client_without_daemon(sock_dir):
    path = str(sock_dir / 'absent.sock')

    result = run(python_example('client.py') + ['--socket', path, '--count', '3'])

    assert result.returncode == 1
    assert result.stdout == ''
    assert_one_line_error(result.stderr, 'client.py', path)


def run_until_the_daemon_dies(argv, daemon):
    client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline() == 'pong\n'
        daemon.kill()
        stdout, stderr = client.communicate(timeout=RUN_TIMEOUT)
    finally:
        if client.poll() is None:
            client.kill()
            client.communicate()
    assert set(stdout.split()) <= {'pong'}
    return client.returncode, stderr


def test_python_client_when_the_daemon_dies(daemon_process):
    status, stderr = run_until_the_daemon_dies(
        python_example('client.py') + ['--socket', daemon_process.path,
                                       '--count', '1000', '--interval', '20'],
        daemon_process)

    assert status == 1
    assert_one_line_error(stderr, 'client.py', daemon_process.path)


def test_python_client_refuses_bad_options():
    result = run(python_example('client.py') + ['--count', '0'])

    assert result.returncode == 2
    assert '--count' in result.stderr


@pytest.mark.parametrize('options', [[], ['--at-once']], ids=['one-by-one', 'at-once'])
def test_python_asyncio_client(daemon, options):
    result = run(python_example('asyncio-client.py') + ['--socket', daemon, '--count', '3',
                                                        '--interval', '100', *options])

    assert result.returncode == 0, result.stderr
    assert result.stdout == 'pong\n' * 3
    assert result.stderr == ''


def test_python_asyncio_client_sends_its_message(sock_dir):
    path = str(sock_dir / 'server.sock')
    server = subprocess.Popen(python_example('server.py') + ['--socket', path,
                                                             '--reply', 'hi there'],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_for_socket(path, server)
        result = run(python_example('asyncio-client.py') + ['--socket', path, '--count', '20',
                                                            '--at-once', '--message', 'hello'])
        os.kill(server.pid, signal.SIGTERM)
        server.communicate(timeout=WAIT_TIMEOUT)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()

    assert result.returncode == 0, result.stderr
    assert result.stdout == 'hi there\n' * 20


def test_python_asyncio_client_without_daemon(sock_dir):
    path = str(sock_dir / 'absent.sock')

    result = run(python_example('asyncio-client.py') + ['--socket', path, '--count', '3'])

    assert result.returncode == 1
    assert result.stdout == ''
    assert_one_line_error(result.stderr, 'asyncio-client.py', path)


def test_python_asyncio_client_when_the_daemon_dies(daemon_process):
    status, stderr = run_until_the_daemon_dies(
        python_example('asyncio-client.py') + ['--socket', daemon_process.path,
                                               '--count', '1000', '--interval', '20'],
        daemon_process)

    assert status == 1
    assert_one_line_error(stderr, 'asyncio-client.py', daemon_process.path)


def test_python_asyncio_client_stops_on_sigint(daemon):
    client = subprocess.Popen(python_example('asyncio-client.py') +
                              ['--socket', daemon, '--count', '1000', '--interval', '20'],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline() == 'pong\n'
        os.kill(client.pid, signal.SIGINT)
        stdout, stderr = client.communicate(timeout=RUN_TIMEOUT)
    finally:
        if client.poll() is None:
            client.kill()
            client.communicate()

    assert client.returncode == 130, stderr
    assert set(stdout.split()) <= {'pong'}
    assert stderr == ''


@pytest.mark.parametrize('options', [['--count', '0'], ['--timeout', '-1'], ['--bogus']],
                         ids=['count', 'timeout', 'unknown'])
def test_python_asyncio_client_refuses_bad_options(options):
    result = run(python_example('asyncio-client.py') + options)

    assert result.returncode == 2
    assert result.stdout == ''
    assert options[0] in result.stderr


def test_gjs_client(daemon):
    result = run(gjs_client() + [daemon, '3', '100'])

    assert result.returncode == 0, result.stderr
    assert result.stdout == 'pong\n' * 3
    assert result.stderr == ''


def test_gjs_client_without_daemon(sock_dir):
    path = str(sock_dir / 'absent.sock')

    result = run(gjs_client() + [path, '3'])

    assert result.returncode == 1
    assert result.stdout == ''
    assert_one_line_error(result.stderr, 'client.js', path)


def test_gjs_client_when_the_daemon_dies(daemon_process):
    status, stderr = run_until_the_daemon_dies(
        gjs_client() + [daemon_process.path, '1000', '20'], daemon_process)

    assert status == 1
    assert_one_line_error(stderr, 'client.js', daemon_process.path)


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT'])
def test_python_server(sock_dir, signum):
    path = str(sock_dir / 'server.sock')
    server = subprocess.Popen(python_example('server.py') + ['--socket', path],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_for_socket(path, server)
        # Signals are handled from the moment the socket exists.
        assert {signal.SIGINT, signal.SIGTERM} <= caught_signals(server.pid)
        client = Rabc.Client.new_sync(path, None)
        assert client.send_sync('ping', None) == 'pong'
        assert client.send_sync('anything', None) == 'pong'
        client.close()

        os.kill(server.pid, signum)
        stdout, stderr = server.communicate(timeout=WAIT_TIMEOUT)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()

    assert server.returncode == 0, stderr
    assert stdout == f'listening on {path}\n'
    assert stderr == ''
    assert not os.path.exists(path), 'the server left its socket file behind'


def test_python_server_with_rabcc(sock_dir):
    path = str(sock_dir / 'server.sock')
    server = subprocess.Popen(python_example('server.py') + ['--socket', path,
                                                             '--reply', 'hi there'],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_for_socket(path, server)
        rabcc = run([required_env('RABCC'), '--socket', path, '--count', '2',
                     '--interval', '20'])
        os.kill(server.pid, signal.SIGTERM)
        _, stderr = server.communicate(timeout=WAIT_TIMEOUT)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()

    assert rabcc.returncode == 0, rabcc.stderr
    assert rabcc.stdout == 'hi there\n' * 2
    assert server.returncode == 0, stderr


def test_python_server_refuses_a_busy_path(daemon):
    result = run(python_example('server.py') + ['--socket', daemon])

    assert result.returncode == 1
    assert_one_line_error(result.stderr, 'server.py', daemon)
    # The daemon still owns its socket.
    client = Rabc.Client.new_sync(daemon, None)
    assert client.send_sync('ping', None) == 'pong'
    client.close()


# The service of examples/python/service.py and its twin in C,
# examples/c/rabc-service.c, answer the same commands with the same replies:
# every test of the service runs against both.

SERVICES = {
    'python': lambda: python_example('service.py'),
    'c': lambda: [required_env('RABC_SERVICE')],
}
SERVICE_PROGRAMS = {'python': 'service.py', 'c': 'rabc-service'}


class Service:
    """A service process on its own socket, stopped by its PID."""

    def __init__(self, kind, path, *options):
        self.kind = kind
        self.program = SERVICE_PROGRAMS[kind]
        self.path = path
        self.process = subprocess.Popen(SERVICES[kind]() + ['--socket', path, *options],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        try:
            wait_for_socket(path, self.process)
            wait_for_signal_handler(self.process, signal.SIGTERM)
            wait_for_signal_handler(self.process, signal.SIGINT)
        except BaseException:
            self.kill()
            raise

    def stop(self, signum=signal.SIGTERM):
        """Sends @signum and waits; returns the exit status and sets
        stdout and stderr."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)
        try:
            self.stdout, self.stderr = self.process.communicate(timeout=WAIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f'{self.program} (pid {self.process.pid}) ignored {signum!r}')
        return self.process.returncode

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.stdout, self.stderr = self.process.communicate()


@pytest.fixture(params=sorted(SERVICES))
def service_kind(request):
    return request.param


@pytest.fixture
def service(service_kind, sock_dir):
    """A running service; at the end SIGTERM must stop it with status 0,
    having printed nothing, and without its socket file."""
    process = Service(service_kind, str(sock_dir / 'service.sock'))
    yield process
    status = process.stop()
    assert status == 0, f'{process.program} exited with status {status}: {process.stderr}'
    assert process.stdout == ''
    assert process.stderr == ''
    assert not os.path.exists(process.path), f'{process.program} left its socket file behind'


def service_client(path, *commands, options=()):
    return run(python_example('service-client.py') + ['--socket', path, *options, *commands])


def send_pipelined(client, messages, loop=None):
    """Sends every message at once with send_async (GLib.Bytes with
    send_bytes_async); returns the replies, or the GLib.Error each failed
    with, in the order of the messages."""
    loop = loop or Loop()
    results = {}

    def on_reply(client, result, index):
        try:
            if isinstance(messages[index], GLib.Bytes):
                results[index] = client.send_bytes_finish(result).get_data()
            else:
                results[index] = client.send_finish(result)
        except GLib.Error as error:
            results[index] = error

    for index, message in enumerate(messages):
        if isinstance(message, GLib.Bytes):
            client.send_bytes_async(message, None, on_reply, index)
        else:
            client.send_async(message, None, on_reply, index)
    loop.run_until(lambda: len(results) == len(messages), timeout=RUN_TIMEOUT)
    return [results[index] for index in range(len(messages))]


def connect(path):
    client = Rabc.Client(socket_path=path, ping_interval=0)
    client.init(None)
    return client


def wait_for_key(path, key, value):
    """Asks the service at @path for @key until it holds @value."""
    client = connect(path)
    deadline = time.monotonic() + WAIT_TIMEOUT
    try:
        while client.send_sync(f'get {key}', None) != value:
            if time.monotonic() > deadline:
                raise AssertionError(f'{key} is not {value} after {WAIT_TIMEOUT} s')
            time.sleep(0.01)
    finally:
        client.close()


def boot_seconds():
    return int(time.clock_gettime(time.CLOCK_BOOTTIME))


def test_service_key_value_store(service):
    result = service_client(service.path, 'keys', 'set colour blue',
                            'set motto  hello  wide world ', 'get colour', 'get motto', 'keys',
                            'set colour green', 'get colour', 'del colour', 'keys',
                            'set empty ', 'get empty', 'set ключ значение', 'get ключ',
                            'keys')

    assert result.returncode == 0, result.stderr
    assert result.stdout.split('\n') == [
        '', 'ok',
        'ok', 'blue', ' hello  wide world ', 'colour motto',
        'ok', 'green', 'ok', 'motto',
        'ok', '',
        'ok', 'значение', 'empty motto ключ',
        '']
    assert result.stderr == ''


def test_service_store_holds_at_most_1000_keys(service):
    client = connect(service.path)
    sets = [f'set k{index} v' for index in range(1000)]

    replies = send_pipelined(client, sets + ['set k1000 v', 'set k0 changed', 'get k0',
                                             'del k1', 'set k1000 v', 'get k1000'])
    client.close()

    assert replies == ['ok'] * 1000 + ['error: the store is full: it holds 1000 keys',
                                       'ok', 'changed', 'ok', 'ok', 'v']


def test_service_store_holds_at_most_16_mib(service):
    client = connect(service.path)
    value = 'x' * 1000000
    sets = [f'set b{index:02} {value}' for index in range(16)]

    replies = send_pipelined(client, sets + [f'set b16 {value}', 'set b00 small',
                                             f'set b16 {value}', 'get b00'])
    client.close()

    assert replies == ['ok'] * 16 + ['error: the store is full: it holds 16777216 bytes',
                                     'ok', 'ok', 'small']


def test_service_store_is_shared_between_clients(service):
    assert service_client(service.path, 'set shared yes').stdout == 'ok\n'

    result = service_client(service.path, 'get shared', options=['--sequential'])

    assert result.returncode == 0, result.stderr
    assert result.stdout == 'yes\n'


def test_service_system_facts(service):
    client = connect(service.path)
    before = boot_seconds()
    hostname, uptime, load, whoami, ping, help_text = send_pipelined(
        client, ['hostname', 'uptime', 'load', 'whoami', 'ping', 'help'])
    after = boot_seconds()
    client.close()

    assert hostname == GLib.get_host_name()
    assert before <= int(uptime) <= after, uptime
    assert re.fullmatch(r'\d+\.\d\d \d+\.\d\d \d+\.\d\d', load), load
    # Who the peer is comes from the socket: this process.
    assert whoami == f'pid {os.getpid()} uid {os.getuid()} gid {os.getgid()}'
    assert ping == 'pong'
    assert help_text == ('commands: get KEY, set KEY VALUE, del KEY, keys, hostname, uptime, '
                         'load, whoami, sleep MS, primes N, help, ping')


def test_service_delayed_replies_keep_their_order(service):
    client = connect(service.path)
    # "sleep" is answered from a timeout, "primes" from a worker thread, the
    # rest at once: the replies still come in the order of the requests.
    messages = ['set k first', 'sleep 200', 'get k', 'primes 1000000', 'set k second',
                'primes 10', 'sleep 0', 'get k', 'primes 100000', 'sleep 50', 'primes 1',
                'whoami']

    replies = send_pipelined(client, messages)
    client.close()

    assert replies == ['ok', 'slept 200 ms', 'first', '78498', 'ok', '4', 'slept 0 ms',
                       'second', '9592', 'slept 50 ms', '0',
                       f'pid {os.getpid()} uid {os.getuid()} gid {os.getgid()}']


def test_service_client_prints_replies_in_order(service):
    result = service_client(service.path, 'sleep 100', 'primes 100', 'set a 1', 'get a', 'sleep 1')

    assert result.returncode == 0, result.stderr
    assert result.stdout == 'slept 100 ms\n25\nok\n1\nslept 1 ms\n'

    result = service_client(service.path, 'sleep 100', 'primes 100', 'get a',
                            options=['--sequential'])

    assert result.returncode == 0, result.stderr
    assert result.stdout == 'slept 100 ms\n25\n1\n'


def test_service_with_rabcc(service):
    result = run([required_env('RABCC'), '--socket', service.path, '--count', '2',
                  '--interval', '20', '--message', 'primes 1000'])

    assert result.returncode == 0, result.stderr
    assert result.stdout == '168\n168\n'

    # rabcc's own message is "ping": the server's reply, as from rabcd.
    result = run([required_env('RABCC'), '--socket', service.path, '--count', '1',
                  '--interval', '20'])

    assert result.returncode == 0, result.stderr
    assert result.stdout == 'pong\n'


def test_service_errors(service):
    long_command = 'x' * 100
    commands = ['bogus', '', 'get', 'get a b', 'get missing', 'del missing', 'set key',
                'set', 'keys now', 'hostname x', 'sleep', 'sleep -1', 'sleep 60001',
                'sleep 1.5', 'sleep ٣', 'primes x', 'primes 10000001', 'ping', 'help me',
                long_command, 'get ' + 'k' * 100, 'GET a']
    client = connect(service.path)

    replies = send_pipelined(client, commands + [GLib.Bytes.new(b'get a\0b')])
    client.close()

    assert replies == [
        'error: unknown command "bogus"',
        'error: unknown command ""',
        'error: usage: get KEY',
        'error: usage: get KEY',
        'error: no key "missing"',
        'error: no key "missing"',
        'error: usage: set KEY VALUE',
        'error: usage: set KEY VALUE',
        'error: usage: keys',
        'error: usage: hostname',
        'error: usage: sleep MS, with MS from 0 to 60000',
        'error: usage: sleep MS, with MS from 0 to 60000',
        'error: usage: sleep MS, with MS from 0 to 60000',
        'error: usage: sleep MS, with MS from 0 to 60000',
        'error: usage: sleep MS, with MS from 0 to 60000',
        'error: usage: primes N, with N from 0 to 10000000',
        'error: usage: primes N, with N from 0 to 10000000',
        'pong',
        'error: usage: help',
        'error: unknown command "' + 'x' * 64 + '…"',
        'error: no key "' + 'k' * 64 + '…"',
        'error: unknown command "GET"',
        'error: the message holds U+0000'.encode(),
    ]


def test_service_client_reports_refused_commands(service):
    result = service_client(service.path, 'set a 1', 'nope', 'get a', 'get b')

    assert result.returncode == 3
    assert result.stdout == 'ok\nerror: unknown command "nope"\n1\nerror: no key "b"\n'
    assert result.stderr == 'service-client.py: the service refused 2 of 4 commands\n'


def test_service_is_not_blocked_by_slow_commands(service):
    client = connect(service.path)
    waiting = []

    def on_reply(client, result):
        try:
            waiting.append(client.send_finish(result))
        except GLib.Error as error:
            waiting.append(error)

    client.send_async('sleep 60000', None, on_reply)

    # Another client is served while the first one waits.
    result = service_client(service.path, 'set k v', 'get k', 'primes 1000')
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'ok\nv\n168\n'
    assert waiting == []

    client.close()


def test_service_client_timeout(service):
    result = service_client(service.path, 'sleep 60000', options=['--timeout', '50'])

    assert result.returncode == 1
    assert result.stdout == ''
    assert_one_line_error(result.stderr, 'service-client.py', service.path)
    assert 'within 50 ms' in result.stderr


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT'])
def test_service_stop_answers_what_waits(service_kind, sock_dir, signum):
    service = Service(service_kind, str(sock_dir / 'service.sock'))
    try:
        check_stop_answers_what_waits(service, signum)
    finally:
        service.kill()


def check_stop_answers_what_waits(service, signum):
    client = connect(service.path)
    loop = Loop()
    replies = []

    def on_reply(client, result):
        try:
            replies.append(client.send_finish(result))
        except GLib.Error as error:
            replies.append(error)

    # Requests are handled in order as they are read, whatever their
    # replies wait for: once another client sees the flag, the count is in
    # a worker thread (or done) and the sleep waits for its timeout.
    for message in ['primes 10000000', 'sleep 60000', 'set flag read']:
        client.send_async(message, None, on_reply)
    wait_for_key(service.path, 'flag', 'read')

    status = service.stop(signum)
    loop.run_until(lambda: len(replies) == 3, timeout=RUN_TIMEOUT)
    client.close()

    assert status == 0, service.stderr
    assert (service.stdout, service.stderr) == ('', '')
    assert replies == ['664579', 'error: the service is stopping', 'ok']
    assert not os.path.exists(service.path)


def test_service_verbose_logs_clients(service_kind, sock_dir):
    service = Service(service_kind, str(sock_dir / 'service.sock'), '-v')
    try:
        client = connect(service.path)
        assert client.send_sync('ping', None) == 'pong'
        client.close()
        status = service.stop()
    finally:
        service.kill()

    assert status == 0, service.stderr
    program = SERVICE_PROGRAMS[service_kind]
    who = f'pid {os.getpid()}, uid {os.getuid()}'
    # The client, and the probes of wait_for_socket() from this process
    # too: each logged as it comes and as it goes.
    connected = f'{program}: client connected: {who}'
    gone = f'{program}: client gone: {who}'
    lines = service.stderr.splitlines()
    assert set(lines) == {connected, gone}, service.stderr
    assert lines.count(connected) == lines.count(gone), service.stderr
    assert service.stdout == ''


def test_python_asyncio_client_timeout(service):
    result = run(python_example('asyncio-client.py') + ['--socket', service.path, '--count', '1',
                                                        '--message', 'sleep 60000',
                                                        '--timeout', '50'])

    assert result.returncode == 1
    assert result.stdout == ''
    assert_one_line_error(result.stderr, 'asyncio-client.py', service.path)
    assert 'within 50 ms' in result.stderr


def test_service_refuses_a_busy_path(service):
    result = run(SERVICES[service.kind]() + ['--socket', service.path])

    assert result.returncode == 1
    assert result.stdout == ''
    assert_one_line_error(result.stderr, service.program, service.path)
    # The first one still serves.
    assert service_client(service.path, 'primes 10').stdout == '4\n'


@pytest.mark.parametrize('options', [['--bogus'], ['extra'], ['--socket']],
                         ids=['unknown-option', 'argument', 'missing-value'])
def test_service_refuses_bad_options(service_kind, options):
    result = run(SERVICES[service_kind]() + options)

    assert result.returncode == 2
    assert result.stdout == ''
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(SERVICE_PROGRAMS[service_kind] + ': '), \
        result.stderr


def test_service_help(service_kind, sock_dir):
    # $RABC_SOCKET_PATH names a path that cannot exist: --help must not
    # touch it.
    result = run(SERVICES[service_kind]() + ['--help'])

    assert result.returncode == 0, result.stderr
    assert '--socket' in result.stdout
    assert result.stderr == ''


def test_service_client_without_service(sock_dir):
    path = str(sock_dir / 'absent.sock')

    result = service_client(path, 'keys')

    assert result.returncode == 1
    assert result.stdout == ''
    assert_one_line_error(result.stderr, 'service-client.py', path)


@pytest.mark.parametrize('options',
                         [[], ['--timeout', '-1'], ['--timeout', 'soon'], ['--bogus', 'keys']],
                         ids=['no-command', 'negative-timeout', 'bad-timeout', 'unknown-option'])
def test_service_client_refuses_bad_options(sock_dir, options):
    result = run(python_example('service-client.py') + ['--socket', str(sock_dir / 'x.sock'),
                                                        *options])

    assert result.returncode == 2
    assert result.stdout == ''
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith('service-client.py: '), result.stderr
