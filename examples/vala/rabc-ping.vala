/* rabc-ping.vala: the rabc client in Vala, through the generated rabc-1.vapi
 *
 *   rabc-ping-vala SOCKET COUNT
 *
 * Connects asynchronously, sends COUNT requests with send_async on a main
 * loop, then one with send_sync, printing each reply.
 *
 * SPDX-License-Identifier: MIT
 */

int status = 0;

async void run (string socket_path, int count, MainLoop loop) {
    try {
        var client = yield new Rabc.Client (socket_path);
        for (var i = 0; i < count; i++) {
            var reply = yield client.send_async ("ping");
            print ("%s\n", reply);
        }
        print ("%s\n", client.send_sync ("ping"));
    } catch (Error e) {
        printerr ("rabc-ping-vala: %s\n", e.message);
        status = 1;
    }
    loop.quit ();
}

int main (string[] args) {
    if (args.length != 3) {
        printerr ("usage: rabc-ping-vala SOCKET COUNT\n");
        return 2;
    }

    var loop = new MainLoop ();
    run.begin (args[1], int.parse (args[2]), loop);
    loop.run ();
    return status;
}
