# test_examples.py: the Python and GJS examples run against a private daemon
#
# SPDX-License-Identifier: MIT

import os
import signal
import subprocess
import sys

import pytest
from gi.repository import Rabc

from conftest import WAIT_TIMEOUT, caught_signals, required_env, wait_for_socket

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


@pytest.mark.parametrize('name', ['python/client.py', 'python/server.py', 'gjs/client.js'])
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
