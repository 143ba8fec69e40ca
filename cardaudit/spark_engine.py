"""The Spark engine: the same rule pack, run per legal entity on the executors of a Spark cluster.

The driver reads the export with Spark (a Parquet file or dataset, or a catalog table), maps its
headers exactly as the pandas loader does (`load.resolve_headers`: built-in aliases and
`--mapping`), tells the legal entities apart by their *normalised* names (the same
`compact_text` the audit applies, computed on the driver from the column's few distinct values)
and groups the rows by entity. Each group runs on an executor (`applyInArrow`) through the very
code of the pandas engine: the loader's text rules (`load.column_text`, `load.text_frame`), then
`normalise(...)` and `engine.audit(...)` unchanged. A group hands back one pickled
`engine.AuditResult` (in chunks of a few MB); the driver combines them (`engine.combine`) and
the shared output code of `job.run_audit` writes summary.json, reports and findings. No rule is
implemented twice.

Row numbers: `_source_file` is the file name as the pandas loader writes it (`export.parquet`,
or `folder/member.parquet` for a dataset folder) and `_source_row` is Spark's Parquet row index
in that file + 2, exactly the pandas loader's number. Each group's rows are put back into file and
row order before normalising, so which of two rows sharing a card number is kept does not depend
on how Spark shuffled them. A catalog table whose rows carry no file metadata gets the table name
and Spark's row id (+ 2), which names a row but is not a line of any file.

A failure inside one entity's group is caught on the executor and returned as a record naming the
entity (a Chinese message; for an unexpected error only the exception's type, never data); the
driver keeps the other entities' results, marks the run incomplete and the CLI exits non-zero.

pyspark is imported only inside the functions here, so `cardaudit --help` never loads it.
Compatibility: PySpark 4.x warns that pandas >= 3 is "not yet fully supported". The engine does
not use Spark's pandas conversion at all: groups travel as Arrow tables (`applyInArrow`) and
become pandas frames through the loader's own code, so the warning is silenced here.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cardaudit import engine, load, verification
from cardaudit.errors import CardauditError, ConfigError, InputError
from cardaudit.job import AuditOptions, Computed, EntityFailure, load_shared
from cardaudit.normalize import compact_text, normalise
from cardaudit.schema import SOURCE_FILE, SOURCE_ROW

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPARK_MISSING = ("未安装 Spark 引擎所需的 pyspark。请先安装 pip install 'cardaudit[spark]'"
                 "（Spark 还需要 Java 17 或更高版本），或改用 --engine pandas。")
# Tests only: the executor raises inside this legal entity's group (read on the driver and
# shipped with the group function, so it takes effect on every executor).
FAIL_ENTITY_ENV = "CARDAUDIT_TEST_FAIL_ENTITY"
DEFAULT_MASTER = "local[*]"
CHUNK_BYTES = 8 << 20  # a group's pickled result travels in binary chunks of at most this size
NO_ENTITY = "（法人机构为空）"  # the group of rows whose legal entity is empty
_ENTITY = "_entity"  # group key: the ordinal of the normalised legal-entity name, -1 if empty
_FILE, _ROW = "_file", "_row"
RESULT_SCHEMA = ("entity long, part int, parts int, status string, code int, message string, "
                 "file_rows array<long>, payload binary")

_LOG4J = """rootLogger.level = fatal
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.submit.name = org.apache.spark.deploy.SparkSubmit
logger.submit.level = fatal
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = fatal
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = fatal
"""


def _quiet_pyspark() -> None:
    """No English noise on the console: errors are reported in Chinese by this module."""
    warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas",
                            category=FutureWarning)
    from pyspark.logger import PySparkLogger

    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _import_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(SPARK_MISSING) from None
    _quiet_pyspark()


def check_available() -> None:
    """A Chinese ConfigError (exit 2) unless pyspark can be imported."""
    _import_pyspark()


def start_session(master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    """The active Spark session, else a new one.

    `master` None: the settings of the process that launched us (spark-submit) or `local[*]`.
    A local session runs its Python workers with this interpreter and logs only errors.
    """
    _import_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("cardaudit")
    launched = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit: keep its master and settings
    if master or not launched:
        master = master or DEFAULT_MASTER
        builder = builder.master(master)
    if not launched and (master or "").startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    settings = {"spark.ui.showConsoleProgress": "false"}
    log_config = None
    if not launched and (master or "").startswith("local"):
        # A local JVM logs to this console: only fatal errors (ours are reported in Chinese).
        # A cluster's own Java options and logging are left alone.
        handle, name = tempfile.mkstemp(prefix="cardaudit-log4j2-", suffix=".properties")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(_LOG4J)
        log_config = Path(name)
        settings["spark.driver.extraJavaOptions"] = (
            f"-Dlog4j2.configurationFile={log_config.as_uri()}")
    for key, value in {**settings, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        raise ConfigError(
            f"无法启动 Spark（{type(exc).__name__}）。请确认已安装 Java 17 或更高版本（java -version），"
            f"--spark-master 取值正确（当前：{master or '由 spark-submit 决定'}）。") from None
    finally:
        if log_config is not None:
            log_config.unlink(missing_ok=True)  # read once, when the JVM started
    spark.sparkContext.setLogLevel("FATAL")
    return spark


class EngineError(CardauditError):
    """The Spark job itself failed (no entity's result came back): exit 3."""

    exit_code = 3


# --------------------------------------------------------------------------------------------
# Reading on the driver
# --------------------------------------------------------------------------------------------


def _uri_path(uri: str) -> str:
    """The decoded path of a file URI or plain path, for comparing Spark's names with ours."""
    parsed = urlparse(uri)
    if parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        return unquote(parsed.path)
    return Path(uri).resolve().as_posix()


@dataclass
class Source:
    """What Spark reads: the data frame, a name for messages, and the file names of its rows."""

    frame: DataFrame
    label: str
    files: list[str]  # file URIs in the pandas loader's order
    displays: list[str]  # `_source_file` of each file's rows
    table: str | None = None


def _file_order(args: list[str], files: list[str]) -> tuple[list[str], list[str]]:
    """Files in the pandas loader's order with its display names (argument, then member path)."""
    local = [a for a in args if "://" not in a]
    shown = dict(zip(local, load.display_names([Path(a) for a in local]), strict=True)) if local else {}
    roots = [(_uri_path(a).rstrip("/"), shown.get(a) or PurePosixPath(urlparse(a).path).name)
             for a in args]
    placed = []
    for uri in files:
        path = _uri_path(uri)
        for i, (root, display) in enumerate(roots):
            if path == root:
                placed.append(((i, ()), uri, display))
                break
            if path.startswith(root + "/"):
                rel = PurePosixPath(path[len(root) + 1:])
                placed.append(((i, rel.parts), uri, f"{display}/{rel.as_posix()}"))
                break
        else:  # e.g. matched by a glob: after the named files, by name
            name = PurePosixPath(path)
            placed.append(((len(roots), name.parts), uri, name.name))
    placed.sort(key=lambda item: item[0])
    return [uri for _, uri, _ in placed], [display for _, _, display in placed]


def _spark_problem(exc: Exception) -> str:
    condition = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    try:
        return str(condition()) if callable(condition) else type(exc).__name__
    except Exception:
        return type(exc).__name__


def read_source(spark: SparkSession, paths: list[str], table: str | None) -> Source:
    """The export as a Spark data frame: Parquet files/folders, or a catalog table."""
    if table and paths:
        raise ConfigError("--spark-table 与导出文件只能二选一：读取数据表时不要再给出文件路径。")
    if not table and not paths:
        raise ConfigError("请给出导出数据：Parquet 文件或目录，或用 --spark-table 指定数据表。")
    for p in paths:
        suffix = PurePosixPath(urlparse(p).path if "://" in p else p).suffix.lower()
        if suffix in load.CSV_SUFFIXES | load.XLSX_SUFFIXES:
            raise ConfigError(
                f"Spark 引擎读取 Parquet 文件、Parquet 目录或数据表（--spark-table），不读取 {Path(p).name}。"
                "请用 --engine pandas 审计 CSV/XLSX 文件，或先将其转换为 Parquet。")
    label = table or "、".join(PurePosixPath(urlparse(p).path).name or p for p in paths)
    try:
        reader = spark.read.option("mergeSchema", "true")
        frame = spark.table(table) if table else reader.parquet(*paths)
        files = list(frame.inputFiles())
    except Exception as exc:
        what = f"数据表 {table}" if table else f"导出数据 {label}"
        raise InputError(f"Spark 无法读取{what}（{_spark_problem(exc)}）。"
                         "请检查路径或表名，以及文件是否为完整的 Parquet 文件。") from None
    if table:
        ordered = sorted(files, key=_uri_path)
        displays = [f"{table}/{PurePosixPath(_uri_path(f)).name}" for f in ordered]
    else:
        ordered, displays = _file_order(paths, files)
    return Source(frame=frame, label=label, files=ordered, displays=displays, table=table)


def _file_hashes(spark: SparkSession, source: Source) -> dict[str, tuple[str, int]]:
    """SHA-256 of every input file, computed on the executors (path -> (hex, bytes))."""
    if not source.files:
        return {}
    from pyspark.sql import functions as F

    try:
        rows = (spark.read.format("binaryFile").load(source.files)
                .select("path", F.sha2("content", 256).alias("sha"), "length").collect())
    except Exception:
        return {}
    return {_uri_path(r["path"]): (r["sha"], int(r["length"])) for r in rows}


# --------------------------------------------------------------------------------------------
# The group function, run on the executors
# --------------------------------------------------------------------------------------------


@dataclass
class GroupJob:
    """Everything one legal entity's group needs; pickled once and shipped to the executors."""

    options: AuditOptions
    headers: dict[str, str]  # canonical name -> the export's header (for messages)
    files: list[str]  # decoded file paths, by ordinal
    displays: list[str]
    entity_names: dict[int, str]
    entity_name: str | None  # the entity when the export has no legal-entity column
    blacklist: Any = None
    verification: Any = None
    label: str = ""  # the export's name, for messages
    no_file: str = ""  # `_source_file` of rows that carry no file metadata (a table's name)
    fail_entity: str | None = None  # tests only (FAIL_ENTITY_ENV)
    debug: bool = False
    chunk_bytes: int = CHUNK_BYTES

    def file_ordinals(self, column: pa.ChunkedArray) -> np.ndarray:
        """Each row's file ordinal (-1 where the row carries no file): once per distinct path."""
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if column.null_count == len(column):
            return np.full(len(column), -1, dtype=np.int64)
        encoded = pc.dictionary_encode(column)
        index = {path: i for i, path in enumerate(self.files)}
        per_value = np.array([index.get(_uri_path(v), -1) for v in encoded.dictionary.to_pylist()],
                             dtype=np.int64)
        codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
        return np.where(pc.is_valid(encoded.indices).to_numpy(zero_copy_only=False),
                        per_value[codes], -1)

    def frame(self, table: pa.Table, ordinals: np.ndarray) -> pd.DataFrame:
        """The group's rows as the pandas loader's frame: file and row order, same columns."""
        rows = table.column(_ROW).to_numpy().astype(np.int64)
        order = np.lexsort((rows, ordinals))
        table = table.take(pa.array(order))
        ordinals, rows = ordinals[order], rows[order]
        columns = {name: load.column_text(table.column(name), header, self.label)
                   for name, header in self.headers.items()}
        names = pa.array([*self.displays, self.no_file], pa.large_string())
        columns[SOURCE_FILE] = pc.take(names, pa.array(np.where(ordinals < 0, len(self.displays),
                                                                ordinals)))
        columns[SOURCE_ROW] = pa.array(rows + 2, pa.int64())
        return load.text_frame(pa.table(columns))

    def audit(self, frame: pd.DataFrame) -> engine.AuditResult:
        options = self.options
        normalised = normalise(frame, options.pack.settings, options.as_of, self.entity_name)
        verification.mark(normalised.frame, self.verification)
        return engine.audit(normalised, options.pack, self.blacklist)

    def __call__(self, table: pa.Table) -> pa.Table:
        """One group's result rows: the pickled AuditResult in chunks, or an error record."""
        key = int(table.column(_ENTITY)[0].as_py()) if table.num_rows else -1
        name = self.entity_names.get(key, NO_ENTITY)
        ordinals = self.file_ordinals(table.column(_FILE))
        n_files = len(self.files)  # the last count: rows that carry no file
        file_rows = np.bincount(np.where(ordinals < 0, n_files, ordinals),
                                minlength=n_files + 1).tolist()
        try:
            if self.fail_entity is not None and name == self.fail_entity:
                raise RuntimeError("injected failure (tests)")
            result = self.audit(self.frame(table, ordinals))
            payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            step = self.chunk_bytes
            chunks = [payload[i:i + step] for i in range(0, len(payload), step)]
            status, code, message = "ok", 0, ""
        except CardauditError as exc:
            chunks, status, code, message = [b""], "error", exc.exit_code, str(exc)
        except Exception as exc:
            detail = ("\n" + traceback.format_exc()) if self.debug else ""
            chunks, status, code = [b""], "error", 3
            message = (f"执行器内部错误（{type(exc).__name__}）；错误信息已略去，以免泄露个人信息"
                       f"（设置环境变量 CARDAUDIT_DEBUG=1 可显示完整错误）。{detail}")
        n = len(chunks)
        return pa.table({
            "entity": pa.array([key] * n, pa.int64()), "part": pa.array(range(n), pa.int32()),
            "parts": pa.array([n] * n, pa.int32()), "status": [status] * n,
            "code": pa.array([code] * n, pa.int32()), "message": [message] * n,
            "file_rows": pa.array([file_rows] + [[]] * (n - 1), pa.list_(pa.int64())),
            "payload": pa.array(chunks, pa.binary()),
        })


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _source_columns(frame: DataFrame) -> tuple[Any, Any, bool]:
    """(file path, row index, whether rows carry files): Spark's file metadata where the source
    has it (Parquet files and file-based tables), else no file and Spark's row id."""
    from pyspark.sql import functions as F

    try:
        frame.select("_metadata.file_path", "_metadata.row_index").schema  # noqa: B018
        return F.col("_metadata.file_path"), F.col("_metadata.row_index"), True
    except Exception:
        return F.lit(None).cast("string"), F.monotonically_increasing_id(), False


def _entity_keys(spark: SparkSession, frame: DataFrame, header: str,
                 label: str) -> tuple[DataFrame, dict[int, str]]:
    """Raw legal-entity value -> ordinal of its normalised name (-1 if empty), as a small frame.

    The names are normalised on the driver by the audit's own `compact_text`, once per distinct
    raw value, so spellings the audit treats as one entity fall into one group.
    """
    raw = frame.select(frame[_quote(header)].alias("_key_raw")).distinct().toArrow()
    text = load.column_text(raw.column("_key_raw"), header, label)
    names = compact_text(pd.Series(text.to_pylist(), dtype="str"))
    distinct = sorted(set(names.dropna()), key=str)
    ordinal = {n: i for i, n in enumerate(distinct)}
    codes = names.map(ordinal).fillna(-1).astype("int64").to_numpy()
    keys = raw.append_column(_ENTITY, pa.array(codes, pa.int64()))
    return spark.createDataFrame(keys), dict(enumerate(distinct))


@dataclass
class SparkEngine:
    """`job.Compute` for `run_audit`: reads with Spark, audits each legal entity on an executor."""

    master: str | None = None
    table: str | None = None
    paths: list[str] | None = None  # as typed (URIs kept); default: the options' exports
    conf: dict[str, str] = field(default_factory=dict)
    chunk_bytes: int = CHUNK_BYTES  # size of the pieces a group's result travels in

    def __call__(self, options: AuditOptions, say: Callable[[str], None],
                 notices: list[str]) -> Computed:
        _import_pyspark()
        from pyspark.sql import SparkSession

        say("启动 Spark")
        ours = SparkSession.getActiveSession() is None
        spark = start_session(self.master, self.conf)
        try:
            return self._run(spark, options, say, notices)
        finally:
            if ours:  # a session we started; one that was active before is left running
                spark.stop()

    def _run(self, spark: SparkSession, options: AuditOptions, say: Callable[[str], None],
             notices: list[str]) -> Computed:
        from pyspark.sql import functions as F

        paths = self.paths if self.paths is not None else [str(p) for p in options.exports]
        say("读取导出数据（Spark）")
        source = read_source(spark, [] if self.table else paths, self.table)
        df = source.frame
        selection, mapping = load.resolve_headers(df.columns, source.label, options.mapping)
        headers = {name: df.columns[i] for name, i in selection.items()}
        file_col, row_col, has_files = _source_columns(df)
        if not has_files:  # e.g. a view: its rows are named by the table, not by file
            source.files, source.displays = [], []
        columns = [df[_quote(h)].alias(name) for name, h in headers.items()]
        columns += [file_col.alias(_FILE), row_col.cast("long").alias(_ROW)]
        shared = load_shared(options, notices)
        say("识别法人机构")
        if "legal_entity" in headers:
            keys, entity_names = _entity_keys(spark, df, headers["legal_entity"], source.label)
            rows = (df.select(*columns, df[_quote(headers["legal_entity"])].alias("_raw"))
                    .join(F.broadcast(keys), F.col("_raw").eqNullSafe(keys["_key_raw"]), "left")
                    .drop("_raw", "_key_raw").fillna({_ENTITY: -1}))
            entity_name = None
        else:
            entity_name = options.bank_name
            rows = df.select(*columns, F.lit(0).cast("long").alias(_ENTITY))
            entity_names = {0: entity_name or "本行"}
        job = GroupJob(options=options, headers=headers,
                       files=[_uri_path(f) for f in source.files], displays=source.displays,
                       entity_names=entity_names, entity_name=entity_name,
                       blacklist=shared.blacklist, verification=shared.verification,
                       label=source.label, no_file=source.table or "",
                       fail_entity=os.environ.get(FAIL_ENTITY_ENV) or None,
                       debug=bool(os.environ.get("CARDAUDIT_DEBUG")),
                       chunk_bytes=self.chunk_bytes)
        groups = max(1, len(entity_names) + 1)
        grouped = rows.repartition(groups, _ENTITY).groupBy(_ENTITY).applyInArrow(
            _group_function(job), RESULT_SCHEMA)
        gathered = _run_with_progress(spark, grouped, say, len(entity_names))
        say("汇总各法人机构结果")
        parts, failures, file_rows = _gather(gathered, entity_names, len(source.files))
        base = job.audit(load.text_frame(pa.table(
            {**{name: pa.array([], pa.large_string()) for name in headers},
             SOURCE_FILE: pa.array([], pa.large_string()), SOURCE_ROW: pa.array([], pa.int64())})))
        result = engine.combine([base, *parts])
        say("计算输入文件摘要")
        hashes = _file_hashes(spark, source)
        files = []
        for uri, display, count in zip(source.files, source.displays, file_rows, strict=False):
            sha, _ = hashes.get(_uri_path(uri), (None, 0))
            files.append(load.FileInfo(path=display, sha256=sha or "（未计算）", rows=int(count),
                                       encoding=None, format="parquet", delimiter=None,
                                       mapping=dict(mapping)))
        if file_rows[-1] or not files:
            files.append(load.FileInfo(path=source.table or source.label,
                                       sha256="（数据表，未计算）", rows=int(file_rows[-1]),
                                       encoding=None, format="table", delimiter=None,
                                       mapping=dict(mapping)))
        _check_duplicate_files(files)
        return Computed(result=result, files=files, shared=shared, failures=failures,
                        engine={"name": "spark", "master": spark.sparkContext.master,
                                "spark_version": spark.version,
                                "source": source.table or source.label})


def _group_function(job: GroupJob) -> Callable[[Any, pa.Table], pa.Table]:
    """A plain two-argument function (grouping key, table): the form applyInArrow recognises."""
    def audit_group(key: Any, table: pa.Table) -> pa.Table:
        return job(table)

    return audit_group


def _check_duplicate_files(files: list[load.FileInfo]) -> None:
    load.check_distinct_files([(f.path, f.sha256) for f in files if not f.sha256.startswith("（")])


def _run_with_progress(spark: SparkSession, grouped: DataFrame, say: Callable[[str], None],
                       entities: int) -> pa.Table:
    """Collect the groups' results (Arrow) while reporting finished tasks from the driver."""
    group = f"cardaudit-{os.getpid()}-{id(grouped)}"
    box: dict[str, Any] = {}

    def collect() -> None:
        spark.sparkContext.setJobGroup(group, "cardaudit 审计", interruptOnCancel=True)
        try:
            box["table"] = grouped.toArrow()
        except BaseException as exc:  # re-raised on the driver's main thread
            box["error"] = exc

    worker = threading.Thread(target=collect, name="cardaudit-spark", daemon=True)
    worker.start()
    tracker = spark.sparkContext.statusTracker()
    shown = None
    while worker.is_alive():
        worker.join(0.5)
        done = total = 0  # over every stage of the job: reading, shuffling, auditing
        for job_id in tracker.getJobIdsForGroup(group):
            info = tracker.getJobInfo(job_id)
            for stage_id in (info.stageIds if info else []):
                stage = tracker.getStageInfo(stage_id)
                if stage is not None:
                    done += stage.numCompletedTasks
                    total += stage.numTasks
        text = f"审计 {entities} 个法人机构（Spark）：已完成任务 {done}/{total}" if total else None
        if text and text != shown:
            say(text)
            shown = text
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        raise EngineError(f"Spark 作业失败（{_spark_problem(exc)}），没有得到任何法人机构的结果。"
                          "请检查 Spark 集群状态与执行器日志后重试。") from None
    return box["table"]


def _gather(table: pa.Table, entity_names: dict[int, str],
            n_files: int) -> tuple[list[engine.AuditResult], list[EntityFailure], np.ndarray]:
    """Unpickle every group's result; failed groups become EntityFailure records."""
    parts: list[engine.AuditResult] = []
    failures: list[EntityFailure] = []
    file_rows = np.zeros(n_files + 1, dtype=np.int64)
    rows = table.sort_by([("entity", "ascending"), ("part", "ascending")]).to_pydict()
    chunks: dict[int, list[bytes]] = {}
    for i, key in enumerate(rows["entity"]):
        if rows["part"][i] == 0:
            file_rows += np.asarray(rows["file_rows"][i], dtype=np.int64)
        if rows["status"][i] == "ok":
            chunks.setdefault(key, []).append(rows["payload"][i])
        elif rows["part"][i] == 0:
            failures.append(EntityFailure(entity=entity_names.get(key, NO_ENTITY),
                                          message=rows["message"][i], exit_code=rows["code"][i]))
    for key in sorted(chunks):
        parts.append(pickle.loads(b"".join(chunks[key])))
    failures.sort(key=lambda f: f.entity)
    return parts, failures, file_rows
