// gjs_service.js: a Rabc.Server answering from a ::handle-request handler
// in GJS, and a Rabc.Client of it in the same process
//
//   gjs gjs_service.js SOCKET
//
// The handler takes both requests and answers them later, from
// GLib.timeout_add, the second before the first; the client prints the
// replies in the order they come. Exits 0 when they are each request's
// own, in order; 1 otherwise, with the reason on stderr.
//
// SPDX-License-Identifier: MIT

imports.gi.versions.Rabc = '1.0';
const {GLib, Rabc} = imports.gi;
const System = imports.system;

const MESSAGES = ['one', 'two \u2713'];
const GUARD_MS = 20000;

function main() {
    if (ARGV.length !== 1) {
        printerr('usage: gjs_service.js SOCKET');
        return 2;
    }
    const socketPath = ARGV[0];
    const loop = new GLib.MainLoop(null, false);
    let status = 0;

    function fail(message) {
        printerr(`gjs_service.js: ${message}`);
        status = 1;
        loop.quit();
    }

    const server = Rabc.Server.new(socketPath);
    const held = [];
    server.connect('handle-request', (self, request) => {
        if (!(request instanceof Rabc.Request) || !(request.get_peer() instanceof Rabc.Peer))
            fail('the handler did not get a Rabc.Request from a Rabc.Peer');
        held.push(request);
        if (held.length === MESSAGES.length) {
            GLib.timeout_add(GLib.PRIORITY_DEFAULT, 20, () => {
                for (const taken of held.slice().reverse())
                    taken.reply(`reply to ${taken.get_message()}`);
                return GLib.SOURCE_REMOVE;
            });
        }
        return true;
    });
    server.start();

    const client = new Rabc.Client({socket_path: socketPath, ping_interval: 0});
    const replies = [];
    client.init_async(GLib.PRIORITY_DEFAULT, null, (self, initResult) => {
        try {
            self.init_finish(initResult);
        } catch (error) {
            fail(error.message);
            return;
        }
        for (const message of MESSAGES) {
            self.send_async(message, null, (source, result) => {
                let reply;
                try {
                    reply = source.send_finish(result);
                } catch (error) {
                    fail(error.message);
                    return;
                }
                print(reply);
                replies.push(reply);
                if (reply !== `reply to ${message}`)
                    fail(`"${message}" got "${reply}"`);
                else if (replies.length === MESSAGES.length)
                    loop.quit();
            });
        }
    });

    GLib.timeout_add(GLib.PRIORITY_DEFAULT, GUARD_MS, () => {
        fail(`no replies after ${GUARD_MS} ms`);
        return GLib.SOURCE_REMOVE;
    });
    loop.run();
    client.close();
    server.stop();
    return status;
}

System.exit(main());
