"""The services load their artifacts from an s3:// location (a moto server process) via the local cache."""

import numpy as np
import pytest
from click import ClickException
from fastapi.testclient import TestClient

from musicrec.services.cli import check_artifacts
from musicrec.services.features import create_app as create_features_app
from musicrec.services.recommendations.artifacts import ArtifactsError, load_artifacts
from musicrec.storage.location import open_store
from tests.helpers import s3_fixtures
from tests.services.recommendations.artifacts import POPULAR, TOP_ARTISTS, WARM_USER, WEIGHTS, write_artifacts

FILES = ("recommendations.parquet", "personal_als.parquet", "top_popular.parquet", "similar.parquet")
OPTIONAL = ("blend.json", "items.parquet", "user_artists.parquet")

# the moto server fixtures, used by name below
moto_server, s3_settings, s3_bucket = s3_fixtures.moto_server, s3_fixtures.s3_settings, s3_fixtures.s3_bucket


@pytest.fixture
def uploaded(s3_settings, s3_bucket, tmp_path):
    """The service tests' literal artifacts, written locally and uploaded to s3://<bucket>/serve."""
    local = write_artifacts(tmp_path / "local")
    location = f"s3://{s3_bucket}/serve"
    store = open_store(location, s3_settings)
    for name in FILES:
        store.copy_file(local / name, name)
    settings = s3_settings.model_copy(update={"paths": s3_settings.paths.model_copy(
        update={"artifacts_dir": location})})
    return location, local, settings


def test_recommendations_loader_reads_s3_like_the_directory(uploaded):
    location, local, settings = uploaded
    from_s3 = load_artifacts(location, settings)
    from_dir = load_artifacts(local)
    assert from_s3.offline_file == from_dir.offline_file == "recommendations.parquet"
    assert from_s3.popular.tolist() == from_dir.popular.tolist() == list(POPULAR)
    assert np.array_equal(from_s3.personal(WARM_USER), from_dir.personal(WARM_USER))
    assert (settings.s3.cache_dir / location.removeprefix("s3://") / "top_popular.parquet").exists()
    assert from_s3.weights is None and len(from_s3.artists) == 0  # optional files absent: no error


def test_recommendations_loader_fetches_the_optional_blend_files(s3_settings, s3_bucket, tmp_path):
    local = write_artifacts(tmp_path / "local", weights=WEIGHTS, top_artists=TOP_ARTISTS)
    location = f"s3://{s3_bucket}/learned"
    store = open_store(location, s3_settings)
    for name in FILES + OPTIONAL:
        store.copy_file(local / name, name)
    from_s3 = load_artifacts(location, s3_settings)
    assert from_s3.weights == WEIGHTS
    assert from_s3.top_artists(WARM_USER) == TOP_ARTISTS[WARM_USER]
    assert from_s3.artists.lookup([101, 106]) == load_artifacts(local).artists.lookup([101, 106]) == {101: 3}


def test_recommendations_loader_names_the_missing_s3_artifact(s3_settings, s3_bucket):
    with pytest.raises(ArtifactsError, match=f"s3://{s3_bucket}/empty/recommendations.parquet or "
                                             f"s3://{s3_bucket}/empty/personal_als.parquet does not exist"):
        load_artifacts(f"s3://{s3_bucket}/empty", s3_settings)


def test_features_service_serves_similar_items_from_s3(uploaded):
    _, _, settings = uploaded
    with TestClient(create_features_app(settings)) as client:
        assert client.get("/ready").status_code == 200
        answer = client.post("/similar_items?item_id=500&k=2")
    assert answer.status_code == 200
    assert answer.json()["item_id_2"] == [301, 302]  # SIMILAR[500], best first


def test_features_service_without_the_s3_file_is_not_ready_and_says_why(s3_settings, s3_bucket):
    settings = s3_settings.model_copy(update={"paths": s3_settings.paths.model_copy(
        update={"artifacts_dir": f"s3://{s3_bucket}/nothing"})})
    with TestClient(create_features_app(settings)) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503
    assert "similar.parquet does not exist" in ready.text
    assert s3_bucket not in ready.text  # where the artifacts live is for the log


def test_serve_checks_the_s3_location_before_starting(uploaded, s3_settings, s3_bucket):
    location, _, settings = uploaded
    check_artifacts(location, settings)  # all there: no error
    with pytest.raises(ClickException, match=f"missing artifacts in s3://{s3_bucket}/nothing: "
                                             "recommendations.parquet or personal_als.parquet"):
        check_artifacts(f"s3://{s3_bucket}/nothing", s3_settings)
    with pytest.raises(ClickException, match="s3://no-such-bucket-here/p: bucket 'no-such-bucket-h"):
        check_artifacts("s3://no-such-bucket-here/p", s3_settings)


def test_services_follow_the_current_run_on_s3(s3_settings, s3_bucket, tmp_path):
    """Runs on S3: each service downloads the current run into a cache directory of its own and
    reloads when CURRENT (one object) names another run."""
    from musicrec.services.recommendations.app import create_app as create_recommendations_app
    from musicrec.storage.runs import RunStore
    from tests.helpers.runs import write_run_files

    location = f"s3://{s3_bucket}/models"
    runs = RunStore.open(location, s3_settings)
    ids = []
    for base in (1000, 2000):
        run_id = runs.create()
        for path in write_run_files(tmp_path / str(base), base).iterdir():
            runs.run(run_id).copy_file(path, path.name)
        ids.append(run_id)
    runs.switch(ids[0])
    settings = s3_settings.model_copy(update={
        "paths": s3_settings.paths.model_copy(update={"artifacts_dir": location}),
        "serving": s3_settings.serving.model_copy(update={"reload_interval_s": 0, "admin_token": "t"})})
    check_artifacts(location, settings)  # serve's check follows CURRENT too
    auth = {"Authorization": "Bearer t"}
    with (TestClient(create_features_app(settings)) as features,
          TestClient(create_recommendations_app(settings)) as recommendations):
        similar = features.post("/similar_items?item_id=1001&k=2")
        assert similar.headers["X-Model-Version"] == ids[0] and similar.json()["item_id_2"] == [1002, 1003]
        offline = recommendations.post("/recommendations_offline?user_id=1&k=2")
        assert offline.headers["X-Model-Version"] == ids[0] and offline.json()["recs"] == [1001, 1002]
        runs.switch(ids[1])
        for client in (features, recommendations):
            assert client.post("/admin/reload", headers=auth).json()["version"] == ids[1]
        assert features.post("/similar_items?item_id=2001&k=2").json()["item_id_2"] == [2002, 2003]
        offline = recommendations.post("/recommendations_offline?user_id=1&k=2")
        assert offline.headers["X-Model-Version"] == ids[1] and offline.json()["recs"] == [2001, 2002]
    cache = settings.s3.cache_dir / s3_bucket / "models" / "runs"
    assert sorted(p.name for p in cache.iterdir()) == sorted(ids)  # one cache directory per run
