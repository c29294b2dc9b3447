# Rabc.py: PyGObject overrides for librabc
#
# SPDX-License-Identifier: MIT
#
# PyGObject hands a Python str to C as a NUL-terminated string, so a str
# holding U+0000 would reach librabc cut at the first one, silently.  These
# overrides refuse such text with ValueError instead; GLib.Bytes, through
# Client.send_bytes_sync() and Client.send_bytes_async(), carries it whole.
# Every generated method stays as it is.

from ..module import get_introspection_module
from ..overrides import override

Rabc = get_introspection_module("Rabc")

__all__ = []


def _check_text(text, what):
    if isinstance(text, str) and "\0" in text:
        raise ValueError(
            f"{what} holds U+0000, which a C string cannot carry: "
            "send it as GLib.Bytes with send_bytes_sync() or send_bytes_async()")


def _check_properties(kwargs, names):
    for name in names:
        for key in (name, name.replace("-", "_")):
            if key in kwargs:
                _check_text(kwargs[key], f"the {name} property")


class Client(Rabc.Client):
    def __init__(self, **kwargs):
        _check_properties(kwargs, ("ping-message",))
        super().__init__(**kwargs)

    def send_sync(self, message, cancellable=None):
        _check_text(message, "the message")
        return super().send_sync(message, cancellable)

    def send_async(self, message, cancellable, callback, *user_data):
        _check_text(message, "the message")
        return super().send_async(message, cancellable, callback, *user_data)

    def set_ping_message(self, message):
        _check_text(message, "the ping message")
        return super().set_ping_message(message)

    def set_property(self, name, value):
        if name.replace("_", "-") == "ping-message":
            _check_text(value, "the ping-message property")
        return super().set_property(name, value)


Client = override(Client)
__all__.append("Client")


class Server(Rabc.Server):
    def __init__(self, **kwargs):
        _check_properties(kwargs, ("reply",))
        super().__init__(**kwargs)

    def set_reply(self, reply):
        _check_text(reply, "the reply")
        return super().set_reply(reply)

    def set_property(self, name, value):
        if name == "reply":
            _check_text(value, "the reply property")
        return super().set_property(name, value)


Server = override(Server)
__all__.append("Server")
