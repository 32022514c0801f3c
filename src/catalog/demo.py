"""Demo data so a newcomer's `make run` shows a living catalog."""

from __future__ import annotations

from sqlalchemy import func, select

from catalog.db.engine import create_engine, session_factory
from catalog.db.models import DataElement, DataElementConcept, DataProduct, Tag
from catalog.settings import Settings

TEAMS = ("finance", "risk", "marketing", "operations")


async def seed(settings: Settings, *, only_if_empty: bool) -> bool:
    """Load the demo catalog; returns False when skipped because data already exists."""
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            existing = await session.scalar(select(func.count()).select_from(DataProduct))
            if only_if_empty and existing:
                return False
            for i, team in enumerate(TEAMS):
                concept = DataElementConcept(
                    name=f"{team.title()} Account Balance",
                    object_class=f"{team.title()} Account",
                    property="Balance",
                    definition=f"The balance of a {team} account at end of day.",
                )
                session.add(concept)
                await session.flush()
                session.add(
                    DataElement(
                        identifier=f"DE-{i + 1:05d}",
                        name=f"{team}_account_balance",
                        definition=concept.definition,
                        data_element_concept_id=concept.id,
                        steward=f"{team}-steward",
                    )
                )
                session.add(
                    DataProduct(
                        name=f"{team.title()} Daily Balances",
                        description=f"End-of-day balances for {team} accounts.",
                        team=team,
                        category="balances",
                        owner=f"{team}-lead",
                        status="published",
                    )
                )
                session.add(Tag(name=team, category="domain"))
            await session.commit()
        return True
    finally:
        await engine.dispose()
