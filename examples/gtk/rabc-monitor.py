#!/usr/bin/python3
# rabc-monitor.py: a GTK 4 window that watches rabcd
#
# Connects to the daemon without blocking the window, shows the connection
# state, plots the round-trip times of the latest automatic pings and sends
# the text of an entry on request. The client does all its I/O on the GTK
# main loop, so nothing here needs a thread.
#
#   ./rabc-monitor.py --socket /tmp/librabc --interval 500
#
# Each change of the state label is also printed to stdout as
# "state: <label text>", for scripts and tests.
#
# SPDX-License-Identifier: MIT

import argparse
import math
import signal
import sys
from collections import deque

import gi

gi.require_version('Gtk', '4.0')
gi.require_version('PangoCairo', '1.0')
gi.require_version('Rabc', '1.0')
gi.require_foreign('cairo')
from gi.repository import Gio, GLib, Gtk, PangoCairo, Rabc  # noqa: E402

PROGRAM = 'rabc-monitor.py'
APPLICATION_ID = 'org.example.RabcMonitor'
HISTORY = 60                         # round-trip times kept in the plot
LINE_COLOR = (0.902, 0.380, 0.000)   # #e66100; tests/gtk looks for it
AXIS_COLOR = (0.35, 0.35, 0.35)
GRID_COLOR = (0.85, 0.85, 0.85)
MIN_Y_MAX = 100                      # µs: the y axis never gets shorter


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'{text} is negative')
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description='Watch rabcd: connection state, a live plot of ping '
                    'round-trip times, and a box to send messages.')
    parser.add_argument('--socket', metavar='PATH',
                        default=Rabc.get_default_socket_path(),
                        help='the daemon\'s socket (default: $RABC_SOCKET_PATH, '
                             f'or {Rabc.DEFAULT_SOCKET_PATH})')
    parser.add_argument('--interval', metavar='MS', type=non_negative_int,
                        default=500,
                        help='milliseconds between automatic pings, 0 for none '
                             '(default: 500)')
    return parser.parse_args(argv)


def nice_ceiling(value):
    """The smallest of 1, 2, 5 times a power of ten that is >= value."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


class RttPlot(Gtk.DrawingArea):
    """The latest HISTORY round-trip times, newest on the right."""

    MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 72, 16, 28, 30

    def __init__(self):
        super().__init__(hexpand=True, vexpand=True,
                         content_width=520, content_height=260)
        self.samples = deque(maxlen=HISTORY)
        self.set_draw_func(self._draw)

    def add(self, rtt_us):
        self.samples.append(rtt_us)
        self.queue_draw()

    def _draw(self, area, cr, width, height):
        left, top = self.MARGIN_LEFT, self.MARGIN_TOP
        plot_w = width - left - self.MARGIN_RIGHT
        plot_h = height - top - self.MARGIN_BOTTOM
        if plot_w <= 0 or plot_h <= 0:
            return

        cr.set_source_rgb(1, 1, 1)
        cr.rectangle(left, top, plot_w, plot_h)
        cr.fill()

        y_max = nice_ceiling(max([MIN_Y_MAX, *self.samples]))
        cr.set_line_width(1)
        for i in range(5):
            y = top + plot_h - plot_h * i / 4
            cr.set_source_rgb(*GRID_COLOR)
            cr.move_to(left, round(y) + 0.5)
            cr.line_to(left + plot_w, round(y) + 0.5)
            cr.stroke()
            self._text(cr, f'{y_max * i / 4:g}', left - 6, y, align_right=True)

        cr.set_source_rgb(*AXIS_COLOR)
        cr.move_to(left + 0.5, top)
        cr.line_to(left + 0.5, top + plot_h + 0.5)
        cr.line_to(left + plot_w, top + plot_h + 0.5)
        cr.stroke()
        self._text(cr, 'round-trip time (µs)', left, top - 14)
        self._text(cr, f'last {HISTORY} automatic pings, newest on the right',
                   left, top + plot_h + 18)

        if not self.samples:
            self._text(cr, 'no ping replies yet', left + 12, top + plot_h * 3 / 8)
            return

        # Slot HISTORY - 1 is the newest sample, at the right edge.
        first_slot = HISTORY - len(self.samples)
        points = [(left + plot_w * (first_slot + i) / (HISTORY - 1),
                   top + plot_h - plot_h * rtt / y_max)
                  for i, rtt in enumerate(self.samples)]
        cr.set_source_rgb(*LINE_COLOR)
        cr.set_line_width(2)
        cr.move_to(*points[0])
        for point in points[1:]:
            cr.line_to(*point)
        cr.stroke()
        for x, y in points:
            cr.arc(x, y, 3, 0, 2 * math.pi)
            cr.fill()

    def _text(self, cr, text, x, y, align_right=False):
        """Draws text in the widget's font, vertically centred on y."""
        layout = self.create_pango_layout(text)
        text_w, text_h = layout.get_pixel_size()
        cr.set_source_rgb(*AXIS_COLOR)
        cr.move_to(x - text_w if align_right else x, y - text_h / 2)
        PangoCairo.show_layout(cr, layout)


class MonitorWindow(Gtk.ApplicationWindow):
    def __init__(self, application, socket_path, interval):
        super().__init__(application=application, title='rabc monitor',
                         default_width=640, default_height=480)
        self.interval = interval
        self.client = None
        self.cancellable = Gio.Cancellable()

        self.state_label = Gtk.Label(xalign=0, wrap=True)
        self.plot = RttPlot()
        self.stats_label = Gtk.Label(xalign=0, label='No replies yet.')
        self.entry = Gtk.Entry(hexpand=True, placeholder_text='message',
                               text='ping')
        self.send_button = Gtk.Button(label='Send', sensitive=False)
        self.reply_label = Gtk.Label(xalign=0, wrap=True, selectable=True,
                                     label='Reply: (nothing sent yet)')

        send_row = Gtk.Box(spacing=6)
        send_row.append(self.entry)
        send_row.append(self.send_button)

        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=8,
                      margin_top=12, margin_bottom=12,
                      margin_start=12, margin_end=12)
        for widget in (self.state_label, self.plot, self.stats_label,
                       send_row, self.reply_label):
            box.append(widget)
        self.set_child(box)

        self.send_button.connect('clicked', self._on_send)
        self.entry.connect('activate', self._on_send)
        self.connect('close-request', self._on_close_request)

        self._set_state('Connecting…')
        Rabc.Client.new_async(socket_path, self.cancellable, self._on_connected)

    def _set_state(self, text):
        self.state_label.set_text(text)
        print(f'state: {self.state_label.get_text()}', flush=True)

    def _on_connected(self, _source, result):
        try:
            client = Rabc.Client.new_finish(result)
        except GLib.Error as error:
            if not error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                self._set_state(f'Disconnected: {error.message}')
            return
        if self.cancellable.is_cancelled():   # the window closed meanwhile
            client.close()
            return

        self.client = client
        client.props.ping_interval = self.interval
        client.connect('reply', self._on_reply)
        client.connect('closed', self._on_closed)
        self.send_button.set_sensitive(True)
        self._set_state(f'Connected to {client.props.socket_path}')

    def _on_reply(self, client, _reply):
        # round-trip-time already holds this ping's time when ::reply comes.
        self.plot.add(client.props.round_trip_time)
        samples = self.plot.samples
        self.stats_label.set_text(
            f'latest {samples[-1]} µs, min {min(samples)} µs, '
            f'max {max(samples)} µs over {len(samples)} pings')

    def _on_closed(self, _client, error):
        self.send_button.set_sensitive(False)
        reason = error.message if error is not None else 'connection closed'
        self._set_state(f'Disconnected: {reason}')

    def _on_send(self, _widget):
        if self.client is None or not self.client.props.connected:
            return
        self.reply_label.set_text('Reply: waiting…')
        self.client.send_async(self.entry.get_text(), self.cancellable,
                               self._on_sent)

    def _on_sent(self, client, result):
        try:
            reply = client.send_finish(result)
        except GLib.Error as error:
            if not error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                self.reply_label.set_text(f'Error: {error.message}')
            return
        self.reply_label.set_text(f'Reply: {reply}')

    def _on_close_request(self, _window):
        self.cancellable.cancel()
        if self.client is not None:
            self.client.disconnect_by_func(self._on_closed)
            self.client.close()
        return False


def main(argv=None):
    args = parse_args(argv)

    app = Gtk.Application(application_id=APPLICATION_ID,
                          flags=Gio.ApplicationFlags.NON_UNIQUE)
    app.connect('activate',
                lambda app: MonitorWindow(app, args.socket, args.interval).present())

    # Quit cleanly on Ctrl-C and SIGTERM: closing a window closes its client.
    def quit_cleanly():
        for window in app.get_windows():
            window.close()
        app.quit()
        return GLib.SOURCE_CONTINUE

    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, quit_cleanly)

    # The options are already parsed: GTK sees none of them.
    return app.run([sys.argv[0]])


if __name__ == '__main__':
    sys.exit(main())
