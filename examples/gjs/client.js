#!/usr/bin/gjs
// client.js: connect to rabcd and print the replies to automatic pings
//
// The Python client example in JavaScript: GJS reads the same Rabc typelib,
// so nothing here is specific to the language but its syntax.
//
//   ./client.js [SOCKET [COUNT [INTERVAL_MS]]]
//
// SOCKET defaults to $RABC_SOCKET_PATH or /tmp/librabc, COUNT to 10,
// INTERVAL_MS to 2000. Exits 0 after COUNT replies, 1 when the daemon
// cannot be reached or the connection ends early.
//
// SPDX-License-Identifier: MIT

imports.gi.versions.Rabc = '1.0';
const {GLib, Rabc} = imports.gi;
const System = imports.system;

const PROGRAM = 'client.js';

function positiveArgument(index, name, fallback) {
    if (ARGV.length <= index)
        return fallback;
    const value = Number(ARGV[index]);
    if (!Number.isInteger(value) || value <= 0) {
        printerr(`${PROGRAM}: ${name} must be a positive integer, not "${ARGV[index]}"`);
        System.exit(2);
    }
    return value;
}

function main() {
    const socketPath = ARGV.length > 0 && ARGV[0] !== '' ? ARGV[0] : null;
    const count = positiveArgument(1, 'COUNT', 10);
    const interval = positiveArgument(2, 'INTERVAL_MS', Rabc.DEFAULT_PING_INTERVAL);

    const client = new Rabc.Client({socket_path: socketPath, ping_interval: interval});
    try {
        client.init(null);
    } catch (error) {
        printerr(`${PROGRAM}: ${error.message}`);
        return 1;
    }

    const loop = new GLib.MainLoop(null, false);
    let replies = 0;
    let status = 0;

    client.connect('reply', (self, reply) => {
        print(reply);
        replies += 1;
        if (replies >= count)
            self.close();
    });
    client.connect('closed', (self, error) => {
        if (error !== null) {
            printerr(`${PROGRAM}: ${error.message}`);
            status = 1;
        }
        loop.quit();
    });

    loop.run();
    return status;
}

System.exit(main());
