"""The service's store: one migration gives the models' schema on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from passages._errors import InputError
from passages.web import audit
from passages.web.models import AuditEvent, Base, Publication, Run, User, utcnow
from passages.web.store import Store


def test_the_migrated_schema_is_the_models_schema(web_store: Store) -> None:
    with web_store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_migrating_twice_changes_nothing(web_store: Store) -> None:
    web_store.migrate()
    with web_store.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"


def test_rows_round_trip_with_json_and_aware_times(web_store: Store) -> None:
    started = utcnow()
    with web_store.session() as session:
        run = Run(area_slug="south-la", kind="plan", parameters={"posts-2": {"officers": 2}},
                  input_hashes={"incidents": "ab" * 32}, state="done", step="", steps_done=7, steps_total=7,
                  error="", summary={"posts-2": {"passage_km": 8.1}}, outputs=["scenarios/posts-2/plan.html"],
                  created_by="ana", created_at=started)
        session.add(run)
        session.flush()
        session.add(Publication(area_slug="south-la", version=1, run_id=run.id, scenario="posts-2",
                                metrics={"exposure_share": 0.5}, published_by="cmd", published_at=started, note=""))
    with web_store.session() as session:
        stored = session.scalars(select(Run)).one()
        assert stored.parameters == {"posts-2": {"officers": 2}}
        assert stored.outputs == ["scenarios/posts-2/plan.html"]
        published = session.scalars(select(Publication)).one()
        assert published.metrics == {"exposure_share": 0.5}
        moment = stored.created_at if stored.created_at.tzinfo else stored.created_at.replace(tzinfo=started.tzinfo)
        assert abs(moment - started) < timedelta(seconds=1)


def test_a_version_number_is_published_once_per_area(web_store: Store) -> None:
    from sqlalchemy.exc import IntegrityError

    with web_store.session() as session:
        run = Run(area_slug="downtown", created_by="ana")
        session.add(run)
        session.flush()
        run_id = run.id
    row = {"area_slug": "downtown", "version": 1, "run_id": run_id, "scenario": "a", "published_by": "cmd"}
    with web_store.session() as session:
        session.add(Publication(**row))
    with pytest.raises(IntegrityError), web_store.session() as session:
        session.add(Publication(**row))


def test_bound_parameters_keep_hostile_text_as_data(web_store: Store) -> None:
    hostile = "x'); DROP TABLE users; --"
    with web_store.session() as session:
        audit.record(session, "login", username=hostile, outcome="unknown-user", detail=hostile)
    with web_store.session() as session:
        assert session.scalars(select(AuditEvent)).one().username == hostile
        assert session.scalars(select(User)).all() == []  # the table is still there


@pytest.mark.parametrize("url", ["not a url", "mysql://localhost/x", "oracle://scott@db/x"])
def test_an_unusable_database_url_is_one_clear_error(url: str) -> None:
    with pytest.raises(InputError, match="--database"):
        Store(url)


def test_an_unreachable_server_is_one_clear_error_without_the_password() -> None:
    store = Store("postgresql+psycopg://someone:secret@127.0.0.1:9/nowhere")
    with pytest.raises(InputError) as caught:
        store.migrate()
    assert "cannot open the database" in str(caught.value) and "secret" not in str(caught.value)
