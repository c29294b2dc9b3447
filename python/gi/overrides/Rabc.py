# Rabc.py: PyGObject overrides for librabc
#
# SPDX-License-Identifier: MIT

"""PyGObject overrides for librabc.

Every generated method keeps its arguments and its return values; the
overrides add checks of text, a Python exception of librabc's own, context
managers and calls for asyncio.

Text holding U+0000
    PyGObject hands a Python str to C as a NUL-terminated string, so a str
    holding U+0000 would reach librabc cut at the first one, silently.
    These overrides refuse such text with ValueError instead; GLib.Bytes,
    through Client.send_bytes_sync(), Client.send_bytes_async() and
    Request.reply_bytes(), carries it whole, and so do bytes through
    Client.send_bytes().

Errors: Rabc.RabcError
    Rabc.RabcError is the exception of librabc: a subclass of GLib.Error
    whose code is a member of the Rabc.Error enumeration, so that
    ``except Rabc.RabcError as error: if error.code == Rabc.Error.CLOSED``
    reads as it means, and ``except GLib.Error`` and
    ``error.matches(Rabc.Error.quark(), code)`` keep working.  Every call
    that can fail raises it for an error of the Rabc.Error domain: the
    awaitables below, and the generated Client.new_sync(), new_finish(),
    init(), init_finish(), send_sync(), send_finish(), send_bytes_sync(),
    send_bytes_finish(), Server.start() and start_with_socket_fd().  An
    error of another domain, such as Gio.IOErrorEnum.CANCELLED from a
    cancelled synchronous call, is raised as the GLib.Error it is.  The
    error handed to the Client::closed signal stays a GLib.Error.

Context managers
    Clients and servers are context managers: the with block closes the
    client, or starts the server (unless it is listening) and stops it.
    ``async with client:`` closes the client too.

asyncio
    ``await Rabc.Client.open(path)`` connects a client, and
    ``async with Rabc.Client.open(path) as client:`` connects one and
    closes it at the end of the block; keyword arguments set properties
    (``ping_interval=0``).  ``await client.send(text)`` returns the reply
    as str, ``await client.send_bytes(data)`` takes bytes or GLib.Bytes
    and returns the reply as bytes.  The three start their work when they
    are called, and return an asyncio.Future: the order of the send() and
    send_bytes() calls is the order of the messages on the wire, and of
    the replies.

    librabc does its work on GLib's main context, so asyncio must run
    there: install gbulb's event loop before the loop is created
    (``import gbulb; gbulb.install()``, then ``asyncio.run(main())``).
    gbulb runs GLib's default main context in the first event loop of the
    main thread only.  On a loop that does not run the main context, such
    as asyncio's own, open(), send() and send_bytes() raise RuntimeError
    at once, before anything is sent, unless another thread runs that
    context with a GLib.MainLoop: then the results come through
    call_soon_threadsafe().

    Cancelling the future, or the task awaiting it (asyncio.wait_for() and
    asyncio.gather() included), cancels the Gio.Cancellable of the request
    at once: the awaiting code gets asyncio.CancelledError, the reply is
    dropped when it comes and the client stays usable, since librabc keeps
    the cancelled request in its place to match the replies of the others.
    A cancelled open() closes the client it made.  A failed request raises
    Rabc.RabcError: Rabc.Error.TIMED_OUT after the client's timeout
    property, Rabc.Error.CLOSED once the client is closed,
    Rabc.Error.IPC_CONNECTION when the server went away.
"""

import asyncio
import functools
import inspect
import threading

from gi.repository import Gio, GLib

from ..module import get_introspection_module
from ..overrides import override

Rabc = get_introspection_module("Rabc")

__all__ = []


_SEND_BYTES = "send it as GLib.Bytes with send_bytes_sync() or send_bytes_async()"
_ERROR_DOMAIN = GLib.quark_to_string(Rabc.error_quark())


def _error_code(code):
    """@code as a member of Rabc.Error when it is one."""
    try:
        return Rabc.Error(code)
    except (TypeError, ValueError):
        return code


class RabcError(GLib.Error):
    """A GLib.Error of the Rabc.Error domain, whose code is a member of
    Rabc.Error: RabcError("message", code=Rabc.Error.CLOSED)."""

    def __init__(self, message="unknown error", domain=_ERROR_DOMAIN, code=Rabc.Error.BUG):
        super().__init__(message, domain, _error_code(code))

    def __repr__(self):
        code = self.code
        if isinstance(code, Rabc.Error):
            code = "Rabc.Error." + code.value_nick.upper().replace("-", "_")
        return f"Rabc.RabcError({self.message!r}, {self.domain!r}, {code})"

    def copy(self):
        return RabcError(self.message, self.domain, self.code)


RabcError.__module__ = "gi.repository.Rabc"
__all__.append("RabcError")


def _as_rabc_error(error):
    """@error as a RabcError when it is of the Rabc.Error domain."""
    if isinstance(error, RabcError) or not error.matches(Rabc.error_quark(), error.code):
        return error
    converted = RabcError(error.message, error.domain, error.code)
    return converted.with_traceback(error.__traceback__)


def _raising_rabc_error(function):
    """Wraps the generated @function so that it raises RabcError; its
    arguments, documentation and return value stay those of @function."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except GLib.Error as error:
            raise _as_rabc_error(error) from None

    return call


def _require_glib_context(what):
    """Raises RuntimeError unless something runs the main context that the
    callbacks of this thread go to: this thread (a GLib event loop such as
    gbulb's) or another (a GLib.MainLoop)."""
    context = GLib.MainContext.ref_thread_default()
    if context.is_owner():
        return
    if context.acquire():
        context.release()
        raise RuntimeError(
            f"{what} needs GLib's main context to run, and this asyncio event loop does not "
            "run it: install gbulb's event loop before the loop is created (import gbulb; "
            "gbulb.install()), which runs that context in the first loop of the main thread, "
            "or run a GLib.MainLoop in another thread")


class _Call(asyncio.Future):
    """The future of an asynchronous call of librabc: cancelling it
    cancels the call's Gio.Cancellable at once."""

    def __init__(self, *, loop):
        super().__init__(loop=loop)
        self._cancellable = Gio.Cancellable()

    def cancel(self, *args, **kwargs):
        cancelled = super().cancel(*args, **kwargs)
        if cancelled:
            self._cancellable.cancel()
        return cancelled


def _begin(what, start, finish, future_class=_Call, abandon=None):
    """Starts an asynchronous call of librabc and returns its future, a
    @future_class on the running event loop.

    start(cancellable, callback) starts the call; finish(source, result),
    called in the callback, returns its outcome or raises.  Cancelling the
    future cancels the cancellable, and abandon() is called once the call
    ends after all.
    """
    loop = asyncio.get_running_loop()
    _require_glib_context(what)
    thread = threading.get_ident()
    future = future_class(loop=loop)

    def settle(outcome, error):
        if future.done():
            if abandon is not None:
                abandon()
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(outcome)

    def on_done(source, result):
        try:
            outcome, error = finish(source, result), None
        except GLib.Error as failure:
            outcome, error = None, _as_rabc_error(failure)
        if threading.get_ident() == thread:
            settle(outcome, error)
            return
        try:
            loop.call_soon_threadsafe(settle, outcome, error)
        except RuntimeError:
            # The loop is closed: nobody waits any more.
            if abandon is not None:
                abandon()

    start(future._cancellable, on_done)
    return future


class _ClientFuture(_Call):
    """What Client.open() returns: await it for the client, or enter it
    with async with, which closes the client at the end of the block."""

    async def __aenter__(self):
        return await self

    async def __aexit__(self, *exc_info):
        self.result().close()
        return False


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
    new_sync = staticmethod(_raising_rabc_error(Rabc.Client.new_sync))
    new_finish = staticmethod(_raising_rabc_error(Rabc.Client.new_finish))
    init = _raising_rabc_error(Rabc.Client.init)
    init_finish = _raising_rabc_error(Rabc.Client.init_finish)
    send_finish = _raising_rabc_error(Rabc.Client.send_finish)
    send_bytes_sync = _raising_rabc_error(Rabc.Client.send_bytes_sync)
    send_bytes_finish = _raising_rabc_error(Rabc.Client.send_bytes_finish)

    def send_sync(self, message, cancellable=None):
        _check_text(message, "the message")
        try:
            return super().send_sync(message, cancellable)
        except GLib.Error as error:
            raise _as_rabc_error(error) from None

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

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        self.close()
        return False

    @classmethod
    def open(cls, socket_path=None, **properties):
        """Connects a client to @socket_path (None: the default path) on
        the running asyncio event loop, which must run GLib's main
        context (see the module's documentation).

        Keyword arguments set the client's properties, as
        Rabc.Client(ping_interval=0) does.  Returns an asyncio.Future:
        await it for the connected client, or use it in ``async with``,
        which closes the client at the end of the block.  Raises RabcError
        when the client cannot connect.  A cancelled open() closes the
        client it made.
        """
        asyncio.get_running_loop()
        _require_glib_context("Rabc.Client.open()")
        client = cls(socket_path=socket_path, **properties)

        def start(cancellable, callback):
            client.init_async(GLib.PRIORITY_DEFAULT, cancellable, callback)

        def finish(client, result):
            client.init_finish(result)
            return client

        return _begin("Rabc.Client.open()", start, finish, _ClientFuture, abandon=client.close)

    def send(self, message):
        """Sends the str @message at once and returns an asyncio.Future
        for the reply, a str.

        The running asyncio event loop must run GLib's main context (see
        the module's documentation).  Cancelling the future, or the task
        awaiting it, cancels the request.  A failed request raises
        RabcError.
        """
        _check_text(message, "the message", "send it as bytes with send_bytes()")

        def start(cancellable, callback):
            self.send_async(message, cancellable, callback)

        return _begin("Rabc.Client.send()", start,
                      lambda client, result: client.send_finish(result))

    def send_bytes(self, message):
        """Sends @message, bytes (or any bytes-like object) or GLib.Bytes,
        at once, byte for byte, and returns an asyncio.Future for the
        reply, as bytes.

        As send() otherwise: U+0000 goes through in both directions.
        """
        if not isinstance(message, GLib.Bytes):
            if isinstance(message, str):
                raise TypeError("send_bytes() takes bytes or GLib.Bytes: send a str with send()")
            message = GLib.Bytes.new(memoryview(message).tobytes())

        def start(cancellable, callback):
            self.send_bytes_async(message, cancellable, callback)

        return _begin("Rabc.Client.send_bytes()", start,
                      lambda client, result: client.send_bytes_finish(result).get_data())


Client = override(Client)
__all__.append("Client")


@_text_properties("reply")
class Server(Rabc.Server):
    start = _raising_rabc_error(Rabc.Server.start)
    start_with_socket_fd = _raising_rabc_error(Rabc.Server.start_with_socket_fd)

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
