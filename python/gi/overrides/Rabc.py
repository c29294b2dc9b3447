# Rabc.py: PyGObject overrides for librabc
#
# SPDX-License-Identifier: MIT
#
# PyGObject hands a Python str to C as a NUL-terminated string, so a str
# holding U+0000 would reach librabc cut at the first one, silently.  These
# overrides refuse such text with ValueError instead; GLib.Bytes, through
# Client.send_bytes_sync(), Client.send_bytes_async() and
# Request.reply_bytes(), carries it whole.  Clients and servers are also
# context managers: the with block closes the client, or stops the server.
# Every generated method stays as it is.

import inspect

from ..module import get_introspection_module
from ..overrides import override

Rabc = get_introspection_module("Rabc")

__all__ = []


_SEND_BYTES = "send it as GLib.Bytes with send_bytes_sync() or send_bytes_async()"


def _check_text(text, what, remedy=_SEND_BYTES):
    if isinstance(text, str) and "\0" in text:
        raise ValueError(f"{what} holds U+0000, which a C string cannot carry: {remedy}")


def _check_properties(kwargs, names):
    for name in names:
        for key in (name, name.replace("-", "_")):
            if key in kwargs:
                _check_text(kwargs[key], f"the {name} property")


class _CheckedProps:
    """obj.props, refusing text that a C string would cut."""

    def __init__(self, props, names):
        object.__setattr__(self, "_props", props)
        object.__setattr__(self, "_names", names)

    def __getattr__(self, name):
        return getattr(self._props, name)

    def __setattr__(self, name, value):
        _check_properties({name: value}, self._names)
        setattr(self._props, name, value)

    def __dir__(self):
        return dir(self._props)


class _CheckedPropsDescriptor:
    """Gives instances checked props; the class keeps its parameter specs."""

    def __init__(self, descriptor, names):
        self._descriptor = descriptor
        self._names = names

    def __get__(self, obj, cls=None):
        props = self._descriptor.__get__(obj, cls)
        return props if obj is None else _CheckedProps(props, self._names)


def _text_properties(*names):
    """Adds the checks for the string properties @names to a class."""

    def decorate(cls):
        init = cls.__init__

        def __init__(self, **kwargs):
            _check_properties(kwargs, names)
            init(self, **kwargs)

        def set_property(self, name, value):
            _check_properties({name: value}, names)
            return super(cls, self).set_property(name, value)

        def set_properties(self, **kwargs):
            _check_properties(kwargs, names)
            return super(cls, self).set_properties(**kwargs)

        cls.__init__ = __init__
        cls.set_property = set_property
        cls.set_properties = set_properties
        cls.props = _CheckedPropsDescriptor(inspect.getattr_static(cls, "props"), names)
        return cls

    return decorate


@_text_properties("ping-message")
class Client(Rabc.Client):
    def send_sync(self, message, cancellable=None):
        _check_text(message, "the message")
        return super().send_sync(message, cancellable)

    def send_async(self, message, cancellable, callback, *user_data):
        _check_text(message, "the message")
        return super().send_async(message, cancellable, callback, *user_data)

    def set_ping_message(self, message):
        _check_text(message, "the ping message")
        return super().set_ping_message(message)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


Client = override(Client)
__all__.append("Client")


@_text_properties("reply")
class Server(Rabc.Server):
    def set_reply(self, reply):
        _check_text(reply, "the reply")
        return super().set_reply(reply)

    def __enter__(self):
        """Starts the server unless it is listening already."""
        if not self.get_listening():
            self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()
        return False


Server = override(Server)
__all__.append("Server")


class Request(Rabc.Request):
    def reply(self, reply):
        _check_text(reply, "the reply",
                    "answer with GLib.Bytes through reply_bytes() instead")
        return super().reply(reply)


Request = override(Request)
__all__.append("Request")
