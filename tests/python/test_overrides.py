# test_overrides.py: the PyGObject overrides of gi/overrides/Rabc.py
#
# SPDX-License-Identifier: MIT

import os

import gi
import pytest

gi.require_version("Rabc", "1.0")
from gi.repository import GLib, Rabc  # noqa: E402

from conftest import Daemon, Loop  # noqa: E402


def test_overrides_are_loaded():
    assert Rabc.Client.__module__ == "gi.overrides.Rabc"
    assert Rabc.Server.__module__ == "gi.overrides.Rabc"
    assert Rabc.Request.__module__ == "gi.overrides.Rabc"


@pytest.fixture
def daemon(tmp_path):
    daemon = Daemon(str(tmp_path / "rabc.sock"))
    daemon.wait_ready()
    yield daemon
    daemon.stop()


def test_send_sync_refuses_nul_and_keeps_working(daemon):
    client = Rabc.Client.new_sync(daemon.path, None)
    # PyGObject would cut the str at U+0000: refused, not truncated.
    with pytest.raises(ValueError, match="U\\+0000"):
        client.send_sync("a\0b", None)
    # The cancellable may be left out; nothing was sent, so replies match.
    assert client.send_sync("ping") == "pong"
    reply = client.send_bytes_sync(GLib.Bytes.new(b"a\0b"), None)
    assert reply.get_data() == b"pong"
    client.close()


def test_send_async_refuses_nul(daemon):
    client = Rabc.Client.new_sync(daemon.path, None)
    loop = Loop()
    results = []

    with pytest.raises(ValueError):
        client.send_async("a\0b", None, lambda *args: results.append(args))

    def on_done(source, result):
        results.append(source.send_finish(result))
        loop.quit()

    client.send_async("ping", None, on_done)
    loop.run()
    assert results == ["pong"]
    client.close()


def test_ping_message_refuses_nul(daemon):
    with pytest.raises(ValueError):
        Rabc.Client(socket_path=daemon.path, ping_message="a\0b")
    client = Rabc.Client.new_sync(daemon.path, None)
    with pytest.raises(ValueError):
        client.set_ping_message("a\0b")
    with pytest.raises(ValueError):
        client.set_property("ping-message", "a\0b")
    with pytest.raises(ValueError):
        client.props.ping_message = "a\0b"
    with pytest.raises(ValueError):
        client.set_properties(ping_message="a\0b")
    assert client.get_ping_message() == "ping"
    assert client.props.ping_message == "ping"
    client.props.ping_message = "other"
    assert client.props.ping_message == "other"
    # The class still lists its parameter specs.
    assert Rabc.Client.props.ping_message.default_value == "ping"
    client.set_ping_message("hello")
    assert client.dup_ping_message() == "hello"
    client.close()


def test_server_reply_refuses_nul(tmp_path):
    with pytest.raises(ValueError):
        Rabc.Server(socket_path=str(tmp_path / "rabc.sock"), reply="a\0b")
    server = Rabc.Server(socket_path=str(tmp_path / "rabc.sock"))
    with pytest.raises(ValueError):
        server.set_reply("a\0b")
    with pytest.raises(ValueError):
        server.set_property("reply", "a\0b")
    with pytest.raises(ValueError):
        server.props.reply = "a\0b"
    with pytest.raises(ValueError):
        server.set_properties(reply="a\0b")
    assert server.get_reply() == "pong"


def test_request_reply_refuses_nul_and_keeps_working(tmp_path):
    path = str(tmp_path / "server.sock")
    server = Rabc.Server.new(path)
    refused = []
    types = []

    def on_handle_request(server, request):
        types.append(type(request))
        message = request.get_payload().get_data()
        if message == b"nul":
            with pytest.raises(ValueError, match="U\\+0000.*reply_bytes") as excinfo:
                request.reply("a\0b")
            refused.append(str(excinfo.value))
            # Refused before C saw it: the request still takes its one answer.
            request.reply_bytes(GLib.Bytes.new(b"a\0b"))
        elif message == b"none":
            request.reply(None)
        else:
            request.reply("plain \u2713")
        return True

    server.connect("handle-request", on_handle_request)
    server.start()
    loop = Loop()
    client = Rabc.Client(socket_path=path, ping_interval=0)
    results = []
    client.init_async(GLib.PRIORITY_DEFAULT, None,
                      lambda client, result: results.append(client.init_finish(result)))
    loop.run_until(lambda: results)
    assert results == [True]

    replies = []

    def on_reply(client, result):
        replies.append(client.send_bytes_finish(result).get_data())

    for message in (b"nul", b"text", b"none"):
        client.send_bytes_async(GLib.Bytes.new(message), None, on_reply)
    loop.run_until(lambda: len(replies) == 3)
    client.close()
    server.stop()

    assert replies == [b"a\0b", "plain \u2713".encode(), b"pong"]
    assert len(refused) == 1
    # The signal hands over the overridden class.
    assert types == [Rabc.Request] * 3


def test_client_is_a_context_manager(daemon):
    with Rabc.Client.new_sync(daemon.path, None) as client:
        assert client.send_sync("ping") == "pong"
        assert client.props.connected
    assert not client.props.connected
    with pytest.raises(GLib.Error) as info:
        client.send_sync("ping")
    assert info.value.matches(Rabc.Error.quark(), Rabc.Error.CLOSED)


def test_client_closes_when_the_block_raises(daemon):
    with pytest.raises(RuntimeError):
        with Rabc.Client.new_sync(daemon.path, None) as client:
            raise RuntimeError("raised in the block")
    assert not client.props.connected


def test_server_is_a_context_manager(tmp_path):
    path = str(tmp_path / "rabc.sock")
    loop = Loop()
    with Rabc.Server.new(path) as server:
        assert server.props.listening
        # Started already: entering does not start it again.
        with server:
            assert server.props.listening
        assert not server.props.listening
        server.start()
        replies = []
        client = Rabc.Client.new_sync(path, None)
        client.send_async("ping", None, lambda c, r: replies.append(c.send_finish(r)))
        loop.run_until(lambda: replies)
        assert replies == ["pong"]
        client.close()
    assert not server.props.listening
    assert not os.path.exists(path)


def test_server_stops_when_the_block_raises(tmp_path):
    path = str(tmp_path / "rabc.sock")
    with pytest.raises(RuntimeError):
        with Rabc.Server.new(path) as server:
            raise RuntimeError("raised in the block")
    assert not server.props.listening
    assert not os.path.exists(path)
