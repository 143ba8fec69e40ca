"""Audit an export one legal entity at a time: memory bounded by the largest entity.

Every figure is additive across legal entities, so the export never has to be in memory at once.
For Parquet, a first pass reads only the legal-entity column of each file; then, entity by
entity, only the row groups holding that entity's rows are read, the rows are taken in file
order, and the unchanged `normalise` and `engine.audit` run on them. A CSV export is read a
chunk at a time and its rows parked by legal entity in Arrow files (`park_csv`), which are read
back one entity at a time. An XLSX export (at most about a million rows a sheet), or a CSV that
cannot be read in chunks (see `load.csv_chunks`), is read whole, then normalised and audited the
same way, one entity's rows at a time.
Columns of few distinct values (`normalize.FEW_VALUES`) stay dictionary-encoded on the way
(read so from Parquet, parked so from CSV) and reach `normalise` as Categoricals.
`engine.combine` gathers the results, as for the Spark engine. Source file names and row numbers
are the pandas loader's.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cardaudit import engine, load, verification
from cardaudit.errors import InputError
from cardaudit.normalize import FEW_VALUES, UNREAD_COLUMNS, compact_text, normalise
from cardaudit.schema import SOURCE_ROW

if TYPE_CHECKING:
    from cardaudit.job import AuditOptions, SharedInputs


def entity_step(name: str, index: int, count: int, rule: str | None,
                rows: int | None = None) -> str:
    """The progress line of one legal entity (and the rule it is running)."""
    size = f"（{rows:,} 条）" if rows is not None else ""
    return f"审计法人机构 {index + 1}/{count}：{name}{size}" + (f" · 规则 {rule}" if rule else "")

NO_ENTITY = -1
# Parked CSV streams open at once (a process may open about 1,000 files in all).
MAX_OPEN_PARKED = 256


@dataclass
class Member:
    """One Parquet file of the export, its mapped columns and each row's legal-entity code."""

    path: Path
    display: str
    headers: dict[str, str]  # canonical name -> the file's header
    rows: int
    group_starts: np.ndarray  # first row of each row group, plus the row count
    # Row positions of each legal-entity code (NO_ENTITY included), set by `_entity_codes`:
    # held for every entity through the whole run, so compact (see `_held`, `_rows`).
    positions: dict[int, range | np.ndarray] = field(default_factory=dict)


def members_of(paths: list[Path], mapping: dict | None) -> list[Member] | None:
    """The export's Parquet files, mapped; None when it cannot stream (not all Parquet, no
    legal-entity column in some file, or no rows)."""
    found = load.parquet_members(paths)
    if not found:
        return None
    members = []
    for path, display in found:
        try:
            with pq.ParquetFile(path) as parquet:
                names = [str(n) for n in parquet.schema_arrow.names]
                meta = parquet.metadata
                sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        except (OSError, pa.ArrowException, ValueError):
            return None  # the loader reports it, with its own message
        selection, headers = load.resolve_headers(names, display, mapping)
        if "legal_entity" not in selection:
            return None
        members.append(Member(path, display, headers, sum(sizes),
                              np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)))
    return members if sum(m.rows for m in members) else None


def _entity_codes(members: list[Member]) -> list[str]:
    """Set each member's per-row entity code; return the entity names by code.

    Names are compacted as `normalise` compacts them, once per distinct spelling, so spelling
    variants of one legal entity are one entity here as in the pandas engine.
    """
    index: dict[str, int] = {}
    for m in members:
        header = m.headers["legal_entity"]
        # As Parquet stores it, dictionary-encoded: a few names, not a string per row.
        column = _read(m, lambda m=m, header=header: pq.read_table(
            m.path, columns=[header], read_dictionary=[header]).column(0))
        m.positions = {code: _held(rows) for code, rows in
                       _positions(_row_codes(column, header, m.display, index)).items()}
    return list(index)


def _held(rows: np.ndarray) -> range | np.ndarray:
    """Sorted row positions as kept until their entity is read: a range when they are one run
    (an entity exported together), else 32-bit when they fit. Every entity's positions are held
    at once: 8 bytes a row would be 240 MB for a 30M-row dataset."""
    if int(rows[-1]) - int(rows[0]) + 1 == len(rows):
        return range(int(rows[0]), int(rows[-1]) + 1)
    return rows.astype(np.int32) if int(rows[-1]) <= np.iinfo(np.int32).max else rows


def _rows(held: range | np.ndarray) -> np.ndarray:
    """Positions from `_held` as int64 again."""
    if isinstance(held, range):
        return np.arange(held.start, held.stop, dtype=np.int64)
    return held.astype(np.int64, copy=False)


def _row_codes(column: pa.ChunkedArray, header: str, display: str,
               index: dict[str, int]) -> np.ndarray:
    """`_spelling_codes` of a column; a dictionary-encoded text column is coded through its
    dictionaries (the loader's text of each distinct value is that of each of its rows)."""
    kind = column.type
    if not (pa.types.is_dictionary(kind) and (pa.types.is_string(kind.value_type)
                                              or pa.types.is_large_string(kind.value_type))):
        return _spelling_codes(load.column_text(column, header, display), index)
    parts = []
    for chunk in column.chunks:
        values = _spelling_codes(load.column_text(chunk.dictionary, header, display), index)
        indices = chunk.indices
        rows = indices.fill_null(0).to_numpy(zero_copy_only=False)
        codes = values[rows] if len(values) else np.full(len(rows), NO_ENTITY, np.int32)
        if indices.null_count:
            codes[~indices.is_valid().to_numpy(zero_copy_only=False)] = NO_ENTITY
        parts.append(codes)
    return np.concatenate(parts) if parts else np.array([], dtype=np.int32)


def _spelling_codes(text: pa.Array | pa.ChunkedArray, index: dict[str, int]) -> np.ndarray:
    """Each row's legal-entity code: its spelling compacted as `normalise` compacts it, once per
    distinct spelling, numbered in `index` (which grows); NO_ENTITY where there is none."""
    distinct = pc.unique(text)
    found = pc.index_in(text, value_set=distinct)  # no copy of the text itself
    found = found.combine_chunks() if isinstance(found, pa.ChunkedArray) else found
    spellings = compact_text(pd.Series(distinct.to_pandas(), dtype="str"))
    codes = np.array([index.setdefault(s, len(index)) if isinstance(s, str) else NO_ENTITY
                      for s in spellings], dtype=np.int32)
    raw = found.fill_null(0).to_numpy(zero_copy_only=False)
    valid = found.is_valid().to_numpy(zero_copy_only=False)
    return np.where(valid, codes[raw] if len(codes) else NO_ENTITY, NO_ENTITY)


def _positions(entity: np.ndarray) -> dict[int, np.ndarray]:
    """Row positions of each entity code, in row order (one stable sort)."""
    if not len(entity):
        return {}
    small = int(entity.max()) < np.iinfo(np.int16).max
    # Stable sorts of 16-bit integers are radix sorts: five times faster on shuffled rows.
    order = np.argsort(entity.astype(np.int16) if small else entity, kind="stable")
    ordered = entity[order]
    starts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    return {int(ordered[start]): part for start, part in
            zip(np.concatenate([[0], starts]), np.split(order, starts), strict=True)}


def _read(m: Member, read: Callable[[], pa.Table | pa.ChunkedArray]) -> pa.Table | pa.ChunkedArray:
    """A read of one member; a damaged file is the loader's kind of Chinese error (exit 2)."""
    try:
        return read()
    except (OSError, pa.ArrowException, ValueError) as exc:
        reason = str(exc).rstrip(".")
        raise InputError(f"无法读取 Parquet 文件 {m.display}：{reason}。文件可能已损坏或不完整，"
                         "请重新导出。") from None


def _rows_of(m: Member, positions: np.ndarray, pool: ThreadPoolExecutor) -> pa.Table:
    """The loader's text columns of these rows of one file (reading only their row groups).

    Column by column (two at a time): a column of the row groups holding the rows is read, the
    rows are kept (a slice when they are one run, else a mask) and it is turned into text, so
    memory holds the entity's columns and never more than two columns of the file besides.
    A column stays in its row groups' chunks: joining them would copy every value once more
    (fresh memory is costly: on the development VM, a text column's first copy costs more
    than its reading).
    """
    group_of = np.searchsorted(m.group_starts, positions, side="right") - 1
    groups = np.unique(group_of)
    # Row positions within the concatenation of the row groups read.
    sizes = m.group_starts[groups + 1] - m.group_starts[groups]
    base = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    local = positions - m.group_starts[group_of] + base[np.searchsorted(groups, group_of)]
    run = int(local[-1] - local[0] + 1) == len(local)  # an entity written together
    if not run:
        keep = np.zeros(int(sizes.sum()), dtype=bool)
        keep[local] = True
        mask = pa.array(keep)

    def text(header: str) -> pa.Array | pa.ChunkedArray:
        coded = header in few  # read dictionary-encoded (as Parquet mostly stores it)

        def read() -> pa.ChunkedArray:
            # Not memory-mapped: the pages would otherwise be read from disk inside later copies.
            with pq.ParquetFile(m.path, read_dictionary=[header] if coded else None) as parquet:
                return parquet.read_row_groups(groups.tolist(), columns=[header],
                                               use_threads=False).column(0)

        column = _read(m, read)
        column = column.slice(int(local[0]), len(local)) if run else column.filter(mask)
        categories = load.column_categories(column, header, m.display) if coded else None
        return categories if categories is not None else load.column_text(column, header,
                                                                          m.display)

    read = {name: header for name, header in m.headers.items() if name not in UNREAD_COLUMNS}
    headers = list(dict.fromkeys(read.values()))
    # Headers whose every column holds few distinct values: their texts stay dictionary-encoded.
    few = {h for h in headers
           if all(name in FEW_VALUES for name, used in read.items() if used == h)}
    texts = dict(zip(headers, pool.map(text, headers), strict=True))
    columns = {name: texts[header] for name, header in read.items()}
    columns[SOURCE_ROW] = pa.array(positions + 2, pa.int64())
    return pa.table(columns)


def entity_frame(members: list[Member], code: int, order: list[str]) -> pd.DataFrame:
    """One legal entity's rows from every file, as the pandas loader's frame (file order)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cardaudit-read") as pool:
        parts = [(m.display, _rows_of(m, _rows(m.positions[code]), pool)) for m in members
                 if code in m.positions]
    return load.files_frame(parts, order)


def audit_by_entity(members: list[Member], options: AuditOptions, shared: SharedInputs,
                    say: Callable[[str], None], spill: Path,
                    ready: Callable[[], object] = lambda: None) -> engine.AuditResult:
    """Read, normalise and audit a Parquet export one legal entity at a time; `ready` is called
    (and its errors raised) once the legal-entity column is read, before any entity is audited."""
    names = _entity_codes(members)
    ready()
    order = list(dict.fromkeys(c for m in members for c in m.headers))
    rows = {code: sum(len(m.positions.get(code, ())) for m in members)
            for code in {c for m in members for c in m.positions}}
    return _audit_entities(names, rows, lambda code: entity_frame(members, code, order),
                           options, shared, say, spill)


def audit_frame_by_entity(frame: pd.DataFrame, options: AuditOptions, shared: SharedInputs,
                          say: Callable[[str], None], spill: Path) -> engine.AuditResult:
    """Normalise and audit a loaded export (CSV, XLSX) one legal entity at a time: memory holds
    the export's text and one entity's derived columns, never the whole export's."""
    names: dict[str, int] = {}
    positions = _positions(_spelling_codes(pa.array(frame["legal_entity"]), names))
    return _audit_entities(list(names), {c: len(p) for c, p in positions.items()},
                           lambda code: frame.take(positions[code]).reset_index(drop=True),
                           options, shared, say, spill)


@dataclass
class Parked:
    """A CSV export's rows parked entity by entity in Arrow files, as the chunks were read."""

    names: list[str]  # legal-entity names by code
    rows: dict[int, int]  # rows of each code
    pieces: dict[int, list[tuple[Path, str]]]  # code -> (Arrow file, source file), in file order
    files: list[load.FileInfo]


def park_csv(sources: list[load.CsvChunks], folder: Path,
             say: Callable[[str], None]) -> Parked:
    """Read each CSV file a chunk at a time and park its rows by legal entity in ``folder``:
    memory holds one chunk, never the file."""
    index: dict[str, int] = {}
    rows: dict[int, int] = {}
    pieces: dict[int, list[tuple[Path, str]]] = {}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cardaudit-read") as pool:
        for number, source in enumerate(sources):
            known = dict(index)
            while True:
                try:
                    parked = _park_file(source, number, index, folder, pool, say)
                    break
                except load.RereadCsv:  # the encoding was switched: read the file again
                    index.clear()
                    index.update(known)
            for code, files in parked.items():
                for path, count in files:
                    rows[code] = rows.get(code, 0) + count
                    pieces.setdefault(code, []).append((path, source.display))
    load.check_distinct_files([(s.display, s.sha256) for s in sources])
    return Parked(list(index), rows, pieces, [s.info() for s in sources])


def _park_file(source: load.CsvChunks, number: int, index: dict[str, int], folder: Path,
               pool: ThreadPoolExecutor, say: Callable[[str], None]
               ) -> dict[int, list[tuple[Path, int]]]:
    """Park one file's rows: Arrow streams per legal-entity code, rows in file order.

    At most MAX_OPEN_PARKED streams are open at once (the process may open ~1,000 files): when
    a new code would exceed it, the open streams are closed and a code seen again continues in a
    new file, so an export with thousands of legal-entity spellings parks as well as one with two.
    """
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    parked: dict[int, list[list[Any]]] = {}  # code -> [[path, rows], ...] in file order
    done = False
    try:
        for columns, numbers in source.chunks(pool):
            table = pa.table({**{k: v for k, v in columns.items() if k not in UNREAD_COLUMNS},
                              SOURCE_ROW: pa.array(numbers, pa.int64())})
            codes = _spelling_codes(table.column("legal_entity"), index)
            table = _few_values_encoded(table)
            for code, rows in _positions(codes).items():
                part = table if len(rows) == table.num_rows else table.take(pa.array(rows))
                if code not in writers:
                    if len(writers) >= MAX_OPEN_PARKED:
                        for writer in writers.values():
                            writer.close()
                        writers.clear()
                    files = parked.setdefault(code, [])
                    path = folder / f"rows-{number}-{code + 1}-{len(files)}.arrow"
                    writers[code] = pa.ipc.new_stream(str(path), part.schema)
                    files.append([path, 0])
                writers[code].write_table(part)
                parked[code][-1][1] += part.num_rows
            say(f"读取导出文件 {source.display}：已读 {source.rows:,} 条")
        done = True
    finally:
        for writer in writers.values():
            writer.close()
        if not done:
            for files in parked.values():
                for path, _count in files:
                    path.unlink(missing_ok=True)
    return {code: [(path, count) for path, count in files] for code, files in parked.items()}


def _few_values_encoded(table: pa.Table) -> pa.Table:
    """The table with its FEW_VALUES columns dictionary-encoded: parked files shrink to a code
    per row for them, and `normalise` reads their distinct values only."""
    for i, name in enumerate(table.column_names):
        if name in FEW_VALUES and not pa.types.is_dictionary(table.schema.field(i).type):
            table = table.set_column(i, name, pc.dictionary_encode(table.column(i)))
    return table


def parked_frame(parked: Parked, code: int, order: list[str]) -> pd.DataFrame:
    """One legal entity's parked rows from every file, as the pandas loader's frame (file order).
    The Arrow files are read into memory (not mapped) and removed."""
    return load.files_frame([(display, _read_parked(path))
                             for path, display in parked.pieces[code]], order)


def _read_parked(path: Path) -> pa.Table:
    """A parked Arrow file as one contiguous array per column (as the whole-file reader gives),
    each column's chunks freed as soon as it is joined; the file is removed."""
    with pa.OSFile(str(path)) as handle:
        table = pa.ipc.open_stream(handle).read_all()
    path.unlink()
    columns = {name: table.column(name) for name in table.column_names}
    del table
    for name in columns:
        columns[name] = columns[name].combine_chunks()
    return pa.table(columns)


def audit_parked(parked: Parked, order: list[str], options: AuditOptions, shared: SharedInputs,
                 say: Callable[[str], None], spill: Path) -> engine.AuditResult:
    """Normalise and audit a parked CSV export one legal entity at a time."""
    return _audit_entities(parked.names, parked.rows,
                           lambda code: parked_frame(parked, code, order),
                           options, shared, say, spill)


def _audit_entities(names: list[str], rows: dict[int, int],
                    frame_of: Callable[[int], pd.DataFrame], options: AuditOptions,
                    shared: SharedInputs, say: Callable[[str], None],
                    spill: Path) -> engine.AuditResult:
    """Normalise and audit the rows of each legal entity code (`frame_of`) in name order, then
    the rows without one; combine the results.

    Each entity's findings go to an Arrow file in `spill` as soon as it is done, so memory holds
    one entity's rows, never the whole export's findings.
    """
    codes = sorted((c for c in rows if c != NO_ENTITY), key=lambda c: names[c])
    if NO_ENTITY in rows:
        codes.append(NO_ENTITY)  # rows without a legal entity: quarantined on their own
    parts = []
    for i, code in enumerate(codes):
        label = names[code] if code != NO_ENTITY else "（法人机构为空的记录）"

        def step(rule: str | None, i: int = i, label: str = label, size: int = rows[code]) -> None:
            say(entity_step(label, i, len(codes), rule, size))

        step(None)
        normalised = normalise(frame_of(code), options.pack.settings, options.as_of,
                               consume=True)
        verification.mark(normalised.frame, shared.verification)
        part = engine.audit(normalised, options.pack, shared.blacklist,
                            progress=lambda _n, _i, _c, rule, step=step: rule and step(rule))
        del normalised
        for result in part.entities:
            result.spill(spill)
        parts.append(part)
        # Hand the entity's freed buffers back to the system before the next one is read.
        pa.default_memory_pool().release_unused()
    return engine.combine(parts)


def file_infos(members: list[Member]) -> list[load.FileInfo]:
    """Provenance of every file (SHA-256 computed in worker threads), duplicates refused."""
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="cardaudit-hash") as pool:
        try:
            digests = list(pool.map(load.hash_file, [m.path for m in members]))
        except OSError as exc:
            raise InputError(f"无法读取文件 {Path(exc.filename or '?').name}：{exc.strerror}。") from None
    load.check_distinct_files([(m.display, d) for m, d in zip(members, digests, strict=True)])
    return [load.FileInfo(path=m.display, sha256=d, rows=m.rows, encoding=None, format="parquet",
                          delimiter=None, mapping=dict(m.headers))
            for m, d in zip(members, digests, strict=True)]
