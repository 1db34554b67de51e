"""Gallery storage: one ``GalleryStore`` contract, several backends, chosen by URL."""

from facegate.storage.base import GalleryStore, open_store

__all__ = ["GalleryStore", "open_store"]
