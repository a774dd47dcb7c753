"""What one write, recall or tick did to memory: the items written, updated and forgotten."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agentmem._models import MemoryEvent, MemoryItem

__all__ = ["Changes"]


class Changes(BaseModel):
    """What one write, recall or tick did to memory."""

    model_config = ConfigDict(defer_build=True)

    written: list[MemoryItem] = Field(default_factory=list)
    updated: list[MemoryItem] = Field(default_factory=list)
    forgotten: list[MemoryItem] = Field(default_factory=list)
    events: list[MemoryEvent] = Field(default_factory=list)
    replaced_by: dict[str, str] = Field(default_factory=dict)
    """For each memory a policy merged away or found already stored: the id in its place."""

    def extend(self, other: Changes) -> None:
        """Add ``other``'s changes to these."""
        self.written += other.written
        self.updated += other.updated
        self.forgotten += other.forgotten
        self.events += other.events
        self.replaced_by.update(other.replaced_by)

    def survivor(self, item_id: str) -> str | None:
        """The id that stands for ``item_id`` after these changes (itself if untouched).

        ``None`` when it was forgotten with nothing in its place.
        """
        seen: set[str] = set()
        while item_id in self.replaced_by and item_id not in seen:
            seen.add(item_id)
            item_id = self.replaced_by[item_id]
        if any(item.id == item_id for item in self.forgotten):
            return None
        return item_id
