"""Where clips, thumbnails and start images live: Django's ``videos`` storage (a folder in the
data folder by default, ``AURA_MEDIA_DIR/videos``), one folder per project and job. Files are
never served by URL from the storage itself: the studio's media view reads them for members."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages


def videos_storage() -> Storage:
    return storages["videos"]


def job_folder(project_id: int, job_id: int) -> str:
    return f"projects/{project_id}/jobs/{job_id}"


def file_save(name: str, content: bytes) -> str:
    """Store ``content`` as ``name`` (replacing an earlier file of that name); the stored name."""
    storage = videos_storage()
    if storage.exists(name):
        storage.delete(name)
    return storage.save(name, ContentFile(content))


def file_read(name: str) -> bytes:
    with videos_storage().open(name, "rb") as handle:
        return handle.read()


def file_delete(name: str) -> None:
    if name:
        videos_storage().delete(name)
