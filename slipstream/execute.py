"""`python -m slipstream.execute`: the one entry point every out-of-process attempt runs (DESIGN §4)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--zygote"]:
        from slipstream.runners.zygote import serve

        return serve(args[1:])
    from slipstream.runners.entrypoint import run_attempt_command

    return run_attempt_command(args)


if __name__ == "__main__":
    sys.exit(main())
