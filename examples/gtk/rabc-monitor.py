#!/usr/bin/python3
# rabc-monitor.py: a GNOME application that watches rabcd
#
# A libadwaita window with the connection state, a plot of the round-trip
# times of the automatic pings over the last minute with their minimum,
# median and 99th percentile, and an entry that sends any text and shows
# the reply. When the daemon goes away the window says so, counts down to
# its next attempt and connects again once the daemon is back; the plot
# keeps the last minute, with the time offline shaded.
#
# The client does all its I/O on the GTK main loop, so nothing here needs a
# thread; the round trips are those the window sees, and include any time
# its main loop was busy drawing when a reply came.
#
#   ./rabc-monitor.py --socket /tmp/librabc --interval 500
#
# The entry talks to any rabc server: rabcd answers "pong", and
# examples/python/service.py answers its commands ("hostname", "uptime",
# "set colour blue", "get colour", "help").
#
# With --print-state each change of the state shown is also printed to
# stdout, as "state: connecting|connected|disconnected: <text shown>", for
# scripts and tests.
#
# SPDX-License-Identifier: MIT

import argparse
import math
import signal
import statistics
import sys
from collections import deque

import cairo
import gi

gi.require_version('Adw', '1')
gi.require_version('Gdk', '4.0')
gi.require_version('Gtk', '4.0')
gi.require_version('PangoCairo', '1.0')
gi.require_version('Rabc', '1.0')
gi.require_foreign('cairo')
from gi.repository import Adw, Gdk, Gio, GLib, Gtk, PangoCairo, Rabc  # noqa: E402

PROGRAM = 'rabc-monitor.py'
APPLICATION_ID = 'org.example.RabcMonitor'
APPLICATION_NAME = 'Rabc Monitor'

PLOT_SECONDS = 60                    # the plot and the statistics cover this
LINE_COLOR = (0.902, 0.380, 0.000)   # #e66100, GNOME orange; tests/gtk looks for it
MIN_Y_MAX = 100                      # µs: the y axis never gets shorter

# Seconds to wait before each attempt to connect again; the last repeats.
# The client's own auto-reconnect property retries on a schedule it does not
# publish, and only once a first connection succeeded; the window wants to
# say when the next attempt comes, so it makes a new client on its own timer.
RECONNECT_DELAYS = (1, 2, 5, 10)

# The banner is the colour of a warning, as GtkInfoBar's warning type is in
# Adwaita (#e5a50a in the light style; tests/gtk looks for it).
CSS = b'''
.connection-banner {
  background-color: @warning_bg_color;
  color: @warning_fg_color;
  padding: 6px 12px;
}
'''


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'{text} is negative')
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description='Watch rabcd: connection state, ping round-trip times '
                    'over the last minute, and an entry to send messages.')
    parser.add_argument('--socket', metavar='PATH',
                        default=Rabc.get_default_socket_path(),
                        help='the daemon\'s socket (default: $RABC_SOCKET_PATH, '
                             f'or {Rabc.DEFAULT_SOCKET_PATH})')
    parser.add_argument('--interval', metavar='MS', type=non_negative_int,
                        default=500,
                        help='milliseconds between automatic pings, 0 for none '
                             '(default: 500)')
    parser.add_argument('--print-state', action='store_true',
                        help='print each change of the connection state shown '
                             'to stdout')
    return parser.parse_args(argv)


def now_seconds():
    return GLib.get_monotonic_time() / 1e6


def nice_step(value):
    """The smallest of 1, 2, 5 times a power of ten that is >= value."""
    step = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor


def summarize(values):
    """The minimum, median and 99th percentile (nearest rank) of values."""
    ordered = sorted(values)
    p99 = ordered[math.ceil(len(ordered) * 99 / 100) - 1]
    return ordered[0], statistics.median(ordered), p99


def format_rtt(us):
    if us < 1000:
        return f'{us:.0f} µs'
    if us < 10000:
        return f'{us / 1000:.2f} ms'
    return f'{us / 1000:.1f} ms'


class RoundTripPlot(Gtk.DrawingArea):
    """Round-trip times of the last PLOT_SECONDS against time, now on the right.

    The line is broken where the connection was lost, and the time offline
    is shaded."""

    MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 20, 16, 44

    def __init__(self):
        super().__init__(hexpand=True, content_height=240)
        self.samples = deque()    # (time in s, round trip in µs, connection number)
        self.outages = deque()    # [start, end or None], in s
        self.connection = 0
        self.set_draw_func(self._draw)

    def add(self, rtt_us):
        self.samples.append((now_seconds(), rtt_us, self.connection))

    def connection_lost(self):
        self.outages.append([now_seconds(), None])

    def connection_back(self):
        self.connection += 1
        if self.outages and self.outages[-1][1] is None:
            self.outages[-1][1] = now_seconds()

    def recent(self):
        """The round trips of the last PLOT_SECONDS, oldest first."""
        oldest = now_seconds() - PLOT_SECONDS
        while self.samples and self.samples[0][0] < oldest:
            self.samples.popleft()
        while self.outages and self.outages[0][1] is not None \
                and self.outages[0][1] < oldest:
            self.outages.popleft()
        return [rtt for _, rtt, _ in self.samples]

    def _draw(self, _area, cr, width, height):
        left, top = self.MARGIN_LEFT, self.MARGIN_TOP
        plot_w = width - left - self.MARGIN_RIGHT
        plot_h = height - top - self.MARGIN_BOTTOM
        if plot_w <= 0 or plot_h <= 0:
            return

        style = self.get_style_context()
        fg = style.get_color()
        found, warning = style.lookup_color('warning_bg_color')
        if not found:
            warning = Gdk.RGBA(red=0.9, green=0.65, blue=0.04, alpha=1)

        now = now_seconds()
        values = self.recent()

        def x_of(t):
            return left + plot_w * (1 - (now - t) / PLOT_SECONDS)

        # The y axis: a whole number of 1, 2 or 5 steps above the highest
        # round trip shown, in ms once they reach a millisecond.
        step = nice_step(max([MIN_Y_MAX, *values]) * 1.1 / 4)
        y_max = step * math.ceil(max([MIN_Y_MAX, *values]) * 1.1 / step)
        unit, scale = ('ms', 1000) if y_max >= 1000 else ('µs', 1)

        def y_of(rtt):
            return top + plot_h - plot_h * rtt / y_max

        # Shade the time offline.
        cr.save()
        cr.rectangle(left, top, plot_w, plot_h)
        cr.clip()
        for start, end in self.outages:
            x0, x1 = x_of(start), x_of(end if end is not None else now)
            cr.set_source_rgba(warning.red, warning.green, warning.blue, 0.18)
            cr.rectangle(x0, top, x1 - x0, plot_h)
            cr.fill()
            if x1 - x0 > 60:
                self._text(cr, 'offline', x0 + 6, top + 12, fg, 0.7)
        cr.restore()

        # Grid and tick labels.
        cr.set_line_width(1)
        for i in range(round(y_max / step) + 1):
            y = round(y_of(i * step)) + 0.5
            cr.set_source_rgba(fg.red, fg.green, fg.blue, 0.12)
            cr.move_to(left, y)
            cr.line_to(left + plot_w, y)
            cr.stroke()
            self._text(cr, f'{i * step / scale:g}', left - 8, y, fg, 0.7,
                       align=1.0)
        for seconds_ago in range(0, PLOT_SECONDS + 1, 10):
            x = round(left + plot_w * (1 - seconds_ago / PLOT_SECONDS)) + 0.5
            cr.set_source_rgba(fg.red, fg.green, fg.blue, 0.12)
            cr.move_to(x, top)
            cr.line_to(x, top + plot_h + 4)
            cr.stroke()
            self._text(cr, str(seconds_ago), x, top + plot_h + 12, fg, 0.7,
                       align=0.5)

        cr.set_source_rgba(fg.red, fg.green, fg.blue, 0.5)
        cr.move_to(left + 0.5, top)
        cr.line_to(left + 0.5, top + plot_h + 0.5)
        cr.line_to(left + plot_w, top + plot_h + 0.5)
        cr.stroke()

        # Axis titles.
        self._text(cr, 'seconds ago', left + plot_w / 2, height - 10, fg, 0.9,
                   align=0.5)
        cr.save()
        cr.translate(14, top + plot_h / 2)
        cr.rotate(-math.pi / 2)
        self._text(cr, f'round trip ({unit})', 0, 0, fg, 0.9, align=0.5)
        cr.restore()

        if not values:
            self._text(cr, 'No ping replies in the last minute',
                       left + plot_w / 2, top + plot_h / 2, fg, 0.7, align=0.5)
            return

        # The line, one piece per connection.
        cr.save()
        cr.rectangle(left, top - 2, plot_w + 2, plot_h + 4)
        cr.clip()
        cr.set_source_rgb(*LINE_COLOR)
        cr.set_line_width(2)
        cr.set_line_join(cairo.LINE_JOIN_ROUND)
        previous = None
        for t, rtt, connection in self.samples:
            if connection != previous:
                cr.move_to(x_of(t), y_of(rtt))
                previous = connection
            else:
                cr.line_to(x_of(t), y_of(rtt))
        cr.stroke()
        cr.restore()

    def _text(self, cr, text, x, y, color, alpha, align=0.0):
        """Draws text in the widget's font, vertically centred on y;
        align 0 puts its left end at x, 0.5 its middle, 1 its right end."""
        layout = self.create_pango_layout(text)
        text_w, text_h = layout.get_pixel_size()
        cr.set_source_rgba(color.red, color.green, color.blue, alpha)
        cr.move_to(x - text_w * align, y - text_h / 2)
        PangoCairo.show_layout(cr, layout)


class Statistic(Gtk.Box):
    """A value in large digits above its name."""

    def __init__(self, name):
        super().__init__(orientation=Gtk.Orientation.VERTICAL, spacing=2,
                         margin_top=12, margin_bottom=12)
        self.value = Gtk.Label(label='—', css_classes=['title-3', 'numeric'])
        self.append(self.value)
        self.append(Gtk.Label(label=name, css_classes=['caption', 'dim-label']))

    def set_value(self, text):
        self.value.set_label(text)


class MonitorWindow(Adw.ApplicationWindow):
    def __init__(self, application, socket_path, interval, print_state):
        super().__init__(application=application, title=APPLICATION_NAME,
                         default_width=760, default_height=700)
        self.socket_path = socket_path
        self.interval = interval
        self.print_state = print_state
        self.client = None
        self.cancellable = Gio.Cancellable()
        self.ever_connected = False
        self.attempts = 0            # failed attempts since the last connection
        self.problem = ''            # why the latest attempt or connection failed
        self.seconds_left = 0
        self.countdown_id = 0
        self.shown_state = None

        self.reconnect_action = Gio.SimpleAction(name='reconnect', enabled=False)
        self.reconnect_action.connect('activate', lambda *_: self._connect())
        self.add_action(self.reconnect_action)
        self.send_action = Gio.SimpleAction(name='send', enabled=False)
        self.send_action.connect('activate', lambda *_: self._send())
        self.add_action(self.send_action)

        menu = Gio.Menu()
        menu.append('_Reconnect Now', 'win.reconnect')
        menu.append(f'_About {APPLICATION_NAME}', 'app.about')
        menu.append('_Quit', 'app.quit')
        header = Adw.HeaderBar(title_widget=Adw.WindowTitle(
            title=APPLICATION_NAME, subtitle=socket_path))
        header.pack_end(Gtk.MenuButton(icon_name='open-menu-symbolic',
                                       menu_model=menu, primary=True,
                                       tooltip_text='Main Menu'))

        # Adw.Banner is newer than libadwaita 1.2: a revealer does its work.
        self.banner_label = Gtk.Label(hexpand=True, xalign=0, wrap=True)
        banner_box = Gtk.Box(spacing=12, css_classes=['connection-banner'])
        banner_box.append(self.banner_label)
        banner_box.append(Gtk.Button(label='Reconnect _Now', use_underline=True,
                                     action_name='win.reconnect',
                                     valign=Gtk.Align.CENTER))
        self.banner = Gtk.Revealer(child=banner_box)

        # Until the first connection there is nothing to plot: a status page.
        self.status_page = Adw.StatusPage(vexpand=True)
        self.status_page.set_child(Gtk.Button(
            label='Try _Now', use_underline=True, action_name='win.reconnect',
            halign=Gtk.Align.CENTER, css_classes=['pill', 'suggested-action']))

        self.stack = Gtk.Stack(transition_type=Gtk.StackTransitionType.CROSSFADE)
        self.stack.add_named(self.status_page, 'status')
        self.stack.add_named(self._build_monitor(), 'monitor')

        self.toasts = Adw.ToastOverlay(child=self.stack, vexpand=True)
        content = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
        for widget in (header, self.banner, self.toasts):
            content.append(widget)
        self.set_content(content)

        self.connect('close-request', self._on_close_request)
        # The plot scrolls with time, and old samples leave the statistics.
        self.tick_id = GLib.timeout_add(250, self._on_tick)
        self._connect()

    def _build_monitor(self):
        self.connection_label = Gtk.Label(css_classes=['caption-heading'])
        plot_group = Adw.PreferencesGroup(
            title='Round Trip',
            description='Automatic pings over the last minute',
            header_suffix=self.connection_label)
        self.plot = RoundTripPlot()
        plot_group.add(Gtk.Frame(child=self.plot, css_classes=['view']))

        self.statistics = [Statistic(name) for name in
                           ('Latest', 'Minimum', 'Median', '99th Percentile')]
        stats_box = Gtk.Box(homogeneous=True, css_classes=['card'], margin_top=12)
        for statistic in self.statistics:
            stats_box.append(statistic)
        plot_group.add(stats_box)

        self.entry = Adw.EntryRow(title='Message')
        self.entry.add_suffix(Gtk.Button(label='_Send', use_underline=True,
                                         action_name='win.send',
                                         valign=Gtk.Align.CENTER))
        self.entry.connect('entry-activated',
                           lambda _: self.activate_action('win.send'))
        self.reply_row = Adw.ActionRow(title='Nothing sent yet', subtitle='Reply',
                                       use_markup=False, title_selectable=True)
        send_group = Adw.PreferencesGroup(
            title='Send a Message',
            description='rabcd answers “pong”; a service such as '
                        'examples/python/service.py answers its commands')
        send_group.add(self.entry)
        send_group.add(self.reply_row)

        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=24,
                      margin_top=24, margin_bottom=24,
                      margin_start=12, margin_end=12)
        box.append(plot_group)
        box.append(send_group)
        return Gtk.ScrolledWindow(
            hscrollbar_policy=Gtk.PolicyType.NEVER,
            child=Adw.Clamp(maximum_size=900, tightening_threshold=700,
                            child=box))

    # --- the connection -------------------------------------------------

    def _connect(self):
        self._stop_countdown()
        self.reconnect_action.set_enabled(False)
        self._show_state('connecting')
        Rabc.Client.new_async(self.socket_path, self.cancellable, self._on_client)

    def _on_client(self, _source, result):
        try:
            client = Rabc.Client.new_finish(result)
        except GLib.Error as error:
            if not error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                self._wait_to_reconnect(error.message)
            return
        if self.cancellable.is_cancelled():   # the window closed meanwhile
            client.close()
            return

        self.client = client
        client.props.ping_interval = self.interval
        client.connect('reply', self._on_reply)
        client.connect('closed', self._on_closed)
        self.attempts = 0
        if self.ever_connected:
            self.plot.connection_back()
            self.toasts.add_toast(Adw.Toast(title='Reconnected', timeout=3))
        self.ever_connected = True
        self.send_action.set_enabled(True)
        self._show_state('connected')

    def _on_reply(self, client, _reply):
        # round-trip-time already holds this ping's time when ::reply comes.
        self.plot.add(client.props.round_trip_time)

    def _on_closed(self, _client, error):
        self.client = None
        self.send_action.set_enabled(False)
        self.plot.connection_lost()
        self._wait_to_reconnect('Lost the connection: ' + (
            error.message if error is not None else 'closed'))

    def _wait_to_reconnect(self, problem):
        self.problem = problem
        self.seconds_left = RECONNECT_DELAYS[min(self.attempts,
                                                 len(RECONNECT_DELAYS) - 1)]
        self.attempts += 1
        self.countdown_id = GLib.timeout_add(1000, self._on_countdown)
        self.reconnect_action.set_enabled(True)
        self._show_state('disconnected')

    def _on_countdown(self):
        self.seconds_left -= 1
        if self.seconds_left > 0:
            self._show_state('disconnected')
            return GLib.SOURCE_CONTINUE
        self.countdown_id = 0
        self._connect()
        return GLib.SOURCE_REMOVE

    def _stop_countdown(self):
        if self.countdown_id:
            GLib.source_remove(self.countdown_id)
            self.countdown_id = 0

    # --- what the window shows -------------------------------------------

    def _show_state(self, state):
        """Shows state, one of connecting, connected and disconnected."""
        if state == 'connecting':
            text = ('Reconnecting…' if self.ever_connected
                    else f'Connecting to {self.socket_path}…')
        elif state == 'connected':
            text = f'Connected to {self.socket_path}'
        else:
            problem = self.problem[:1].upper() + self.problem[1:].rstrip('.') + '.'
            countdown = f'Reconnecting in {self.seconds_left} s…'
            text = f'{problem} {countdown}'

        if not self.ever_connected:
            self.stack.set_visible_child_name('status')
            if state == 'connecting':
                self.status_page.set_icon_name('network-server-symbolic')
                self.status_page.set_title('Connecting…')
            else:
                self.status_page.set_icon_name('network-wired-disconnected-symbolic')
                self.status_page.set_title('Cannot Reach the Daemon')
            self.status_page.set_description(GLib.markup_escape_text(
                text if state == 'connecting' else f'{problem}\n{countdown}'))
        else:
            self.stack.set_visible_child_name('monitor')
            self.banner_label.set_label(text)
            self.banner.set_reveal_child(state != 'connected')

        label, style = {'connecting': ('Connecting…', 'dim-label'),
                        'connected': ('Connected', 'success'),
                        'disconnected': ('Offline', 'warning')}[state]
        self.connection_label.set_label(label)
        self.connection_label.set_css_classes(['caption-heading', style])

        if self.print_state and (state, text) != self.shown_state:
            print(f'state: {state}: {text}', flush=True)
        self.shown_state = (state, text)

    def _on_tick(self):
        values = self.plot.recent()
        if values:
            minimum, median, p99 = summarize(values)
            texts = (format_rtt(values[-1]), format_rtt(minimum),
                     format_rtt(median), format_rtt(p99))
        else:
            texts = ('—',) * 4
        for statistic, text in zip(self.statistics, texts):
            statistic.set_value(text)
        self.plot.queue_draw()
        return GLib.SOURCE_CONTINUE

    # --- sending --------------------------------------------------------

    def _send(self):
        if self.client is None:
            return
        message = self.entry.get_text()
        self.reply_row.set_title('…')
        self.reply_row.set_subtitle(f'Waiting for the reply to “{message}”')
        self.client.send_async(message, self.cancellable, self._on_sent,
                               (message, GLib.get_monotonic_time()))

    def _on_sent(self, client, result, sent):
        message, started = sent
        try:
            reply = client.send_finish(result)
        except GLib.Error as error:
            if not error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                self.reply_row.set_title(error.message)
                self.reply_row.set_subtitle(f'No reply to “{message}”')
            return
        elapsed = GLib.get_monotonic_time() - started
        self.reply_row.set_title(reply)
        self.reply_row.set_subtitle(f'Reply to “{message}”, after {format_rtt(elapsed)}')

    def _on_close_request(self, _window):
        self.cancellable.cancel()
        self._stop_countdown()
        if self.tick_id:
            GLib.source_remove(self.tick_id)
            self.tick_id = 0
        if self.client is not None:
            self.client.disconnect_by_func(self._on_closed)
            self.client.close()
        return False


class MonitorApplication(Adw.Application):
    def __init__(self, args):
        super().__init__(application_id=APPLICATION_ID,
                         flags=Gio.ApplicationFlags.NON_UNIQUE)
        self.args = args

    def do_startup(self):
        Adw.Application.do_startup(self)
        provider = Gtk.CssProvider()
        provider.load_from_data(CSS)
        Gtk.StyleContext.add_provider_for_display(
            Gdk.Display.get_default(), provider,
            Gtk.STYLE_PROVIDER_PRIORITY_APPLICATION)

        for name, callback, accels in (('about', self._on_about, []),
                                       ('quit', lambda *_: self.quit_cleanly(),
                                        ['<Control>q'])):
            action = Gio.SimpleAction(name=name)
            action.connect('activate', callback)
            self.add_action(action)
            self.set_accels_for_action(f'app.{name}', accels)
        self.set_accels_for_action('win.reconnect', ['<Control>r'])
        self.set_accels_for_action('window.close', ['<Control>w'])

    def do_activate(self):
        MonitorWindow(self, self.args.socket, self.args.interval,
                      self.args.print_state).present()

    def _on_about(self, *_):
        version = '.'.join(str(part) for part in (Rabc.get_major_version(),
                                                  Rabc.get_minor_version(),
                                                  Rabc.get_micro_version()))
        Adw.AboutWindow(transient_for=self.get_active_window(),
                        application_name=APPLICATION_NAME,
                        application_icon='network-server-symbolic',
                        version=version,
                        comments='Watches rabcd, the echo daemon of librabc',
                        license_type=Gtk.License.MIT_X11).present()

    def quit_cleanly(self):
        # Closing a window closes its client.
        for window in self.get_windows():
            window.close()
        self.quit()


def main(argv=None):
    args = parse_args(argv)
    app = MonitorApplication(args)

    def on_signal():
        app.quit_cleanly()
        return GLib.SOURCE_CONTINUE

    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, on_signal)

    # The options are already parsed: GTK sees none of them.
    return app.run([sys.argv[0]])


if __name__ == '__main__':
    sys.exit(main())
