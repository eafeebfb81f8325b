"""The one exception type for mistakes a user can fix (bad file, key or override).

``exit_on_user_error`` also turns a full disk or an unwritable folder, wherever it happens,
into one line, and hides the password of any ``scheme://user:password@host`` it prints.
"""

from __future__ import annotations

import errno
import io
import logging
import re
import sys
from collections.abc import Callable
from pathlib import PurePath
from typing import NoReturn

log = logging.getLogger(__name__)

WRITE_ELSEWHERE = (
    "output_dir=<folder>, tracking.uri=sqlite:///<folder>/mlflow.db, "
    "tracking.artifact_location=<folder>"
)
# errno -> (what happened, the fix) for a write the user can fix by freeing space or moving it
DISK_ERRNOS = {
    errno.ENOSPC: ("no space left on the device", "free space there or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free space there or write elsewhere"),
    errno.EROFS: ("read-only file system", "write elsewhere"),
    errno.EACCES: ("permission denied", "make it writable for you or write elsewhere"),
    errno.EPERM: ("operation not permitted", "make it writable for you or write elsewhere"),
}
# The same faults where a library re-raised them without the OSError (torch, safetensors
# and sqlite3 report them in their own words).
DISK_MESSAGES = {
    "No space left on device": errno.ENOSPC,
    "database or disk is full": errno.ENOSPC,
    "Read-only file system": errno.EROFS,
    "attempt to write a readonly database": errno.EROFS,
}
_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][\w+.-]*://[^:/?#@\s]*:)[^@\s]*@")


class UserError(Exception):
    """A problem in the user's input; its message is one line naming the file/key and the fix."""


def mask(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL replaced by ***.

    >>> mask("postgresql://me:secret@db:5432/optuna")
    'postgresql://me:***@db:5432/optuna'
    >>> mask("cannot reach http://me:p%40ss@host:5000/api (timeout)")
    'cannot reach http://me:***@host:5000/api (timeout)'
    >>> mask("sqlite:////tmp/mlflow.db")
    'sqlite:////tmp/mlflow.db'
    """
    return _PASSWORD.sub(r"\g<head>***@", text)


def exit_on_user_error(main: Callable[[], object]) -> None:
    """Run ``main``; a UserError (or a full disk, an unwritable folder) becomes one ``error:``
    line on stderr and exit status 2."""
    try:
        main()
    except UserError as err:
        _die(str(err))
    except KeyboardInterrupt:
        _die("interrupted", status=130)
    except Exception as err:
        line = disk_error(err)
        if line is None:
            raise
        _die(line)


def disk_error(err: BaseException) -> str | None:
    """One line for a full disk or an unwritable path anywhere in ``err``'s chain, else None."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = current.errno if isinstance(current, OSError) else None
        path = getattr(current, "filename", None) if code in DISK_ERRNOS else None
        path = path or _path_in_traceback(current)
        if code not in DISK_ERRNOS:
            code = next((c for s, c in DISK_MESSAGES.items() if s in str(current)), None)
        if code is not None:
            what, fix = DISK_ERRNOS[code]
            where = str(path) if path else "a write failed"
            return f"{where}: {what}; {fix} ({WRITE_ELSEWHERE})"
        current = current.__cause__ or current.__context__
    return None


def _path_in_traceback(err: BaseException) -> str | None:
    """The innermost open file or path among the failing frames' locals.

    An OSError from ``write()`` (unlike one from ``open()``) carries no file name.
    """
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            name = getattr(value, "name", None) if isinstance(value, io.IOBase) else None
            if isinstance(name, str):
                return name
            if isinstance(value, PurePath):
                return str(value)
    return None


def _die(message: str, status: int = 2) -> NoReturn:
    first = " ".join(mask(message).splitlines())  # one line, never a password
    print(f"error: {first}", file=sys.stderr)
    sys.exit(status)
