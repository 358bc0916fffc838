"""``vehiclekit console``: start the review console (see :mod:`vehiclekit.apps.console`)."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

LOOPBACK = ("127.0.0.1", "localhost", "::1")

EPILOG = """\
examples:
  train-vehicle select --model vehicle-type --pool cameras/ --budget 100 --strategy bald -o queue.json
  vehiclekit console --queue queue.json --labels labels.db --user alice
  vehiclekit console --parking-db parking.db --tariff deploy/tariff.example.yaml --stats-db stats.db --user alice

Open the address it prints. Label: keys 1-9 choose a label, s skips, u (or Backspace) undoes.
Labels go to the label store (--labels) with your name; train on them with
`train-vehicle supervised --labels labels.db --init vehicle-type`.
The console listens on 127.0.0.1 only. To reach it from other machines: --host 0.0.0.0 with
--password-file (HTTP Basic auth) and --tls-cert/--tls-key (HTTPS), and list the name users reach
it by in --allowed-host.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``vehiclekit console``."""
    p.description = ("Start the review console: a web page for the labeling queue, the parking review cases and "
                     "today's traffic statistics.")
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--queue", type=Path, help="labeling queue from `train-vehicle select` (JSON or CSV)")
    p.add_argument("--labels", default=os.environ.get("VEHICLEKIT_LABELS_DB", "labels.db"),
                   help="label store: SQLite file or database URL (default: $VEHICLEKIT_LABELS_DB, else labels.db)")
    p.add_argument("--parking-db", default=os.environ.get("VEHICLEKIT_PARKING_DB"),
                   help="parking store to review (default: $VEHICLEKIT_PARKING_DB)")
    p.add_argument("--tariff", type=Path, default=os.environ.get("VEHICLEKIT_TARIFF"),
                   help="tariff YAML used to charge a matched exit (default: $VEHICLEKIT_TARIFF)")
    p.add_argument("--stats-db", default=os.environ.get("VEHICLEKIT_STATS_DB"),
                   help="traffic statistics store (default: $VEHICLEKIT_STATS_DB)")
    p.add_argument("--tz", default="UTC", help="time zone of the traffic page's days, e.g. Europe/Berlin (default: UTC)")
    p.add_argument("--user", default=getpass.getuser(),
                   help="your name, stored with every label and decision (default: the login name)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default: %(default)s)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="another host name browsers use to reach the console (with --host); repeatable")
    p.add_argument("--password-file", type=Path,
                   help="require this file's password (HTTP Basic auth, any user name); use with TLS")
    p.add_argument("--tls-cert", type=Path, help="serve HTTPS with this PEM certificate (with --tls-key)")
    p.add_argument("--tls-key", type=Path, help="the certificate's PEM private key")


def run(args: argparse.Namespace) -> int:
    """Serve the console until Ctrl-C; 0."""
    from werkzeug.serving import make_server

    from vehiclekit.apps.console.app import ConsoleConfig, create_app

    if not args.user.strip():
        raise ValueError("--user NAME is required: it is stored with every label and decision")
    hosts = (*LOOPBACK, *args.allowed_host) if args.host in LOOPBACK or args.allowed_host else ()
    password = None
    if args.password_file is not None:
        password = args.password_file.read_text().strip()
        if len(password) < 12:
            raise ValueError(f"the password in {args.password_file} must be at least 12 characters")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    tls = (str(args.tls_cert), str(args.tls_key)) if args.tls_cert else None
    if args.host not in LOOPBACK and (password is None or tls is None):
        print(f"warning: listening on {args.host} without {'a password' if password is None else 'TLS'}: "
              "anyone who reaches this port can label and settle parking cases", flush=True)
    config = ConsoleConfig(user=args.user, labels=args.labels, queue=args.queue, parking_db=args.parking_db,
                           tariff=args.tariff, stats_db=args.stats_db, tz=args.tz, allowed_hosts=hosts,
                           password=password)
    server = make_server(args.host, args.port, create_app(config), threaded=True, ssl_context=tls)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104 - a comparison: print a reachable address, not a bind
    scheme = "https" if tls else "http"
    print(f"vehiclekit console on {scheme}://{shown}:{server.server_port}/ as {args.user} (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
