"""A tf.data service dispatcher or worker process, run until it is stopped.

:class:`~pipelines.dataservice.local.LocalService` starts its children with this module:
``python -m pipelines.dataservice.worker dispatcher [--port 0] [--host NAME] [--work-dir DIR [--fault-tolerant]]
[--worker-timeout S]`` and ``python -m pipelines.dataservice.worker worker --dispatcher grpc://host:port [--port 0]
[--host NAME]``. Each prints one line, ``ready <address>``, once its server
is up, then serves until it is stopped. They may equally be started by hand, on other machines, to give the suite a
service of real extra cores.

A child started by the suite (its parent's pid in :data:`PARENT_ENV`) exits on its own within
:data:`PARENT_POLL_S` of its parent's death, however the parent died, so that no service process is left behind.
TensorFlow is imported here, in the child, only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pipelines.cleanup.children import exit_with_parent
from pipelines.loaders.service_address import Address, ServiceError, parse_address
from pipelines.options import CommandParser, Option, add_options, command_parser, refuse
from pipelines.values import natural, positive

PROG = "python -m pipelines.dataservice.worker"
#: How a child learns whose child it is (see :func:`_watch_parent`).
PARENT_ENV = "LOADERBENCH_SERVICE_PARENT"
#: Seconds between a child's checks that its parent is still alive: the longest an orphan outlives its parent.
PARENT_POLL_S = 0.2


def _watch_parent() -> None:
    """Exit this process as soon as the parent named in :data:`PARENT_ENV` is gone (its pid is then no longer
    this process's parent: an orphan is adopted by init or a subreaper)."""
    expected = os.environ.get(PARENT_ENV)
    if expected:  # else started by hand: it serves until stopped
        exit_with_parent(int(expected), poll_s=PARENT_POLL_S)


def _ready(address: str) -> None:
    """Report ``ready <address>`` on stdout, then point stdout at stderr: the parent stops reading it."""
    sys.stdout.write(f"ready {address}\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


def port(text: str) -> int:
    """A port to listen on: 0 (any free one) to 65535."""
    value = natural(text)
    if value > 65535:
        raise ValueError(f"a port from 0 (any free one) to 65535, got {text!r}")
    return value


def dispatcher_address(text: str) -> Address:
    """A dispatcher's ``grpc://host:port``."""
    try:
        return parse_address(text)
    except ServiceError as error:
        raise ValueError(str(error)) from None


PORT = Option("--port", "port to listen on (0: any free port)", parse=port, default=0, metavar="PORT")
DISPATCHER = Option("--dispatcher", "the dispatcher's address", parse=dispatcher_address, metavar="grpc://HOST:PORT",
                    required=True)
HOST = Option("--host", "the name clients reach this server by (another machine's workers need their own host name "
              "here, since the dispatcher hands it to the clients)", default="localhost", metavar="NAME")
WORK_DIR = Option("--work-dir", "folder the dispatcher keeps its state in (its journal, with --fault-tolerant)",
                  metavar="FOLDER", default_text="none: state in memory only")
FAULT_TOLERANT = Option("--fault-tolerant", "journal the dispatcher's state in --work-dir, so that a restarted "
                        "dispatcher resumes its jobs (DispatcherConfig.fault_tolerant_mode)", parse=None, default=False)
WORKER_TIMEOUT = Option("--worker-timeout", "seconds without a heartbeat after which the dispatcher drops a worker",
                        parse=positive, metavar="SECONDS", default_text="TensorFlow's")


def _parser() -> CommandParser:
    parser = command_parser(PROG,
                            "Run a tf.data service dispatcher or worker until stopped.")
    roles = parser.add_subparsers(dest="role", required=True)
    dispatcher = roles.add_parser("dispatcher", help="the dispatcher: hands out work, prints its grpc:// address")
    add_options(dispatcher.add_argument, PORT, HOST, WORK_DIR, FAULT_TOLERANT, WORKER_TIMEOUT)
    worker = roles.add_parser("worker", help="a worker: processes the pipeline's elements")
    add_options(worker.add_argument, DISPATCHER, PORT, HOST)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "fault_tolerant", False) and not args.work_dir:
        return refuse(PROG, "--fault-tolerant journals the dispatcher's state to --work-dir: give one")
    _watch_parent()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    service = tf.data.experimental.service
    if args.role == "dispatcher":
        timeout_ms = round(args.worker_timeout * 1000) if args.worker_timeout else None
        server = service.DispatchServer(service.DispatcherConfig(
            port=args.port, work_dir=args.work_dir, fault_tolerant_mode=args.fault_tolerant,
            worker_timeout_ms=timeout_ms))
        _ready(f"grpc://{args.host}:{server.target.rsplit(':', 1)[1]}")
    else:
        server = service.WorkerServer(service.WorkerConfig(dispatcher_address=args.dispatcher.target, port=args.port,
                                                           worker_address=f"{args.host}:%port%"))
        port = server._address.rsplit(":", 1)[1]  # "localhost:PORT": the public API has no getter for the port
        _ready(f"{args.host}:{port}")
    server.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
