"""A tf.data service dispatcher's address, checked in seconds, with a message that says what is wrong.

The tf.data client itself retries an unreachable dispatcher for a long time and then fails with a gRPC status,
which reads like a hang followed by a riddle; a ``--data-service grpc://host:port`` given to the suite, and the
local service's own dispatcher, are checked here first. The check asks the dispatcher for its registered
workers, so it also tells a worker's address (or any other server) from a dispatcher's, and a dispatcher with no
worker (every epoch would wait for one) from a usable one.

TensorFlow is not imported: the check needs only ``grpcio`` and ``protobuf``, which TensorFlow installs.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

_ADDRESS = re.compile(r"grpc://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})")
_ADVICE = "start one or leave --data-service out to let the suite start a local one"
#: The dispatcher's call that lists its workers (``DispatcherService`` in TensorFlow's
#: ``tensorflow/core/data/service/dispatcher.proto``).
_GET_WORKERS = "/tensorflow.data.DispatcherService/GetWorkers"
#: ``GetWorkersResponse``'s ``repeated WorkerInfo workers = 1``: one length-delimited field 1 per worker.
_WORKERS_FIELD = 1
_LENGTH_DELIMITED = 2  # the protobuf wire type of a message field


class ServiceError(RuntimeError):
    """A tf.data service that cannot be used: a malformed address, nothing answering, a child that failed."""


@dataclass(frozen=True)
class Address:
    """A parsed ``grpc://host:port`` dispatcher address."""

    host: str
    port: int

    @property
    def target(self) -> str:
        """``host:port``, as ``WorkerConfig.dispatcher_address`` and gRPC channels take it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"grpc://{self.target}"


def parse_address(address: str) -> Address:
    """``grpc://host:port`` -> :class:`Address`; :class:`ServiceError` for anything else."""
    match = _ADDRESS.fullmatch(address.strip()) if isinstance(address, str) else None
    port = int(match["port"]) if match else 0
    if not match or not 0 < port < 65536:
        raise ServiceError(f"malformed tf.data service address {address!r}: expected grpc://host:port "
                           "(e.g. grpc://localhost:5050)")
    return Address(match["host"], port)


def check_service(address: str, timeout_s: float = 2.0) -> int:
    """Check that a tf.data service dispatcher answers at ``address`` within about ``timeout_s`` seconds.

    Three steps, each with its own message: the address must read ``grpc://host:port``; something must accept a
    TCP connection there; and it must answer the dispatcher's own ``GetWorkers`` call with at least one
    registered worker (a worker's address, or another server, answers but is no dispatcher; a dispatcher with
    no worker would leave every epoch waiting). The last step needs the ``grpcio`` and ``protobuf`` (4.24 or
    later) packages, which TensorFlow installs, and is skipped without them.

    Returns:
        the number of workers registered with the dispatcher (``-1`` when grpcio or protobuf is missing).

    Raises:
        ServiceError: with the reason, within about ``timeout_s`` (twice that at most).
    """
    parsed = parse_address(address)
    where = parsed.url
    try:
        with socket.create_connection((parsed.host.strip("[]"), parsed.port), timeout=timeout_s):
            pass
    except ConnectionRefusedError:
        raise ServiceError(f"no tf.data service dispatcher answers at {where}: connection refused; {_ADVICE}") \
            from None
    except socket.gaierror as error:
        raise ServiceError(f"no tf.data service dispatcher answers at {where}: unknown host "
                           f"{parsed.host!r} ({error.strerror}); {_ADVICE}") from None
    except TimeoutError:
        raise ServiceError(f"no tf.data service dispatcher answers at {where}: no answer within {timeout_s:g} s "
                           f"(a firewall, or a host that is down); {_ADVICE}") from None
    except OSError as error:
        raise ServiceError(f"no tf.data service dispatcher answers at {where}: {error.strerror or error}; "
                           f"{_ADVICE}") from None
    return registered_workers(parsed, timeout_s)


def registered_workers(address: Address, timeout_s: float) -> int:
    """The dispatcher's ``GetWorkers`` call: the number of workers it lists (``-1`` without grpcio or protobuf).

    TensorFlow's wheel ships no Python class for the dispatcher's messages, so the request is protobuf's own
    ``Empty`` (``GetWorkersRequest`` has no field) and the response is read as an ``Empty`` too, its fields then
    all unknown ones: :class:`~google.protobuf.unknown_fields.UnknownFieldSet` lists them, one field 1 per worker.
    """
    try:
        import grpc
        from google.protobuf.empty_pb2 import Empty
        from google.protobuf.message import DecodeError
        from google.protobuf.unknown_fields import UnknownFieldSet
    except ImportError:
        return -1
    where = address.url
    with grpc.insecure_channel(address.target) as channel:
        call = channel.unary_unary(_GET_WORKERS, request_serializer=Empty.SerializeToString)
        try:
            response = call(Empty(), timeout=timeout_s)
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            if code == grpc.StatusCode.UNIMPLEMENTED:
                raise ServiceError(f"{where} answers but is not a tf.data service dispatcher (it does not know the "
                                   "dispatcher's calls): is it a worker's address?") from None
            detail = error.details() if hasattr(error, "details") else str(error)
            raise ServiceError(f"{where} accepts connections but no tf.data service dispatcher answers there "
                               f"({code.name if code else 'error'}: {detail}); {_ADVICE}") from None
    try:
        fields = UnknownFieldSet(Empty.FromString(response))
    except DecodeError as error:
        raise ServiceError(f"unreadable answer from the tf.data service dispatcher ({error})") from None
    workers = sum(field.field_number == _WORKERS_FIELD and field.wire_type == _LENGTH_DELIMITED for field in fields)
    if workers == 0:
        raise ServiceError(f"the tf.data service dispatcher at {where} has no worker: every epoch would wait for "
                           f"one; start workers (python -m pipelines.dataservice.worker worker --dispatcher {where})")
    return workers
