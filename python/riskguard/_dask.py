"""``portfolio_risk(engine="dask")``: the batch kernel per partition on a dask.distributed
cluster. Imported only when asked for, so that dask stays an optional dependency."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from riskguard._core import RiskError

if TYPE_CHECKING:
    from riskguard.batch import _Scenarios


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise ImportError(
            'engine="dask" needs dask.distributed: pip install "riskguard[dask]"'
        ) from e
    return distributed


def _check_client(client: Any) -> None:
    distributed = _import_distributed()
    if client is not None and not isinstance(client, (str, distributed.Client)):
        raise RiskError(
            f"client must be a distributed.Client, a scheduler address or None, "
            f"got {type(client).__name__}"
        )


def _connect(client: Any, owned: list[Any]) -> Any:
    """A Client for ``client`` (a Client, an address, or None for a LocalCluster); what is
    started here is appended to ``owned``, to be closed after the call."""
    distributed = _import_distributed()
    if client is None:
        # One worker: the kernel runs its own thread pool over every core, so more worker
        # processes on one machine would only add copies of the scenarios.
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, dashboard_address=":0"
        )
        owned.append(cluster)
        client = distributed.Client(cluster)
    elif isinstance(client, str):
        try:
            client = distributed.Client(client, timeout="10s")
        except (OSError, ValueError) as e:
            raise RiskError(f"client: no Dask scheduler answers at {client!r}: {e}") from None
    else:
        return client
    owned.append(client)
    return client


def _part(book: pl.DataFrame, scenarios: _Scenarios, spec: Mapping[str, Any]) -> pl.DataFrame:
    from riskguard.batch import _evaluate

    return _evaluate(book, scenarios, spec)


def evaluate_on_dask(
    book: pl.DataFrame,
    scenarios: _Scenarios,
    spec: Mapping[str, Any],
    client: Any,
    partitions: int | None,
) -> pl.DataFrame:
    """The checked ``book`` partitioned by ``portfolio_id``, each part evaluated on a worker,
    and the parts' results in ascending ``portfolio_id``: the rows ``engine="local"`` gives."""
    if partitions is not None and (
        isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1
    ):
        raise RiskError(f"partitions must be an integer >= 1, got {partitions!r}")
    _check_client(client)
    if book.is_empty():  # nothing to send: the (empty) result's schema, built here
        return _part(book, scenarios, spec)
    owned: list[Any] = []
    try:
        dask = _connect(client, owned)
        workers = len(dask.scheduler_info(n_workers=-1)["workers"]) or 1
        n = partitions or 2 * workers
        # A portfolio's rows land in one part, in their input order, so each part sums a
        # portfolio's duplicates in the order the whole table would.
        parts = [
            p.drop("_part")
            for p in book.with_columns(_part=pl.col("portfolio_id").hash(seed=0) % n).partition_by(
                "_part", maintain_order=True
            )
        ]
        shared = dask.scatter(scenarios, broadcast=True, hash=False)
        futures = [
            dask.submit(_part, part, shared, dict(spec), pure=False)
            for part in dask.scatter(parts, hash=False)
        ]
        try:
            results = dask.gather(futures)
        except BaseException:
            # Free the caller's cluster of the rest of this call's work and data.
            dask.cancel([*futures, shared])
            raise
    finally:
        for thing in reversed(owned):
            thing.close()
    return pl.concat(results).sort("portfolio_id")
