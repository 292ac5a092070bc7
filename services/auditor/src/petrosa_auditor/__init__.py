"""petrosa-auditor: leader-elected gap/duplicate detection, health scores, auto-backfill."""
