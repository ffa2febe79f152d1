import polars as pl
import pytest

# Tiny literal artifact: item 1 has three neighbours (written out of order), item 2 one, item 3 none.
SIMILAR = {
    "item_id_1": [1, 1, 2, 1],
    "item_id_2": [11, 12, 21, 13],
    "score": [0.5, 0.9, 0.3, 0.7],
    "source": ["als", "als", "content", "als"],
}


@pytest.fixture
def artifacts_dir(tmp_path):
    pl.DataFrame(SIMILAR, schema={"item_id_1": pl.Int32, "item_id_2": pl.Int32, "score": pl.Float32,
                                  "source": pl.String}).write_parquet(tmp_path / "similar.parquet")
    return tmp_path
