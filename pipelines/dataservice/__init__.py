"""The tf.data service the service loader sends its pipeline to: a local dispatcher and workers started for a
run (:mod:`~pipelines.dataservice.local`, whose children run :mod:`~pipelines.dataservice.worker`), or the
address of an existing one checked before anything is timed (:mod:`~pipelines.loaders.service_address`)."""

from pipelines.loaders.service_address import Address, ServiceError, check_service, parse_address
from pipelines.dataservice.local import LocalService, default_workers

__all__ = ["Address", "LocalService", "ServiceError", "check_service", "default_workers", "parse_address"]
