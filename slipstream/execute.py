"""`python -m slipstream.execute`: the entry point every out-of-process attempt runs."""

from __future__ import annotations

import signal
import sys


def _terminated_early(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    # Until the attempt installs its own handler, SIGTERM still ends the process cleanly.
    signal.signal(signal.SIGTERM, _terminated_early)
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--zygote"]:
        from slipstream.runners.zygote import serve

        return serve(args[1:])
    from slipstream.runners.entrypoint import run_attempt_command

    return run_attempt_command(args)


if __name__ == "__main__":
    sys.exit(main())
