"""Backfilling slugs; a session per article, none closed."""

from slugify import slugify

from app.database import SessionLocal
from app.models import Article


def backfill_slugs(article_ids: list[int]) -> None:
    for article_id in article_ids:
        session = SessionLocal()  # expect: LC201
        article = session.get(Article, article_id)
        article.slug = slugify(article.title)
        session.commit()
