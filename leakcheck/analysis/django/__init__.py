"""The Django rules (LC5xx): settings that exhaust the server, ORM connections that live too long.

`django_findings` is the one entry the engine calls. It never imports the code it checks; the
only files it reads besides the module are an `asgi.py`/`wsgi.py` near a settings module (asgi.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from leakcheck.analysis.django.asgi import asgi_file

if TYPE_CHECKING:
    import libcst as cst

    from leakcheck.analysis.django.drafts import Draft
    from leakcheck.model import Finding

# What this package's `__init__` defines (the prefilter's tokens, `relevant`, `DjangoContext`)
# and `asgi.py` never import libcst: a warm run asks them without parsing anything.

# A prefilter may skip a file that `relevant` rejects: it cannot get an LC5xx finding.
SETTINGS_TOKENS: tuple[bytes, ...] = (b"DATABASES",)  # the settings rules
ORM_TOKENS: tuple[bytes, ...] = (b"objects", b"cursor", b"atomic", b"_manager")
DJANGO_TOKENS: tuple[bytes, ...] = (b"django", b"models", b"channels")
THREAD_TOKENS: tuple[bytes, ...] = (
    b"Thread",
    b"Timer",
    b"add_job",
    b"scheduled_job",
    b"run_in_executor",
)  # threads: the `thread = true` entry points of rules/lifecycles.toml
SYNC_TO_ASYNC_TOKENS: tuple[bytes, ...] = (b"sync_to_async", b"SyncToAsync")  # consumers
# `consumer-sync-to-async` looks only inside a consumer class of the module, whose bases (or an
# import of them) name one of `consumers.CONSUMER_BASES`: Django's own ORM uses `sync_to_async`
# everywhere, in no consumer.
CONSUMER_TOKENS: tuple[bytes, ...] = (b"AsyncConsumer", b"WebsocketConsumer")
EXECUTOR_TOKEN = (
    b"xecutor"  # `executor.submit(f)` / `.map(f, ...)`: a ThreadPoolExecutor, *executor*
)
EXECUTOR_METHODS: tuple[bytes, ...] = (b"submit", b"map")


@dataclass(frozen=True)
class DjangoContext:
    """What the Django rules need beyond the module: configured poolers, a forced server type,
    and the file on disk (to find the project's `asgi.py`)."""

    poolers: tuple[str, ...] = ()
    asgi: bool | None = None  # None: detect
    file: Path | None = None


def relevant(source: bytes) -> bool:
    """Whether `source` mentions anything an LC5xx rule looks at."""
    return any(t in source for t in SETTINGS_TOKENS) or _orm_candidate(source)


def _orm_candidate(source: bytes) -> bool:
    """ORM work (and a Django import, or models imported from somewhere: boto3's
    `bucket.objects` is not the ORM) next to something that runs it on another thread."""
    if not any(t in source for t in ORM_TOKENS):
        return False
    if not any(t in source for t in DJANGO_TOKENS):
        return False
    if any(t in source for t in THREAD_TOKENS):
        return True
    if _consumer_candidate(source):
        return True
    return EXECUTOR_TOKEN in source and any(t in source for t in EXECUTOR_METHODS)


def _consumer_candidate(source: bytes) -> bool:
    """`sync_to_async` next to a Channels consumer class (`consumer-sync-to-async`)."""
    return any(t in source for t in SYNC_TO_ASYNC_TOKENS) and any(
        t in source for t in CONSUMER_TOKENS
    )


def django_findings(
    module: cst.Module, source: bytes, path: str, context: DjangoContext | None = None
) -> list[Finding]:
    """The Django rules' findings for one module."""
    if not relevant(source):
        return []
    from leakcheck.analysis.django.consumers import consumer_drafts
    from leakcheck.analysis.django.drafts import findings
    from leakcheck.analysis.django.orm import Orm
    from leakcheck.analysis.django.threads import thread_drafts

    context = context or DjangoContext(file=Path(path))
    drafts: list[Draft] = []
    if b"DATABASES" in source:
        drafts += _settings(module, context)
    if _orm_candidate(source):
        orm = Orm(module)
        drafts += thread_drafts(module, orm)
        if _consumer_candidate(source):
            drafts += consumer_drafts(module, orm)
    return findings(module, drafts, path)


def _settings(module: cst.Module, context: DjangoContext) -> list[Draft]:
    from leakcheck.analysis.django.settings import judge, read_settings

    settings = read_settings(module)
    if not settings.aliases:
        return []
    why, node = settings.asgi, settings.asgi_node
    if context.asgi is False:
        why, node = "", None
    elif context.asgi is True and not why:
        why = "configuration says the project is ASGI (`[tool.leakcheck.django] asgi = true`)"
    elif not why and context.file is not None:
        found = asgi_file(context.file)
        if found is not None:
            why = f"`{_shown(found)}` calls `get_asgi_application()`"
    return judge(settings, context.poolers, why, node)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
