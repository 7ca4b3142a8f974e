//! Pure core: culprit (filled in by its issue).
