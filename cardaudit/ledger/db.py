"""The ledger's database: one schema in SQLAlchemy Core, SQLite or PostgreSQL, with migrations.

Migrations are numbered steps run through Alembic's `Operations` inside one transaction; the
applied version lives in the table `cardaudit_schema`. A database written by a newer cardaudit is
refused rather than guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cardaudit.errors import ConfigError

metadata = sa.MetaData()

schema_table = sa.Table(
    "cardaudit_schema", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.String(40), nullable=False),
)
meta_table = sa.Table(
    "ledger_meta", metadata,
    sa.Column("key", sa.String(60), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("as_of", sa.String(10), nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("tool_version", sa.String(40), nullable=False),
    sa.Column("pack_name", sa.String(200), nullable=False),
    sa.Column("pack_version", sa.String(40), nullable=False),
    sa.Column("pack_hash", sa.String(80), nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),  # JSON: file names, sha256, rows
    sa.Column("entities", sa.Text, nullable=False),  # JSON list of legal entities audited
    sa.Column("rules", sa.Text, nullable=False),  # JSON list of rules that ran
    sa.Column("figures", sa.Text, nullable=False),  # JSON: figures per entity and in total
    sa.Column("found", sa.Integer, nullable=False),
    sa.Column("new", sa.Integer, nullable=False),
    sa.Column("reopened", sa.Integer, nullable=False),
    sa.Column("resolved", sa.Integer, nullable=False),
)
findings = sa.Table(
    "findings", metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("rule_id", sa.String(80), nullable=False),
    sa.Column("rule_title", sa.String(200), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("legal_entity", sa.String(200), nullable=False),
    sa.Column("branch", sa.String(200), nullable=False),  # the branch that works the finding
    sa.Column("subject_kind", sa.String(20), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),  # masked unless the ledger is unmasked
    sa.Column("customer_ids", sa.Text, nullable=False),  # JSON list
    sa.Column("cards", sa.Text, nullable=False),  # JSON list of {card_no, branch, product, ...}
    sa.Column("card_count", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("contact_date", sa.String(10)),
    sa.Column("against_will_cards", sa.Integer),
    sa.Column("note", sa.Text),
    sa.Column("first_run", sa.Integer, nullable=False),
    sa.Column("last_run", sa.Integer, nullable=False),  # the last run that found it
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Index("ix_findings_entity_branch", "legal_entity", "branch", "status"),
)
imports = sa.Table(
    "imports", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("file", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("changed", sa.Integer, nullable=False),
    sa.Column("unchanged", sa.Integer, nullable=False),
    sa.Column("blank", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
)
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("source", sa.String(400), nullable=False),  # "审计" or the worklist's file name
    sa.Column("run_id", sa.Integer),
    sa.Column("import_id", sa.Integer),
    sa.Column("old_status", sa.String(20)),
    sa.Column("new_status", sa.String(20), nullable=False),
    sa.Column("contact_date", sa.String(10)),
    sa.Column("against_will_cards", sa.Integer),
    sa.Column("note", sa.Text),
)


def _initial(op: object, connection: Connection) -> None:
    for table in (meta_table, runs, findings, imports, events):
        table.create(connection)


# (version, description, step). Append new steps; never edit an applied one.
MIGRATIONS: list[tuple[int, str, Callable[[object, Connection], None]]] = [
    (1, "台账初始结构：runs, findings, imports, events", _initial),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


@dataclass
class Ledger:
    engine: Engine
    url: str  # for messages, password hidden
    unmasked: bool

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One writing transaction; SQLite takes its write lock at the start (BEGIN IMMEDIATE)."""
        with self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def database_url(target: str) -> str:
    """A SQLAlchemy URL from `--ledger`: a file path means SQLite, a URL is taken as given."""
    if "://" not in target:
        return f"sqlite:///{Path(target).expanduser().resolve()}"
    scheme = target.split("://", 1)[0]
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + target.split("://", 1)[1]
    return target


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _manual_transactions(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # SQLAlchemy issues BEGIN itself

        @sa.event.listens_for(engine, "begin")
        def _immediate(conn) -> None:  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def open_ledger(target: str, *, create: bool = True, unmasked: bool = False) -> Ledger:
    """Connect, create or migrate the schema, and return the ledger.

    `unmasked` only matters when the ledger is created: a ledger keeps the choice for its life.
    """
    url = database_url(target)
    shown = target
    if "://" in target:
        shown = re.sub(r"(://[^/@:]*:)[^@/]*@", r"\1***@", target)  # never a password shown
        try:
            parsed = sa.engine.make_url(url)
        except (sa.exc.ArgumentError, ValueError):
            raise ConfigError(f"无法识别台账地址 {shown}。请给出 SQLite 文件路径，或 "
                              "postgresql://用户@主机[:端口]/库名。") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError(f"台账地址 {shown} 的数据库类型 {parsed.get_backend_name()} 不受"
                              "支持：台账可用 SQLite 文件或 PostgreSQL（postgresql://用户@主机/"
                              "库名）。")
        shown = parsed.render_as_string(hide_password=True)
    if url.startswith("sqlite") and not create and not Path(url.split("///", 1)[1]).is_file():
        raise ConfigError(f"找不到台账 {target}。请先用 cardaudit audit --ledger 建立台账。")
    try:
        engine = _engine(url)
        with engine.begin() as conn:
            _migrate(conn)
            found = conn.execute(sa.select(meta_table.c.value).where(
                meta_table.c.key == "unmasked")).scalar()
            if found is None:
                conn.execute(meta_table.insert(), [
                    {"key": "unmasked", "value": "true" if unmasked else "false"},
                    {"key": "created_at", "value": now()}])
                found = "true" if unmasked else "false"
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"无法识别台账地址 {shown}：{exc}。请给出文件路径或 "
                          "postgresql://用户@主机/库名。") from None
    except ModuleNotFoundError as exc:
        raise ConfigError(f"连接台账 {shown} 需要数据库驱动 {exc.name}：请安装 "
                          "pip install 'cardaudit[postgresql]'。") from None
    except sa.exc.OperationalError as exc:
        raise ConfigError(f"无法打开台账 {shown}：{_first_line(exc)}。请检查地址、权限"
                          "与数据库服务是否运行。") from None
    return Ledger(engine=engine, url=shown, unmasked=found == "true")


def check_key(ledger: Ledger, key_id: str) -> None:
    """A ledger keeps the fingerprint key it was created under: other keys never match."""
    with ledger.transaction() as conn:
        found = conn.execute(sa.select(meta_table.c.value).where(
            meta_table.c.key == "fingerprint_key_id")).scalar()
        if found is None:
            conn.execute(meta_table.insert().values(key="fingerprint_key_id", value=key_id))
        elif found != key_id:
            raise ConfigError(f"台账使用的指纹密钥（编号 {found}）与本次审计的密钥（编号 {key_id}）"
                              "不同，同一问题对不上。请用建立台账时的密钥文件（--fingerprint-key）。")


@contextmanager
def opened(target: str) -> Iterator[Ledger]:
    """An existing ledger, its connections closed afterwards."""
    ledger = open_ledger(target, create=False)
    try:
        yield ledger
    finally:
        ledger.dispose()


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _migrate(conn: Connection) -> None:
    """Bring the schema to SCHEMA_VERSION; serialised between concurrent first runs."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242001)"))
    inspector = sa.inspect(conn)
    if not inspector.has_table(schema_table.name):
        schema_table.create(conn)
    applied = conn.execute(sa.select(sa.func.max(schema_table.c.version))).scalar() or 0
    if applied > SCHEMA_VERSION:
        raise ConfigError(f"台账结构版本为 {applied}，高于本程序支持的 {SCHEMA_VERSION}："
                          "请升级 cardaudit 后再使用此台账。")
    operations = Operations(MigrationContext.configure(conn))
    for version, description, step in MIGRATIONS:
        if version > applied:
            step(operations, conn)
            conn.execute(schema_table.insert().values(version=version, description=description,
                                                      applied_at=now()))
