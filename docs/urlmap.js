// Where the reference of each namespace that librabc's documentation links
// to lives; the links to them are resolved in the browser through this map.
baseURLs = [
  ['GLib', 'https://docs.gtk.org/glib/'],
  ['GObject', 'https://docs.gtk.org/gobject/'],
  ['Gio', 'https://docs.gtk.org/gio/'],
];
