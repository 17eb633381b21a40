"""The one error root of intperf and its classification.

Tree::

    IntperfError                      (retriable=False, counts_as_failure=True)
    ├── UsageError                    bad input from the user: CLI exit code 2, HTTP 4xx
    │   ├── ScenarioError             a scenario file does not validate (file, path, value, hint)
    │   ├── CriterionSyntaxError      a success criterion does not parse
    │   ├── FeederError               a data feeder file cannot be read or is empty
    │   ├── EventDecodeError          a binary event frame is malformed (stream/codec.py)
    │   └── TargetNotAllowedError     a target (or redirect) is outside the allowed targets
    ├── TargetError                   the system under test cannot be used: CLI exit code 3
    │   ├── TargetUnreachableError    connection refused / DNS failure before the run starts
    │   └── TargetDatabaseError       a PostgreSQL analysed by dbopt failed: connecting (retriable),
    │                                 a timeout, a refused statement (message with redacted DSN)
    ├── RunInterruptedError           the run was stopped before it could complete: exit code 3
    ├── StorageError                  the run database is unreachable or refused a statement
    │                                 (retriable; an instance sets False when retrying is futile)
    ├── BusError                      the event bus (Kafka or in-process) failed: connection,
    │                                 timeout (retriable), or a refused request (not retriable)
    ├── ResilienceError               a resilience guard (intperf.resilience) refused a call
    │   ├── CallNotPermittedError     a circuit breaker is OPEN or FORCED_OPEN (not retriable
    │   │                             at once: the breaker says when to come back)
    │   ├── BulkheadFullError         no bulkhead slot within the maximum wait (retriable)
    │   ├── RequestNotPermittedError  a rate limiter had no permission within its timeout
    │   │                             (retriable)
    │   └── CallTimeoutError          a time limiter cut the call short (retriable; also a
    │                                 TimeoutError)
    └── FeederExhaustedError          a queue feeder ran dry (ends the user's work, not an error
                                      of the target: counts_as_failure=False)
"""

from __future__ import annotations


class IntperfError(Exception):
    """Root of every error intperf raises on purpose."""

    retriable: bool = False
    counts_as_failure: bool = True
    exit_code: int = 3


class UsageError(IntperfError):
    """The user asked for something invalid; nothing was run."""

    exit_code = 2


class ScenarioError(UsageError):
    """A scenario document is invalid.

    ``problems`` lists every problem found as ``(location, message)`` pairs where
    location is ``file:path.in.document``.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s) in the scenario"]
        lines += [f"  {loc}: {msg}" for loc, msg in problems]
        super().__init__("\n".join(lines))


class CriterionSyntaxError(UsageError):
    """A success-criterion expression does not parse."""


class FeederError(UsageError):
    """A feeder's data file is missing, unreadable or empty."""


class EventDecodeError(UsageError):
    """A binary event frame is malformed: bad magic or version, inconsistent lengths, bad values."""


class TargetNotAllowedError(UsageError):
    """A target is not in the allowed targets (see ``intperf.loadtest.allowlist``)."""


class TargetError(IntperfError):
    """The system under test cannot be used."""

    exit_code = 3


class TargetUnreachableError(TargetError):
    """The target refused or never answered a connection before the run started."""

    retriable = True


class TargetDatabaseError(TargetError):
    """A target PostgreSQL (``intperf.dbopt``) failed: unreachable, timed out, or refused.

    The message names the DSN through ``intperf.dbopt.connection.redact_dsn`` only. Connection
    failures are retriable; a timeout or a refused statement sets ``retriable`` False.
    """

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class RunInterruptedError(IntperfError):
    """The run was interrupted (signal, worker crash) before it could complete."""

    exit_code = 3


class FeederExhaustedError(IntperfError):
    """A queue feeder has no records left; the virtual user stops."""

    counts_as_failure = False


class StorageError(IntperfError):
    """The run database failed: unreachable, locked, or it refused a statement.

    The message names the database URL with its password redacted. Connection problems are
    retriable; an instance raised for a refused statement (constraint, bad URL) sets
    ``retriable`` to False.
    """

    retriable = True
    exit_code = 3

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class BusError(IntperfError):
    """The event bus failed (``intperf.stream.bus``): broker unreachable, timed out, refused.

    Connection problems and timeouts are retriable; a refused request (unknown topic, a commit
    for partitions this consumer no longer owns, bad configuration) sets ``retriable`` False.
    """

    retriable = True
    exit_code = 3

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class ResilienceError(IntperfError):
    """A guard of ``intperf.resilience`` refused or cut short a call."""


class CallNotPermittedError(ResilienceError):
    """A circuit breaker rejected the call (Resilience4j's ``CallNotPermittedException``).

    ``breaker`` names the breaker and ``state`` its state when it refused.
    """

    def __init__(self, breaker: str, state: str) -> None:
        super().__init__(f"circuit breaker {breaker!r} is {state} and does not permit calls")
        self.breaker = breaker
        self.state = state


class BulkheadFullError(ResilienceError):
    """A bulkhead had no free slot within its maximum wait."""

    retriable = True


class RequestNotPermittedError(ResilienceError):
    """A rate limiter could not grant a permission within its timeout."""

    retriable = True


class CallTimeoutError(ResilienceError, TimeoutError):
    """A time limiter cancelled a call that ran longer than its timeout."""

    retriable = True
