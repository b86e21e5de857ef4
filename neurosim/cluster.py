"""Run the shards of one or many jobs: in this process, on local worker processes, or on Dask.

    with open_cluster(workers=2) as cluster:          # Dask LocalCluster when `dist` is installed
        results = run_jobs(jobs, cluster, store=store, progress=bar.update)

Back ends, all behind ``Cluster.run(tasks)`` (which yields each task's ShardResult as it
completes):

    in-process   workers == 1: shards one after another, progress per input
    processes    concurrent.futures, spawned processes; a worker that dies has its shards
                 redone on a fresh pool (at most MAX_RESTARTS times)
    dask         a distributed.LocalCluster of K single-threaded processes, or the cluster of
                 ``scheduler`` (tcp://HOST:PORT); Dask reschedules the shards of a worker that
                 dies. Workers need neurosim and the model directory at the same path.

``run_jobs`` plans the shards of every job, reuses what the store already holds, simulates each
distinct (network, engine, inputs) once (count caching: jobs that share all three share
results), stores each shard as it completes and merges exactly (neurosim.shards).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .errors import InputError, NeurosimError, ShardError
from .shards import Job, inputs_text, merge, network, plan, run_task

BACKENDS = ("auto", "processes", "dask")
MAX_RESTARTS = 3  # fresh process pools after workers died, before the run gives up
SCATTER_BYTES = 1 << 20  # shard inputs larger than this go to Dask workers ahead of the task
WORKERS_ENV = "NEUROSIM_WORKERS"  # overrides the default number of workers

# A local Dask cluster's workers, set for long single-threaded tasks that hold the GIL:
# - Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers, which hands every freed
#   block back to the OS: the reference's batch-sized arrays then fault their pages in again at
#   each layer (a quarter of the CPU time went to the kernel). Ours keep glibc's own thresholds.
# - The sampling profiler (every 10 ms), the event-loop tick (20 ms) and the system and memory
#   monitors (0.5 s, 0.1 s) each take the GIL from the task: 8% of a worker's CPU went to them,
#   and a shard took 1.2x as long as in a plain process. Off, or once a second.
LOCAL_WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def dask_available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def default_workers(inputs: int) -> int:
    """The machine's cores for 64 inputs or more, else 1; ``$NEUROSIM_WORKERS`` overrides."""
    value = os.environ.get(WORKERS_ENV)
    if value:
        try:
            workers = int(value)
        except ValueError:
            workers = 0
        if workers < 1:
            raise InputError(f"expected a positive integer, got {value!r}", WORKERS_ENV)
        return workers
    return (os.cpu_count() or 1) if inputs >= 64 else 1


@dataclass(frozen=True)
class Task:
    job_id: str
    index: int
    job: Job
    start: int
    inputs: np.ndarray

    @property
    def stop(self) -> int:
        return self.start + len(self.inputs)

    @property
    def name(self) -> str:
        return f"{inputs_text(self.start, self.stop)} (shard {self.index} of {self.job_id})"


class InProcess:
    """Shards one after another in this process (the network compiled once, here)."""

    workers = 1

    def run(self, tasks, progress=None):
        from .shards import run_shard

        for task in tasks:
            try:
                _, net = network(task.job)
                result = run_shard(net, task.job, task.inputs, task.start, progress)
            except NeurosimError as err:
                raise ShardError(str(err), task.name) from None
            yield task, result


class Processes:
    """Spawned worker processes (concurrent.futures); numba and forked threads do not mix."""

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, tasks, progress=None):
        pending = dict(enumerate(tasks))
        restarts = 0
        ctx = multiprocessing.get_context("spawn")
        while pending:
            pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
            try:
                futures = {pool.submit(run_task, t.job, t.start, t.inputs): i
                           for i, t in pending.items()}
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        result = future.result()
                    except ShardError as err:
                        raise ShardError(err.message, pending[i].name) from None
                    task = pending.pop(i)
                    if progress is not None:
                        progress(task.stop - task.start)
                    yield task, result
            except BrokenProcessPool:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    names = ", ".join(t.name for t in list(pending.values())[:3])
                    raise ShardError(f"worker processes died {restarts} times; the last time "
                                     "running these shards", names) from None
            except BaseException:  # a failed shard, Ctrl-C, SIGTERM: do not wait for the rest
                _terminate(pool)
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop the pool's worker processes now (concurrent.futures before Python 3.14 has no
    public call for it: its process table is read directly)."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()


class Dask:
    """A Dask cluster: a LocalCluster of ``workers`` processes, or an existing scheduler's."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("needs Dask: pip install 'neurosim[dist]'", "--scheduler"
                             if scheduler else "--workers") from None
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as err:
                raise InputError(f"cannot reach the Dask scheduler: {err}", scheduler) from None
        else:
            import dask

            with dask.config.set(LOCAL_WORKER_CONFIG):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                            processes=True, dashboard_address=":0",
                                            silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        self.workers = len(self.client.scheduler_info().get("workers", {})) or workers or 1

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def run(self, tasks, progress=None):
        from distributed import as_completed as completed

        futures = {}
        for i, t in enumerate(tasks):
            data = self.client.scatter(t.inputs) if t.inputs.nbytes > SCATTER_BYTES \
                else t.inputs
            futures[self.client.submit(run_task, t.job, t.start, data, pure=False)] = i
        try:
            for future in completed(list(futures)):
                task = tasks[futures[future]]
                try:
                    result = future.result()
                except ShardError as err:
                    raise ShardError(err.message, task.name) from None
                except NeurosimError:
                    raise
                except Exception as err:  # KilledWorker: the shard killed every worker it met
                    raise ShardError(f"{type(err).__name__}: {err}", task.name) from None
                if progress is not None:
                    progress(task.stop - task.start)
                yield task, result
        finally:
            self.client.cancel(list(futures))


@contextmanager
def open_cluster(workers: int = 1, scheduler: str | None = None, backend: str = "auto"):
    """The back end for ``workers`` (module docstring): Dask for ``scheduler``, or for
    ``workers`` > 1 when `dist` is installed (``backend`` "auto"), else local processes."""
    if backend not in BACKENDS:
        raise InputError(f"expected one of {', '.join(BACKENDS)}, got {backend!r}", "--backend")
    if scheduler or (workers > 1 and backend == "dask") or \
            (workers > 1 and backend == "auto" and dask_available()):
        cluster = Dask(workers, scheduler)
        try:
            yield cluster
        finally:
            cluster.close()
    elif workers > 1:
        yield Processes(workers)
    else:
        yield InProcess()


def inputs_sha256(inputs: np.ndarray) -> str:
    x = np.ascontiguousarray(inputs)
    digest = hashlib.sha256(f"{x.dtype}{x.shape}".encode())
    digest.update(x.view(np.uint8).reshape(-1) if x.size else b"")
    return digest.hexdigest()


@dataclass
class Work:
    """One job of a run: what to simulate, on which inputs, and the network to merge into."""

    job: Job
    inputs: np.ndarray
    labels: np.ndarray | None
    net: object  # the CompiledNetwork the parent holds (the workers compile their own)


def plans(works: dict, workers: int, shard_inputs: int | None) -> dict:
    """plan.json's content for these jobs: each one's identity and shards."""
    out = {}
    digests = {}
    for job_id, w in works.items():
        key = id(w.inputs)
        if key not in digests:
            digests[key] = inputs_sha256(w.inputs)
        run = {"network": w.job.key, "engine": w.job.engine, "record": w.job.record,
               "statistics": w.job.statistics, "block_inputs": w.job.block_inputs,
               "inputs": digests[key]}
        out[job_id] = {"run": run, "shards": plan(len(w.inputs), w.job.block_inputs,
                                                   shard_inputs, workers)}
    return {"jobs": out}


def run_jobs(works: dict, cluster, store=None, progress=None, shard_inputs: int | None = None,
             planned: dict | None = None) -> dict:
    """Every job's RunResult (job id → result), its shards run on ``cluster``; with a
    PartialStore, finished shards are read back and each new one saved as it completes."""
    started = time.perf_counter()
    planned = planned or plans(works, cluster.workers, shard_inputs)
    if store is not None:  # a resumed run keeps the shards it started with
        planned = store.plan
    shards = {j: [tuple(s) for s in planned["jobs"][j]["shards"]] for j in works}
    # count caching: jobs with the same network, engine, recording and inputs simulate once
    runs, owner = {}, {}
    for job_id in works:
        ident = repr(sorted(planned["jobs"][job_id]["run"].items()))
        owner[job_id] = runs.setdefault(ident, job_id)
    done = {j: {} for j in set(owner.values())}
    tasks = []
    for job_id in done:
        w = works[job_id]
        for index, (start, stop) in enumerate(shards[job_id]):
            found = store.load(job_id, index) if store is not None else None
            if found is not None and (found.start, found.stop) == (start, stop):
                done[job_id][index] = found
                if progress is not None:
                    progress(stop - start)
            else:
                tasks.append(Task(job_id, index, w.job, start, w.inputs[start:stop]))
    finished = {}
    for task, result in cluster.run(tasks, progress):
        done[task.job_id][task.index] = result
        if store is not None:
            store.save(task.job_id, task.index, result)
        if len(done[task.job_id]) == len(shards[task.job_id]):
            finished[task.job_id] = time.perf_counter() - started
    results = {}
    for job_id, w in works.items():
        first = owner[job_id]
        results[job_id] = merge(w.net, w.job, list(done[first].values()), w.labels,
                                finished.get(first, time.perf_counter() - started))
    return results
