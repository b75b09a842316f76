"""KubeScribe runner-protocol helper for Python scripts.

When a script runs under ``kubescribe run``, the runner passes the run's context in
environment variables and collects metrics and outputs from a JSON-lines file:

    KUBESCRIBE_RUN_ID   the run's id (a UUID)
    KUBESCRIBE_JOB      the job's name
    KUBESCRIBE_PARAMS   the run's params as a JSON object (defaults already applied)
    KUBESCRIBE_PARAMS_FILE  instead of KUBESCRIBE_PARAMS when the params are over 64 KiB
                        (too big for an environment variable): a file holding that JSON
    KUBESCRIBE_OUTPUT   path of a file this module appends one JSON object per line to:
                          {"metric":"rows_read","value":1200}
                          {"output":"report","value":{"path":"out/report.json"}}

Outside KubeScribe (none of the variables set) the same script still runs: ``params()``
returns ``{}``, ``run_id()``/``job()`` return ``None`` and ``metric()``/``output()``
validate their arguments and then do nothing, so a mistake is caught on a laptop rather
than in production.

Standard library only; Python 3.8+. Copy this single file next to a script, or put its
directory on ``PYTHONPATH``.

Example::

    import kubescribe

    p = kubescribe.params()
    rows = load(p.get("input", "data.csv"))
    kubescribe.metric("rows_read", len(rows))
    kubescribe.output("report", {"path": "out/report.json"})
"""

import json
import math
import numbers
import os
from typing import Any, Dict, Optional

__all__ = ["params", "run_id", "job", "metric", "output"]

ENV_RUN_ID = "KUBESCRIBE_RUN_ID"
ENV_JOB = "KUBESCRIBE_JOB"
ENV_PARAMS = "KUBESCRIBE_PARAMS"
ENV_PARAMS_FILE = "KUBESCRIBE_PARAMS_FILE"
ENV_OUTPUT = "KUBESCRIBE_OUTPUT"

# O_APPEND makes the kernel move to end-of-file and write as one step, which is what keeps
# lines from concurrent writers (threads, worker processes) from overwriting each other.
# O_BINARY stops Windows from turning "\n" into "\r\n"; O_CLOEXEC keeps the descriptor out of
# subprocesses the script starts. Both are absent on some platforms, hence getattr.
_OPEN_FLAGS = (
    os.O_WRONLY
    | os.O_APPEND
    | os.O_CREAT
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _env(name: str) -> Optional[str]:
    # Manifest templates often render an absent value as "", so empty counts as unset.
    value = os.environ.get(name)
    return value if value else None


def params() -> Dict[str, Any]:
    """Return the run's params, parsed from ``KUBESCRIBE_PARAMS``.

    When ``KUBESCRIBE_PARAMS_FILE`` is set (the runner uses a file for params over
    64 KiB, too big for an environment variable) the params are read from that file.
    Returns ``{}`` when neither is set or empty (the script runs outside KubeScribe).
    Raises ``ValueError`` naming the variable when the params are not valid JSON or not a
    JSON object, or the file cannot be read. The environment is read on every call;
    nothing is cached.
    """
    path = _env(ENV_PARAMS_FILE)
    source = ENV_PARAMS
    if path is not None:
        source = "{} ({})".format(ENV_PARAMS_FILE, path)
        try:
            with open(path, "r", encoding="utf-8") as f:
                raw = f.read()  # type: Optional[str]
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError("{} cannot be read: {}".format(source, exc)) from None
    else:
        raw = _env(ENV_PARAMS)
    if raw is None:
        return {}
    # The raw text is left out of the messages: params may carry values that should not
    # end up in a run's log.
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError("{} is not valid JSON: {}".format(source, exc)) from None
    if not isinstance(value, dict):
        raise ValueError(
            "{} must be a JSON object, got {}".format(source, _json_type(value))
        )
    return value


def run_id() -> Optional[str]:
    """Return the run's id from ``KUBESCRIBE_RUN_ID``, or ``None`` outside KubeScribe."""
    return _env(ENV_RUN_ID)


def job() -> Optional[str]:
    """Return the job's name from ``KUBESCRIBE_JOB``, or ``None`` outside KubeScribe."""
    return _env(ENV_JOB)


def metric(name: str, value: float) -> None:
    """Record a numeric metric for this run, e.g. ``metric("rows_read", 1200)``.

    ``name`` must be a non-empty string; ``value`` a finite real number: ``int``,
    ``float`` or a numpy/pandas scalar. ``bool`` is refused even though it is an ``int``
    subclass, because ``True`` as a metric is almost always a bug. Raises ``TypeError``
    for a wrong type and ``ValueError`` for an empty name or a NaN, infinite or
    out-of-range value. The runner keeps the last value recorded for a name.
    """
    _check_name("metric", "name", name)
    # numbers.Real rather than (int, float) so numpy/pandas scalars (np.int64 from a
    # DataFrame sum) are accepted; they are converted to plain int/float for json.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            "metric {!r}: value must be an int or float, got {}".format(
                name, type(value).__name__
            )
        )
    plain = int(value) if isinstance(value, numbers.Integral) else float(value)
    try:
        as_float = float(plain)
    except OverflowError:
        # Integers beyond float range would turn into Infinity in the runner's JSON parser.
        raise ValueError(
            "metric {!r}: value is too large to be a finite number".format(name)
        ) from None
    if not math.isfinite(as_float):
        raise ValueError("metric {!r}: value must be finite, got {}".format(name, plain))
    _append({"metric": name, "value": plain}, "metric {!r}".format(name))


def output(key: str, value: Any) -> None:
    """Record a named output of this run, e.g. ``output("report", {"path": p})``.

    ``key`` must be a non-empty string; ``value`` any JSON-serialisable value (dict,
    list, str, int, float, bool, None, nested freely). Raises ``TypeError`` when the value
    cannot be serialised and ``ValueError`` when it contains NaN/Infinity (not valid JSON)
    or a circular reference. The runner keeps the last value recorded for a key.
    """
    _check_name("output", "key", key)
    _append({"output": key, "value": value}, what="output {!r}".format(key))


def _check_name(kind: str, field: str, name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError("{} {} must be a str, got {}".format(kind, field, type(name).__name__))
    if not name.strip():
        raise ValueError("{} {} must be a non-empty string".format(kind, field))


def _append(record: Dict[str, Any], what: str) -> None:
    # Serialise before looking at KUBESCRIBE_OUTPUT so that a bad value fails the same way
    # on a laptop as it would under the runner.
    try:
        # allow_nan=False: NaN/Infinity are not JSON and the runner would reject the line.
        # ensure_ascii: the line is plain ASCII, so no encoding can split or corrupt it.
        line = json.dumps(record, allow_nan=False, ensure_ascii=True, separators=(",", ":"))
    except TypeError as exc:
        raise TypeError("{}: value is not JSON-serialisable: {}".format(what, exc)) from None
    except ValueError as exc:
        raise ValueError("{}: value is not valid JSON: {}".format(what, exc)) from None
    path = _env(ENV_OUTPUT)
    if path is None:
        return
    data = (line + "\n").encode("ascii")
    fd = os.open(path, _OPEN_FLAGS, 0o644)
    try:
        # One write() per line is what makes concurrent appends safe. A regular file only
        # takes less than everything when the disk is full or a signal interrupts a huge
        # write; finishing the line then is better than leaving it cut off.
        written = os.write(fd, data)
        while written < len(data):
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
