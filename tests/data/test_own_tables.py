"""A scenario's own tables: declared apart from the shared domain, filled once per dataset and
reused by fingerprint, refused where a team's tables of those names are, and an index axis that
builds and drops the declared index per grid point."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
import pytest
from sqlalchemy import BigInteger, Index, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from harness.data.dataset import DatasetSpec
from harness.data.domain import Base as SharedBase
from harness.data.own_tables import OwnTables, ensure_own_tables, prepare_point
from harness.errors import UserError
from harness.scenario.grid import Grid, Params
from harness.scenario.spec import Scenario


class _Base(DeclarativeBase):
    pass


class _Thing(_Base):
    __tablename__ = "pb_test_things"
    __table_args__ = (
        Index("ix_pb_test_things_kind", "kind"),
        Index("ix_pb_test_things_id_kind", "id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[int] = mapped_column(BigInteger)


def _counting_fill(calls: list[DatasetSpec]):
    def fill(conn: psycopg.Connection[Any], dataset: DatasetSpec) -> None:
        calls.append(dataset)
        conn.execute(
            "INSERT INTO pb_test_things SELECT g, g %% 7 FROM generate_series(1, %s) g", (500,)
        )

    return fill


def _indexes(target, table: str) -> set[str]:
    with psycopg.connect(**target.psycopg_kwargs()) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
            (table,),
        )
        return {r[0] for r in rows}


def test_filled_once_then_reused_until_the_declaration_or_dataset_changes(server):
    calls: list[DatasetSpec] = []
    own = OwnTables(_Base.metadata, _counting_fill(calls))
    spec = DatasetSpec()
    first = ensure_own_tables(server, "t_own", own, spec)
    again = ensure_own_tables(server, "t_own", own, spec)
    assert (first.reused, again.reused) == (False, True)
    assert first.rows == again.rows == {"pb_test_things": 500}
    assert len(calls) == 1
    assert first.fingerprint == again.fingerprint
    # the declared indexes are built with the table; nothing is optional here
    assert {"ix_pb_test_things_kind", "ix_pb_test_things_id_kind"} <= _indexes(
        server, "pb_test_things"
    )
    # a new version of the fill step, or another dataset, fills anew
    bumped = ensure_own_tables(server, "t_own", replace(own, version=2), spec)
    other = ensure_own_tables(server, "t_own", replace(own, version=2), replace(spec, seed=1))
    assert (bumped.reused, other.reused) == (False, False)
    assert len(calls) == 3 and calls[-1].seed == 1


def test_tables_a_team_made_are_refused_never_dropped(server, fresh_database):
    kwargs = fresh_database("pb_own_foreign", "pb_test_things")
    target = replace(server, database="pb_own_foreign")
    own = OwnTables(_Base.metadata, _counting_fill([]))
    with pytest.raises(UserError, match=r"pb_test_things exist .* not created by patternbench"):
        ensure_own_tables(target, "t_own", own, DatasetSpec())
    with psycopg.connect(**kwargs) as conn:
        assert conn.execute("SELECT count(*) FROM pb_test_things").fetchone() == (0,)


def test_the_index_axis_builds_the_named_index_and_drops_the_others(server):
    own = OwnTables(
        _Base.metadata,
        _counting_fill([]),
        index_axis="index",
        optional_indexes=("ix_pb_test_things_kind", "ix_pb_test_things_id_kind"),
    )
    ensure_own_tables(server, "t_own_axis", own, DatasetSpec())
    assert not {"ix_pb_test_things_kind", "ix_pb_test_things_id_kind"} & _indexes(
        server, "pb_test_things"
    )
    prepare_point(server, own, Params((("index", "ix_pb_test_things_kind"),)))
    assert "ix_pb_test_things_kind" in _indexes(server, "pb_test_things")
    prepare_point(server, own, Params((("index", "ix_pb_test_things_id_kind"),)))
    found = _indexes(server, "pb_test_things")
    assert "ix_pb_test_things_id_kind" in found and "ix_pb_test_things_kind" not in found
    prepare_point(server, own, Params((("index", "none"),)))
    assert not {"ix_pb_test_things_kind", "ix_pb_test_things_id_kind"} & _indexes(
        server, "pb_test_things"
    )


def _scenario(own: OwnTables, grid: Grid) -> Scenario:
    s = Scenario(name="t_decl", question="?", quick=grid, full=grid, reference="a", own_tables=own)
    s.variant(lambda ctx: 1)
    s.variants["a"] = replace(next(iter(s.variants.values())), name="a")
    return s


@pytest.mark.parametrize(
    ("own", "grid", "message"),
    [
        (OwnTables(SharedBase.metadata, _counting_fill([])), Grid.of(x=[1]), "own metadata"),
        (OwnTables(MetaData(), _counting_fill([])), Grid.of(x=[1]), "declares no tables"),
        (
            OwnTables(
                _Base.metadata, _counting_fill([]), index_axis="index", optional_indexes=("nope",)
            ),
            Grid.of(index=["none"]),
            "optional index 'nope' is not declared",
        ),
        (
            OwnTables(
                _Base.metadata,
                _counting_fill([]),
                index_axis="index",
                optional_indexes=("ix_pb_test_things_kind",),
            ),
            Grid.of(index=["none", "ix_typo"]),
            "has value 'ix_typo'; valid: none, ix_pb_test_things_kind",
        ),
        (
            OwnTables(
                _Base.metadata,
                _counting_fill([]),
                index_axis="idx",
                optional_indexes=("ix_pb_test_things_kind",),
            ),
            Grid.of(index=["none"]),
            "index_axis 'idx' is not a grid axis",
        ),
        (
            OwnTables(
                _Base.metadata, _counting_fill([]), optional_indexes=("ix_pb_test_things_kind",)
            ),
            Grid.of(index=["none"]),
            "need an index_axis",
        ),
    ],
)
def test_a_declaration_that_cannot_work_is_refused_with_what_is_valid(own, grid, message):
    with pytest.raises(ValueError, match=message):
        _scenario(own, grid).validate()


def test_the_shared_domain_s_tables_cannot_be_declared_again():
    meta = MetaData()
    SharedBase.metadata.tables["users"].to_metadata(meta)
    with pytest.raises(ValueError, match="table 'users' belongs to the shared dataset"):
        _scenario(OwnTables(meta, _counting_fill([])), Grid.of(x=[1])).validate()
