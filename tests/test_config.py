import datetime as dt

import pytest

from musicrec.config import ConfigError, fixed_keys, load_settings


@pytest.fixture
def ini(tmp_path, monkeypatch):
    def write(text: str):
        path = tmp_path / "config.ini"
        path.write_text(text)
        monkeypatch.setenv("MUSICREC_CONFIG", str(path))
        return path

    return write


def test_defaults_without_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICREC_CONFIG", str(tmp_path / "missing.ini"))
    s = load_settings()
    assert s.urls.features_store_url == "http://127.0.0.1:8010"
    assert s.urls.events_store_url == "http://127.0.0.1:8020"
    assert s.urls.recommendations_url == "http://127.0.0.1:8000"
    assert s.events.max_events_per_user == 10
    assert s.split.split_date is None


def test_repo_config_ini_loads(monkeypatch):
    monkeypatch.delenv("MUSICREC_CONFIG", raising=False)
    s = load_settings()
    assert s.serving.max_k == 1000


def test_quoted_values_are_unquoted(ini):
    ini('[urls]\nfeatures_store_url = "http://10.0.0.1:9000/"\n[split]\nsplit_date = 2022-12-16\n')
    s = load_settings()
    assert s.urls.features_store_url == "http://10.0.0.1:9000"
    assert s.split.split_date == dt.date(2022, 12, 16)


def test_env_overrides_ini(ini, monkeypatch):
    ini("[als]\nfactors = 32\n")
    assert load_settings().als.factors == 32
    monkeypatch.setenv("MUSICREC_ALS__FACTORS", "128")
    assert load_settings().als.factors == 128


def test_wrong_value_names_key(ini):
    ini("[als]\nfactors = many\n")
    with pytest.raises(ConfigError, match=r"\[als\] factors.*'many'.*MUSICREC_ALS__FACTORS"):
        load_settings()


def test_unknown_key_is_refused(ini):
    ini("[als]\nfactorz = 3\n")
    with pytest.raises(ConfigError, match=r"\[als\] factorz"):
        load_settings()


def test_bad_url_names_key(ini):
    ini("[urls]\nevents_store_url = localhost:8020\n")
    with pytest.raises(ConfigError, match=r"\[urls\] events_store_url"):
        load_settings()


@pytest.mark.parametrize("value", ["", "auto", "AUTO"])
def test_split_date_auto_means_derived(ini, monkeypatch, value):
    ini("[split]\nsplit_date = 2022-12-16\n")
    monkeypatch.setenv("MUSICREC_SPLIT__SPLIT_DATE", value)
    assert load_settings().split.split_date is None


def test_tuned_keys_are_fixed_only_when_given(ini, monkeypatch):
    ini("[als]\nfactors = auto\nalpha =\nregularization = 0.1\n[tuning]\nals_factors = 8, 16\n")
    s = load_settings()
    assert s.als.factors == 64 and s.als.alpha == 5.0  # the defaults, used when tuning is off
    assert fixed_keys(s.als) == ("regularization",) and fixed_keys(s.ranker) == ()
    assert s.tuning.als_factors == (8, 16)
    monkeypatch.setenv("MUSICREC_ALS__FACTORS", "16")
    monkeypatch.setenv("MUSICREC_RANKER__DEPTH", "auto")
    s = load_settings()
    assert fixed_keys(s.als) == ("factors", "regularization") and s.als.factors == 16
    assert fixed_keys(s.ranker) == ()


def test_bad_grid_names_key(ini):
    ini("[tuning]\nranker_depth = 4, deep\n")
    with pytest.raises(ConfigError, match=r"\[tuning\] ranker_depth.*MUSICREC_TUNING__RANKER_DEPTH\)"):
        load_settings()
