"""The one exception type for mistakes a user can fix (bad file, key or override)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import NoReturn

log = logging.getLogger(__name__)


class UserError(Exception):
    """A problem in the user's input; its message is one line naming the file/key and the fix."""


def exit_on_user_error(main: Callable[[], object]) -> None:
    """Run ``main``; a UserError becomes one ``error: ...`` line on stderr and exit status 2."""
    try:
        main()
    except UserError as err:
        _die(str(err))
    except KeyboardInterrupt:
        _die("interrupted", status=130)


def _die(message: str, status: int = 2) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)
