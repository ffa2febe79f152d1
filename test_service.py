"""Send test requests to the running services (the original's CLI, kept name for name).

    python test_service.py                                   # top-10 popular
    python test_service.py --offline --user_id 617032 --k 10
    python test_service.py --add_online --user_id 617032 --item_id 99262
    python test_service.py --online --user_id 617032 --k 10
    python test_service.py --blended --user_id 617032 --k 10 --explain

URLs come from ``config.ini`` ``[urls]`` (or ``MUSICREC_URLS__*``): the one in the current directory,
else the one beside this script, so it works when run from elsewhere. Every result is printed as a table
with track, artist and genre names (from ``items.parquet`` of ``[paths] artifacts_dir``, relative to the
current directory or else to this script's; a warning says when it is in neither) and appended to
``test_service.log``; a title says how many rows follow. ``--explain`` adds a column saying why each
track is there; ``--json`` prints the raw answer instead. A service that cannot be reached, or a log
file that cannot be written, is a one-line error and exit code 1 (2).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import httpx

from musicrec.client import ClientError, Musicrec, Recommendations, ServiceUnavailable
from musicrec.client.display import ITEMS_FILE, format_table, listens, load_tracks, why
from musicrec.config import DEFAULT_CONFIG, ENV_PREFIX, ConfigError, Settings, load_settings
from musicrec.storage.artifacts import ArtifactStore
from musicrec.storage.location import is_s3, open_store
from musicrec.storage.runs import current_store

LOG_FILE = "test_service.log"
HERE = Path(__file__).resolve().parent
log = logging.getLogger("test_service")


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, found {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, found {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, found {text!r}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Test requests to the musicrec services; no mode: top-10 popular tracks."
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="offline recommendations of --user_id")
    mode.add_argument("--online", action="store_true", help="online recommendations of --user_id")
    mode.add_argument("--blended", action="store_true", help="blended offline + online recommendations")
    mode.add_argument("--add_online", action="store_true", help="add --item_id to --user_id's online events")
    parser.add_argument("--user_id", type=non_negative_int)
    parser.add_argument("--item_id", type=non_negative_int)
    parser.add_argument("--k", type=positive_int, default=10, help="number of recommendations (default 10)")
    parser.add_argument("--explain", action="store_true", help="say why each track is recommended")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    parser.add_argument("--log-file", default=LOG_FILE, help=f"append results here (default {LOG_FILE})")
    args = parser.parse_args(argv)
    if (args.offline or args.online or args.blended or args.add_online) and args.user_id is None:
        parser.error("--user_id is required with --offline, --online, --blended and --add_online")
    if args.add_online and args.item_id is None:
        parser.error("--item_id is required with --add_online")
    if args.add_online and args.explain:
        parser.error("--explain goes with --offline, --online, --blended or no mode, not --add_online")
    return args


def _setup_log(path: str) -> None:
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.handlers = [handler]


def load_settings_from_anywhere() -> Settings:
    """The settings; without ``./config.ini`` nor ``$MUSICREC_CONFIG``, from the ``config.ini`` beside this
    script (the environment is restored afterwards)."""
    variable, beside = f"{ENV_PREFIX}CONFIG", HERE / DEFAULT_CONFIG
    if variable in os.environ or DEFAULT_CONFIG.exists() or not beside.exists():
        return load_settings()
    os.environ[variable] = str(beside)
    try:
        return load_settings()
    finally:
        del os.environ[variable]


def find_artifacts(settings: Settings) -> tuple[ArtifactStore, str | None]:
    """The store with ``items.parquet`` (the track names): the current run of ``[paths] artifacts_dir``
    from the current directory, else from this script's; with a warning saying why names show as ``?``
    when neither has it."""
    location = settings.paths.artifacts_dir
    locations = [location]
    if not is_s3(location) and not Path(location).is_absolute():
        locations.append(HERE / location)
    candidates = [_current_run(place, settings) for place in locations]
    for candidate in candidates:
        if _has_names(candidate):
            return candidate, None
    looked = " or ".join(c.describe(ITEMS_FILE).removesuffix(f"/{ITEMS_FILE}") for c in candidates)
    return candidates[0], (f"warning: no {ITEMS_FILE} in {looked}: tracks are shown by id, names as '?' "
                           f"(run from the repository, or set {ENV_PREFIX}PATHS__ARTIFACTS_DIR)")


def _current_run(location: str | Path, settings: Settings) -> ArtifactStore:
    """The store of the current run of ``location`` (the location itself in the flat layout, or when its
    pointer cannot be read)."""
    try:
        return current_store(location, settings)
    except (OSError, ValueError) as exc:
        log.debug("current run of %s not resolved: %s", location, exc)
        return open_store(location, settings)


def _has_names(store: ArtifactStore) -> bool:
    try:
        return store.exists(ITEMS_FILE)
    except OSError:  # an unreachable S3 endpoint: no names, not an error
        return False


def _rows(title: str, shown: int, asked: int) -> str:
    """``title: N tracks``, saying how many were asked for when fewer came.

    >>> _rows("Offline recommendations for user 1", 10, 10), _rows("Top popular", 100, 200)
    ('Offline recommendations for user 1: 10 tracks', 'Top popular: 100 tracks (200 asked)')
    """
    return f"{title}: {shown} tracks" + (f" ({asked} asked)" if shown != asked else "")


def _report(title: str, answer: Recommendations, artifacts: ArtifactStore, as_json: bool) -> str:
    if as_json:
        return json.dumps(answer.model_dump(exclude_none=True))
    tracks = load_tracks(artifacts, [*answer.recs, *listens(answer.explanations)])
    reasons = [why(e, item, tracks) for item, e in zip(answer.recs, answer.explanations or (), strict=False)]
    table = format_table(answer.recs, tracks, answer.sources, reasons=reasons)
    degraded = " (degraded: a neighbour service is down; partial answer)" if answer.degraded else ""
    empty = "\n(no recommendations)" if not answer.recs else ""
    return f"{title}{degraded}\n{table}{empty}"


def run(args: argparse.Namespace, api: Musicrec, artifacts: ArtifactStore) -> str:
    """Perform the requested call and return the text to print."""
    for mode, call in (("offline", api.recommendations.offline), ("online", api.recommendations.online),
                       ("blended", api.recommendations.blended)):
        if getattr(args, mode):
            answer = call(args.user_id, args.k, args.explain)
            title = f"{mode.capitalize()} recommendations for user {args.user_id}"
            title = _rows(title, len(answer.recs), args.k)
            return _report(title, answer, artifacts, args.json)
    if args.add_online:
        result = api.events.put(args.user_id, args.item_id)
        events = api.events.get(args.user_id).events
        if args.json:
            return json.dumps({"result": result.result, "events": events})
        table = format_table(events, load_tracks(artifacts, events))
        return (f"Added item {args.item_id} to the online events of user {args.user_id}: {result.result}\n"
                f"Latest {len(events)} events (newest first):\n{table}")
    answer = api.recommendations.default(args.k, args.explain)
    shown = len(answer.recs)
    title = f"Top {shown} popular tracks" + (f" ({args.k} asked)" if shown != args.k else "")
    return _report(title, answer, artifacts, args.json)


def main(argv: list[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings_from_anywhere()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        _setup_log(args.log_file)
    except OSError as exc:
        print(f"error: cannot write the log file {args.log_file}: {exc.strerror or exc} (choose another with "
              "--log-file)", file=sys.stderr)
        return 2
    command = " ".join(argv if argv is not None else sys.argv[1:]) or "(top popular)"
    artifacts, no_names = find_artifacts(settings)
    with Musicrec.from_settings(settings, transport=transport) as api:
        try:
            text = run(args, api, artifacts)
        except ClientError as exc:
            hint = " (is it running? start all three: python -m musicrec serve)"
            print(f"error: {exc}{hint if isinstance(exc, ServiceUnavailable) else ''}", file=sys.stderr)
            log.info("%s -> error: %s", command, exc)
            return 1
    log.info("%s\n%s", command, text)
    try:
        print(text)
        if no_names and not args.json:
            print(no_names, file=sys.stderr)
    except BrokenPipeError:  # `python test_service.py | head`: the reader left, nothing to report
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
    return 0


if __name__ == "__main__":
    sys.exit(main())
