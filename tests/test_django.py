"""The Django rules (LC501-LC507) beyond the fixtures: values read from settings, the ASGI
detection from files, configuration, the opt-in selection of LC505, the settings fixes' text
edits, and the tokens a prefilter may rely on."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from helpers import record_parses

from leakcheck.analysis.django import DjangoContext, django_findings, relevant
from leakcheck.analysis.django.values import UNKNOWN, evaluate
from leakcheck.config.selection import Overrides, enabled
from leakcheck.config.settings import DEFAULT, ConfigError, load
from leakcheck.project.api import fix_file
from leakcheck.project.runner import Checker


def value(expr: str, prelude: str = "") -> object:
    module = cst.parse_module(prelude)
    names = {}
    for stmt in module.body:
        assert isinstance(stmt, cst.SimpleStatementLine)
        assign = stmt.body[0]
        assert isinstance(assign, cst.Assign)
        target = assign.targets[0].target
        assert isinstance(target, cst.Name)
        names[target.value] = assign.value
    return evaluate(cst.parse_expression(expr), names)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("60", 60),
        ("60.5", 60.5),
        ("-1", -1),
        ("None", None),
        ('os.environ.get("AGE", "60")', "60"),
        ('int(os.environ.get("AGE", "60"))', 60),
        ('os.getenv("AGE", 30)', 30),
        ('os.getenv("HOST") or "pgbouncer"', "pgbouncer"),
        ('env.int("AGE", default=600)', 600),
        ('env.int("AGE", "600")', 600),
        ('config("AGE", default="90", cast=int)', 90),
        ("AGE", 45),
        ('os.environ["AGE"]', UNKNOWN),
        ('os.getenv("AGE")', UNKNOWN),
        ("compute_age()", UNKNOWN),
        ('"post" "gres"', "postgres"),
    ],
)
def test_values_are_the_defaults_the_module_falls_back_to(expr: str, expected: object) -> None:
    assert value(expr, "AGE = 45\n") == expected


def codes(source: str, path: Path, context: DjangoContext | None = None) -> list[tuple[str, int]]:
    data = source.encode()
    found = django_findings(cst.parse_module(data), data, str(path), context)
    return sorted((f.code, f.line) for f in found)


POOLED_60 = """\
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "10.0.0.5",
        "PORT": 5432,
        "CONN_MAX_AGE": 60,
    }
}
"""
TEMPLATE_ASGI = (
    "import os\nfrom django.core.asgi import get_asgi_application\n"
    "application = get_asgi_application()\n"
)
TEMPLATE_WSGI = (
    "import os\nfrom django.core.wsgi import get_wsgi_application\n"
    "application = get_wsgi_application()\n"
)


def project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "site" / "settings.py"


def test_an_asgi_py_beside_the_settings_makes_the_project_asgi(tmp_path: Path) -> None:
    settings = project(
        tmp_path, {"manage.py": "", "site/settings.py": POOLED_60, "site/asgi.py": TEMPLATE_ASGI}
    )
    assert codes(POOLED_60, settings, DjangoContext(file=settings)) == [("LC503", 6)]


def test_startproject_templates_of_both_servers_prove_nothing(tmp_path: Path) -> None:
    files = {"manage.py": "", "site/settings.py": POOLED_60, "site/asgi.py": TEMPLATE_ASGI}
    settings = project(tmp_path, {**files, "site/wsgi.py": TEMPLATE_WSGI})
    assert codes(POOLED_60, settings, DjangoContext(file=settings)) == []
    routed = TEMPLATE_ASGI + "from channels.routing import ProtocolTypeRouter\n"
    (tmp_path / "site" / "asgi.py").write_text(routed)
    assert codes(POOLED_60, settings, DjangoContext(file=settings)) == [("LC503", 6)]


def test_an_asgi_py_at_the_project_root_of_a_settings_package(tmp_path: Path) -> None:
    settings = tmp_path / "site" / "settings" / "prod.py"
    project(tmp_path, {"pyproject.toml": "", "site/settings/prod.py": POOLED_60})
    (tmp_path / "asgi.py").write_text(TEMPLATE_ASGI)
    assert codes(POOLED_60, settings, DjangoContext(file=settings)) == [("LC503", 6)]


def test_configuration_overrides_the_detection(tmp_path: Path) -> None:
    files = {"manage.py": "", "site/settings.py": POOLED_60, "site/asgi.py": TEMPLATE_ASGI}
    settings = project(tmp_path / "proj", files)
    assert codes(POOLED_60, settings, DjangoContext(asgi=False, file=settings)) == []
    alone = tmp_path / "alone" / "settings.py"
    assert codes(POOLED_60, alone, DjangoContext(file=alone)) == []
    assert codes(POOLED_60, alone, DjangoContext(asgi=True, file=alone)) == [("LC503", 6)]


def test_configured_poolers_by_host_pattern_and_port() -> None:
    source = POOLED_60.replace('"HOST": "10.0.0.5"', '"HOST": "db.bouncer.example"')
    here = Path("settings.py")
    assert codes(source, here, DjangoContext(file=here)) == []
    by_host = DjangoContext(poolers=("*.bouncer.example",), file=here)
    assert codes(source, here, by_host) == [("LC501", 2), ("LC505", 6)]
    by_port = DjangoContext(poolers=("5432",), file=here)
    assert codes(source, here, by_port) == [("LC501", 2), ("LC505", 6)]


def test_django_configuration_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.leakcheck.django]\npoolers = ["pgb.internal"]\nasgi = true\n')
    config = load(path)
    assert config.django_poolers == ("pgb.internal",)
    assert config.django_asgi is True
    path.write_text('[tool.leakcheck.django]\npooler = ["x"]\n')
    with pytest.raises(ConfigError, match=r"unknown key `pooler` in \[tool.leakcheck.django\]"):
        load(path)
    path.write_text('[tool.leakcheck.django]\nasgi = "yes"\n')
    with pytest.raises(ConfigError, match=r"`django\.asgi` must be true or false"):
        load(path)


@pytest.mark.parametrize(
    ("select", "extend", "cli", "on"),
    [
        (None, (), Overrides(), False),
        (("LC5",), (), Overrides(), False),
        (("ALL",), (), Overrides(), False),
        (None, ("LC505",), Overrides(), True),
        (None, (), Overrides(select=("LC505",)), True),
        (None, (), Overrides(extend_select=("LC505",)), True),
        (None, ("LC505",), Overrides(ignore=("LC5",)), True),  # the most specific prefix wins
        (None, ("LC505",), Overrides(ignore=("LC505",)), False),
    ],
)
def test_lc505_is_opt_in(
    select: tuple[str, ...] | None, extend: tuple[str, ...], cli: Overrides, on: bool
) -> None:
    from dataclasses import replace

    config = replace(DEFAULT, select=select, extend_select=extend)
    assert enabled("LC505", config, cli) is on


def test_lc505_is_not_reported_by_default(tmp_path: Path) -> None:
    path = tmp_path / "settings.py"
    path.write_text(POOLED_60.replace('"PORT": 5432', '"PORT": 6432'))
    found = sorted((f.code, f.line) for f in Checker().check_file(str(path)).findings)
    assert found == [("LC501", 2)]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            'DATABASES = {"default": {"HOST": "pgbouncer"}}\n',
            'DATABASES = {"default": {"HOST": "pgbouncer", "DISABLE_SERVER_SIDE_CURSORS": True}}\n',
        ),
        (
            "DATABASES = {'default': {'HOST': 'pgbouncer',  }}\n",
            "DATABASES = {'default': {'HOST': 'pgbouncer', 'DISABLE_SERVER_SIDE_CURSORS': True}}\n",
        ),
        (
            'DATABASES = {\n    "default": {\n        "HOST": "pgbouncer",\n'
            '        "PORT": 6432  # the bouncer\n    }\n}\n',
            'DATABASES = {\n    "default": {\n        "HOST": "pgbouncer",\n'
            '        "PORT": 6432,  # the bouncer\n'
            '        "DISABLE_SERVER_SIDE_CURSORS": True,\n    }\n}\n',
        ),
        (
            'DATABASES = {\r\n    "default": {\r\n        "HOST": "pgbouncer",\r\n'
            "        # more to come\r\n    },\r\n}\r\n",
            'DATABASES = {\r\n    "default": {\r\n        "HOST": "pgbouncer",\r\n'
            "        # more to come\r\n"
            '        "DISABLE_SERVER_SIDE_CURSORS": True,\r\n    },\r\n}\r\n',
        ),
    ],
    ids=["one-line", "trailing-comma", "comment-after-last", "crlf-comment-line"],
)
def test_lc501_fix_adds_the_key_in_the_dicts_layout(
    tmp_path: Path, before: str, after: str
) -> None:
    path = tmp_path / "settings.py"
    path.write_bytes(before.encode())
    outcome = fix_file(path)
    assert outcome.source.decode() == after
    assert outcome.applied and outcome.dropped == []
    path.write_bytes(outcome.source)
    assert Checker().check_file(str(path)).findings == ()


def test_lc503_unsafe_fix_only_for_literals(tmp_path: Path) -> None:
    path = tmp_path / "settings.py"
    source = (
        'ASGI_APPLICATION = "site.asgi.application"\n'
        'DATABASES = {"default": {"CONN_MAX_AGE": None},\n'
        '             "other": {"CONN_MAX_AGE": env.int("A", default=60)}}\n'
    )
    path.write_text(source)
    assert fix_file(path).source.decode() == source  # unsafe: not applied by --fix alone
    fixed = fix_file(path, unsafe=True).source.decode()
    assert fixed == source.replace('"CONN_MAX_AGE": None', '"CONN_MAX_AGE": 0')


def test_tokens_a_prefilter_may_rely_on() -> None:
    assert relevant(b"DATABASES = {}")
    assert relevant(b"from django.db import models\nThread(target=f)\nLead.objects.all()")
    consumer = b"from channels.generic.websocket import AsyncWebsocketConsumer as Base\n"
    assert relevant(consumer + b"from chat.models import Room\nsync_to_async(Room.objects.get)")
    # Without a consumer class in the module, `sync_to_async` is no LC507 (Django's own ORM).
    assert not relevant(b"from chat.models import Room\nsync_to_async(Room.objects.get)")
    assert not relevant(b"Thread(target=f)\nprint(1)")
    assert not relevant(b"import os\nconn = pool.getconn()\n")


def test_every_consumer_base_holds_a_consumer_token() -> None:
    # The prefilter reads `CONSUMER_TOKENS`; LC507 recognises a consumer by `CONSUMER_BASES`.
    from leakcheck.analysis.django import CONSUMER_TOKENS
    from leakcheck.analysis.django.consumers import CONSUMER_BASES

    for base in CONSUMER_BASES:
        assert any(token in base.encode() for token in CONSUMER_TOKENS), base


def test_alias_names_from_module_constants() -> None:
    # saleor's settings name their aliases through constants.
    source = (
        'DEFAULT_NAME = "default"\n'
        "DATABASES = {\n"
        '    DEFAULT_NAME: dj_database_url.config(default="postgres://u@pgbouncer:6432/db"),\n'
        "}\n"
    )
    here = Path("settings.py")
    assert codes(source, here, DjangoContext(file=here)) == [("LC501", 3)]


def test_executor_methods_need_an_executor_in_the_file() -> None:
    assert not relevant(b"rows = map(str, Lead.objects.all())\nform.submit()")
    assert relevant(b"from crm.models import Lead\nexecutor.submit(job)\nLead.objects.all()")


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ("-c statement_timeout=30000 -c lock_timeout=5000", ["statement_timeout", "lock_timeout"]),
        ("-cstatement_timeout=1 --search-path=app", ["statement_timeout", "search_path"]),
        ("-c TimeZone=UTC -c application_name=crm", []),
        ("", []),
    ],
)
def test_lc502_leaves_out_what_pgbouncer_tracks(options: str, names: list[str]) -> None:
    from leakcheck.analysis.django.settings import untracked_switches

    assert untracked_switches(options) == names


def test_orm_rules_need_django_or_models_in_the_file() -> None:
    # boto3's `bucket.objects` on a thread is not the ORM.
    boto = b"import boto3, threading\nthreading.Thread(target=lambda: bucket.objects.all())\n"
    assert not relevant(boto)
    assert relevant(b"from shop.models import Order\nthreading.Thread(target=f)\nOrder.objects")


INCIDENT_BEFORE = """\
INSTALLED_APPS = ["daphne", "django.contrib.admin", "channels"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "pgbouncer",
        "PORT": 6432,
        "CONN_MAX_AGE": 60,  # keep connections
    },
}
"""


def test_check_fix_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli_helpers import invoke

    monkeypatch.chdir(tmp_path)
    (tmp_path / "settings.py").write_text(INCIDENT_BEFORE)
    code, out = invoke("check", "--fix", "--unsafe-fixes", "settings.py")
    assert code == 0, out
    assert (tmp_path / "settings.py").read_text() == INCIDENT_BEFORE.replace(
        '"CONN_MAX_AGE": 60,  # keep connections\n',
        '"CONN_MAX_AGE": 0,  # keep connections\n        "DISABLE_SERVER_SIDE_CURSORS": True,\n',
    )
    code, out = invoke("check", "settings.py")
    assert code == 0 and "All checks passed" in out


CONSUMER = """\
import json

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from chat.models import Message


class ChatConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data):
        await sync_to_async(Message.objects.create)(text=json.loads(text_data)["text"])
"""


def test_lc507_unsafe_fix_renames_and_imports_once(tmp_path: Path) -> None:
    path = tmp_path / "consumers.py"
    source = CONSUMER + "        await sync_to_async(Message.objects.count)()\n"
    path.write_text(source)
    assert fix_file(path).source.decode() == source  # unsafe only
    fixed = fix_file(path, unsafe=True).source.decode()
    assert fixed == source.replace(
        "from chat.models import Message\n",
        "from chat.models import Message\nfrom channels.db import database_sync_to_async\n",
    ).replace("await sync_to_async(", "await database_sync_to_async(")
    path.write_text(fixed)
    assert Checker().check_file(str(path)).findings == ()


def test_a_cached_settings_result_holds_until_the_projects_asgi_py_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakcheck.project.runner import Options, run

    project(tmp_path, {"manage.py": "", "site/settings.py": POOLED_60})
    monkeypatch.chdir(tmp_path)
    options = Options(jobs=1, cache=True, cache_dir=tmp_path / "cache")
    assert run(["site"], options=options).findings == []  # no asgi.py: a WSGI project
    parsed = record_parses(monkeypatch)
    assert run(["site"], options=options).findings == []
    assert parsed == []  # nothing changed: the settings module's result is reused
    (tmp_path / "site" / "asgi.py").write_text(TEMPLATE_ASGI)
    found = run(["site"], options=options).findings
    assert [(f.path, f.code, f.line) for f in found] == [("site/settings.py", "LC503", 6)]
    assert "site/settings.py" in parsed


def test_a_replayed_run_holds_until_the_projects_asgi_py_appears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakcheck.project.runner import Options, run

    # Only the settings module is checked: asgi.py is no file of the run, only its evidence.
    project(tmp_path, {"manage.py": "", "site/settings.py": POOLED_60, "site/urls.py": ""})
    monkeypatch.chdir(tmp_path)
    options = Options(jobs=1, cache=True, cache_dir=tmp_path / "cache")
    assert run(["site/settings.py"], options=options).findings == []  # cold
    assert run(["site/urls.py"], options=options).findings == []  # another run's manifest
    assert run(["site/settings.py"], options=options).findings == []  # from the entries
    parsed = record_parses(monkeypatch)
    assert run(["site/settings.py"], options=options).findings == []  # from the manifest
    assert parsed == []
    (tmp_path / "site" / "asgi.py").write_text(TEMPLATE_ASGI)
    found = run(["site/settings.py"], options=options).findings
    assert [(f.path, f.code, f.line) for f in found] == [("site/settings.py", "LC503", 6)]
