/* rabc-service.vala: a tiny rabc service in Vala, through the generated
 * rabc-1.vapi
 *
 *   rabc-service-vala SOCKET
 *
 * Answers "echo TEXT" with TEXT, byte for byte, and "upper TEXT" with TEXT
 * in capitals, from a handler of Rabc.Server's handle_request signal; every
 * other message is left to the server, which answers "pong". Stops cleanly
 * on SIGINT or SIGTERM, removing its socket file.
 *
 * SPDX-License-Identifier: MIT
 */

const string ECHO = "echo ";
const string UPPER = "upper ";

int main (string[] args) {
    if (args.length != 2) {
        printerr ("usage: rabc-service-vala SOCKET\n");
        return 2;
    }

    var loop = new MainLoop ();
    var server = new Rabc.Server (args[1]);
    server.handle_request.connect ((request) => {
        var message = request.get_message ();

        if (message.has_prefix (ECHO)) {
            // The payload, not the message, so that a U+0000 in TEXT
            // comes back.
            var payload = request.get_payload ();
            request.reply_bytes (new Bytes.from_bytes (payload, ECHO.length,
                                                       payload.get_size () - ECHO.length));
            return true;
        }
        if (message.has_prefix (UPPER)) {
            request.reply (message.substring (UPPER.length).up ());
            return true;
        }
        return false;
    });

    // Before listening: a supervisor may send SIGTERM as soon as the
    // socket exists.
    var sigint_id = Unix.signal_add (ProcessSignal.INT, () => {
        loop.quit ();
        return Source.CONTINUE;
    });
    var sigterm_id = Unix.signal_add (ProcessSignal.TERM, () => {
        loop.quit ();
        return Source.CONTINUE;
    });

    try {
        server.start ();
    } catch (Error e) {
        printerr ("rabc-service-vala: %s\n", e.message);
        Source.remove (sigint_id);
        Source.remove (sigterm_id);
        return 1;
    }

    loop.run ();
    Source.remove (sigint_id);
    Source.remove (sigterm_id);
    server.stop ();
    return 0;
}
