"""What a run keeps about Django beside a file's result, read from bytes without libcst.

The LC5xx rules judge a settings module by an `asgi.py` next to it, a file no summary tracks:
its result is reused only while the same one is found (`evidence`), and a warm run checks that
without parsing. The Django rules also have their own prefilter (`relevant`), and a judged file
gets the context they read (`context`). The analysis is imported only when asked, so a run that
parses nothing never imports libcst.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from leakcheck.config.settings import Config

if TYPE_CHECKING:
    from leakcheck.analysis.django import DjangoContext

# A module that assigns `DATABASES` (a Django settings module, see analysis/django/settings.py).
_SETTINGS_MODULE = re.compile(rb"^[ \t]*DATABASES[ \t]*(?::[^=\n]*)?=(?!=)", re.MULTILINE)


def is_settings_module(source: bytes) -> bool:
    """Whether `source` is a Django settings module, whose findings depend on `evidence`."""
    return _SETTINGS_MODULE.search(source) is not None


def evidence(path: str) -> str:
    """What the LC5xx rules found beside a settings module that its findings depend on: the
    `asgi.py` that makes its project ASGI, as `asgi_file` finds it now ("" for none)."""
    from leakcheck.analysis.django.asgi import asgi_file

    found = asgi_file(Path(path))
    return str(found) if found is not None else ""


def relevant(source: bytes) -> bool:
    """Whether the Django rules (LC5xx) look at `source` (their own prefilter)."""
    from leakcheck.analysis.django import relevant as django_relevant

    return django_relevant(source)


def context(config: Config, path: str) -> DjangoContext:
    """What the Django rules need to judge the file at `path` under `config`."""
    from leakcheck.analysis.django import DjangoContext

    return DjangoContext(config.django_poolers, config.django_asgi, Path(path))
