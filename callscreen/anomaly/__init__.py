"""Frequency anomalies per targeted employee: window counts in, risk level and crossings out."""

from callscreen.anomaly.evaluate import Assessment, Crossing, RiskLevel, assess
from callscreen.anomaly.hours import OfficeHours, is_after_hours

__all__ = ["Assessment", "Crossing", "OfficeHours", "RiskLevel", "assess", "is_after_hours"]
