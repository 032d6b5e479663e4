"""
## What it does
Finds, in a Channels consumer (a subclass of `AsyncConsumer`, `AsyncWebsocketConsumer` or
`AsyncJsonWebsocketConsumer`), ORM work wrapped with `asgiref.sync.sync_to_async`: a call
`sync_to_async(Model.objects.get)(...)`, `sync_to_async(order.save)()` (a model instance's
`save`, `delete`, `refresh_from_db`), `sync_to_async(self.load_room)(...)` where the method uses the
ORM, or `@sync_to_async` on such a method or on a module function the consumer calls.
Reported at the `sync_to_async(...)` call or decorator. `database_sync_to_async`, as a call or a
decorator, and `sync_to_async` around work without the ORM are not findings.

## Why is this bad?
Channels documentation, "Database Access": the Django ORM is synchronous, and asynchronous code
must call it through `channels.db.database_sync_to_async`, which cleans up database connections
on exit (it closes old connections around the call). A consumer has no request cycle: connections
opened through plain `sync_to_async` in its worker threads are never closed, and a busy websocket
service runs out of server connections. Recent Channels (checked in 4.3.2, channels/consumer.py)
also runs `aclose_old_connections()` before each handler an `AsyncConsumer` dispatches, in the
thread-sensitive thread: that closes only connections past `CONN_MAX_AGE`, only in that thread
(`sync_to_async(..., thread_sensitive=False)` runs elsewhere), and only when the next message comes;
`database_sync_to_async` closes around every call (channels/db.py).
Source: https://channels.readthedocs.io/en/latest/topics/databases.html.

## Example
```python
from asgiref.sync import sync_to_async

class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room = await sync_to_async(Room.objects.get)(name=self.scope["url_route"]["kwargs"]["room"])
```

## Use instead
```python
from channels.db import database_sync_to_async

class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room = await database_sync_to_async(Room.objects.get)(name=self.scope["url_route"]["kwargs"]["room"])
```

## Fix safety
Unsafe fix: `sync_to_async` becomes `database_sync_to_async`, and
`from channels.db import database_sync_to_async` is added after the module's leading imports when
it is not imported yet (`sync_to_async`'s own import may be left unused). Behaviour changes on
purpose: old connections are now closed around each call. Offered for a bare `sync_to_async` name.

## Options
None.
"""  # noqa: E501

from __future__ import annotations

from leakcheck.checks.rule import Invalid, Rule, Valid, documentation

INVALID = """\
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .models import Room


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        name = self.scope["url_route"]["kwargs"]["room"]
        self.room = await sync_to_async(Room.objects.get)(name=name)
"""

FIXED = """\
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .models import Room
from channels.db import database_sync_to_async


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        name = self.scope["url_route"]["kwargs"]["room"]
        self.room = await database_sync_to_async(Room.objects.get)(name=name)
"""

VALID = """\
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .models import Room


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        name = self.scope["url_route"]["kwargs"]["room"]
        self.room = await database_sync_to_async(Room.objects.get)(name=name)
"""

RULE = Rule(
    code="LC507",
    name="orm-via-sync-to-async-in-consumer",
    summary=(
        "ORM work in a Channels async consumer through `asgiref.sync.sync_to_async` instead of "
        "`channels.db.database_sync_to_async`"
    ),
    family="django",
    leak="consumer-sync-to-async",
    message=(
        "ORM work `{wrapped}` in consumer `{where}` runs through `sync_to_async`, which leaves "
        "its thread's connection open: use `channels.db.database_sync_to_async`"
    ),
    doc=documentation(__doc__),
    invalid=(Invalid(INVALID, findings=(("LC507", 10),), fixed=FIXED, unsafe=True),),
    valid=(Valid(VALID),),
)
