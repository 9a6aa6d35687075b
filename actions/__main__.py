"""``python -m actions --port 5055``: rasa-sdk's action server with our actions, in one process.

``python -m rasa_sdk`` runs its Sanic app under Sanic's worker manager: a manager process that starts a worker
process and watches it. On SIGTERM that manager sometimes read a worker's state while it was being removed and died
with ``AttributeError: 'NoneType' object has no attribute 'get'`` (seen in CI); a killed manager could also leave its
worker serving. The CRM's ``urp serve`` learned the same and serves in one process (crm/cli.py); so does this. The app
is rasa-sdk's own (``create_app_for_serve``: its /webhook, /actions, /health and plugins), so Rasa sees no difference.
The command-line flags are rasa-sdk's; ``--actions`` is always this package.
"""

from __future__ import annotations

import os
import sys

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic

import actions
from crm.core.ports import IN_USE, busy_reason  # standard library only: no CRM code runs here


def main(argv: list[str] | None = None) -> None:
    args = create_argument_parser().parse_args(argv)
    if args.ssl_certificate or args.auto_reload:
        # it listens on loopback beside Rasa; TLS and reloading belong to a proxy and to development tools
        raise SystemExit("action server: --ssl-certificate and --auto-reload are not supported by `python -m actions`")
    utils.configure_colored_logging(args.loglevel)
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(actions)
    host = os.environ["SANIC_HOST"]  # set by actions/__init__ (loopback unless URP_ACTIONS_HOST)
    reason = busy_reason(host, args.port)
    if reason:
        hint = " (another action server?)" if reason == IN_USE else ""
        raise SystemExit(f"action server: cannot listen on {host}:{args.port}: {reason}{hint}")
    app = create_app_for_serve(executor, cors_origins=args.cors, endpoints=args.endpoints)

    @app.before_server_stop
    async def close_crm_client(app: Sanic) -> None:  # its pooled connections to the CRM, closed with the server
        from actions.crm_client import crm

        await crm.close()

    app.prepare(host=host, port=args.port, single_process=True, access_log=False, motd=False)
    Sanic.serve_single(app)


if __name__ == "__main__":
    main(sys.argv[1:])
