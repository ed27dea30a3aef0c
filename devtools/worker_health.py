"""`python -m devtools.worker_health [--host NAME]`: exit 0 if a worker on this host polls the task queue.

The container health check of docker-compose.yml's `worker` (a worker serves no HTTP). It asks
Temporal for the pollers of TASK_QUEUE, workflow and activity, and looks for one whose identity
is this host's: the SDK names a worker `<pid>@<hostname>`, and each container has a hostname of
its own, so the check is per replica. A worker that has stopped polling drops out of Temporal's
list within minutes; one that cannot reach Temporal fails the check at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from casework.platform.config import get_settings
from casework.platform.temporal import connect

QUEUE_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


async def pollers_of(host: str) -> dict[str, list[str]]:
    """The identities polling TASK_QUEUE from `host`, by queue type (workflow, activity)."""
    settings = get_settings()
    client = await connect(settings)
    found: dict[str, list[str]] = {}
    for queue_type in QUEUE_TYPES:
        answer = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace, task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=queue_type))
        found[TaskQueueType.Name(queue_type)] = [
            poller.identity for poller in answer.pollers if poller.identity.endswith(f"@{host}")]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=socket.gethostname(), help="default: this host's name")
    args = parser.parse_args(argv)
    try:
        found = asyncio.run(asyncio.wait_for(pollers_of(args.host), 10))
    except Exception as exc:  # noqa: BLE001  (anything short of an answer is unhealthy)
        print(f"unhealthy: could not ask Temporal ({type(exc).__name__}: {exc})")
        return 1
    missing = [queue_type for queue_type, identities in found.items() if not identities]
    if missing:
        print(f"unhealthy: no worker on {args.host} polls {get_settings().task_queue} ({', '.join(missing)})")
        return 1
    print(f"healthy: {found}")
    return 0


if __name__ == "__main__":
    code = main()
    # As devtools.register_search_attributes: leave without tearing down the SDK's Rust runtime,
    # which now and then crashes a short-lived process on the way out (temporalio/sdk-python#300).
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)
