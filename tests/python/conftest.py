# conftest.py: fixtures and helpers shared by the Python tests of librabc
#
# SPDX-License-Identifier: MIT
#
# The tests use the uninstalled library: tests/python/meson.build points
# GI_TYPELIB_PATH and LD_LIBRARY_PATH at the build directory and names the
# programs in RABCD, RABCC and the examples in RABC_EXAMPLES_DIR.  Every
# socket lives in a directory of its own test, never at the shared default
# path.

import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import gi
import pytest

gi.require_version('GLib', '2.0')
gi.require_version('Gio', '2.0')
gi.require_version('Rabc', '1.0')
from gi.repository import GLib, Rabc  # noqa: E402

# sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
MAX_SOCKET_PATH = 107
# How long anything the tests wait for may take before the test fails.
WAIT_TIMEOUT = 5.0


def required_env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f'${name} is not set: run the Python tests through '
                    f'"meson test --suite python"')
    return value


def rss_kib():
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS in /proc/self/status')


def open_fds(pid='self'):
    return len(os.listdir(f'/proc/{pid}/fd'))


def assert_rabc_error(error, code):
    """Asserts that the GLib.Error @error is @code of the Rabc.Error domain."""
    assert error.matches(Rabc.error_quark(), code), \
        f'expected {code!r}, got {error.domain} {error.code}: {error.message}'


def wait_for_socket(path, process=None, timeout=WAIT_TIMEOUT):
    """Waits until something accepts connections on the Unix socket @path."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise AssertionError(f'{process.args[0]} exited with status '
                                 f'{process.returncode} before listening on {path}')
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f'nothing listens on {path} after {timeout} s')
        time.sleep(0.01)


def caught_signals(pid):
    """The signals process @pid has a handler for, from /proc/PID/status."""
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            if line.startswith('SigCgt:'):
                mask = int(line.split()[1], 16)
                return {signum for signum in range(1, 65) if mask & (1 << (signum - 1))}
    raise AssertionError(f'no SigCgt in /proc/{pid}/status')


def wait_for_signal_handler(process, signum=signal.SIGTERM, timeout=WAIT_TIMEOUT):
    """Waits until @process handles @signum, so that a test's SIGTERM meets
    the clean stop and never the default action (whether a daemon handles
    SIGTERM as soon as it listens is a test of its own)."""
    deadline = time.monotonic() + timeout
    while signum not in caught_signals(process.pid):
        if process.poll() is not None:
            raise AssertionError(f'{process.args[0]} exited with status {process.returncode}')
        if time.monotonic() > deadline:
            raise AssertionError(f'{process.args[0]} does not handle {signum!r} '
                                 f'after {timeout} s')
        time.sleep(0.001)


class Loop:
    """A GLib.MainLoop on the default main context that can never hang a
    test: run() fails the test when nobody quits it in time."""

    def __init__(self):
        self.loop = GLib.MainLoop()

    def quit(self):
        self.loop.quit()

    def run(self, timeout=WAIT_TIMEOUT):
        timed_out = []

        def on_timeout():
            timed_out.append(True)
            self.loop.quit()
            return GLib.SOURCE_REMOVE

        source_id = GLib.timeout_add(int(timeout * 1000), on_timeout)
        self.loop.run()
        if timed_out:
            raise AssertionError(f'the main loop was not quit within {timeout} s')
        GLib.source_remove(source_id)

    def run_until(self, condition, timeout=WAIT_TIMEOUT):
        """Runs the loop until condition() is true."""
        if condition():
            return

        def check():
            if condition():
                self.loop.quit()
            return GLib.SOURCE_CONTINUE

        source_id = GLib.timeout_add(5, check)
        try:
            self.run(timeout)
        finally:
            GLib.source_remove(source_id)

    def run_for(self, seconds):
        """Runs the loop for @seconds, whatever happens."""
        GLib.timeout_add(int(seconds * 1000), lambda: self.loop.quit() or GLib.SOURCE_REMOVE)
        self.loop.run()


class Daemon:
    """A rabcd process on its own socket, stopped by its PID."""

    def __init__(self, path):
        self.path = path
        self.process = subprocess.Popen([required_env('RABCD'), '--socket', path],
                                        stdin=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)

    @property
    def pid(self):
        return self.process.pid

    def wait_ready(self):
        wait_for_socket(self.path, self.process)
        wait_for_signal_handler(self.process)

    def running(self):
        return self.process.poll() is None

    def stop(self):
        """Sends SIGTERM and waits for the daemon; returns its exit status."""
        if self.running():
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            status = self.process.wait(timeout=WAIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f'rabcd (pid {self.pid}) ignored SIGTERM')
        finally:
            self.stderr = self.process.stderr.read().decode(errors='replace')
            self.process.stderr.close()
        return status

    def kill(self, signum=signal.SIGKILL):
        """Sends @signum and waits for the daemon; returns its exit status."""
        os.kill(self.process.pid, signum)
        status = self.process.wait(timeout=WAIT_TIMEOUT)
        self.stderr = self.process.stderr.read().decode(errors='replace')
        self.process.stderr.close()
        return status


@pytest.fixture
def sock_dir(tmp_path):
    """A private directory for sockets, short enough for sun_path."""
    if len(str(tmp_path)) + len('/rabc-something.sock') <= MAX_SOCKET_PATH:
        yield tmp_path
        return
    short = tempfile.mkdtemp(prefix='rabc-test-')
    try:
        yield type(tmp_path)(short)
    finally:
        for name in os.listdir(short):
            os.unlink(os.path.join(short, name))
        os.rmdir(short)


@pytest.fixture
def spawn_daemon(sock_dir):
    """Starts daemons on demand; any still running at the end is stopped
    and must exit with status 0."""
    daemons = []

    def spawn(name='rabc.sock', wait=True):
        daemon = Daemon(str(sock_dir / name))
        daemons.append(daemon)
        if wait:
            daemon.wait_ready()
        return daemon

    yield spawn

    for daemon in daemons:
        if daemon.running():
            assert daemon.stop() == 0, daemon.stderr


@pytest.fixture
def daemon_process(spawn_daemon):
    """A running rabcd, as a Daemon object (for tests that kill it)."""
    return spawn_daemon()


@pytest.fixture
def daemon(sock_dir):
    """The socket path of a running rabcd, stopped by SIGTERM at the end:
    it must exit with status 0 and remove its socket."""
    process = Daemon(str(sock_dir / 'rabc.sock'))
    try:
        process.wait_ready()
    except BaseException:
        process.kill()
        raise
    yield process.path
    status = process.stop()
    assert status == 0, f'rabcd exited with status {status}: {process.stderr}'
    assert not os.path.exists(process.path), 'rabcd left its socket file behind'


@pytest.fixture
def loop():
    return Loop()


@pytest.fixture(autouse=True)
def drain_main_context():
    """Dispatches what a test left on the default main context, so that one
    test's sources never run in the next one."""
    yield
    context = GLib.MainContext.default()
    while context.pending():
        context.iteration(False)


@pytest.fixture
def server_path(sock_dir):
    return str(sock_dir / 'server.sock')


@pytest.fixture
def server(server_path):
    """A started Rabc.Server; stopping it at the end removes its socket."""
    server = Rabc.Server.new(server_path)
    server.start()
    yield server
    server.stop()
    assert not os.path.exists(server_path)


def new_client(loop, path, wait=WAIT_TIMEOUT, **properties):
    """Connects a client without blocking the loop the server runs on."""
    client = Rabc.Client(socket_path=path, **properties)
    results = []
    client.init_async(GLib.PRIORITY_DEFAULT, None,
                      lambda client, result: results.append(client.init_finish(result)))
    loop.run_until(lambda: results, timeout=wait)
    assert results == [True]
    return client


def encode_frame(payload):
    """A frame of the rabc protocol: a native-endian 64-bit length, then
    the payload."""
    return struct.pack('=Q', len(payload)) + payload


def read_frame(conn):
    """Reads one frame from the blocking socket @conn; None at EOF."""
    def read_exactly(n):
        data = b''
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    header = read_exactly(8)
    if header is None:
        return None
    (length,) = struct.unpack('=Q', header)
    return read_exactly(length)


class RawServer:
    """A hand-made Unix socket server, to play a daemon that breaks the
    protocol.  @handler(conn) runs in a thread of its own for every
    connection; the connection stays open until the server is closed."""

    def __init__(self, path, handler):
        self.path = path
        self.handler = handler
        self.connections = []
        self.threads = []
        self.stopping = threading.Event()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(WAIT_TIMEOUT)
            self.connections.append(conn)
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _handle(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass

    def close(self):
        self.stopping.set()
        self.thread.join(WAIT_TIMEOUT)
        self.listener.close()
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads:
            thread.join(WAIT_TIMEOUT)
        for conn in self.connections:
            conn.close()


def silent_handler(conn):
    """Accepts and never answers."""


def echo_handler(conn):
    """Answers every message with its own text, so that tests can tell
    which request a reply belongs to."""
    while (payload := read_frame(conn)) is not None:
        conn.sendall(encode_frame(payload))


def reply_handler(*frames):
    """Reads one message, then sends @frames, raw bytes."""
    def handler(conn):
        if read_frame(conn) is not None:
            conn.sendall(b''.join(frames))
    return handler


@pytest.fixture
def raw_server(sock_dir):
    """Starts RawServers on demand and closes them at the end."""
    servers = []

    def start(handler, name='raw.sock'):
        server = RawServer(str(sock_dir / name), handler)
        servers.append(server)
        return server

    yield start

    for server in servers:
        server.close()


def send_async_and_wait(loop, client, message, cancellable=None):
    """Sends @message with send_async; returns the reply or the GLib.Error."""
    results = []

    def on_reply(client, result):
        try:
            results.append(client.send_finish(result))
        except GLib.Error as error:
            results.append(error)

    client.send_async(message, cancellable, on_reply)
    loop.run_until(lambda: results)
    return results[0]


def send_sync_or_async(loop, client, message, mode):
    """Sends @message with send_sync or send_async, as @mode says; returns
    the GLib.Error it fails with."""
    if mode == 'sync':
        with pytest.raises(GLib.Error) as excinfo:
            client.send_sync(message, None)
        return excinfo.value
    error = send_async_and_wait(loop, client, message)
    assert isinstance(error, GLib.Error), error
    return error


@pytest.fixture
def echo_server(sock_dir):
    """A RawServer that answers every frame with its own bytes, each
    connection in a thread of its own.  At the end it closes its listener
    and connections, and every one of its threads must have ended."""
    server = RawServer(str(sock_dir / 'echo.sock'), echo_handler)
    yield server
    server.close()
    alive = [thread.name for thread in [server.thread, *server.threads] if thread.is_alive()]
    assert not alive, f'the echo server\'s threads did not end: {alive}'
