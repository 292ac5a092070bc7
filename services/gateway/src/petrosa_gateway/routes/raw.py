"""Raw queries (wired once the query modules land)."""

from fastapi import APIRouter

router = APIRouter(tags=["raw"])
