"""How a failure reads in the Dagster UI: the Genesys, stage or warehouse message first.

An error raised by the core (a class defined in `genesys_assets`) already says what went wrong
and what to do; Dagster would show it under "Error occurred while executing op ...". As a
`Failure`, its message is the step's error and the original stays attached as the cause.
Anything else (a bug, a library's error) passes unchanged, with its stack.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import Failure


@contextmanager
def reported(what: str) -> Iterator[None]:
    """Report the core's errors inside the block as `what: message`."""
    try:
        yield
    except Failure:
        raise
    except Exception as exc:
        if not type(exc).__module__.startswith("genesys_assets."):
            raise
        raise Failure(description=f"{what}: {exc}", metadata={"error": type(exc).__name__}) from exc
