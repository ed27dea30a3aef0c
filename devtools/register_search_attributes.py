"""`python -m devtools.register_search_attributes [--address HOST:PORT] [--namespace NS] [--wait SECONDS]`

Registers the search attributes every case carries (casework.cases.search_attributes.SEARCH_ATTRIBUTES,
the one list the workflows upsert) with a Temporal cluster, through its operator service. Safe to
repeat: it adds only what the namespace lacks, and refuses (exit 1) one that exists with another
type, which needs a person to decide. docker-compose.yml's `temporal-search-attributes` job runs it; `make run`
and the tests do the same through devtools.embedded.ensure_search_attributes.

The address, namespace, TLS and API key come from the settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_TLS*, TEMPORAL_API_KEY) unless given here. With --wait it retries for that long while the
cluster is not up yet or the namespace not created yet (a fresh compose stack).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from temporalio.service import RPCError, RPCStatusCode

from casework.cases.search_attributes import SEARCH_ATTRIBUTES
from casework.platform.config import get_settings
from casework.platform.temporal import connect
from devtools.embedded import SearchAttributeConflict, ensure_search_attributes, list_search_attributes

log = logging.getLogger("casework.register_search_attributes")

# What a cluster says while it is starting or its namespace is being created.
_NOT_READY = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.NOT_FOUND, RPCStatusCode.DEADLINE_EXCEEDED}


async def register(address: str, namespace: str, *, wait_seconds: float = 0.0) -> dict[str, int]:
    """Register SEARCH_ATTRIBUTES in `namespace` at `address`; returns the namespace's custom
    search attributes afterwards (name -> IndexedValueType)."""
    settings = get_settings().model_copy(update={"temporal_address": address, "temporal_namespace": namespace})
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            client = await connect(settings)
            await ensure_search_attributes(client, namespace, SEARCH_ATTRIBUTES)
            return await list_search_attributes(client, namespace)
        except RPCError as exc:
            if exc.status not in _NOT_READY or time.monotonic() > deadline:
                raise
            log.info("Temporal at %s not ready (%s); retrying", address, exc.message)
        except RuntimeError as exc:  # Client.connect: nothing answers, or "not healthy yet"
            if isinstance(exc, SearchAttributeConflict) or time.monotonic() > deadline:
                raise
            log.info("Temporal at %s not reachable (%s); retrying", address, exc)
        await asyncio.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=settings.temporal_address, help="default TEMPORAL_ADDRESS")
    parser.add_argument("--namespace", default=settings.temporal_namespace, help="default TEMPORAL_NAMESPACE")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="retry this long while the cluster or namespace is not ready (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.address:
        parser.error("no --address and no TEMPORAL_ADDRESS")
    try:
        registered = asyncio.run(register(args.address, args.namespace, wait_seconds=args.wait))
    except (SearchAttributeConflict, RPCError, RuntimeError) as exc:
        log.error("Could not register search attributes in %s at %s: %s", args.namespace, args.address, exc)
        return 1
    ours = sorted(name for name in SEARCH_ATTRIBUTES if name in registered)
    log.info("Namespace %s at %s has all %d case search attributes: %s",
             args.namespace, args.address, len(ours), ", ".join(ours))
    return 0


if __name__ == "__main__":
    code = main()
    # Leave without finalising the interpreter: a short-lived process that used a Temporal client
    # crashes now and then while Python tears down the SDK's Rust runtime (SIGSEGV or SIGABRT
    # after the work is done, about 1 run in 6 here; temporalio/sdk-python#300), and compose
    # would read that as a failed setup.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
