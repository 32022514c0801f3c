"""Every table of the catalog; importing this module registers them all on `Base.metadata`."""

from catalog.db.models.access import AccessRequest
from catalog.db.models.admin import Alert, ApiKey
from catalog.db.models.audit import AuditEvent, LangExtractAuditTrail
from catalog.db.models.base import Base
from catalog.db.models.changes import ChangeLog, ChangeLogPosition
from catalog.db.models.discovery import SearchHistory
from catalog.db.models.idempotency import IdempotencyKey
from catalog.db.models.ingestion import IngestionRun, LineageEventRecord
from catalog.db.models.notify import CatalogEvent, NotificationDelivery, Subscription
from catalog.db.models.products import (
    ColumnLineageEdge,
    DataProduct,
    DataProductVersion,
    LineageEdge,
    ProductElement,
    ProductSchemaColumn,
)
from catalog.db.models.quality import QualityMeasurement
from catalog.db.models.registry import (
    DataElement,
    DataElementConcept,
    PermissibleValue,
    Representation,
    ValueDomain,
)
from catalog.db.models.regulatory import RegulatorySchema, SchemaChange, SchemaProductMapping
from catalog.db.models.tags import ProductTag, Tag
from catalog.db.models.usage import ProductRating, ProductUsageStats, ProductViewer

__all__ = [
    "AccessRequest",
    "Alert",
    "ApiKey",
    "AuditEvent",
    "Base",
    "CatalogEvent",
    "ChangeLog",
    "ChangeLogPosition",
    "ColumnLineageEdge",
    "DataElement",
    "DataElementConcept",
    "DataProduct",
    "DataProductVersion",
    "IdempotencyKey",
    "IngestionRun",
    "LangExtractAuditTrail",
    "LineageEdge",
    "LineageEventRecord",
    "NotificationDelivery",
    "PermissibleValue",
    "ProductElement",
    "ProductRating",
    "ProductSchemaColumn",
    "ProductTag",
    "ProductUsageStats",
    "ProductViewer",
    "QualityMeasurement",
    "RegulatorySchema",
    "Representation",
    "SchemaChange",
    "SchemaProductMapping",
    "SearchHistory",
    "Subscription",
    "Tag",
    "ValueDomain",
]
