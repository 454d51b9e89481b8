"""Bulk garment work the admin queues: thin tasks over the services, taking id lists (chunks of a selection)."""

from __future__ import annotations

from celery import shared_task

from .models import Garment
from .services import garment_lock_attributes, garment_update


@shared_task(name="garments.set_status", acks_late=True, reject_on_worker_lost=True)
def set_status_task(garment_ids: list[int], status: str) -> int:
    """Set the status of these garments through garment_update (sold_at follows); returns how many changed."""
    changed = 0
    for garment in Garment.objects.filter(pk__in=garment_ids).exclude(status=status).without_vectors().order_by("pk"):
        garment_update(garment=garment, listing={"status": status})
        changed += 1
    return changed


@shared_task(name="garments.unlock_attributes", acks_late=True, reject_on_worker_lost=True)
def unlock_attributes_task(garment_ids: list[int]) -> int:
    """Unlock every attribute of these garments, so extraction may update them again; returns how many."""
    count = 0
    for garment in Garment.objects.filter(pk__in=garment_ids).exclude(ontology_locked=[]).only("pk", "ontology_locked"):
        garment_lock_attributes(garment=garment, lock=[], unlock=list(garment.ontology_locked))
        count += 1
    return count
