"""Counting rows on each shard; every iteration opens a connection, one close after the loop."""

from sqlalchemy import create_engine, text

shard_engine = create_engine("postgresql://app@shards/app")


def rows_per_shard(shard_names: list[str]) -> dict[str, int]:
    counts = {}
    for name in shard_names:
        conn = shard_engine.connect()  # expect: LC206
        counts[name] = conn.execute(text(f"SELECT count(*) FROM {name}.items")).scalar()
    conn.close()
    return counts
